"""numpy kernels that both the op table (ops.py) and Taylor mode (jet.py) use: one home for
the tie conventions and the careful sigmoid, so neither module imports the other for them."""
from __future__ import annotations

import numpy as np


def scalar(a):
    """numpy 0-d arrays as numpy scalars: faster arithmetic, same meaning."""
    return a[()] if type(a) is np.ndarray and a.ndim == 0 else a


def spread(x, shape):
    """np.broadcast_to(x, shape); a scalar spread directly as a read-only stride-0 view of a 0-d
    copy, which is what np.broadcast_to makes, at a third of its cost (a full reduction's
    gradient, a ones seed)."""
    if shape and np.ndim(x) == 0:
        a = np.array(x)
        if not a.dtype.hasobject:
            v = np.ndarray(shape, a.dtype, a, 0, (0,) * len(shape))
            v.flags.writeable = False
            return v
    return np.broadcast_to(x, shape)


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow for large negative x."""
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return scalar(np.where(np.asarray(x) >= 0, r, e * r))


def keepdims_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i == axis % len(shape) else n for i, n in enumerate(shape))


def tie_weights(x, out, axis):
    """Each entry's share of a max/min reduction's gradient: ties share evenly, as torch.amax
    and Tensor.max() do."""
    hit = x == np.reshape(out, keepdims_shape(np.shape(x), axis))
    return hit / hit.sum(axis=axis, keepdims=True)


def tie_mask(a, b, first: bool):
    """1 where this input wins, 0.5 on a tie (PyTorch splits maximum/minimum ties), 0 elsewhere."""
    win = (a > b) if first else (a < b)
    return win + 0.5 * (a == b)
