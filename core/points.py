"""Many points in one call: each element of the bound arrays (broadcast together) is a separate
point of a scalar formula, evaluated as ONE vectorized graph.

Because the formula is elementwise (checked against the op table's `elementwise` flag before
anything runs), d(sum of f over the points)/d(x at point p) is f'(p): one backward pass with a
ones seed gives every point's first derivatives, and a second backward pass through the first
one's graph (create_graph) gives the second derivatives. The SymPy check differentiates the
formula once, symbolically, and evaluates the derivatives on every point (lambdify with numpy).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from . import autodiff
from .errors import AgradError
from .problem import Options, make_problem
from .graph import merge_bindings, program_order
from .parser import is_name
from .kernels import spread
from .program import evaluate
from .results import Check
from .tensor import Tensor, gc_paused, quiet_numpy

MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class PointwiseItem:
    """SymPy against AD for one derivative over every point."""

    key: str  # "x", "x,y"
    formula: str  # SymPy's derivative
    max_error: float  # max |ad - sympy| over the points that are not kinks
    worst: int | None  # the point with the largest relative error
    mismatches: int  # points outside the tolerance
    kinks: int  # points on a kink or where the derivative is undefined (not judged)
    verdict: str  # ok | mismatch


@dataclass(frozen=True)
class PointwiseResult:
    """One row per point: the variables, f and each derivative, as 1-D arrays of equal length."""

    expression: str
    shape: tuple  # the broadcast shape of the bindings (the rows are its elements in C order)
    variables: dict  # name -> the value at each point
    value: np.ndarray  # f at each point
    derivatives: dict  # "x", "x,y" -> the derivative at each point
    wrt: list
    order: int
    kinks: np.ndarray  # True where a kink (abs(0), relu(0), a tie) or a non-finite derivative sits
    check: Check  # agrad.grad's Check, its items one PointwiseItem per derivative over every point
    varying: list  # the variables whose value changes from point to point
    seconds: float = 0.0  # the vectorized evaluation and both backward passes (no check, no parsing)
    random_seed: int | None = None  # the seed rand()/randn() drew with, when they drew (seed= replays it)

    @property
    def points(self) -> int:
        return int(self.value.size)

    @property
    def ok(self) -> bool:
        return self.check.status != "failed"


_OFF = Check("off", "check=False")  # frozen: one serves every call without the check


def pointwise(expr, *, order: int = 1, wrt=None, check: bool = True, points=None, dtype: str = "float64",
              check_timeout: float = 10.0, lib=None, seed: int | None = None, at: dict | None = None,
              **bindings) -> PointwiseResult:
    """f and its derivatives at many points in one vectorized call: each element of the bound
    arrays (broadcast together) is a point of the scalar formula `expr`. `order=2` adds the
    second derivatives; `points` names a CSV file whose header names the variables (one point per
    row; a name it gives may not be bound as a value too); `wrt`, `dtype`, `lib` and `seed` as for
    agrad.grad. The formula must be elementwise:
    sum, mean, @, max/min and indexing mix points and are refused. SymPy's derivative is computed
    once and evaluated on every point (`check`, given up after `check_timeout` seconds).

    >>> import agrad
    >>> r = agrad.pointwise("x**3 + y", x=[0, 1, 2], y=5)
    >>> r.value.tolist(), r.derivatives["x"].tolist(), r.derivatives["y"].tolist()
    ([5.0, 6.0, 13.0], [0.0, 3.0, 12.0], [1.0, 1.0, 1.0])
    >>> agrad.pointwise("sin(x)", x="linspace(0, pi, 3)", order=2).derivatives["x,x"].round(12).tolist()
    [-0.0, -1.0, -0.0]
    """
    from .gradient import _paths, names

    if order not in (1, 2):
        raise AgradError(f"pointwise evaluation gives first and second derivatives: order= must be 1 or 2, "
                         f"got {order}", kind="usage")
    from_file = read_points(points) if points is not None else {}
    for name in from_file:  # a value given twice must not silently replace the file's column
        if name in (at or {}) or name in bindings:
            raise AgradError(f"'{name}' is bound twice: in the points file's header and as a value; "
                             f"drop one of them", kind="binding")
    values = {**from_file, **merge_bindings(at, bindings)}
    problem = make_problem(expr, values, Options(wrt=names(wrt), check=check, dtype=dtype, order=1,
                                                 check_timeout=check_timeout, lib=_paths(lib), seed=seed))
    program = problem.program
    refuse_mixing(program)
    try:
        shapes = [np.shape(v) for v in problem.bindings.values()]
        shape = shapes[0] if shapes and shapes.count(shapes[0]) == len(shapes) else np.broadcast_shapes(*shapes)
    except ValueError:
        shapes = ", ".join(f"{n} {np.shape(v)}" for n, v in problem.bindings.items())
        raise AgradError(f"the bound arrays do not broadcast together into points: {shapes}",
                         kind="shape") from None
    n = math.prod(shape)
    if n > MAX_POINTS:
        raise AgradError(f"{n:,} points are over the limit of {MAX_POINTS:,}", kind="limit")
    width = len(problem.wrt) ** 2 if order == 2 else len(problem.wrt)
    if n * (width + len(problem.bindings) + 1) > 10 * MAX_POINTS:
        raise AgradError(f"{n:,} points x {width + len(problem.bindings) + 1} columns are over the limit of "
                         f"{10 * MAX_POINTS:,} numbers; fewer points or order=1", kind="limit")
    flat = {name: _flat(v, shape, problem.dtype) for name, v in problem.bindings.items()}
    t0 = time.perf_counter()
    with quiet_numpy(), gc_paused():  # entered once for the passes below, not by each of them
        value, ders = _evaluate(program, flat, problem.wrt, order, problem.dtype)
        seconds = time.perf_counter() - t0
        kinks = _kink_points(program, flat, problem.dtype, n, frozenset(problem.wrt))
        for d in ders.values():
            if not math.isfinite(np.dot(d, d)):  # a NaN or inf entry makes d.d one (finite: none; overflow: look)
                kinks |= ~np.isfinite(d)
    verdict = (_check(program, flat, ders, kinks=kinks, problem=problem, timeout=check_timeout) if check
               else _OFF)
    varying = [name for name, v in flat.items() if v.size > 1 and (v[1] != v[0] or not np.all(v == v[0]))]
    return PointwiseResult(program.source, tuple(shape), flat, value, ders, list(problem.wrt), order, kinks,
                           verdict, varying, seconds, problem.random_seed)


def _flat(v, shape, dtype) -> np.ndarray:
    """The value at each point, as a read-only 1-D array (a view where it can be one)."""
    if type(v) is np.ndarray and v.shape == shape and v.dtype == dtype and v.flags.c_contiguous:
        out = v.reshape(-1)  # what the general line below gives for it, without its three calls
        out.flags.writeable = False
        return out
    return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=dtype), shape).reshape(-1))


def refuse_mixing(program) -> None:
    """Every op must act element by element: one that reads other elements (sum, mean, @, max,
    min, indexing, a user function) would mix the points. Array constants are refused too."""
    for node in program.nodes:
        if node.kind == "op" and node.op.name == "detach":  # elementwise, but SymPy's one formula for every
            # point cannot hold a value frozen at each point
            raise AgradError(f"pointwise evaluation checks one formula on every point, and "
                             f"{program.source[node.span[0]:node.span[1]]} freezes a value per point (detach and "
                             f"no_grad); evaluate it one point at a time without pointwise", kind="usage",
                             span=node.span, source=program.source)
        if node.kind == "op" and not node.op.elementwise:
            what = ({"[]": "indexing"}.get(node.op.symbol, node.op.symbol)
                    or (node.op.lang[0] if node.op.lang else node.op.name))
            raise AgradError(f"pointwise evaluation needs an elementwise formula, and {what} "
                             f"({program.source[node.span[0]:node.span[1]]}) mixes elements across points; "
                             f"evaluate it one point at a time without pointwise", kind="usage",
                             span=node.span, source=program.source)
        if node.kind == "const" and np.ndim(node.value) > 0:
            raise AgradError("pointwise evaluation binds its points through variables; this constant array "
                             "would mix with them: bind it as a variable", kind="usage", span=node.span,
                             source=program.source)


def _evaluate(program, flat: dict, wrt: list, order: int, dtype):
    leaves = {name: Tensor(v, requires_grad=name in wrt, name=name) for name, v in flat.items()}
    values = evaluate(program, leaves, dtype, keep=(program.output,))
    order_ = program_order(values, leaves.values())  # fresh leaves: the program's order is the backward's
    y = values[program.output]
    n = next(iter(flat.values())).size if flat else 1
    taken = {id(v) for v in flat.values()}  # the caller's arrays: never handed back as results
    value = _own(y.value, n, taken)
    ders = {}
    if not wrt:
        return value, ders
    if not y.requires_grad:
        return value, {v: np.zeros(n, dtype) for v in wrt}
    seed = _ones(np.shape(y.value), dtype)
    first = autodiff.grad(y, [leaves[v] for v in wrt], seed, create_graph=order > 1, order=order_)
    for v, g in zip(wrt, first):
        ders[v] = _own(g.value, n, taken)
    if order == 2:
        for v, g in zip(wrt, first):
            if not g.requires_grad:  # f is linear in v: no graph to walk again
                for w in wrt:
                    ders[f"{v},{w}"] = np.zeros(n, dtype)
                continue
            second = autodiff.grad(g, [leaves[w] for w in wrt], np.ones(g.shape, dtype), retain_graph=True)
            for w, h in zip(wrt, second):
                ders[f"{v},{w}"] = _own(h.value, n, taken)
    return value, ders


_ONES: dict = {}  # (shape, dtype) -> a read-only stride-0 ones seed: nothing writes to it, so calls share it


def _ones(shape, dtype) -> np.ndarray:
    key = (shape, np.dtype(dtype))
    seed = _ONES.get(key)
    if seed is None:
        if len(_ONES) > 64:
            _ONES.clear()
        seed = _ONES[key] = spread(np.dtype(dtype).type(1), shape)  # ones without filling an array
    return seed


def _own(v, n: int, taken: set) -> np.ndarray:
    """v as a (n,) array of the result's own: a fresh array nothing else holds is used as it is
    (a copy of 10,000 floats costs as much as an op), anything else (a view, a broadcast, an
    input, an array already handed out) is copied."""
    if (type(v) is np.ndarray and v.shape == (n,) and v.flags.owndata and v.flags.writeable
            and id(v) not in taken):
        taken.add(id(v))
        return v
    out = np.broadcast_to(np.asarray(v), (n,)).copy()
    taken.add(id(out))
    return out


def _kink_points(program, flat, dtype, n, wrt) -> np.ndarray:
    """Per point: a value sits on a kink of abs, relu, maximum/minimum, or a power's zero base
    under an exponent that is not a literal, along a variable in `wrt` (check.kink_nodes's
    conventions and check.pow_kink's rule, point by point)."""
    out = np.zeros(n, dtype=bool)
    if not any(node.kind == "op" and node.op.kink for node in program.nodes):
        return out
    from .check import near_tie, pow_kink, variable_sets
    from .tolerance import tolerances

    rtol, atol = tolerances(dtype)
    deps = variable_sets(program)
    with quiet_numpy():
        leaves = {name: Tensor(v) for name, v in flat.items()}
        values = evaluate(program, leaves, dtype)
        for node in program.nodes:
            if node.kind != "op" or not node.op.kink:
                continue
            args = [np.broadcast_to(np.asarray(values[j].value), (n,)) for j in node.args]
            if node.op.name in ("abs", "relu"):
                out |= near_tie(args[0], 0, rtol, atol)
            elif node.op.name in ("maximum", "minimum"):
                out |= near_tie(args[0], args[1], rtol, atol)
            elif node.op.name == "pow" and deps[node.args[1]]:
                along_both, along_exponent = pow_kink(args[0], args[1], rtol, atol)
                if (deps[node.args[0]] | deps[node.args[1]]) & wrt:
                    out |= along_both
                if deps[node.args[1]] & wrt:
                    out |= along_exponent
    return out


def _check(program, flat, ders, *, kinks, problem, timeout) -> Check:
    from .check import MAX_CHECK_NODES
    from .tolerance import Timeout, close, time_limit, tolerances

    rtol, atol = tolerances(problem.dtype)
    t0 = time.perf_counter()
    if len(program.nodes) > MAX_CHECK_NODES:
        return Check("skipped", f"the expression has {len(program.nodes):,} nodes; SymPy is asked for "
                                         f"at most {MAX_CHECK_NODES:,}", rtol, atol)
    from . import symbolic as S

    try:
        with time_limit(timeout):
            import sympy as sp

            names = list(flat)
            syms = S.symbols_of({name: () for name in names})
            y = S.build(program, syms)[program.output][()]
            keys = list(ders)
            exprs = []
            for key in keys:
                d = y
                for v in key.split(","):
                    d = sp.diff(d, syms[v][()])
                exprs.append(d)
            delta = {"DiracDelta": lambda x, *k: np.where(np.asarray(x) != 0, 0.0, np.nan)}
            fn = sp.lambdify([syms[name][()] for name in names], exprs, modules=[delta, "numpy"], dummify=True)
            with np.errstate(all="ignore"):
                results = fn(*[flat[name].astype(np.float64) for name in names])
    except Timeout:
        return Check("skipped", f"SymPy took longer than {timeout:g} s (check_timeout=)", rtol, atol,
                              seconds=time.perf_counter() - t0)
    items, failed = [], False
    n = kinks.size
    for key, expr, ref in zip(keys, exprs, results):
        ref = np.real_if_close(np.broadcast_to(np.asarray(ref), (n,)))
        ref = np.where(np.iscomplex(ref), np.nan, np.real(ref)).astype(np.float64) if np.iscomplexobj(ref) \
            else ref.astype(np.float64)
        ad = ders[key].astype(np.float64)
        judged = ~kinks
        bad = judged & ~close(ad, ref, rtol, atol)
        with np.errstate(all="ignore"):
            err = np.where(judged & np.isfinite(ad) & np.isfinite(ref), np.abs(ad - ref), 0.0)
            rel = err / (atol + rtol * np.abs(ref))
        worst = int(np.argmax(np.where(bad, np.inf, rel))) if n else None
        items.append(PointwiseItem(key, str(expr), float(err.max()) if n else 0.0, worst, int(bad.sum()),
                                   int(kinks.sum()), "mismatch" if bad.any() else "ok"))
        failed |= bool(bad.any())
    return Check("failed" if failed else "ok", "", rtol, atol, tuple(items), time.perf_counter() - t0)


MAX_CSV_BYTES = 50_000_000


def read_points(path) -> dict:
    """A CSV file of points: a header naming the variables, one point per row, numbers only."""
    import csv
    import io
    import os

    from .values import decode_utf8, read_bounded

    path = os.fspath(path)
    try:  # stat before open and read at most the limit: a FIFO would block, /dev/zero never ends
        data = read_bounded(path, MAX_CSV_BYTES, "the points file")
    except AgradError as exc:
        if exc.kind == "binding":  # values.py speaks of values; a points file's errors stay "file"
            exc.kind = "file"
            exc.message = exc.message.replace("cannot be read as a value", "cannot be read as points")
            exc.args = (exc.message,)
        raise
    reader = csv.reader(io.StringIO(decode_utf8(data, f"the points file {path}"), newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:  # a field over csv's limit (131,072 characters), a NUL byte
        raise AgradError(f"{path}: line {reader.line_num}: not a readable CSV row ({exc})", kind="file") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise AgradError(f"{path}: the points file is empty; it needs a header naming the variables", kind="file")
    header = [c.strip() for c in rows[0]]
    for name in header:
        if not is_name(name):  # the language's names: 'ℌ' is a Python identifier no expression can use
            raise AgradError(f"{path}: the header must name variables, and {name!r} is not a name "
                             f"(line 1)", kind="file")
    if len(set(header)) != len(header):
        raise AgradError(f"{path}: a variable is named twice in the header", kind="file")
    if len(rows) == 1:
        raise AgradError(f"{path}: no points below the header", kind="file")
    cols = [[] for _ in header]
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise AgradError(f"{path}: line {lineno} has {len(row)} values; the header names {len(header)}",
                             kind="file")
        for k, cell in enumerate(row):
            try:
                cols[k].append(float(cell))
            except ValueError:
                raise AgradError(f"{path}: line {lineno}: {cell.strip()!r} is not a number", kind="file") from None
    return {name: np.asarray(c) for name, c in zip(header, cols)}
