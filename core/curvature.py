"""The Hessian as one matrix over every scalar entry of the variables: its symmetry, its
eigenvalues, and what they say about the point (the second-order test)."""
from __future__ import annotations

import numpy as np

from .results import HessianSummary


def hessian_summary(derivatives: dict, wrt: list, shapes: dict, *, rtol: float, atol: float) -> HessianSummary:
    """derivatives: {(v,): gradient, (v, w): second partials} as differentiate.derivatives gives them."""
    sizes = [int(np.prod(shapes[v])) for v in wrt]
    n = sum(sizes)
    H = np.zeros((n, n))
    offsets = np.cumsum([0] + sizes)
    labels = []
    for v, size in zip(wrt, sizes):
        labels += [v] if shapes[v] == () else [f"{v}[{', '.join(map(str, i))}]" for i in np.ndindex(*shapes[v])]
    for a, va in enumerate(wrt):
        for b, vb in enumerate(wrt):
            block = np.asarray(derivatives[(va, vb)], dtype=np.float64).reshape(sizes[a], sizes[b])
            H[offsets[a]:offsets[a + 1], offsets[b]:offsets[b + 1]] = block
    gradient = np.concatenate([np.ravel(np.asarray(derivatives[(v,)], dtype=np.float64)) for v in wrt])
    symmetric = bool(np.allclose(H, H.T, rtol=rtol, atol=atol))
    eig = _eigvalsh((H + H.T) / 2) if np.all(np.isfinite(H)) else np.full(n, np.nan)
    return HessianSummary(labels, H, symmetric, eig, _classify(eig, gradient, H))


def _classify(eig, gradient, H) -> str:
    if np.any(np.isnan(eig)) or not np.all(np.isfinite(gradient)):
        return "undefined"
    # the second-order test speaks only where the gradient vanishes (to rounding of the Hessian's scale)
    if np.abs(gradient).max(initial=0.0) > 1e-8 * max(1.0, float(np.abs(H).max(initial=0.0))):
        return "not a stationary point (the gradient is not zero): the eigenvalues give the local curvature only"
    if np.all(eig > 0):
        return "minimum"
    if np.all(eig < 0):
        return "maximum"
    if np.any(eig > 0) and np.any(eig < 0):
        return "saddle"
    return "degenerate (a zero eigenvalue: the second-order test cannot decide)"


def _eigvalsh(h):
    """Eigenvalues on one BLAS thread. A Hessian is small and dense: OpenBLAS's threads spend more
    time handing work over than computing (n = 400 on 2 cores: 51 ms threaded, 9 ms on one; it
    swung 1.1-22x against torch with the threads fighting). threadpoolctl limits the thread count
    for this call only, without touching the environment of the process."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency; without it the answer is the same, only slower
        return np.linalg.eigvalsh(h)
    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.eigvalsh(h)
