"""Hand-written backward rules against SymPy, per node and per input: which rule is wrong.

The end-to-end check (check.py) says that a gradient is wrong; this says where. For every
node of a function with a `backward` rule, each input's rule is run on the values that node
saw (its inputs, its output, the gradient g that reached it) and compared with SymPy's
vector-Jacobian product of the body, sum(g * body), differentiated by that input, and with
central finite differences of the same product.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .tolerance import Timeout, close, time_limit
from .functions import FunctionOp, run_rule
from .numeric import MAX_FD_ENTRIES, jacobian
from .ops import _sum_to_np
from .tensor import Tensor, grad_mode, quiet_numpy

MAX_RULE_ENTRIES = 2_000  # entries compared per rule (SymPy differentiates each)


@dataclass
class RuleItem:
    function: str
    input: str
    node: int  # the program node whose values were used
    rule: str  # the rule's text
    ours: object  # the rule's result, reduced to the input's shape
    sympy: object = None
    formula: str | None = None  # "d/db(w*x + b) = 1", when the inputs are scalars or the body elementwise
    fd: object = None
    error: float = 0.0
    verdict: str = "ok"  # ok | mismatch | skipped
    text: str = ""


def rule_nodes(program) -> list[int]:
    return [i for i, n in enumerate(program.nodes)
            if n.kind == "op" and isinstance(n.op, FunctionOp) and n.op.definition.rules is not None]


def check_rules(program, values: list, grads: dict, *, rtol: float, atol: float, timeout: float = 10.0) -> list:
    """One RuleItem per (node of a function with a rule, input), for the nodes a gradient reached."""
    items = []
    t0 = time.perf_counter()
    for i in rule_nodes(program):
        g = grads.get(values[i])
        if g is None:
            continue
        node = program.nodes[i]
        inputs = [np.asarray(values[j].value, dtype=np.float64) for j in node.args]
        left = max(0.1, timeout - (time.perf_counter() - t0))
        items += _check_node(i, node.op.definition, inputs, np.asarray(g.value, dtype=np.float64),
                             np.asarray(values[i].value, dtype=np.float64), rtol=rtol, atol=atol, timeout=left)
    return items


def _check_node(index, d, inputs, g, out, *, rtol, atol, timeout) -> list:
    ours = []
    with grad_mode(False), quiet_numpy():
        ts = [Tensor(v[()] if v.ndim == 0 else v) for v in inputs]
        gt, ot = Tensor(g[()] if g.ndim == 0 else g), Tensor(out[()] if out.ndim == 0 else out)
        for k in range(len(d.params)):
            r = np.asarray(run_rule(d, k, gt, ot, ts).value, dtype=np.float64)
            ours.append(np.asarray(_sum_to_np(r, inputs[k].shape)))
    base = [RuleItem(d.name, p, index, d.rule_texts[k], ours[k]) for k, p in enumerate(d.params)]
    if sum(v.size for v in inputs) > MAX_RULE_ENTRIES:
        for it in base:
            it.verdict, it.text = "skipped", f"backward of {d.name}, input {it.input}: not checked (over " \
                                             f"{MAX_RULE_ENTRIES:,} input entries)"
        return base
    try:
        with time_limit(timeout):
            exact, formulas = _sympy_vjps(d, inputs, g)
    except Timeout:
        exact, why = None, f"SymPy took longer than {timeout:g} s"
    except Exception as exc:  # SymPy is the oracle, not the subject: say so and move on
        exact, why = None, f"SymPy could not finish ({type(exc).__name__}: {exc})"
    fds = _fd_vjps(d, inputs, g)
    for k, it in enumerate(base):
        it.fd = None if fds is None else fds[k]
        if exact is None:
            it.verdict, it.text = "skipped", f"backward of {d.name}, input {it.input}: not checked: {why}"
            continue
        it.sympy, it.formula = exact[k], formulas[k]
        good = close(it.ours, it.sympy, rtol, atol)
        diff = np.where(good, 0.0, np.abs(it.ours - it.sympy))
        it.error = float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0))
        it.verdict = "ok" if good.all() else "mismatch"
        it.text = _text(d, k, it, good, g)
    return base


def _sympy_vjps(d, inputs, g):
    """sum(g * body) differentiated by each input's entries, at the input values (30 digits),
    and the derivative's formula in the parameters' names where one formula covers every entry."""
    import sympy as sp

    from . import symbolic as S

    syms = {p: S.element_symbols(p, v.shape) for p, v in zip(d.params, inputs)}
    y = S.build(d.body, syms)[d.body.output]
    gs = np.vectorize(S.exact, otypes=[object])(np.broadcast_to(g, np.shape(y)))
    s = np.asarray(np.sum(y * gs), dtype=object)
    exprs = [S.derivative(s, syms[p]) for p in d.params]
    flat_syms = S.flat(syms[p] for p in d.params)
    vals = S.evaluator(flat_syms, S.flat(exprs))(S.flat(inputs))
    out, pos = [], 0
    for v in inputs:
        out.append(np.asarray(vals[pos:pos + v.size], dtype=np.float64).reshape(v.shape))
        pos += v.size
    formulas = [None] * len(d.params)
    elementwise = all(n.kind != "op" or n.op.elementwise for n in d.body.nodes)
    if elementwise or all(v.shape == () for v in inputs):
        scalars = {p: np.asarray(sp.Symbol(p, real=True), dtype=object) for p in d.params}
        body = S.build(d.body, scalars)[d.body.output][()]
        formulas = [str(sp.diff(body, scalars[p][()])) for p in d.params]
    return out, formulas


def _fd_vjps(d, inputs, g):
    """Central differences of sum(g * body) by each input, on the forward pass alone."""
    if sum(v.size for v in inputs) > MAX_FD_ENTRIES:
        return None
    from .functions import _run_numpy

    def f_of(k):
        def f(x):
            args = list(inputs)
            args[k] = x
            with quiet_numpy():
                return float(np.sum(g * _run_numpy(d.body, [a[()] if a.ndim == 0 else a for a in args])))
        return f

    return [jacobian(f_of(k), inputs[k]) for k in range(len(inputs))]


def _num(v) -> str:
    return f"{float(v):.10g}"


def _text(d, k, it: RuleItem, good, g) -> str:
    p = d.params[k]
    where = p
    ours, exact = np.asarray(it.ours), np.asarray(it.sympy)
    if exact.ndim:
        bad = np.argwhere(~good)
        idx = tuple(bad[0]) if bad.size else tuple(np.unravel_index(0, exact.shape))
        if bad.size:
            worst = np.abs(np.where(good, 0, ours - exact))
            idx = np.unravel_index(int(np.nanargmax(np.nan_to_num(worst, nan=np.inf))), exact.shape)
        where = f"{p}[{', '.join(map(str, idx))}]"
        o, e = ours[idx], exact[idx]
        fd = None if it.fd is None else np.asarray(it.fd)[idx]
        gi = np.broadcast_to(g, np.shape(exact))[idx] if np.ndim(g) <= exact.ndim else None
    else:
        o, e, fd = ours, exact, it.fd
        gi = g if np.ndim(g) == 0 else None
    if it.verdict == "ok":
        where = p
    head = f"backward of {d.name}, input {where}: "
    deriv = f"d/d{p}({d.body_text})"
    number = it.formula is not None and _is_number(it.formula)
    if gi is not None and float(gi) == 1:
        says = deriv + ("" if it.formula is None else f" = {it.formula}")
        says += "" if number and float(it.formula) == float(e) else f" = {_num(e)}"
    elif gi is not None and it.formula is not None:
        says = f"g*{deriv} = {_num(gi)}*({it.formula}) = {_num(e)}"
    else:  # g varies along a reduction: only the product has a value per entry
        says = f"sum(g*{d.body_text}) differentiated by {where} = {_num(e)}"
    fd_text = "" if fd is None else f"; finite differences give {_num(fd)}"
    count = "" if not exact.ndim else f" ({int((~good).sum())} of {good.size} entries differ)"
    if it.verdict == "ok":
        formula = "" if it.formula is None else f": {deriv} = {it.formula}"
        return head + f"your rule {it.rule} agrees with SymPy{formula}"
    return head + f"your rule gives {_num(o)}, SymPy says {says}{fd_text}{count}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
