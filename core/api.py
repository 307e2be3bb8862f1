"""What `agrad grad` computes, as one function from a request to a result. No printing here."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import autodiff
from .errors import AgradError
from .program import CONSTANTS, MAX_ELEMENTS, Program, compile_source, evaluate, forward
from .results import Check, GradResult, NodeRow, Pass, Problem
from .tensor import Tensor, const

DTYPES = {name: np.dtype(name) for name in ("float64", "float32", "float16", "int64", "int32")}
MAX_ORDER = 30
MAX_PASSES = 1_000
MAX_PARTIALS = 10_000  # partial derivatives, or backward passes for them
MAX_ENTRIES = 1_000_000  # entries of the highest-order derivative


@dataclass
class GradRequest:
    source: str
    bindings: dict  # name -> float64 array (0-d for numbers)
    wrt: list | None = None  # None: every bound variable
    dtype: str = "float64"
    grad_output: object = None  # None, "ones", or an array broadcastable to the output
    repeat: int = 1  # forward+backward runs on fresh graphs; leaf gradients accumulate
    backward: int = 1  # backward passes on each graph
    retain_graph: bool = False
    zero_grad: bool = False
    order: int = 1
    hessian: bool = False
    jacobian: bool = False
    check: bool = True
    rtol: float | None = None
    atol: float | None = None
    check_timeout: float = 10.0
    fuse: bool = False
    expect: dict | None = None  # claims: {"x": "80" or a formula, "x,y": ...}
    warnings: list = field(default_factory=list)


def _claimed_order(req: GradRequest) -> int:
    if not req.expect:
        return 1
    from .claims import claim_order

    return claim_order(req.expect)


def _validate(program: Program, req: GradRequest):
    for name in req.bindings:
        if name in CONSTANTS:
            raise AgradError(f"'{name}' is the constant {CONSTANTS[name]!r} and cannot be bound; "
                             f"rename the variable", kind="binding")
    for name, idx in program.variables.items():
        if name not in req.bindings:
            raise AgradError(f"no value for '{name}': bind it with --{name} VALUE (or -v {name}=VALUE)",
                             kind="name", span=program.nodes[idx].span, source=program.source)
    wrt = list(req.bindings) if req.wrt is None else list(dict.fromkeys(req.wrt))
    for name in wrt:
        if name not in req.bindings:
            raise AgradError(f"--wrt names '{name}', which has no value; bound: {', '.join(req.bindings) or 'none'}",
                             kind="name")
    if req.dtype not in DTYPES:
        raise AgradError(f"unknown dtype '{req.dtype}'; choose one of {', '.join(DTYPES)}", kind="usage")
    if wrt and not np.issubdtype(DTYPES[req.dtype], np.floating):
        raise AgradError(f"only floating point values can require gradients, and --dtype {req.dtype} is an "
                         f"integer type: use float64, float32 or float16", kind="dtype")
    for n, label in ((req.order, "--order"), (req.repeat, "--repeat"), (req.backward, "--backward")):
        limit = MAX_ORDER if label == "--order" else MAX_PASSES
        if not 1 <= n <= limit:
            raise AgradError(f"{label} must be between 1 and {limit}, got {n}", kind="usage")
    order = max(req.order, 2 if req.hessian else 1, _claimed_order(req))
    if len(wrt) > 1 and sum(len(wrt) ** k for k in range(1, order + 1)) > MAX_PARTIALS:
        raise AgradError(f"--order {order} over {len(wrt)} variables means more than {MAX_PARTIALS:,} partial "
                         f"derivatives; lower the order or differentiate fewer variables (--wrt)", kind="limit")
    n = sum(int(np.size(req.bindings[v])) for v in wrt)  # scalar entries differentiated
    if order > 1 and not (len(wrt) == 1 and n == 1) and (
            sum(n ** k for k in range(1, order)) > MAX_PARTIALS or n ** order > MAX_ENTRIES):
        # nested reverse mode runs one backward pass per entry of each order below the last
        raise AgradError(f"--order {order} over {n:,} entries means {n ** order:,} derivative entries and "
                         f"{sum(n ** k for k in range(1, order)):,} backward passes; the limits are "
                         f"{MAX_ENTRIES:,} and {MAX_PARTIALS:,}", kind="limit")
    return wrt


def _seed_array(req: GradRequest, y: Tensor):
    if req.grad_output is None:
        return None
    if isinstance(req.grad_output, str) and req.grad_output == "ones":
        return np.ones(y.shape, dtype=y.value.dtype)
    return autodiff.seed_for(y, np.asarray(req.grad_output)).value  # broadcasts, or says why it cannot


def _finite(v) -> bool:
    if isinstance(v, np.floating):  # the scalar graph's case: math.isfinite is 50x quicker than numpy here
        return math.isfinite(v)
    v = np.asarray(v)
    return v.dtype.kind != "f" or bool(np.isfinite(v).all())


def _kind(v) -> str:
    return "nan" if np.any(np.isnan(np.asarray(v, dtype=np.float64))) else "inf"


def _problems(program: Program, vals: list, grads: dict) -> list:
    """The first node that produced a NaN/inf value (its inputs finite), and the first node,
    in backward order, to receive a non-finite gradient."""
    found = []
    for i, node in enumerate(program.nodes):
        v = vals[i].value
        if not _finite(v) and all(_finite(vals[j].value) for j in node.args):
            found.append(Problem("value", i, program.label(i), _kind(v)))
            break
    for i in reversed(range(len(program.nodes))):
        g = grads.get(vals[i])
        if g is not None and not _finite(g.value):
            found.append(Problem("gradient", i, program.label(i), _kind(g.value)))
            break
    return found


def _rows(program: Program, vals: list, grads: dict) -> list:
    rows = []
    for i, node in enumerate(program.nodes):
        t = vals[i]
        g = grads.get(t)
        if node.kind == "var":
            op = "leaf"
        elif node.kind == "const":
            op = "const"
        elif node.op.name == "detach":
            op = "detach"
        else:
            op = node.op.torch_name([vals[j] for j in node.args], node.params)
        rows.append(NodeRow(i, node.name, program.label(i), op, t.value, None if g is None else g.value,
                            is_leaf=t.op is None, requires_grad=t.requires_grad,
                            detached=node.kind == "op" and node.op.name == "detach", parents=list(node.args)))
    return rows


def _saved(program: Program, vals: list) -> dict:
    """Values the graph keeps for backward (PyTorch's saved tensors), and their bytes."""
    count, seen = 0, {}
    for i, node in enumerate(program.nodes):
        t = vals[i]
        if node.kind != "op" or not t.requires_grad:
            continue
        for k in t.op.saved(t.parents):
            src = t if k is None else t.parents[k]
            count += 1
            seen[id(src)] = np.asarray(src.value).nbytes
    return {"values": count, "bytes": int(sum(seen.values()))}


def grad_job(req: GradRequest) -> GradResult:
    """Parse, bind, run the passes, compute every derivative asked for, and verify them."""
    source_program = compile_source(req.source)
    wrt = _validate(source_program, req)
    program = source_program
    if req.fuse:  # modules only some requests need are imported when they need them (start-up time)
        from .fuse import fuse

        program = fuse(source_program)
    warnings = list(req.warnings)
    warnings += [f"'{name}' is bound but the expression does not use it; its gradient is 0"
                 for name in req.bindings if name not in program.variables]
    dtype = DTYPES[req.dtype]
    leaves = {n: Tensor(_cast(v, dtype), requires_grad=n in wrt, name=n) for n, v in req.bindings.items()}
    point = {n: np.asarray(t.value) for n, t in leaves.items()}

    vals, passes, first_grads = _run_passes(program, leaves, wrt, dtype, req)
    y = vals[program.output]
    if wrt and not y.requires_grad:
        warnings.append("the output does not depend on any variable being differentiated; every gradient is 0")
    seed = _seed_array(req, y)
    order = max(req.order, 2 if req.hessian else 1, _claimed_order(req))
    derivatives, method, graph_nodes = _derivatives(program, leaves, point, wrt, y, seed, first_grads, order, dtype,
                                                    req.jacobian)
    gradients = ({v: derivatives[(v,)] for v in wrt} if req.jacobian else
                 {n: _grad_value(leaves[n]) for n in wrt})

    saved = _saved(program, vals)
    check_program, check_vals = program, vals
    if req.fuse:  # the check and the unfused count read the fine-grained graph
        check_program = source_program
        check_vals = evaluate(source_program, leaves, dtype)
        unfused = _saved(source_program, check_vals)
        saved.update(unfused_values=unfused["values"], unfused_bytes=unfused["bytes"])
    check = _verify(check_program, check_vals, leaves, point, wrt, derivatives, seed, y, order, dtype, req)

    result = GradResult(
        expression=req.source, dtype=req.dtype, output_shape=tuple(y.shape), value=y.value, wrt=wrt,
        gradients=gradients, derivatives={",".join(k): v for k, v in derivatives.items()},
        nodes=_rows(program, vals, first_grads), passes=passes, check=check, order=order, jacobian=req.jacobian,
        seed=seed, saved=saved, problems=_problems(program, vals, first_grads), warnings=warnings, method=method,
        graph_nodes=graph_nodes or len(program.nodes))
    if req.hessian:
        result.hessian = hessian_summary(derivatives, wrt, {v: leaves[v].shape for v in wrt}, check.rtol, check.atol)
    if req.expect:
        from .claims import judge

        result.expect = judge(req.expect, result.derivatives, point, check.rtol, check.atol, source=req.source,
                              shapes={n: t.shape for n, t in leaves.items()})
    return result


def _run_passes(program, leaves, wrt, dtype, req):
    """--repeat forward graphs, each walked --backward times; leaf .grad accumulates as in
    PyTorch. Returns the first graph's values, every pass, and the first pass's gradients."""
    passes, first, first_grads = [], None, {}
    for f in range(req.repeat):
        vals = evaluate(program, leaves, dtype)
        first = first or vals
        if req.jacobian:  # one backward per output row instead, in _derivatives
            break
        y = vals[program.output]
        seed = _seed_array(req, y)
        for b in range(req.backward):
            if req.zero_grad:
                for leaf in leaves.values():
                    leaf.grad = None
            # the engine raises PyTorch's "does not require grad" (kind nograd) on an output no recorded op ties
            # to a variable; until the API decides when that is exit 2, such a run keeps today's zeros
            grads = (autodiff.backward(y, seed, retain_graph=req.retain_graph, retain_grads=True)  # the table shows them
                     if y.requires_grad else {})
            if f == 0 and b == 0:
                first_grads = grads
            passes.append(Pass(len(passes) + 1, f + 1, {n: _grad_value(leaves[n]) for n in wrt},
                               {i: grads[t].value for i, t in enumerate(vals) if t in grads}))
    return first, passes, first_grads


def _derivatives(program, leaves, point, wrt, y, seed, first_grads, order, dtype, jacobian):
    """{(v,): ..., (v, w): ...}: the mathematical derivatives, every order up to `order`."""
    if jacobian:
        if order > 1:
            raise AgradError("--jacobian gives first derivatives; use --order or --hessian without it", kind="usage")
        if y.value.size > MAX_PARTIALS:  # one backward pass per output element
            raise AgradError(f"--jacobian of an output with {y.value.size:,} elements needs as many backward passes; "
                             f"the limit is {MAX_PARTIALS:,} (seed a vector-Jacobian product with --grad-output)",
                             kind="limit")
        return {(v,): _jacobian(y, leaves[v]) for v in wrt}, "reverse", 0
    derivatives = {}
    for v in wrt:
        g = first_grads.get(leaves[v])
        derivatives[(v,)] = np.zeros(leaves[v].shape, dtype) if g is None else np.asarray(g.value)
    if order == 1 or not wrt:
        return derivatives, "reverse", 0
    from . import higher

    if y.shape != () and seed is None:
        autodiff.seed_for(y, None)  # raises the non-scalar output error
    fresh = forward(program, leaves, dtype)  # the passes may have freed their graph
    target = fresh if seed is None else _seeded(fresh, seed)
    canon, method, graph_nodes = _higher(program, point, leaves, wrt, order, target, seed, dtype)
    return higher.expand_symmetric(canon, wrt, {v: leaves[v].shape for v in wrt}), method, graph_nodes


def _verify(program, vals, leaves, point, wrt, derivatives, seed, y, order, dtype, req) -> Check:
    """The SymPy check and the finite-difference opinion, with dtype-scaled tolerances."""
    from .check import tolerances

    rtol, atol = tolerances(dtype) if np.issubdtype(dtype, np.floating) else (0.0, 0.0)
    rtol = req.rtol if req.rtol is not None else rtol
    atol = req.atol if req.atol is not None else atol
    if not req.check:
        return Check("off", "--no-check", rtol, atol)
    if not wrt:
        return Check("skipped", "nothing to differentiate", rtol, atol)
    from . import higher
    from .check import against_sympy

    canon_keys = set(higher.canonical_keys(wrt, order))
    check = against_sympy(program, {n: t.shape for n, t in leaves.items()}, point, vals,
                          {k: v for k, v in derivatives.items() if k in canon_keys},
                          seed=seed, jacobian=req.jacobian, rtol=rtol, atol=atol, timeout=req.check_timeout)
    _third_opinion(check, program, point, wrt, derivatives, seed, y, rtol)
    return check


def _third_opinion(check, program, point, wrt, derivatives, seed, y, rtol):
    """Finite differences beside AD and SymPy (first order), one-sided ones at a kink."""
    from . import numeric
    from .check import add_finite_differences, fd_only

    if not check.items and check.status == "skipped":
        check.items = fd_only({k: v for k, v in derivatives.items()})
    if not any(len(i.key.split(",")) == 1 for i in check.items):
        return
    p64 = {n: np.asarray(v, dtype=np.float64) for n, v in point.items()}
    fd = numeric.first_derivatives(program, p64, wrt, seed)
    sides = None
    if fd is not None and any(i.verdict == "kink" for i in check.items):
        sides = tuple(numeric.first_derivatives(program, p64, wrt, seed, side=s) for s in (-1, 1))
    finite = np.abs(np.asarray(y.value, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    scale = max(1.0, float(finite.max(initial=0.0)))
    add_finite_differences(check, fd, sides, rtol=max(1e-5, 10 * rtol), atol=1e-6 * scale)


def _cast(v: np.ndarray, dtype) -> object:
    a = np.asarray(v).astype(dtype)
    return a[()] if a.ndim == 0 else a


def _grad_value(leaf: Tensor):
    return np.zeros(leaf.shape, leaf.value.dtype) if leaf.grad is None else np.asarray(leaf.grad.value)


def _seeded(y: Tensor, seed) -> Tensor:
    from .ops import OPS
    from .tensor import apply

    return apply(OPS["sum"], (y * const(seed, y),))


def _jacobian(y: Tensor, x: Tensor) -> np.ndarray:
    """One backward pass per output element (one-hot seeds), as torch.autograd.functional.jacobian."""
    out = np.zeros(y.shape + x.shape, dtype=y.value.dtype)
    for idx in np.ndindex(*y.shape):
        onehot = np.zeros(y.shape, dtype=y.value.dtype)
        onehot[idx] = 1
        (g,) = autodiff.grad(y, [x], onehot if y.shape else None, retain_graph=True)
        out[idx] = g.value
    return out


def _higher(program, point, leaves, wrt, order, target, seed, dtype):
    from . import higher

    if len(wrt) == 1 and leaves[wrt[0]].shape == ():
        v = wrt[0]
        biggest = max((np.size(t.value) for t in leaves.values()), default=1)
        if (order + 1) * biggest > MAX_ELEMENTS:  # every node carries order + 1 coefficients
            raise AgradError(f"--order {order} on arrays of {biggest:,} elements needs {(order + 1) * biggest:,} "
                             f"Taylor coefficients per node; the limit is {MAX_ELEMENTS:,}", kind="limit")
        ks = higher.taylor_derivatives(program, point, v, order, seed, dtype)
        canon = {(v,) * k: np.asarray(d) for k, d in enumerate(ks, 1)}
        return canon, "taylor", len(program.nodes) * (order + 1)
    canon, n = higher.reverse_derivatives(target, leaves, wrt, order)
    return canon, "reverse", n


def hessian_summary(derivatives: dict, wrt: list, shapes: dict, rtol: float, atol: float) -> dict:
    """The second-order partials as one matrix over every scalar entry of the variables."""
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
    symmetric = bool(np.allclose(H, H.T, rtol=rtol, atol=atol))
    eig = np.linalg.eigvalsh((H + H.T) / 2) if np.all(np.isfinite(H)) else np.full(n, np.nan)
    if np.any(np.isnan(eig)):
        kind = "undefined"
    elif np.all(eig > 0):
        kind = "minimum"
    elif np.all(eig < 0):
        kind = "maximum"
    elif np.any(eig > 0) and np.any(eig < 0):
        kind = "saddle"
    else:
        kind = "degenerate (a zero eigenvalue: the second-order test cannot decide)"
    return {"labels": labels, "matrix": H, "symmetric": symmetric, "eigenvalues": eig, "kind": kind}


@dataclass
class GradcheckRequest:
    source: str
    bindings: dict
    wrt: list | None = None
    eps: float = 1e-6  # PyTorch's gradcheck defaults, with the same meaning
    atol: float = 1e-5
    rtol: float = 1e-3
    order: int = 1  # 2: gradgradcheck
    grad_output: object = None


def gradcheck_job(req: GradcheckRequest) -> dict:
    """Numerical against analytical Jacobians, entry by entry: |a - n| <= atol + rtol * |n|.
    Order 2 compares the Hessian with differences of the AD gradient (gradgradcheck)."""
    from . import higher, numeric

    program = compile_source(req.source)
    wrt = _validate(program, GradRequest(req.source, req.bindings, wrt=req.wrt))
    if req.order not in (1, 2):
        raise AgradError("gradcheck takes --order 1 or 2", kind="usage")
    point = {n: np.asarray(v, dtype=np.float64) for n, v in req.bindings.items()}

    def leaves_at(p):
        return {n: Tensor(_cast(v, np.float64), requires_grad=n in wrt, name=n) for n, v in p.items()}

    def output(p):
        lv = leaves_at(p)
        y = forward(program, lv, np.float64)
        return lv, y

    lv, y = output(point)
    seed = _seed_array(GradRequest(req.source, {}, grad_output=req.grad_output), y)
    blocks = []
    if req.order == 1:
        for v in wrt:
            analytical = _jacobian(y, lv[v])
            numerical = numeric.jacobian(numeric.output_fn(program, point, v), point[v], h=req.eps)
            blocks.append(_block("y", v, analytical, numerical, req))
    else:
        if y.shape != () and seed is None:
            autodiff.seed_for(y, None)  # raises the non-scalar output error

        def ad_grad(p, v):
            lv2, y2 = output(p)
            target = y2 if seed is None else _seeded(y2, seed)
            (g,) = autodiff.grad(target, [lv2[v]])
            return g.value

        target = y if seed is None else _seeded(y, seed)
        canon, _ = higher.reverse_derivatives(target, lv, wrt, 2)
        hess = higher.expand_symmetric(canon, wrt, {v: lv[v].shape for v in wrt})
        for v in wrt:
            for w in wrt:
                numerical = numeric.jacobian(lambda x: ad_grad({**point, w: x}, v), point[w], h=req.eps)
                blocks.append(_block(f"d/d{v}", w, np.asarray(hess[(v, w)]), numerical, req))
    return {"expression": req.source, "order": req.order, "eps": req.eps, "atol": req.atol, "rtol": req.rtol,
            "blocks": blocks, "ok": all(b["ok"] for b in blocks)}


def _block(of: str, wrt: str, analytical, numerical, req) -> dict:
    analytical = np.asarray(analytical, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64).reshape(analytical.shape)
    bad = ~(np.abs(analytical - numerical) <= req.atol + req.rtol * np.abs(numerical))
    return {"of": of, "wrt": wrt, "analytical": analytical, "numerical": numerical, "bad": bad,
            "ok": not bool(bad.any())}
