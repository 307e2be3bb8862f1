"""The SymPy check's heavy work in symengine (SymPy's C++ core): building the program, differentiating
and evaluating at 30 digits (MPFR) are 10-100x quicker there; SymPy still writes the formulas people
read (each symengine result converted back, with the user's names). Used only when symengine is
installed and every op of the program has a derivative there (no abs/relu/max/min: symengine leaves
Derivative(Max(x, y), x) unevaluated); otherwise check.py keeps the pure SymPy path. Imported only
when a check runs.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

se = None  # symengine, once imported: the import alone costs ~90 ms, so only big programs pay it


def _se_number(v):
    """A symengine object from a number or a SymPy object. Only those reach symengine's converter,
    which would parse text (or an object it converts through its text): anything else is refused."""
    if isinstance(v, se.Basic):
        return v
    if not isinstance(v, (int, float, np.number, np.bool_)):
        import sympy

        if not isinstance(v, sympy.Basic):
            raise TypeError(f"the check converts numbers and expressions only, not {type(v).__name__}")
    return se.sympify(v)


def _symengine():
    """symengine, imported on first use; None where it is not installed (the check then falls
    back to SymPy alone)."""
    global se
    if se is None:
        try:
            import symengine
        except ImportError:
            return None
        se = symengine
    return se

# ops whose sym column gives the same function in symengine, with a derivative symengine computes
SUPPORTED = frozenset(["add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "log2", "log10", "sqrt",
                       "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "softplus",
                       "sum", "mean", "index", "detach"])
PREC = 103  # bits: sympy.Float(v, 30) carries 103, and holds every binary digit of a float64


def usable(program) -> bool:
    return all(n.kind != "op" or n.op.name in SUPPORTED for n in program.nodes) and _symengine() is not None


def _objarray(x):
    return x if isinstance(x, np.ndarray) and x.dtype == object else np.asarray(x, dtype=object)


def _to_se(x):
    return np.vectorize(_se_number, otypes=[object])(_objarray(x)) if np.ndim(x) else _objarray(_se_number(x[()] if isinstance(x, np.ndarray) else x))


def build(program, syms: dict, values: list) -> list:
    """symbolic.build in symengine: the same sym column with symengine for sympy. Numbers alone are
    still computed by SymPy (symbolic._numeric bounds their size), then converted."""
    import sympy as sp

    from . import symbolic as S

    out = [None] * len(program.nodes)
    for i, node in enumerate(program.nodes):
        if node.kind == "var":
            out[i] = syms[node.name]
        elif node.kind == "const":
            out[i] = _to_se(S._literal(node))
        elif node.op.name == "detach":
            out[i] = _to_se(np.vectorize(S.exact, otypes=[object])(np.asarray(values[i].value, dtype=np.float64)))
        else:
            op, args, params = node.op, [out[j] for j in node.args], node.params
            if op.elementwise:
                def f(*a, op=op, params=params):
                    if all(getattr(v, "is_Number", False) for v in a):
                        return _se_number(S._numeric(op, params, [S.to_sympy(v) for v in a]))
                    return op.sym(se, *a, **params)
                out[i] = _objarray(np.frompyfunc(f, len(args), 1)(*args))
            else:
                out[i] = _objarray(op.sym(se, *args, **params))
    return out


def exact(v):
    """symbolic.exact in symengine: the shortest decimal that rounds to the float v, exactly, made
    from its numerator and denominator (through SymPy, 25 us a number: 0.25 s for a held 100x100)."""
    f = float(v)
    if f.is_integer():
        return se.Integer(int(f))
    if not math.isfinite(f):  # symbolic.exact's nan/oo, made here (symengine cannot convert SymPy's oo)
        return se.nan if math.isnan(f) else (se.oo if f > 0 else -se.oo)
    fr = Fraction(repr(f))
    return se.Integer(fr.numerator) / se.Integer(fr.denominator)


def symbols_of(shapes: dict, held: dict) -> tuple[dict, dict]:
    """({name: object array of symengine symbols or numbers}, {internal name: Var}). A held
    variable (no derivative taken by it, {name: its float64 values}) is its numbers, exact."""
    from . import symbolic as S

    syms, back = {}, {}
    for name, shape in shapes.items():
        if name in held:
            syms[name] = np.vectorize(exact, otypes=[object])(np.asarray(held[name], dtype=np.float64))
            continue
        v = S.element_symbols(name, shape)
        for s in np.ravel(v):
            back[s.name] = s
        syms[name] = np.vectorize(lambda s: se.Symbol(s.name), otypes=[object])(v) if v.ndim else \
            _objarray(se.Symbol(v[()].name))
    return syms, back


def jacobian_of(y: np.ndarray, syms: np.ndarray) -> np.ndarray:
    out = np.empty(y.shape + syms.shape, dtype=object)
    for i in np.ndindex(*y.shape):
        e = y[i]
        terms = None
        if syms.size > 1 and isinstance(e, se.Add):  # each entry differentiates only the terms holding it
            terms = {}
            for t in e.args:
                for s in t.free_symbols:
                    terms.setdefault(s, []).append(t)
        for j in np.ndindex(*syms.shape):
            s = syms[j]
            if terms is None:
                out[i + j] = e.diff(s)
            else:
                own = terms.get(s)
                out[i + j] = se.Add(*own).diff(s) if own else se.Integer(0)
    return out


CSE_FROM = 50_000  # ops of the expressions written out: from there on, shared parts are evaluated once
CSE_WIDEST = 1_000  # terms of one sum: symengine's cse compares a sum's terms pairwise (mean((X @ w - Y)**2)
# over 3,000 rows: 10 s of cse, 2 s without), so past this the entries are evaluated one by one


def shared_parts(exprs: list):
    """symengine's cse of the expressions, (replacements, reduced expressions), where they are big
    enough for it to pay: d/dx_j of sum((A @ x)**2) holds all 100 rows of A @ x, and substituting
    into each entry evaluated them 100 times. Below CSE_FROM ops written out (count_ops: C++,
    microseconds) cse costs about what it saves (2,000 entries of 5 ops: +0.07 s): None."""
    if not exprs or se.count_ops(*exprs) <= CSE_FROM or _has_wide_sum(exprs, CSE_WIDEST):
        return None
    reps, reduced = se.cse(exprs)
    return (reps, reduced) if reps else None


def _has_wide_sum(exprs: list, limit: int) -> bool:
    """Whether a sum of more than `limit` terms is in the expressions (each shared part visited once)."""
    seen, stack = set(), list(exprs)
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        args = e.args
        if len(args) > limit and isinstance(e, se.Add):
            return True
        stack.extend(args)
    return False


def values30(symbols: list, exprs: list, point: list, shared=None) -> list:
    """Each expression at the point, in MPFR at PREC bits (the float64 inputs exactly). With
    `shared` (shared_parts(exprs)), each shared part is evaluated once (1 s -> 0.06 s for the 100
    entries of d/dx sum((A @ x)**2)): the same operations at the same precision, so the same
    values; where a shared part is not a finite real number (a division by zero, a complex log),
    each entry is evaluated on its own as before, so that only the entries holding it become NaN."""
    sub = {s: se.RealMPFR(f"{float(v):.40e}", PREC) for s, v in zip(symbols, point)}
    known = None if shared is None else _through(shared[0], sub, lambda v: v.evalf(PREC), se.RealMPFR)
    if known is not None:
        sub, exprs = known, shared[1]
    out = []
    for e in exprs:
        try:
            own = {s: sub[s] for s in e.free_symbols}  # a small map: symengine converts the dict each call
            out.append(_float(e.subs(own) if own else e))
        except (ZeroDivisionError, ValueError, OverflowError, TypeError, RuntimeError):
            out.append(float("nan"))
    return out


def _through(reps: list, sub: dict, evalf, real) -> dict | None:
    """sub with the value of each replacement of cse added (in order: each may use the ones
    before), or None where one is not a finite real number (or cse's names clash)."""
    sub = dict(sub)
    try:
        for s, e in reps:
            if s in sub:  # cse's names (x0, x1, ...) never equal the check's internal ones (x__0): be sure
                return None
            v = e.subs({t: sub[t] for t in e.free_symbols})
            v = v if v.is_Number else evalf(v)
            if not isinstance(v, (real, se.Integer, se.Rational)) or not math.isfinite(float(v)):
                return None
            sub[s] = v
    except (ZeroDivisionError, ValueError, OverflowError, TypeError, RuntimeError, KeyError):
        return None
    return sub


def _float(v) -> float:
    if not v.is_Number:
        v = v.evalf(PREC)
    if v == se.oo or v == -se.oo:
        return float("inf") if v == se.oo else float("-inf")
    if v == se.zoo or v == se.nan or not v.is_Number:  # undefined here (a division by zero)
        return float("nan")
    try:
        return float(v)
    except (TypeError, RuntimeError):
        c = complex(v)  # complex: real only when the imaginary part is rounding (as np.real_if_close)
        return c.real if abs(c.imag) < 100 * np.finfo(np.float64).eps else float("nan")


def values64(symbols: list, exprs: list, point: list, shared=None) -> list:
    """The same expressions in float64, as AD computes (the ill-conditioning excuse). With `shared`
    (shared_parts(exprs)), each shared part and then each entry is evaluated by substituting
    float64 numbers (symengine computes on them in double): Lambdify takes ~0.1 ms per op to
    set up, 5-10 s for the 100 entries of d/dx sum((A @ x)**2), where this takes ~0.1 s."""
    if not exprs:
        return []
    if shared is not None:
        sub = {s: se.RealDouble(float(v)) for s, v in zip(symbols, point)}
        known = _through(shared[0], sub, lambda v: v.evalf(53, real=True), se.RealDouble)
        if known is not None:
            out = []
            for e in shared[1]:
                try:
                    out.append(_float(e.subs({t: known[t] for t in e.free_symbols})))
                except (ZeroDivisionError, ValueError, OverflowError, TypeError, RuntimeError):
                    out.append(float("nan"))
            return out
    fn = se.Lambdify(symbols, exprs, real=True, cse=True) if symbols else None
    with np.errstate(all="ignore"):
        if fn is None:
            return [_float(e) for e in exprs]
        return [float(v) for v in np.ravel(fn(np.asarray(point, dtype=np.float64)))]


def formulas(arr: np.ndarray, back: dict) -> np.ndarray:
    """SymPy's text of each symengine expression, the user's names shown (symbolic.Var). Converting
    to SymPy costs ~1 ms an entry, so it happens once per shape: the symbols are renamed to tokens
    in the order of their names (the order SymPy sorts them by), the template is converted and
    printed once, and each token in the text becomes the user's name again. A formula of more than
    symbolic.MAX_FORMULA_NODES nodes is not printed at all (symbolic.formula_summary)."""
    import re

    from . import symbolic as S

    texts: dict = {}
    memo: dict = {}
    dmemo: dict = {}

    def one(e):
        if _bigger_than(e, S.MAX_FORMULA_NODES):  # no one reads it, and SymPy would take ~75 ms to print it
            return S.formula_summary()
        free = sorted(e.free_symbols, key=lambda s: s.name)
        tmpl = e.xreplace({s: se.Symbol(f"{_TOKEN}{k:06d}") for k, s in enumerate(free)}) if free else e
        text = texts.get(tmpl)
        if text is None:
            text = texts[tmpl] = str(to_sympy(distribute(tmpl, dmemo), memo))
        if not free:
            return text
        shown = [back[s.name].shown for s in free]
        return re.sub(f"{_TOKEN}(\\d{{6}})", lambda m: shown[int(m[1])], text)

    return np.vectorize(one, otypes=[object])(arr)


def _bigger_than(e, n: int) -> bool:
    """Whether e written out (a shared subexpression counted at each use, as printing walks it) has
    more than n nodes, walking at most n + 1 of them. symengine's count_ops (C++, written out too)
    answers at once for huge ones: an op is a node or fewer, so more than n ops is more than n
    nodes (and a count that wrapped around its 32 bits only undercounts). Argument by argument,
    so that an entry of 100 terms stops after the first few (count_ops(e) would walk all 100)."""
    ops = 0
    for a in e.args:
        ops += se.count_ops(a)
        if ops > n:
            return True
    stack, seen = [e], 0
    while stack:
        seen += 1
        if seen > n:
            return True
        stack.extend(stack.pop().args)
    return False


def _postorder(e, memo: dict, make):
    """make(node, converted args) for every node below e, children first, each shared node once
    (no recursion: formulas nest deeper than Python's stack)."""
    stack = [e]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        todo = [a for a in node.args if a not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        memo[node] = make(node, [memo[a] for a in node.args])
    return memo[e]


def distribute(e, memo: dict):
    """SymPy's one automatic expansion, done in symengine: a number times a sum is the sum of the
    multiples (2*(x + y) is 2*x + 2*y in SymPy, not in symengine). Done here in C++, so that
    d/dx_j sum((A @ x)**2), a sum of 100 multiples of 100-term sums, is collected to 100 terms
    before SymPy sees it (SymPy takes 0.5 s an entry to do the same)."""
    def make(node, new):
        out = node if all(a is b or a == b for a, b in zip(node.args, new)) else node.func(*new)
        if isinstance(out, se.Mul) and len(out.args) == 2 and isinstance(out.args[1], se.Add) \
                and out.args[0].is_Number:
            out = se.Add(*[out.args[0] * t for t in out.args[1].args])
        return out

    return _postorder(e, memo, make)


def to_sympy(e, memo: dict):
    """The SymPy expression of a symengine one, each shared subexpression converted once (SymPy's
    converter converts a subtree at every use: a derivative shares the function's subtrees many
    times). Symbols become real SymPy symbols of the same name, as the check's symbols are."""
    import sympy as sp

    def make(node, a):
        if not node.args or node.is_Number:  # oo, -oo and zoo have args, (1,), (-1,), (0,)
            return sp.Symbol(node.name, real=True) if isinstance(node, se.Symbol) else node._sympy_()
        if isinstance(node, se.Add):
            return sp.Add(*a)
        if isinstance(node, se.Mul):
            return sp.Mul(*a)
        if isinstance(node, se.Pow):
            return sp.Pow(*a)
        return getattr(sp, type(node).__name__)(*a)

    return _postorder(e, memo, make)


_TOKEN = "_\u00a7"  # no user name holds a section sign: the tokens are found in the text and nowhere else


def check(program, shapes: dict, point: dict, values: list, derivatives: dict, *, seed, jacobian: bool,
          held: dict, rtol: float, atol: float):
    """check.against_sympy's symbolic work: (keys, {key: formula texts}, SymPy's values in key order,
    the same formulas in float64 or None when every value already agrees)."""
    from . import symbolic as S
    from .tolerance import close

    syms, back = symbols_of(shapes, held)
    base = build(program, syms, values)[program.output]
    if seed is not None and not jacobian:
        seeds = _to_se(np.vectorize(S.exact, otypes=[object])(np.broadcast_to(seed, base.shape)))
        base = _objarray(se.Add(*np.ravel(base * seeds)))
    cache = {(): base}
    for key in derivatives:
        for k in range(1, len(key) + 1):
            if key[:k] not in cache:
                cache[key[:k]] = jacobian_of(cache[key[: k - 1]], syms[key[k - 1]])
    keys = list(derivatives)
    names = [n for n in shapes if n not in held]
    flat_syms = S.flat(syms[n] for n in names)
    flat_exprs = S.flat(cache[k] for k in keys)
    flat_point = S.flat(np.asarray(point[n], dtype=np.float64) for n in names)
    shared = shared_parts(flat_exprs)
    vals = values30(flat_syms, flat_exprs, flat_point, shared)
    ad = np.concatenate([np.ravel(np.asarray(derivatives[k], dtype=np.float64)) for k in keys])
    v64 = None if close(ad, vals, rtol, atol).all() else values64(flat_syms, flat_exprs, flat_point, shared)
    return keys, {k: formulas(cache[k], back) for k in keys}, vals, v64


def tree_size(program, values: list) -> tuple[float, float]:
    """(the output's formula, its derivative's) written out as trees, in nodes: every element, and
    every repeated subexpression counted at each use, as printing the formulas walks them. From the
    graph alone in microseconds, so a program whose formulas are astronomically long (t = sin(t)*y
    + t*0.5 fifty times: 2**50 nodes) is refused at once instead of running into the time budget.
    The derivative is sized by the chain rule written out: f(u)' = f'(u)*u' costs u and u' again."""
    sizes: list = [None] * len(program.nodes)
    dsizes: list = [None] * len(program.nodes)
    for i, node in enumerate(program.nodes):
        shape = np.shape(values[i].value)
        if node.kind != "op" or node.op.name == "detach":
            sizes[i] = dsizes[i] = np.ones(shape)
            continue
        args, dargs = [sizes[j] for j in node.args], [dsizes[j] for j in node.args]
        name, axis = node.op.name, node.params.get("axis")
        with np.errstate(over="ignore", invalid="ignore"):
            if node.op.elementwise:
                s, d = 1 + sum(args), 3 + sum(args) + sum(dargs)
            elif name in ("sum", "mean", "max", "min") and (axis is None or args[0].ndim > axis):
                n = args[0].size if axis is None else args[0].shape[axis]
                s, d = np.sum(args[0], axis=axis) + n, np.sum(dargs[0], axis=axis) + n
            elif name == "matmul" and args[0].ndim and args[1].ndim:
                (a, b), (da, db) = args, dargs
                ones_a, ones_b = np.ones(a.shape), np.ones(b.shape)
                s = np.matmul(a, ones_b) + np.matmul(ones_a, b) + a.shape[-1]
                d = s + np.matmul(da, ones_b) + np.matmul(ones_a, db)
            elif name == "index":
                s, d = args[0][node.params["key"]], dargs[0][node.params["key"]]
            else:
                s = d = None
            if s is None or np.shape(s) != shape:  # anything else (sum(x, 0) of a scalar x too): every
                s = np.full(shape, float(sum(np.sum(a) for a in args)))  # element as long as all its inputs
                d = np.full(shape, float(sum(np.sum(a) for a in args + dargs)))
        sizes[i] = np.broadcast_to(np.asarray(s, dtype=np.float64), shape)
        dsizes[i] = np.broadcast_to(np.asarray(d, dtype=np.float64), shape)
    return float(np.sum(sizes[program.output])), float(np.sum(dsizes[program.output]))
