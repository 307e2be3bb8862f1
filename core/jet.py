"""Taylor-mode rules: propagate truncated power series through each primitive (JAX's `jet`).

A series is an array c of shape (K+1, *value_shape) with c[k] = y^(k)(t0) / k!, so the n-th
derivative along the seed direction is n! * c[n]. Every rule costs O(K^2) numpy operations,
where nesting reverse mode K times grows the graph geometrically: that is why --order uses
these rules for a single scalar variable. The recurrences are the classic ones (Griewank &
Walther, "Evaluating Derivatives", ch. 13): each nonlinear function satisfies a first-order
ODE y' = w(y, x) x', and y_k = (1/k) * sum_{j=1..k} j x_j w_{k-j}.

Every rule has the signature (op, K, *series, **params) -> series.
"""
from __future__ import annotations

import math

import numpy as np

from .kernels import sigmoid as _sigmoid_np
from .kernels import tie_mask, tie_weights


def _align(*cs):
    """Give every series the same number of dimensions, so value shapes broadcast as usual."""
    nd = max(c.ndim for c in cs)
    return [c.reshape(c.shape[:1] + (1,) * (nd - c.ndim) + c.shape[1:]) for c in cs]


def _empty(K, *cs):
    shape = np.broadcast_shapes(*(c.shape[1:] for c in cs))
    return np.zeros((K + 1,) + shape, dtype=np.result_type(*cs))


def _conv(a, b, k):
    """Coefficient k of the product of two series."""
    return np.sum(a[: k + 1] * b[k::-1], axis=0)


def _integrate(K, x, y0, w_of):
    """Solve y' = w x' term by term; w_of(y, m) gives w's coefficient m from y[0..m]."""
    y = _empty(K, x, np.asarray(y0)[None])
    y[0] = y0
    ws = []
    for k in range(1, K + 1):
        ws.append(w_of(y, k - 1))
        j = np.arange(1, k + 1).reshape((k,) + (1,) * (x.ndim - 1))
        y[k] = np.sum(j * x[1 : k + 1] * np.stack(ws[::-1]), axis=0) / k
    return y


def add(op, K, a, b):
    a, b = _align(a, b)
    return a + b


def sub(op, K, a, b):
    a, b = _align(a, b)
    return a - b


def neg(op, K, a):
    return -a


def mul(op, K, a, b):
    a, b = _align(a, b)
    out = _empty(K, a, b)
    for k in range(K + 1):
        out[k] = _conv(a, b, k)
    return out


def div(op, K, a, b):
    a, b = _align(a, b)
    q = _empty(K, a, b)
    for k in range(K + 1):
        q[k] = (a[k] - _conv(b[1:], q, k - 1) if k else a[0]) / b[0]
    return q


def exp(op, K, x):
    y0 = np.exp(x[0])
    return _integrate(K, x, y0, lambda y, m: y[m])


def log(op, K, x):
    return _log(K, x, 1.0)


def _log(K, x, scale):
    # y' = x' / x  ->  y_k = (x_k - (1/k) sum_{j=1..k-1} j y_j x_{k-j}) / x_0
    y = _empty(K, x)
    y[0] = np.log(x[0])
    for k in range(1, K + 1):
        acc = sum(j * y[j] * x[k - j] for j in range(1, k)) if k > 1 else 0
        y[k] = (x[k] - acc / k) / x[0]
    y[1:] /= scale
    if scale != 1.0:
        y[0] /= scale
    return y


def log2(op, K, x):
    return _log(K, x, math.log(2.0))


def log10(op, K, x):
    return _log(K, x, math.log(10.0))


def sqrt(op, K, x):
    y = _empty(K, x)
    y[0] = np.sqrt(x[0])
    for k in range(1, K + 1):
        acc = sum(y[j] * y[k - j] for j in range(1, k)) if k > 1 else 0
        y[k] = (x[k] - acc) / (2 * y[0])
    return y


def _sincos(K, x, hyperbolic):
    s, c = _empty(K, x), _empty(K, x)
    s[0], c[0] = (np.sinh(x[0]), np.cosh(x[0])) if hyperbolic else (np.sin(x[0]), np.cos(x[0]))
    sign = 1 if hyperbolic else -1
    for k in range(1, K + 1):
        j = np.arange(1, k + 1).reshape((k,) + (1,) * (x.ndim - 1))
        jx = j * x[1 : k + 1]
        s[k] = np.sum(jx * c[k - 1 :: -1], axis=0) / k
        c[k] = sign * np.sum(jx * s[k - 1 :: -1], axis=0) / k
    return s, c


