"""`agrad bench`: programs side by side, forward + backward timed as %timeit times them.

Each program is compiled once (the engine is timed, not the parser); every loop builds the
graph on fresh leaves and runs backward from the output (seeded with ones when it is not a
scalar, as the tutorial's y.backward(t.ones(x.size()))). The loop count grows as timeit's
autorange grows it (1, 2, 5, 10, 20, ...) until one run takes `min_time`; then `runs` runs
are timed. Beside the times: graph nodes, values saved for backward, and whether every
program's gradients agree with the first one's.
"""
from __future__ import annotations

import gc
import statistics
import time
import dataclasses
from dataclasses import dataclass

import numpy as np

from . import autodiff
from .tolerance import close, tolerances
from .errors import AgradError, real, whole
from .gradient import _paths, names
from .problem import Options, bind, validate
from .graph import merge_bindings
from .program import Program, compile_source, evaluate, forward
from .report import saved
from .tensor import Tensor

MAX_VARIANTS = 20
MAX_RUNS = 100
MAX_LOOPS = 1_000_000
MAX_SECONDS = 600  # programs x runs x min_time: the least a bench takes, refused up front past ten minutes


@dataclass(frozen=True)
class BenchRow:
    expression: str
    median: float  # seconds per loop (forward + backward)
    spread: float  # standard deviation over the runs
    best: float
    loops: int
    runs: int
    times: tuple
    nodes: int  # op nodes in the graph
    saved_values: int  # values saved for backward, and their bytes
    saved_bytes: int
    gradients: dict
    ratio: float = 1.0  # median / the fastest median
    agrees: bool = True  # gradients agree with the first program's


@dataclass(frozen=True)
class BenchResult:
    rows: tuple
    wrt: list
    disagreements: list
    rtol: float
    atol: float
    random_seed: int | None = None

    @property
    def ok(self) -> bool:
        """Every program's gradients agree with the first one's."""
        return not self.disagreements


def _autorange(loop, min_time: float) -> int:
    for n in (k * 10 ** e for e in range(7) for k in (1, 2, 5)):
        if n > MAX_LOOPS:
            break
        t0 = time.perf_counter()
        loop(n)
        if time.perf_counter() - t0 >= min_time:
            return n
    return MAX_LOOPS


def bench(exprs, *, wrt=None, runs: int = 7, min_time: float = 0.2, lib=None, seed: int | None = None,
          at: dict | None = None, **bindings) -> BenchResult:
    """Forward + backward of each program timed side by side, as %timeit: median per loop,
    spread, ratio to the fastest, nodes, values saved for backward, and whether every program's
    gradients agree with the first one's. Bindings, `wrt`, `lib` and `seed` as for agrad.grad.
    At least `min_time` seconds a run, `runs` runs (at most 20 programs x 100 runs x 10 s, and
    600 s in all).

    >>> import agrad
    >>> r = agrad.bench(["sum(x*x)", "sum(x**2)"], x=[1.0, 2.0], min_time=0.001, runs=2)
    >>> r.ok, [row.saved_values for row in r.rows]
    (True, [2, 2])
    """
    exprs = [exprs] if isinstance(exprs, (str, Program)) else list(exprs)  # one program is a list of one, not of its characters
    if not 1 <= len(exprs) <= MAX_VARIANTS:
        raise AgradError(f"bench takes 1 to {MAX_VARIANTS} expressions, got {len(exprs)}", kind="usage")
    runs = whole(runs, "runs", 1, MAX_RUNS)
    if not (real(min_time) and 0 < min_time <= 10):
        raise AgradError(f"min_time= must be above 0 and at most 10 seconds, got {min_time!r}", kind="usage")
    if len(exprs) * runs * min_time > MAX_SECONDS:
        raise AgradError(f"{len(exprs)} program(s) x runs={runs} x min_time={min_time:g} s is at least "
                         f"{len(exprs) * runs * min_time:,.0f} s of timing; the limit is {MAX_SECONDS} s: fewer runs= "
                         f"or a smaller min_time=", kind="limit")
    options = Options(wrt=names(wrt), lib=_paths(lib), seed=seed)
    bound, library, rnd = bind(merge_bindings(at, bindings), options)
    programs = [s if isinstance(s, Program) else compile_source(s, lib=library, rng=rnd) for s in exprs]
    wrt = [validate(prog, bound, options) for prog in programs][0]
    values = {n: (v[()] if v.ndim == 0 else v) for n, v in ((n, np.asarray(v, dtype=np.float64))
                                                            for n, v in bound.items())}

    def leaves():
        return {n: Tensor(v, requires_grad=n in wrt, name=n) for n, v in values.items()}

    rows = []
    for prog in programs:
        src = prog.source
        def loop(n, prog=prog):
            for _ in range(n):
                lv = leaves()
                y = forward(prog, lv, np.float64)
                if y.requires_grad:
                    autodiff.backward(y, None if y.shape == () else np.ones(y.shape))

        lv = leaves()  # one traced run: the gradients, the nodes and what the graph saves
        vals = evaluate(prog, lv, np.float64)
        y = vals[prog.output]
        if y.requires_grad:
            autodiff.backward(y, None if y.shape == () else np.ones(y.shape))
        grads = {n: np.zeros(np.shape(values[n])) if lv[n].grad is None else np.asarray(lv[n].grad.value)
                 for n in wrt}
        counts = saved(prog, vals)
        saved_values, nbytes = counts["values"], counts["bytes"]
        was = gc.isenabled()
        gc.disable()  # as timeit does
        try:
            loops = _autorange(loop, min_time)
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                loop(loops)
                times.append((time.perf_counter() - t0) / loops)
        finally:
            if was:
                gc.enable()
        rows.append(BenchRow(src, statistics.median(times), statistics.stdev(times) if len(times) > 1 else 0.0,
                             min(times), loops, runs, tuple(times), sum(1 for n in prog.nodes if n.kind == "op"),
                             saved_values, nbytes, grads))
    fastest = min(r.median for r in rows)
    rtol, atol = tolerances(np.float64)
    ref = rows[0].gradients
    disagreements, out = [], []
    for k, r in enumerate(rows, 1):
        agrees = True
        for n in wrt:
            if not close(r.gradients[n], ref[n], rtol, atol).all():
                agrees = False
                with np.errstate(invalid="ignore"):
                    gap = np.abs(np.asarray(r.gradients[n], dtype=np.float64) - ref[n])
                finite = gap[np.isfinite(gap)]
                # where one side is NaN or inf there is no "up to": say so (nanmax of all-NaN warned)
                by = (f"by up to {float(finite.max()):.3g}" if finite.size == gap.size else
                      "where one of them is not finite" if not finite.size else
                      f"by up to {float(finite.max()):.3g}, and where one of them is not finite")
                disagreements.append(f"variant {k} ({r.expression}): d/d{n} differs from variant 1's {by}")
        out.append(dataclasses.replace(r, ratio=r.median / fastest, agrees=agrees))
    return BenchResult(tuple(out), wrt, disagreements, rtol, atol,
                       rnd.seed if rnd is not None and rnd.draws else None)
