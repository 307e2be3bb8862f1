"""The same program built in SymPy, through the op table's sympy column, and its derivatives.

Tensor variables become object arrays of element symbols (shown as w[0], w[1], ...), so broadcasting,
slicing, @, sum and mean go through the same numpy code paths as the numbers do. SymPy is
imported here only, and this module is imported only when a check runs.
"""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import sympy as sp



def exact(v):
    """The number a user most likely meant: the shortest decimal that rounds to v, exactly."""
    f = float(v)
    if f.is_integer():
        return sp.Integer(int(f))
    if not np.isfinite(f):
        return sp.nan if np.isnan(f) else (sp.oo if f > 0 else -sp.oo)
    fr = Fraction(repr(f))
    return sp.Rational(fr.numerator, fr.denominator)


def _objarray(x):
    return x if isinstance(x, np.ndarray) and x.dtype == object else np.asarray(x, dtype=object)


class Var(sp.Symbol):
    """A variable or tensor element in the check. Its SymPy name is internal (x__0, w[1]__7), so a
    user's name can never meet SymPy's or mpmath's namespace: a variable called exp, E, I or
    DiracDelta stays a variable in lambdify's generated code, and a scalar named w[0] is not the
    element w[0] of a tensor w. Only str() (the formulas shown to people) prints the user's name."""

    __slots__ = ("shown",)

    def __new__(cls, internal: str, shown: str, **assumptions):
        obj = sp.Symbol.__xnew__(cls, internal, **assumptions)  # uncached, as Dummy: one object per variable
        obj.shown = shown
        return obj

    def __getnewargs_ex__(self):
        return (self.name, self.shown), self.assumptions0

    def _sympystr(self, printer):
        return self.shown

    def _latex(self, printer):
        return printer._print(sp.Symbol(self.shown))  # x1 -> x_{1}, as a Symbol of that name prints


_serial = itertools.count()


def to_sympy(v):
    """A SymPy object from a number or an expression object (SymPy, symengine). Only numbers reach
    SymPy's converter, and strictly (it evals a string): anything else is refused."""
    if isinstance(v, sp.Basic):
        return v
    if type(v).__module__.startswith("symengine") and hasattr(v, "_sympy_"):
        return v._sympy_()  # what sympify does with it
    if isinstance(v, (int, float, np.number, np.bool_)):
        return sp.sympify(v, strict=True)
    raise TypeError(f"the check converts numbers and expressions only, not {type(v).__name__}")


def _internal(shown: str) -> str:
    """A name no user name equals (the serial), that sorts as the shown name does: SymPy orders a
    sum's terms by name, so the formulas people read do not depend on how many checks ran."""
    return f"{shown}__{next(_serial)}"


def element_symbols(name: str, shape) -> np.ndarray:
    if shape == ():
        return np.asarray(Var(_internal(name), name, real=True), dtype=object)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        shown = f"{name}[{', '.join(map(str, idx))}]"
        out[idx] = Var(_internal(shown), shown, real=True)
    return out


MAX_EXACT_DIGITS = 400  # past float64's range (1e308): a literal or constant this long is AD's float


def _literal(node):
    if node.exact == "pi":
        return sp.pi
    if node.exact == "e":
        return sp.E
    if node.exact is not None:
        if _too_long(node.exact):  # 1e99999 is inf to AD; Fraction would build 10**99999 first
            return exact(node.value)
        fr = Fraction(node.exact)
        return sp.Rational(fr.numerator, fr.denominator)
    return np.vectorize(exact, otypes=[object])(np.asarray(node.value, dtype=np.float64))


def _too_long(text: str) -> bool:
    """Would the exact value of this numeric literal have more than MAX_EXACT_DIGITS digits?"""
    mantissa, _, power = text.lower().lstrip("+-").partition("e")
    if len(mantissa) > MAX_EXACT_DIGITS or len(power) > 5:
        return True
    return bool(power) and abs(int(power)) > MAX_EXACT_DIGITS


