"""Derivatives of every order: nested reverse mode, and Taylor mode for one scalar variable.

Nested reverse (PyTorch's create_graph=True, then differentiate the gradient again) works for
any number of variables and shapes, but each level differentiates the graph built by the last,
so the graph grows geometrically with the order. Along a single scalar variable, propagating
truncated Taylor series (jet.py) gives every order up to K at O(K^2) per node instead.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .autodiff import grad, toposort
from .ops import index
from .tensor import Tensor, const


def canonical_keys(wrt: list, order: int) -> list[tuple]:
    """Non-decreasing variable tuples: each symmetric partial once (x,x / x,y / y,y)."""
    return [k for n in range(1, order + 1) for k in itertools.combinations_with_replacement(wrt, n)]


def expand_symmetric(canon: dict, wrt: list, shapes: dict) -> dict:
    """Every ordered key (x,y and y,x), each a transpose of its canonical partial's axes."""
    rank = {v: i for i, v in enumerate(wrt)}
    out = {}
    for k in sorted({len(key) for key in canon}):
        for target in itertools.product(wrt, repeat=k):
            perm = sorted(range(k), key=lambda i: rank[target[i]])  # canonical position j <- target[perm[j]]
            key = tuple(target[i] for i in perm)
            arr = canon[key]
            groups, start = [], 0
            for v in key:
                groups.append(list(range(start, start + len(shapes[v]))))
                start += len(shapes[v])
            where = {t: j for j, t in enumerate(perm)}
            axes = [a for i in range(k) for a in groups[where[i]]]
            out[target] = np.transpose(arr, axes) if axes else arr
    return out


def reverse_derivatives(y: Tensor, leaves: dict, wrt: list, order: int):
    """Canonical partials up to `order` by nested reverse mode, and the number of graph nodes
    the derivative graphs hold."""
    level = {(): _scalar_array(y)}
    results, differentiated = {}, []
    for k in range(1, order + 1):
        last = k == order
        nxt = {}
        for key, E in level.items():
            start = wrt.index(key[-1]) if key else 0
            for v in wrt[start:]:
                x = leaves[v]
                vals = np.zeros(E.shape + x.shape, dtype=x.value.dtype)
                tens = None if last else np.empty(E.shape + x.shape, dtype=object)
                for idx in np.ndindex(*E.shape):
                    e = E[idx]
                    if e.requires_grad:
                        differentiated.append(e)
                        (g,) = grad(e, [x], create_graph=not last, retain_graph=True)
                    else:
                        g = const(np.zeros(x.shape), x)
                    vals[idx] = g.value
                    if not last:
                        for jdx in np.ndindex(*x.shape):
                            tens[idx + jdx] = g if jdx == () else index(g, key=jdx)
                results[key + (v,)] = vals
                if not last:
                    nxt[key + (v,)] = tens
        level = nxt
    return results, len(toposort(differentiated))


def _scalar_array(t: Tensor) -> np.ndarray:
    a = np.empty((), dtype=object)
    a[()] = t
    return a


def taylor_derivatives(program, values: dict, var: str, order: int, *, seed=None, dtype=np.float64) -> list:
    """d^k y / d var^k for k = 1..order at the point, for one scalar variable."""
    K = order
    series = [None] * len(program.nodes)
    with np.errstate(all="ignore"):
        for i, node in enumerate(program.nodes):
            if node.kind == "op":
                series[i] = node.op.jet(node.op, K, *[series[j] for j in node.args], **node.params)
                continue
            v = np.asarray(values[node.name] if node.kind == "var" else node.value, dtype=dtype)
            s = np.zeros((K + 1,) + v.shape, dtype=dtype)
            s[0] = v
            if node.kind == "var" and node.name == var:
                s[1] = 1
            series[i] = s
        y = series[program.output]
        if seed is not None:
            y = np.sum(np.reshape(y, (K + 1, -1)) * np.ravel(np.broadcast_to(seed, y.shape[1:])), axis=1)
        return [math.factorial(k) * y[k] for k in range(1, K + 1)]
