"""THE op table: one row per primitive.

A row says how the primitive is written in the expression language, how it computes (numpy),
how it differentiates (one vector-Jacobian rule per input), how SymPy writes it, how it
propagates Taylor series (jet), what PyTorch calls its grad_fn, and what it saves for backward.

Derivative rules are written with agrad's own ops, never numpy on raw arrays, so a backward
pass run with create_graph builds more graph and higher derivatives come free. Masks at kinks
(sign, ties) are piecewise constant, so they enter as constants: their own derivative is 0.
A rule gets (g, out, *inputs, **params) and returns the gradient for its input; shapes are
reduced to the input's shape by the backward loop (autodiff.unbroadcast), never here.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import jet as J
from .kernels import keepdims_shape as _keepdims_shape
from .kernels import scalar as _s
from .kernels import sigmoid as _sigmoid_np
from .kernels import spread as _spread
from .kernels import tie_mask, tie_weights
from .tensor import Tensor, apply, const, peek, view_of
from .tensor import _state as _unit  # the all-ones gradients of the running backward pass, if any


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    fwd: Callable
    vjp: tuple | None  # one rule per tensor input; None: the op stops gradients (detach)
    sym: Callable | None  # (sympy, *args, **params); elementwise rows get scalars, others object arrays
    jet: Callable | None  # (order, *coefficient arrays, value=..., **params) -> coefficient array
    torch: str | Callable  # grad_fn name, or (inputs, params) -> name
    saves: str = ""  # what each rule reads, one word per input: x/y inputs, o output ("y yo": div)
    elementwise: bool = False
    lang: tuple = ()  # function names in the expression language
    symbol: str | None = None  # binary/unary operator symbol in the language
    params: tuple = ()  # trailing integer-constant arguments, e.g. axis
    nargs: int = 1
    kink: str = ""  # the subgradient convention at a non-differentiable point

    def saved(self, inputs) -> set:
        """What a node keeps for backward: what the rules that will run read, as input positions
        (0, 1) and None for the output. Only the inputs that require a gradient have their rule
        run, so x*W with W a constant keeps W, not x (PyTorch saves conditionally too). Values
        nobody reads are released (program.evaluate)."""
        words = (w for w, t in zip(self.saves.split(), inputs) if t.requires_grad)
        return {None if c == "o" else "xy".index(c) for w in words for c in w}

    def torch_name(self, inputs, params=None) -> str:
        return self.torch(inputs, params or {}) if callable(self.torch) else self.torch

    def __repr__(self):
        return f"Op({self.name})"


def _mask(kernel, like: Tensor, *inputs: Tensor, **params) -> Tensor:
    """kernel(*values, **params), a piecewise-constant function of the inputs (a sign, a tie's
    share), in like's dtype: an op of its own (the `mask` row) rather than a constant computed
    from the values, so a replayed pass computes it again from the values of each pass."""
    return apply(OPS["mask"], inputs, {"kernel": kernel, "dtype": like.value.dtype, **params})


def _mask_np(*values, kernel, dtype, **params):
    return _s(np.asarray(kernel(*values, **params), dtype=dtype))


def _positive(o):
    return o > 0


def _wins(a, b):
    return tie_mask(a, b, True)


def _loses(a, b):
    return tie_mask(a, b, False)


def _expand(g: Tensor, shape, axis) -> Tensor:
    """A reduction's gradient, spread back over the reduced axis."""
    if axis is None and g.value.shape == ():  # a full reduction: a scalar broadcasts to any shape as it is
        out = broadcast_to(g, shape=shape)
        units = _unit.unit
        if units is not None and any(g is u for u in units):
            units.append(out)  # ones too: a loss's sum(...) hands them to every term
        return out
    return broadcast_to(reshape(g, shape=_keepdims_shape(shape, axis)), shape=shape)


_AXES: dict = {}  # (shape from, shape to) -> the axes sum_to sums over: the same few pairs in every pass


def _sum_to_np(x, shape):
    xs = x.shape if type(x) is np.ndarray else np.shape(x)
    if xs == shape:
        return x
    axes = _AXES.get((xs, shape), _AXES)  # _AXES itself: not computed yet (None means every axis)
    if axes is _AXES:
        lead = len(xs) - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and xs[i + lead] != 1)
        if len(axes) == len(xs):
            axes = None  # every axis: numpy's own spelling of it, which it parses quicker
        if len(_AXES) > 1024:
            _AXES.clear()
        _AXES[(xs, shape)] = axes
    s = x.sum(axis=axes) if type(x) is np.ndarray else np.sum(x, axis=axes)  # the method: np.sum's work, less wrapping
    if shape == () and type(s) is not np.ndarray:
        return s  # already a numpy scalar
    return _s(s.reshape(shape))


