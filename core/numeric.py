"""Central finite differences: the third opinion in every check, and `agrad gradcheck`
(PyTorch's gradcheck / gradgradcheck: numerical against analytical Jacobians)."""
from __future__ import annotations

import numpy as np

from .program import Program, forward
from .tensor import Tensor, grad_mode

MAX_FD_ENTRIES = 2_000  # input elements perturbed (two forward passes each)


def _forward(program: Program, point: dict) -> np.ndarray:
    with grad_mode(False):
        leaves = {n: Tensor(np.asarray(v, dtype=np.float64)) for n, v in point.items()}
        return np.asarray(forward(program, leaves, np.float64).value, dtype=np.float64)


def step(x: float, dtype=np.float64) -> float:
    """gradcheck's central-difference step: eps**(1/3) balances truncation (h**2) against
    rounding (eps/h), scaled by the value's magnitude."""
    return float(np.finfo(dtype).eps) ** (1 / 3) * max(1.0, abs(x))


def jacobian(f, x: np.ndarray, h=None, side: int = 0) -> np.ndarray:
    """d f / d x by differences: shape f(x).shape + x.shape. side 0: central; +1/-1: one-sided.
    h: a fixed step, or None for step() per entry."""
    x = np.asarray(x, dtype=np.float64)
    out = None  # shaped by the first difference: no forward pass at x itself
    for idx in np.ndindex(*x.shape):
        hh = step(float(x[idx])) if h is None else h
        plus, minus = x.copy(), x.copy()
        if side >= 0:
            plus[idx] += hh
        if side <= 0:
            minus[idx] -= hh
        width = hh * (2 if side == 0 else 1)
        with np.errstate(all="ignore"):  # inf - inf is a NaN entry, reported as one, not a warning
            d = (np.asarray(f(plus)) - np.asarray(f(minus))) / width
        if out is None:
            out = np.zeros(d.shape + x.shape)
        out[(...,) + idx] = d
    return out if out is not None else np.zeros(np.shape(f(x)) + x.shape)


def output_fn(program: Program, point: dict, var: str, seed=None):
    """x -> the output (seeded to a scalar when a seed is given) with `var` replaced by x."""
    def f(x):
        y = _forward(program, {**point, var: x})
        return np.sum(y * seed) if seed is not None else y
    return f


def first_derivatives(program: Program, point: dict, wrt: list, seed=None, side: int = 0) -> dict | None:
    """{(v,): d(output)/dv} by central (or one-sided) differences, in float64; None when
    there are more than MAX_FD_ENTRIES input elements to perturb."""
    if sum(np.size(point[v]) for v in wrt) > MAX_FD_ENTRIES:
        return None
    with np.errstate(all="ignore"):
        return {(v,): jacobian(output_fn(program, point, v, seed), point[v], side=side) for v in wrt}