def sin(op, K, x):
    return _sincos(K, x, False)[0]


def cos(op, K, x):
    return _sincos(K, x, False)[1]


def sinh(op, K, x):
    return _sincos(K, x, True)[0]


def cosh(op, K, x):
    return _sincos(K, x, True)[1]


def tan(op, K, x):  # y' = (1 + y^2) x'
    return _integrate(K, x, np.tan(x[0]), lambda y, m: _conv(y, y, m) + (m == 0))


def tanh(op, K, x):  # y' = (1 - y^2) x'
    return _integrate(K, x, np.tanh(x[0]), lambda y, m: (m == 0) - _conv(y, y, m))


def _sigmoid_series(K, x):  # y' = (y - y^2) x'
    return _integrate(K, x, _sigmoid_np(x[0]), lambda y, m: y[m] - _conv(y, y, m))


def sigmoid(op, K, x):
    return _sigmoid_series(K, x)


def _integrate_with(K, x, y0, q):
    """y' = q x' for a known series q."""
    return _integrate(K, x, y0, lambda y, m: q[m])


def _one_plus_sq(K, x, sign):
    sq = mul(None, K, x, x)
    sq[0] = 1 + sign * sq[0]
    sq[1:] *= sign
    return sq


def atan(op, K, x):
    one = np.zeros_like(x)
    one[0] = 1
    return _integrate_with(K, x, np.arctan(x[0]), div(None, K, one, _one_plus_sq(K, x, 1)))


def _asin_rate(K, x):
    one = np.zeros_like(x)
    one[0] = 1
    return div(None, K, one, sqrt(None, K, _one_plus_sq(K, x, -1)))


def asin(op, K, x):
    return _integrate_with(K, x, np.arcsin(x[0]), _asin_rate(K, x))


def acos(op, K, x):
    return _integrate_with(K, x, np.arccos(x[0]), -_asin_rate(K, x))


def softplus(op, K, x):
    return _integrate_with(K, x, op.fwd(x[0]), _sigmoid_series(K, x))


def abs_(op, K, x):
    return np.sign(x[0]) * x


def relu(op, K, x):
    return (x[0] > 0) * x


def _tied(K, a, b, first: bool):
    a, b = _align(a, b)
    m = tie_mask(a[0], b[0], first)
    return m * a + (1 - m) * b


def maximum(op, K, a, b):
    return _tied(K, a, b, True)


def minimum(op, K, a, b):
    return _tied(K, a, b, False)


def pow_(op, K, a, b):
    a, b = _align(a, b)
    zero = a[0] == 0
    if np.any(b[1:] != 0):  # a variable exponent: a**b = exp(b log a)
        if not np.any(zero):
            return exp(None, K, mul(None, K, b, log(None, K, a)))
        # log(0) has no series. At a zero base, a**b = a**b0 * exp((b - b0) log a): the first factor
        # has a series, the second is 1 + c t**m log(t) + ... where m is the order at which the
        # exponent starts to vary. So the derivatives of order n < p*b0 + m (p: the order at which
        # the base leaves 0) are those of a**b0 alone, and from there on log(t) makes them infinite
        # of no definite sign: NaN, "undefined", as SymPy's formula evaluates there too.
        safe = np.where(zero, 1.0, a)
        general = exp(None, K, mul(None, K, b, log(None, K, safe)))
        frozen = _const_pow(K, a, b[0])
        n = np.arange(K + 1).reshape((K + 1,) + (1,) * (frozen.ndim - 1))
        p = _first_order(a)  # inf where the base stays 0: 0**b is 0 (b > 0) all along, no log term
        undefined = n >= np.where(np.isinf(p), np.inf, p * b[0]) + _first_order(b)
        frozen = np.where(undefined, np.nan, frozen)
        return np.where(zero, frozen, general)
    return _const_pow(K, a, b[0])


def _first_order(c):
    """Per element, the lowest k >= 1 with c[k] != 0 (inf where the series is constant)."""
    nz = c[1:] != 0
    first = np.argmax(nz, axis=0) + 1.0
    return np.where(nz.any(axis=0), first, np.inf)