def _huge(v) -> bool:
    return v.is_Rational and max(abs(v.p).bit_length(), v.q.bit_length()) > MAX_EXACT_DIGITS * 3.33


def _numeric(op, params, args):
    """An op on SymPy numbers alone, bounded: an exact result longer than MAX_EXACT_DIGITS becomes
    the float64 AD computes there (inf, 0 or a rounded number), and a power whose exact result
    would be that long is never computed (9**9**9 has 370 million digits: SymPy would spend the
    whole time budget on it). A number has no derivative, so only its rounding changes."""
    if op.name == "pow" and _pow_too_long(*args):
        with np.errstate(all="ignore"):
            return exact(op.fwd(np.float64(float(args[0])), np.float64(float(args[1]))))
    out = op.sym(sp, *args, **params)
    return exact(float(out)) if _huge(out) else out


def _pow_too_long(a, b) -> bool:
    if not (a.is_Rational and b.is_Rational) or a in (0, 1, -1) or b.q > 1_000:
        return False
    size = max(abs(a.p).bit_length(), a.q.bit_length())  # bits of a's numerator or denominator
    return abs(b) * size > MAX_EXACT_DIGITS * 3.33


def _elementwise(op, params):
    def f(*args):
        if all(getattr(a, "is_Number", False) for a in args):
            return _numeric(op, params, args)
        return op.sym(sp, *args, **params)

    return f


def build(program, syms: dict, values: list | None = None) -> list:
    """SymPy values (object arrays) of every node. `syms` holds each variable's symbols;
    `values` (the AD forward values) turn detached subexpressions into constants."""
    out = [None] * len(program.nodes)
    for i, node in enumerate(program.nodes):
        if node.kind == "var":
            out[i] = syms[node.name]
        elif node.kind == "const":
            out[i] = _objarray(_literal(node))
        elif node.op.name == "detach":
            out[i] = _objarray(np.vectorize(exact, otypes=[object])(np.asarray(values[i].value, dtype=np.float64)))
        else:
            op, args = node.op, [out[j] for j in node.args]
            if op.elementwise:
                f = np.frompyfunc(_elementwise(op, node.params), len(args), 1)
                out[i] = _objarray(f(*args))
            else:
                out[i] = _objarray(op.sym(sp, *args, **node.params))
    return out


def symbols_of(shapes: dict) -> dict:
    return {name: element_symbols(name, shape) for name, shape in shapes.items()}


def derivative(y: np.ndarray, syms: np.ndarray) -> np.ndarray:
    """d(y)/d(syms) for a scalar y: an array shaped like syms."""
    expr = y[()] if y.shape == () else y
    out = np.empty(syms.shape, dtype=object)
    for idx in np.ndindex(*syms.shape):
        out[idx] = _diff(expr, syms[idx], None, None)
    return out


def jacobian(y: np.ndarray, syms: np.ndarray) -> np.ndarray:
    """Shape y.shape + syms.shape."""
    out = np.empty(y.shape + syms.shape, dtype=object)
    memo: dict = {}
    for i in np.ndindex(*y.shape):
        terms = _terms_by_symbol(y[i]) if syms.size > 1 else None
        for j in np.ndindex(*syms.shape):
            out[i + j] = _diff(y[i], syms[j], terms, memo)
    return out


def _terms_by_symbol(expr) -> dict | None:
    """{symbol: the terms of the sum `expr` that contain it}, or None when expr is no sum. A sum
    over 1,000 elements differentiated by each element walked all 1,000 terms each time (0.16 s
    an entry); the terms free of a symbol have derivative 0, so each entry walks its own."""
    if not isinstance(expr, sp.Add):
        return None
    out: dict = {}
    for term in expr.args:
        for s in term.free_symbols:
            out.setdefault(s, []).append(term)
    return out