def _extreme_np(pick):
    return lambda x, axis=None: _s(pick(x, axis=axis))


def _extreme_vjp(g, out, x, axis=None):
    return _expand(g, x.shape, axis) * _mask(tie_weights, g, x, out, axis=axis)


def _extreme_sym(which):
    def build(sp, x, axis=None):
        f = getattr(sp, which)
        if axis is None:
            return np.asarray(f(*x.flat), dtype=object)
        moved = np.moveaxis(x, axis, -1)
        out = np.empty(moved.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = f(*moved[idx])
        return out
    return build


def _pow_base(g, out, a, b):
    if not b.requires_grad and b.value.shape == () and peek(b) == 2:
        return g * (a * 2)  # the square, everywhere in losses: two array ops instead of four
    d = g * b * a ** (b - 1)
    # d/da a**0 is 0 even at a = 0, where the formula is 0 * inf: a**0 is 1 all along a. Masked
    # where a = 0 as well, not wherever b = 0 as PyTorch and JAX do: their mask also cuts the
    # mixed derivative, d/db of b*a**(b-1), which is 1/a at b = 0, not 0. The base is read only
    # when some exponent is 0 (a replayed pass cannot replay a look at a changing base).
    zero = np.asarray(peek(b) == 0)
    if not zero.any():
        return d
    hole = np.asarray((peek(a) == 0) & zero)
    return where(d, const(0, d), cond=~hole) if hole.any() else d


def _pow_exponent(g, out, a, b):
    # out * log(a), masked to 0 where a = 0 and b >= 0 (0**b is 0 or 1 there, flat in b), as
    # PyTorch masks; where b < 0, 0**b is inf and d/db is inf * log(0) = -inf, as in PyTorch
    zero = np.asarray(peek(a) == 0)
    hole = zero & np.asarray(peek(b) >= 0) if zero.any() else None
    safe = a if hole is None or not hole.any() else where(a, const(1, a), cond=~hole)
    return g * out * log(safe)


def _outer(u, v):
    return reshape(u, shape=(u.shape[0], 1)) * reshape(v, shape=(1, v.shape[0]))


def _matmul_a(g, out, a, b):
    if a.value.ndim == 1 and b.value.ndim == 1:
        return g * b
    if b.value.ndim == 1:
        return _outer(g, b)
    if a.value.ndim == 1:
        return matmul(b, g)
    return matmul(g, transpose(b))


def _matmul_b(g, out, a, b):
    if a.value.ndim == 1 and b.value.ndim == 1:
        return g * a
    if a.value.ndim == 1:
        return _outer(a, g)
    return matmul(transpose(a), g)


def _matmul_np(a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        raise ValueError("@ needs arrays of at least one dimension; use * for scalars")
    if np.ndim(a) > 2 or np.ndim(b) > 2:
        raise ValueError("@ supports vectors and matrices (at most 2 dimensions)")
    return _s(np.matmul(a, b))


def _matmul_name(inputs, params):
    nd = tuple(t.value.ndim for t in inputs)
    return {(1, 1): "DotBackward0", (2, 1): "MvBackward0"}.get(nd, "MmBackward0")


def _index_name(inputs, params):
    return "SelectBackward0" if all(isinstance(k, int) for k in params["key"]) else "SliceBackward0"


def _index_put_np(g, key, shape):
    z = np.zeros(shape, dtype=np.result_type(g))
    z[key] = g
    return _s(z)


def _reduce_name(base, full=0):
    """PyTorch numbers a grad_fn by the order of its overloads in derivatives.yaml: x.sum() and
    x.mean() are SumBackward0/MeanBackward0 and their dim forms ...1; max and min list the dim
    form first, so x.max() is MaxBackward1 and x.max(0) MaxBackward0."""
    return lambda inputs, params: f"{base}Backward{full if params.get('axis') is None else 1 - full}"


def _mean_np(x, axis=None):
    if axis is None and type(x) is np.ndarray and x.dtype == np.float64 and x.size:
        return x.sum() / x.size  # what np.mean computes for float64 (the sum, then one division), less wrapping
    return _s(np.mean(x, axis=axis))


def _mean_vjp(g, out, x, axis=None):
    n = x.value.size if axis is None else x.shape[axis]
    return _expand(g / n, x.shape, axis)  # divided before it is spread: the same numbers, one array op fewer


def _sum_sym(sp, x, axis=None):
    """One Add of all the terms: np.sum over SymPy objects adds pairwise, re-sorting and
    re-hashing a growing sum at each step (quadratic in the number of terms)."""
    if axis is None:
        return np.asarray(sp.Add(*np.asarray(x, dtype=object).ravel()), dtype=object)
    moved = np.moveaxis(np.asarray(x, dtype=object), axis, -1)
    out = np.empty(moved.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = sp.Add(*moved[idx])
    return out


def _mean_sym(sp, x, axis=None):
    n = x.size if axis is None else x.shape[axis]
    return np.asarray(_sum_sym(sp, x, axis) * sp.Rational(1, n), dtype=object)


_LN2, _LN10 = math.log(2.0), math.log(10.0)

# Arithmetic uses Python's operators, not np.add & co.: the same broadcasting on arrays, and
# on numpy scalars (a scalar graph) a fast path about 15x quicker than a ufunc call.
# fmt: off
_ROWS = [
    # ---- arithmetic ------------------------------------------------------------------------
    Op("add", operator.add, (lambda g, o, a, b: g, lambda g, o, a, b: g),
       lambda sp, a, b: a + b, J.add, "AddBackward0", "", True, symbol="+", nargs=2),
    Op("sub", operator.sub, (lambda g, o, a, b: g, lambda g, o, a, b: -g),
       lambda sp, a, b: a - b, J.sub, "SubBackward0", "", True, symbol="-", nargs=2),
    Op("mul", operator.mul, (lambda g, o, a, b: g * b, lambda g, o, a, b: g * a),
       lambda sp, a, b: a * b, J.mul, "MulBackward0", "y x", True, symbol="*", nargs=2),
    Op("div", operator.truediv, (lambda g, o, a, b: g / b, lambda g, o, a, b: -(g * o) / b),
       lambda sp, a, b: a / b, J.div, "DivBackward0", "y yo", True, symbol="/", nargs=2),
    Op("neg", operator.neg, (lambda g, o, x: -g,),
       lambda sp, x: -x, J.neg, "NegBackward0", "", True, symbol="neg"),
    Op("pow", operator.pow, (_pow_base, _pow_exponent),
       lambda sp, a, b: a ** b, J.pow_,
       lambda ins, p: "PowBackward1" if ins[1].requires_grad else "PowBackward0",
       "xy xo", True, lang=("pow",), symbol="**", nargs=2,
       kink="d/da a**b at a = 0 with b = 0 is 0; d/db is 0 where a = 0 and b >= 0"),
    Op("matmul", _matmul_np, (_matmul_a, _matmul_b),
       lambda sp, a, b: np.asarray(np.matmul(a, b), dtype=object), J.matmul, _matmul_name,
       "y x", lang=("dot",), symbol="@", nargs=2),
    # ---- elementwise functions ---------------------------------------------------------------
    Op("exp", np.exp, (lambda g, o, x: g * o,), lambda sp, x: sp.exp(x), J.exp, "ExpBackward0", "o", True, ("exp",)),
    Op("log", np.log, (lambda g, o, x: g / x,), lambda sp, x: sp.log(x), J.log, "LogBackward0", "x", True, ("log",)),
    Op("log2", np.log2, (lambda g, o, x: g / (x * _LN2),), lambda sp, x: sp.log(x, 2), J.log2,
       "Log2Backward0", "x", True, ("log2",)),
    Op("log10", np.log10, (lambda g, o, x: g / (x * _LN10),), lambda sp, x: sp.log(x, 10), J.log10,
       "Log10Backward0", "x", True, ("log10",)),
    Op("sqrt", np.sqrt, (lambda g, o, x: g / (2 * o),), lambda sp, x: sp.sqrt(x), J.sqrt, "SqrtBackward0", "o", True, ("sqrt",)),
    Op("sin", np.sin, (lambda g, o, x: g * cos(x),), lambda sp, x: sp.sin(x), J.sin, "SinBackward0", "x", True, ("sin",)),
    Op("cos", np.cos, (lambda g, o, x: -(g * sin(x)),), lambda sp, x: sp.cos(x), J.cos, "CosBackward0", "x", True, ("cos",)),
    Op("tan", np.tan, (lambda g, o, x: g * (1 + o * o),), lambda sp, x: sp.tan(x), J.tan, "TanBackward0", "o", True, ("tan",)),
    Op("asin", np.arcsin, (lambda g, o, x: g / sqrt(1 - x * x),), lambda sp, x: sp.asin(x), J.asin,
       "AsinBackward0", "x", True, ("asin",)),
    Op("acos", np.arccos, (lambda g, o, x: -(g / sqrt(1 - x * x)),), lambda sp, x: sp.acos(x), J.acos,
       "AcosBackward0", "x", True, ("acos",)),
    Op("atan", np.arctan, (lambda g, o, x: g / (1 + x * x),), lambda sp, x: sp.atan(x), J.atan,
       "AtanBackward0", "x", True, ("atan",)),
    Op("sinh", np.sinh, (lambda g, o, x: g * cosh(x),), lambda sp, x: sp.sinh(x), J.sinh, "SinhBackward0", "x", True, ("sinh",)),
    Op("cosh", np.cosh, (lambda g, o, x: g * sinh(x),), lambda sp, x: sp.cosh(x), J.cosh, "CoshBackward0", "x", True, ("cosh",)),
    Op("tanh", np.tanh, (lambda g, o, x: g * (1 - o * o),), lambda sp, x: sp.tanh(x), J.tanh, "TanhBackward0", "o", True, ("tanh",)),
    Op("sigmoid", _sigmoid_np, (lambda g, o, x: g * (o * (1 - o)),), lambda sp, x: 1 / (1 + sp.exp(-x)), J.sigmoid,
       "SigmoidBackward0", "o", True, ("sigmoid",)),
    Op("softplus", lambda x: np.logaddexp(0, x), (lambda g, o, x: g * sigmoid(x),), lambda sp, x: sp.log(1 + sp.exp(x)),
       J.softplus, "SoftplusBackward0", "x", True, ("softplus",)),
    Op("abs", np.abs, (lambda g, o, x: g * _mask(np.sign, g, x),), lambda sp, x: sp.Abs(x), J.abs_,
       "AbsBackward0", "x", True, ("abs",), kink="abs'(0) = 0"),
    Op("relu", lambda x: np.maximum(x, 0), (lambda g, o, x: g * _mask(_positive, g, o),),  # o > 0 iff x > 0
       lambda sp, x: sp.Max(x, 0), J.relu, "ReluBackward0", "o", True, ("relu",), kink="relu'(0) = 0"),
    Op("maximum", np.maximum, (lambda g, o, a, b: g * _mask(_wins, g, a, b),
                               lambda g, o, a, b: g * _mask(_wins, g, b, a)),
       lambda sp, a, b: sp.Max(a, b), J.maximum, "MaximumBackward0", "xy xy", True, ("maximum",), nargs=2,
       kink="a tie splits the gradient 0.5 / 0.5"),
    Op("minimum", np.minimum, (lambda g, o, a, b: g * _mask(_loses, g, a, b),
                               lambda g, o, a, b: g * _mask(_loses, g, b, a)),
       lambda sp, a, b: sp.Min(a, b), J.minimum, "MinimumBackward0", "xy xy", True, ("minimum",), nargs=2,
       kink="a tie splits the gradient 0.5 / 0.5"),
    # ---- reductions (optional axis: sum(A, 0)) ---------------------------------------------------
    Op("sum", lambda x, axis=None: _s(np.sum(x, axis=axis)), (lambda g, o, x, axis=None: _expand(g, x.shape, axis),),
       _sum_sym, J.reduce, _reduce_name("Sum"),
       "", lang=("sum",), params=("axis",)),
    Op("mean", _mean_np, (_mean_vjp,), _mean_sym, J.reduce, _reduce_name("Mean"), "", lang=("mean",), params=("axis",)),
    Op("max", _extreme_np(np.max), (_extreme_vjp,), _extreme_sym("Max"), J.extreme, _reduce_name("Max", full=1), "xo",
       lang=("max",), params=("axis",), kink="ties share the gradient evenly"),
    Op("min", _extreme_np(np.min), (_extreme_vjp,), _extreme_sym("Min"), J.extreme, _reduce_name("Min", full=1), "xo",
       lang=("min",), params=("axis",), kink="ties share the gradient evenly"),
    # ---- structure: indexing, shapes (the last five serve derivative rules) -------------------------
    Op("index", lambda x, key: x[key], (lambda g, o, x, key: index_put(g, key=key, shape=x.shape),),
       lambda sp, x, key: np.asarray(x[key], dtype=object), J.linear, _index_name, "", symbol="[]"),
    Op("index_put", _index_put_np, (lambda g, o, x, key, shape: index(g, key=key),),
       None, J.linear, "IndexPutBackward0"),
    Op("broadcast_to", _spread, (lambda g, o, x, shape: sum_to(g, shape=x.shape),),
       None, J.linear, "ExpandBackward0"),
    Op("sum_to", _sum_to_np, (lambda g, o, x, shape: broadcast_to(g, shape=x.shape),), None, J.linear, "SumBackward1"),
    Op("reshape", lambda x, shape: _s(np.reshape(x, shape)), (lambda g, o, x, shape: reshape(g, shape=x.shape),),
       None, J.linear, "ViewBackward0"),
    Op("transpose", np.transpose, (lambda g, o, x: transpose(g),), None, J.linear, "TBackward0"),
    Op("where", lambda a, b, cond: _s(np.where(cond, a, b)),
       (lambda g, o, a, b, cond: where(g, const(0, g), cond=cond), lambda g, o, a, b, cond: where(const(0, g), g, cond=cond)),
       None, J.where, "WhereBackward0", elementwise=True, nargs=2),
    # ---- stopping gradients --------------------------------------------------------------------
    Op("detach", lambda x: x, None, lambda sp, x: x, J.detach, "detach", lang=("detach", "no_grad")),
    Op("mask", _mask_np, None, None, None, "mask"),  # derivative rules' masks (_mask): constant pieces, no gradient
]
# fmt: on

OPS: dict[str, Op] = {row.name: row for row in _ROWS}
FUNCTIONS: dict[str, Op] = {name: row for row in _ROWS for name in row.lang}
SYMBOLS: dict[str, Op] = {row.symbol: row for row in _ROWS if row.symbol}


def _caller(name):
    op = OPS[name]
    return lambda *args, **params: apply(op, args, params)


(add, sub, mul, div, neg, pow_, matmul, sin, cos, sqrt, log, sinh, cosh, sigmoid,
 index, index_put, broadcast_to, sum_to, reshape, transpose, where) = (
    _caller(n) for n in ("add", "sub", "mul", "div", "neg", "pow", "matmul", "sin", "cos", "sqrt", "log", "sinh",
                         "cosh", "sigmoid", "index", "index_put", "broadcast_to", "sum_to", "reshape",
                         "transpose", "where"))


def _operators(op: Op):
    """Tensor methods for a binary op; numbers on either side become constants of the
    Tensor's dtype."""
    def method(a, b):
        return apply(op, (a, b if type(b) is Tensor else const(b, a)))

    def reflected(a, b):
        return apply(op, (const(b, a), a))

    return method, reflected


def _unit_times(a, b):
    """g * b where g is an all-ones gradient of a backward pass without create_graph (the seed,
    or a sum's spread of it): b itself, as a read-only view (a gradient the loop may not add
    into), when multiplying would change neither shape nor dtype. 1 * v == v exactly (NaN, inf
    and -0.0 included), and a loss's last op is often a product or a sum of products, a
    pointwise formula's nearly always: one array op and one array fewer each. Known by
    identity, never by looking at values (which a replayed pass could not redo)."""
    if type(b) is not Tensor:
        b = const(b, a)
    units = _unit.unit
    if units is not None:
        for unit in units:
            if a is unit or b is unit:
                other = b if a is unit else a
                if other.value.shape == unit.value.shape and other.value.dtype == unit.value.dtype:
                    return view_of(other)  # it is the forward value too: nobody may write through it
                break
    return apply(_MUL, (a, b))


_MUL = OPS["mul"]

# Operators on Tensor, so derivative rules read like the mathematics they implement.
Tensor.__add__, Tensor.__radd__ = _operators(OPS["add"])
Tensor.__sub__, Tensor.__rsub__ = _operators(OPS["sub"])
Tensor.__mul__, Tensor.__rmul__ = _operators(OPS["mul"])
Tensor.__mul__ = _unit_times
Tensor.__truediv__, Tensor.__rtruediv__ = _operators(OPS["div"])
Tensor.__pow__, Tensor.__rpow__ = _operators(OPS["pow"])
Tensor.__matmul__, Tensor.__rmatmul__ = _operators(OPS["matmul"])
Tensor.__neg__ = neg


def function_signatures() -> list[str]:
    """Every function of the expression language as it is called, in the table's order:
    `sin`, `pow(a,b)`, `sum(a[,axis])`. --help and the README list exactly these."""
    out = []
    for row in _ROWS:
        for name in row.lang:
            if row.params:
                out.append(f"{name}(a[,{','.join(row.params)}])")
            elif row.nargs == 2:
                out.append(f"{name}(a,b)")
            else:
                out.append(name if row.elementwise else f"{name}(a)")
    return out


def kinks() -> list[tuple[str, str]]:
    """The documented subgradient conventions, one per op that has a kink."""
    return [(row.name, row.kink) for row in _ROWS if row.kink]