def _const_pow(K, a, r):
    """The series of a**r for a constant exponent r (a value array)."""
    zero = a[0] == 0
    if np.all(r == np.round(r)) and np.all(r >= 0) and np.all(r <= 64):
        return _int_pow(K, a, r.astype(int))
    y = _empty(K, a, r[None])
    y[0] = np.power(a[0], r)
    a0 = np.where(zero, 1.0, a[0])  # the ratio recurrence divides by a[0]; zero bases are done below
    for k in range(1, K + 1):
        acc = sum((r * j - (k - j)) * a[j] * y[k - j] for j in range(1, k + 1))
        y[k] = acc / (k * a0)
    if np.any(zero):
        y = np.where(zero, _zero_base_pow(K, a, r), y)
    return y


def _zero_base_pow(K, a, r):
    """a**r where a[0] == 0, by composing the Taylor expansion of u**r at u = 0 with the series
    a - a[0] (Faa di Bruno): y_n = sum_{k<=n} binom(r, k) 0**(r-k) [t^n](a - a[0])^k. The k-th
    derivative of u**r at 0 is 0 below r, finite at k = r and infinite above a fractional r, so
    x**2.5 at 0 gives 0, 0 and then inf, as its derivatives 2.5 x**1.5, 3.75 x**0.5, 1.875 x**-0.5
    do. Powers of a series with a zero constant term start at t^k, so only k <= n enters (no 0 * inf
    from terms that are structurally absent). Where a's series itself starts at t^2 or later a
    fractional power has no Taylor series: the NaN there is what nested reverse mode gives too.
    Where a's series starts at t^1, a zero coefficient of (a - a[0])^k is a true zero, so an
    infinite derivative of u**r times it adds nothing (the n-th derivative of t**r is one term)."""
    d = a.copy()
    d[0] = 0
    shape = np.broadcast_shapes(a.shape[1:], np.shape(r))
    y = np.zeros((K + 1,) + shape, dtype=np.result_type(a, r, np.float64))
    power = np.zeros_like(d)
    power[0] = 1  # (a - a0)^0
    binom = np.ones(np.shape(r))
    for k in range(K + 1):
        if k:
            power = mul(None, K, power, d)
            binom = binom * (r - (k - 1)) / k
        c = np.power(0.0, r - k)  # 0 above, 1 at, inf below
        coef = np.where(binom == 0, 0.0, binom * c)  # binom(r, k) = 0 past a whole r: an exact zero
        for n in range(k, K + 1):
            absent = (coef == 0) | ((power[n] == 0) & (d[1] != 0))
            y[n] = y[n] + np.where(absent, 0.0, coef * power[n])
    # a = c t**p + ... makes a**r = c**r t**(p r) (1 + ...)**r: its derivatives below p r vanish,
    # even where a's series starts at t**2 ((x*x)**2.5 = |x|**5 has four zero derivatives at 0)
    n = np.arange(K + 1).reshape((K + 1,) + (1,) * (y.ndim - 1))
    return np.where((r > 0) & (n < _first_order(a) * r), 0.0, y)


def _int_pow(K, a, r):
    """Exact for a base series through 0 (x**2 at x = 0), where the ratio recurrence divides by 0."""
    shape = np.broadcast_shapes(a.shape[1:], np.shape(r))
    out = np.zeros((K + 1,) + shape, dtype=a.dtype)
    out[0] = 1
    base = np.broadcast_to(a, (K + 1,) + shape).copy()
    r = np.broadcast_to(r, shape).copy()
    while np.any(r > 0):
        odd = (r % 2 == 1)
        out = np.where(odd, mul(None, K, out, base), out)
        r //= 2
        if np.any(r > 0):
            base = mul(None, K, base, base)
    return out


def matmul(op, K, a, b):
    return np.stack([sum(op.fwd(a[i], b[k - i]) for i in range(k + 1)) for k in range(K + 1)])


def linear(op, K, *cs, **params):
    return np.stack([np.asarray(op.fwd(*(c[k] for c in cs), **params)) for k in range(K + 1)])


reduce = linear  # sum and mean are linear: apply them to each coefficient


def extreme(op, K, x, axis=None):
    w = tie_weights(x[0], op.fwd(x[0], axis=axis), axis)
    return np.stack([np.sum(w * x[k], axis=axis) for k in range(K + 1)])


def where(op, K, a, b, cond):
    a, b = _align(a, b)
    return np.where(cond, a, b)


def detach(op, K, x):
    out = np.zeros_like(x)
    out[0] = x[0]
    return out