def _diff(expr, s, terms, memo):
    """d expr / d s. A sum's entry differentiates only its own terms, and through `memo` once per
    shape of them: sum(sin(x)*exp(y)) has one term shape for all its elements, so its symbols
    are renamed to placeholders (_T0, _T1, ... in the order of their printed names, with the
    same assumptions), differentiated once, and renamed back. Renaming commutes with diff: the
    formulas are the same as differentiating each entry."""
    if terms is None:
        return sp.diff(expr, s)
    own = terms.get(s)
    if not own:
        return sp.Integer(0)
    group = sp.Add(*own)
    if memo is None:
        return sp.diff(group, s)
    free = sorted(group.free_symbols, key=str)
    tmpl = {v: sp.Symbol(f"_T{k}", **v.assumptions0) for k, v in enumerate(free)}
    key = (group.xreplace(tmpl), tmpl[s])
    d = memo.get(key)
    if d is None:
        d = memo[key] = sp.diff(*key)
    return d.xreplace({t: v for v, t in tmpl.items()})


def evaluator(symbols: list, exprs: list, digits: int | None = 30):
    """Evaluate many expressions at one point: one lambdified function with common
    subexpressions shared (no subs per entry). With mpmath at `digits` significant digits,
    or, with digits=None, in plain float64 as AD itself computes."""
    import mpmath

    # lambdify names each argument by printing it, and a Var prints as the user's name (x[0]),
    # no Python identifier: it then renames that symbol in every expression, one walk per symbol
    # per expression (16 s for 600 entries over 900 symbols). One walk per expression, with
    # every symbol renamed to a plain identifier at once, does the same; and as _a0, _a1, ... no
    # argument can meet a name of numpy or mpmath, so dummify (a walk per symbol again) is not needed.
    safe = [sp.Symbol(f"_a{k}", **getattr(v, "assumptions0", {})) for k, v in enumerate(symbols)]
    exprs = [to_sympy(e).xreplace(dict(zip(symbols, safe))) for e in exprs]
    symbols = safe
    # Second derivatives of Max/Min/Abs/relu hold DiracDelta: 0 off the kink, undefined on it
    # (where check.py reports a non-differentiable point anyway).
    if digits is None:
        delta = {"DiracDelta": lambda x, *k: np.where(np.asarray(x) != 0, 0.0, np.nan)}
        fn = sp.lambdify(symbols, exprs, modules=[delta, "numpy"], cse=True)  # _a0, _a1, ...: no dummies needed

        def run64(point: list):
            with np.errstate(all="ignore"):
                return [_to_float(v) for v in fn(*[np.float64(v) for v in point])]

        return run64
    if len(exprs) <= FEW and not any(_bigger_than(e, SMALL) for e in exprs):
        return lambda point: [_evalf(e, symbols, point, digits) for e in exprs]
    delta = {"DiracDelta": lambda x, *k: mpmath.mpf(0) if x != 0 else mpmath.nan}
    fn = sp.lambdify(symbols, exprs, modules=[delta, "mpmath"], cse=True)

    def run(point: list):
        args = [mpmath.mpf(float(v)) for v in point]
        with mpmath.workdps(digits):
            try:
                return [_to_float(v) for v in fn(*args)]
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                pass  # one entry divides by zero (asin'(1)) or turns complex: evaluate them one by one
            out = []
            for e in exprs:
                try:
                    out.append(_to_float(sp.lambdify(symbols, e, modules=[delta, "mpmath"])(*args)))
                except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                    out.append(float("nan"))  # undefined here; check.py compares it with AD's inf/nan
            return out

    return run


TAYLOR_FROM = 4  # a scalar's derivatives of higher order come from mpmath's Taylor coefficients
TAYLOR_FORMULA = "(order {n}: mpmath's Taylor coefficient of SymPy's f, 30 digits; no closed form derived)"


