"""Shared oracles for the tests: central finite differences through the forward pass."""
import numpy as np

from agrad.core.api import GradRequest, grad_job
from agrad.core.program import compile_source, evaluate
from agrad.core.tensor import Tensor, grad_mode


def forward(src, point):
    prog = compile_source(src)
    with grad_mode(False):
        leaves = {k: Tensor(np.asarray(v, dtype=np.float64)[()] if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64))
                  for k, v in point.items()}
        return np.asarray(evaluate(prog, leaves, np.float64)[prog.output].value, dtype=np.float64)


def fd_grad(src, point, var, h=1e-6):
    """Central differences of a scalar output, with a step scaled to the value."""
    x = np.asarray(point[var], dtype=np.float64)
    out = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        step = h * max(1.0, abs(float(x[idx])))
        plus, minus = x.copy(), x.copy()
        plus[idx] += step
        minus[idx] -= step
        fp = forward(src, {**point, var: plus})
        fm = forward(src, {**point, var: minus})
        out[idx] = (fp - fm) / (2 * step)
    return out


def grads(src, **point):
    r = grad_job(GradRequest(src, {k: np.asarray(v, dtype=np.float64) for k, v in point.items()}, check=False))
    return {k: np.asarray(v) for k, v in r.gradients.items()}
