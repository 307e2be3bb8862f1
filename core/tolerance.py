"""How close is close enough, and how long SymPy may take: what the verdicts (check.py) and the
per-rule check (rules_check.py) share.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np


def tolerances(dtype) -> tuple[float, float]:
    """(rtol, atol) scaled to the dtype's machine epsilon: float64 4e-10 / 2e-12,
    float32 7e-5 / 6e-6, float16 1.6e-2 / 5.5e-3."""
    eps = float(np.finfo(dtype).eps)
    return eps ** 0.6, eps ** 0.75


def resolve(dtype, rtol=None, atol=None) -> tuple[float, float]:
    """The tolerances in force: the ones given, else the dtype's (0 for integer dtypes)."""
    rt, at = tolerances(dtype) if np.issubdtype(dtype, np.floating) else (0.0, 0.0)
    return (rt if rtol is None else rtol), (at if atol is None else atol)


class Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """SIGALRM interrupts SymPy's pure-Python work; off the main thread there is no limit."""
    import signal  # here, not at the top: --no-check runs import this module for tolerances()
    import threading

    usable = (seconds and seconds > 0 and hasattr(signal, "setitimer")  # POSIX only
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def fire(signum, frame):
        raise Timeout()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def close(a, b, rtol, atol) -> np.ndarray:
    """numpy.isclose, where equal infinities and two NaNs also agree (both sides undefined)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True) | (a == b)