def taylor_keys(keys, shapes: dict, base) -> set:
    """The derivative keys checked through Taylor coefficients: one scalar variable repeated more
    than TAYLOR_FROM times, of a scalar output. Differentiating the formula again and again
    swells it (exp(sin(x))*tanh(x): order 12 takes 10 s, each order twice the last), while
    mpmath.diffs gives orders 0-20 of the same function, to 30 digits, in ~20 ms."""
    if np.shape(base) != ():
        return set()
    return {k for k in keys if len(k) > TAYLOR_FROM and len(set(k)) == 1 and shapes[k[0]] == ()}


def taylor_values(base, syms: dict, point: dict, var: str, orders, *, digits: int = 30) -> dict:
    """{order: float} of d^n f / d var^n at `point`, from mpmath.diffs on SymPy's f (the other
    variables fixed at their exact float64 values)."""
    import mpmath

    fixed = {s: sp.Float(float(v), digits) for n in syms if n != var
             for s, v in zip(np.ravel(syms[n]), np.ravel(np.asarray(point[n], dtype=np.float64)))}
    t = sp.Symbol("_t", real=True)
    expr = to_sympy(np.asarray(base)[()]).xreplace({**fixed, np.asarray(syms[var])[()]: t})
    delta = {"DiracDelta": lambda x, *k: mpmath.mpf(0) if x != 0 else mpmath.nan}
    f = sp.lambdify([t], expr, modules=[delta, "mpmath"])
    top = max(orders)
    with mpmath.workdps(digits):
        try:
            ds = [_to_float(d) for d in mpmath.diffs(f, mpmath.mpf(float(point[var])), top)]
        except (ZeroDivisionError, ValueError, OverflowError, TypeError):
            ds = [float("nan")] * (top + 1)
    return {n: ds[n] for n in orders}


FEW = 8  # up to this many expressions, evalf each: generating a lambdified function costs more
SMALL = 200  # ... unless one has more nodes than this: then lambdify's cse wins (1,000-node tree: 3.6 s -> 1.3 s)


MAX_FORMULA_NODES = 2_000  # a derivative's formula longer than this (written out) is summarized, not printed


def formula_summary() -> str:
    """The text shown instead of a formula of more than MAX_FORMULA_NODES nodes: ~10,000 characters
    no one reads (d/dx_j sum((A @ x)**2), A 100x100: 100 rationals of 40 digits), which SymPy took
    ~75 ms an entry to print. Its value is checked all the same; only the text is left out."""
    return f"(not written out: a formula of more than {MAX_FORMULA_NODES:,} nodes)"


def texts(arr) -> np.ndarray:
    """The formula text of each SymPy expression in arr (text passes through), huge ones summarized."""
    def one(e):
        if isinstance(e, str):
            return e
        if _bigger_than(e, MAX_FORMULA_NODES):
            return formula_summary()
        return str(e)

    return np.vectorize(one, otypes=[object])(arr)


def _bigger_than(expr, n: int) -> bool:
    """Whether expr has more than n nodes, walking at most n + 1 of them."""
    for k, _ in enumerate(sp.preorder_traversal(expr)):
        if k >= n:
            return True
    return False


def _evalf(expr, symbols, point, digits):
    # xreplace, then evalf: evalf(subs=) re-walks the tree per symbol with its own precision
    # tracking and took 6.8 s on a 100-node tree where this takes 0.13 s. The inputs are the
    # float64 values exactly (a Float of `digits` digits holds every binary digit), as before.
    subs = {s: sp.Float(float(v), digits) for s, v in zip(symbols, point) if s in expr.free_symbols}
    try:
        return _to_float(expr.xreplace(subs).evalf(digits))
    except (ZeroDivisionError, ValueError, OverflowError, TypeError):
        return float("nan")


def _to_float(v):
    try:
        return float(np.real_if_close(v)) if isinstance(v, complex) else float(v)
    except TypeError:  # a complex result (log of a negative number): not a real derivative
        return float("nan")


def flat(arrays) -> list:
    return list(itertools.chain.from_iterable(np.asarray(a, dtype=object).ravel() for a in arrays))
