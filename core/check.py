"""The whole verdict: AD against SymPy, finite differences as the third opinion, kinks, and the
user's claims. Every "ok", "mismatch" or "kink" is decided here and nowhere else.

SymPy is imported only when a check runs, its work is bounded by a size limit and a time
budget, and a check that cannot run says why ("skipped: ...") instead of hanging.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .errors import AgradError
from .results import Check, CheckItem, Claim
from .tolerance import Timeout, close, resolve, time_limit, tolerances

MAX_CHECK_NODES = 3_000  # program nodes SymPy is asked to rebuild
MAX_CHECK_ENTRIES = 5_000  # derivative entries SymPy is asked to differentiate and evaluate
MAX_TREE_SIZE = 400_000  # nodes of the derivative written out as a tree (fastsym.tree_size): ~10 s of SymPy
FAST_FROM = 300  # from this size on, symengine does the work when installed (fastsym); below, SymPy alone
MAX_FD_NODE_EVALS = 2_000_000  # graph nodes x forward passes the finite-difference opinion may run (~2 s)


def kink_nodes(program, values, deps, rtol: float = 0.0, atol: float = 0.0) -> list[tuple]:
    """(node, the variables whose derivatives it makes non-smooth, the variables whose presence in
    a derivative's key lifts that) for each node whose forward
    value sits on a kink: abs/relu at 0, a tie in maximum, minimum, max or min, each within the
    check's tolerance: a tie that float rounding split (maximum(x, sin(pi)) at x = 0, sin(pi) being
    1.2e-16 in float64 and 0 to SymPy) is a tie. Derivatives there follow PyTorch's conventions,
    and are held to the one-sided derivatives. `deps`: variable_sets(program).

    A power with a zero base and an exponent that is not a literal is a kink only where it is
    finite: 0**b is flat 0 for b > 0 (d/db is PyTorch's masked 0, SymPy's 0*log(0) undefined) and
    jumps to 1 at b = 0; for b < 0 it is inf, a pole, where every derivative is rightly not
    finite. Along the base it is a kink at the jump and where b >= 1, where the derivative is
    finite but SymPy writes it b*a**b/a, 0/0; for 0 < b < 1 it is inf, as for a literal b, and so
    is a mixed derivative through it (d/da d/db): keys with the base's variables are not held to
    the kink's finite value (pow_kink)."""
    def near(a, b):
        return near_tie(a, b, rtol, atol)

    hits, live = [], gradient_paths(program)
    for i, node in enumerate(program.nodes):
        if node.kind != "op" or not node.op.kink or not live[i]:  # no gradient passes through it: no kink
            continue
        args = [np.asarray(values[j].value) for j in node.args]
        name = node.op.name
        both, exempt = frozenset().union(*(deps[j] for j in node.args)), frozenset()
        if name in ("abs", "relu"):
            hit = both if np.any(near(args[0], 0)) else None
        elif name in ("maximum", "minimum"):
            hit = both if np.any(near(args[0], args[1])) else None
        elif name == "pow":
            hit = None
            if deps[node.args[1]]:
                along_both, along_exponent = pow_kink(args[0], args[1], rtol, atol)
                if np.any(along_both):
                    hit = both
                elif np.any(along_exponent):
                    hit, exempt = deps[node.args[1]], deps[node.args[0]]
        else:
            out = np.asarray(values[i].value)
            axis = node.params.get("axis")
            ref = out if axis is None else np.expand_dims(out, axis)
            hit = both if np.any(np.sum(near(args[0], ref), axis=axis) > 1) else None
        if hit:
            hits.append((i, hit, exempt))
    return hits


def pow_kink(a, b, rtol: float, atol: float):
    """Where a**b (b not a literal) is on a kink, entry by entry (kink_nodes says why): along the
    base and the exponent (0**0, and a zero base under b >= 1), and along the exponent alone (a
    zero base under 0 < b < 1). A pole (b < 0) is neither."""
    zero = near_tie(a, 0, rtol, atol)
    along_both = zero & (near_tie(b, 0, rtol, atol) | (b >= 1))
    return along_both, zero & (b > 0) & ~along_both


def near_tie(a, b, rtol: float, atol: float):
    """Where a and b are equal within the check's tolerance (== too: equal infinities)."""
    with np.errstate(invalid="ignore"):
        return (a == b) | (np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b)))


def gradient_paths(program) -> list[bool]:
    """For each node, whether the output's gradient reaches it: a path to the output through
    recorded ops, not through detach(...) or the inside of no_grad(...)."""
    live = [False] * len(program.nodes)
    live[program.output] = True
    for i in range(len(program.nodes) - 1, -1, -1):
        node = program.nodes[i]
        if live[i] and node.kind == "op" and not node.no_grad and node.op.name != "detach":
            for j in node.args:
                live[j] = True
    return live


def variable_sets(program) -> list[frozenset]:
    """For each node, the variables a gradient reaches it from (a detached value, or one computed
    inside no_grad(...), depends on none)."""
    deps: list[frozenset] = []
    for node in program.nodes:
        if node.kind == "var":
            deps.append(frozenset([node.name]))
        elif node.kind == "const" or node.no_grad or (node.op is not None and node.op.name == "detach"):
            deps.append(frozenset())
        else:
            deps.append(frozenset().union(*(deps[j] for j in node.args)))
    return deps


def key_text(key) -> str:
    return ",".join(key)


def _in_key_order(keys, taylor, symbolic_vals, taylor_vals, derivatives) -> list:
    """One flat list in `keys` order from the symbolic entries (in order, Taylor keys left out)
    and the Taylor keys' values (one scalar each)."""
    out, pos = [], 0
    for k in keys:
        if k in taylor:
            out.append(taylor_vals[k])
        else:
            n = int(np.size(derivatives[k]))
            out.extend(symbolic_vals[pos:pos + n])
            pos += n
    return out


def held_names(shapes: dict, derivatives: dict) -> set:
    """The tensor variables no derivative is taken by (A in sum((A @ x)**2) with wrt x): built as
    their numbers, exact, instead of 10,000 symbols whose sums SymPy would carry through every
    formula. A held scalar stays a symbol: it costs nothing and reads better."""
    used = {v for key in derivatives for v in key}
    return {n for n, shape in shapes.items() if n not in used and shape != ()}


def held_constants(shapes: dict, point: dict, derivatives: dict) -> dict:
    """{name: exact SymPy numbers} of each held variable (held_names); fastsym makes its own
    symengine numbers straight from the floats (the same exact values, without SymPy's ~25 us each)."""
    from . import symbolic as S

    return {n: np.vectorize(S.exact, otypes=[object])(np.asarray(point[n], dtype=np.float64))
            for n in held_names(shapes, derivatives)}


def _base_shape(value, seed, jacobian) -> tuple:
    """The shape of the differentiated output: a seed (grad_output) sums it to a scalar."""
    return () if seed is not None and not jacobian else np.shape(value.value)


def against_sympy(program, shapes: dict, point: dict, values: list, derivatives: dict, *,
                  seed=None, jacobian=False, rtol: float, atol: float, timeout: float) -> Check:
    """Compare every derivative in `derivatives` ({(var, ...): array}) with SymPy's, evaluated
    at `point` with 30 significant digits. `shapes` names every bound variable."""
    t0 = time.perf_counter()
    entries = sum(np.size(v) for v in derivatives.values())
    if len(program.nodes) > MAX_CHECK_NODES:
        return Check("skipped", f"the expression has {len(program.nodes):,} nodes; SymPy is asked for at most "
                                f"{MAX_CHECK_NODES:,}", rtol, atol)
    if entries > MAX_CHECK_ENTRIES:
        return Check("skipped", f"{entries:,} derivative entries; SymPy is asked for at most {MAX_CHECK_ENTRIES:,}",
                     rtol, atol)
    from . import fastsym as F
    from . import symbolic as S  # outside the time budget: importing SymPy is not its work

    held = held_names(shapes, derivatives)
    size, dsize = F.tree_size(program, values)
    if dsize > MAX_TREE_SIZE:
        return Check("skipped", f"the derivative's formula written out would have about {dsize:.2g} nodes (a value "
                                f"used again and again is written at each use); SymPy is asked for at most "
                                f"{MAX_TREE_SIZE:,}",
                     rtol, atol, seconds=time.perf_counter() - t0)

    try:
        with time_limit(timeout):
            base_shape = _base_shape(values[program.output], seed, jacobian)
            if size > FAST_FROM and F.usable(program) and not S.taylor_keys(derivatives, shapes, base_shape):
                keys, cache, flat_vals, flat64 = F.check(program, shapes, point, values, derivatives, seed=seed,
                                                         jacobian=jacobian, held={n: point[n] for n in held},
                                                         rtol=rtol, atol=atol)
            else:
                syms = {**S.symbols_of({n: s for n, s in shapes.items() if n not in held}),
                        **held_constants(shapes, point, derivatives)}
                sym = S.build(program, syms, values)
                base = sym[program.output]
                if seed is not None and not jacobian:
                    seeds = np.vectorize(S.exact, otypes=[object])(np.broadcast_to(seed, base.shape))
                    base = np.asarray(np.sum(base * seeds), dtype=object)
                cache = {(): base}
                taylor = S.taylor_keys(derivatives, shapes, base)  # high orders of a scalar: symbolic.taylor_keys
                for key in derivatives:
                    for k in range(1, min(len(key), S.TAYLOR_FROM if key in taylor else len(key)) + 1):
                        if key[:k] not in cache:
                            cache[key[:k]] = S.jacobian(cache[key[: k - 1]], syms[key[k - 1]])
                keys = list(derivatives)
                names = [n for n in shapes if n not in held]
                symbolic_keys = [k for k in keys if k not in taylor]
                flat_syms, flat_exprs = S.flat(syms[n] for n in names), S.flat(cache[k] for k in symbolic_keys)
                flat_point = S.flat(np.asarray(point[n], dtype=np.float64) for n in names)
                flat_vals = S.evaluator(flat_syms, flat_exprs)(flat_point)
                if taylor:
                    by_var = {}  # one expansion per variable: d^5/dx^5 and d^5/dy^5 are different numbers
                    for k in taylor:
                        by_var.setdefault(k[0], []).append(len(k))
                    coeffs = {v: S.taylor_values(base, {n: syms[n] for n in names}, point, v, orders)
                              for v, orders in by_var.items()}
                    for k in taylor:
                        cache[k] = np.asarray(S.TAYLOR_FORMULA.format(n=len(k)), dtype=object)
                    flat_vals = _in_key_order(keys, taylor, flat_vals, {k: coeffs[k[0]][len(k)] for k in taylor},
                                              derivatives)
                ad_flat = np.concatenate([np.ravel(np.asarray(derivatives[k], dtype=np.float64)) for k in keys])
                flat64 = None
                if not close(ad_flat, flat_vals, rtol, atol).all():
                    # the same formulas in float64: where AD agrees with these but not with the exact
                    # value, the point is ill-conditioned (float64 rounding of the inputs is amplified)
                    flat64 = S.evaluator(flat_syms, flat_exprs, digits=None)(flat_point)
                    if taylor:  # no formula to round: those entries get no ill-conditioning excuse
                        flat64 = _in_key_order(keys, taylor, flat64, {k: float("nan") for k in taylor}, derivatives)
    except Timeout:
        return Check("skipped", f"SymPy took longer than the time budget of {timeout:g} s (check_timeout=)",
                     rtol, atol, seconds=time.perf_counter() - t0)
    except RecursionError:
        return Check("skipped", "the expression is too deeply nested for SymPy", rtol, atol,
                     seconds=time.perf_counter() - t0)
    except Exception as exc:  # SymPy is the oracle, not the subject: its failure skips the check, loudly
        return Check("skipped", f"SymPy could not finish ({type(exc).__name__}: {exc})", rtol, atol,
                     seconds=time.perf_counter() - t0)

    differentiated = frozenset(v for key in keys for v in key)  # a variable held fixed moves no kink
    kinks = [(program.label(k), d & differentiated, ex)
             for k, d, ex in kink_nodes(program, values, variable_sets(program), rtol, atol) if d & differentiated]
    nonsmooth = any(n.kind == "op" and n.op.kink and n.op.name != "pow" for n in program.nodes)
    items, pos = [], 0
    for key in keys:
        ad = np.asarray(derivatives[key], dtype=np.float64)
        n = ad.size
        sv = np.asarray(flat_vals[pos:pos + n], dtype=np.float64).reshape(ad.shape)
        sv64 = None if flat64 is None else np.asarray(flat64[pos:pos + n], dtype=np.float64).reshape(ad.shape)
        pos += n
        formulas = S.texts(cache[key])  # huge formulas summarized: symbolic.MAX_FORMULA_NODES
        formula = formulas[()] if formulas.shape == () else formulas.tolist()
        # SymPy undefined (a division by zero) where AD is infinite or NaN: both say "not finite"
        undefined = np.isnan(sv) & ~np.isfinite(ad)
        good = close(ad, sv, rtol, atol) | undefined
        with np.errstate(invalid="ignore"):
            diff = np.where(good, 0.0, np.abs(ad - sv))
        known = diff[~np.isnan(diff)]
        err = float(known.max()) if known.size else (float("nan") if diff.size else 0.0)
        where = next((label for label, d, ex in kinks if d & set(key) and not ex & set(key)), None)
        if where is not None and not np.isfinite(ad).all():
            # a subgradient is a finite number: NaN or inf at a kink is a wrong derivative, not a convention
            verdict = "mismatch"
            note = (f"not finite at the non-differentiable point at {where}: a derivative there must be a "
                    f"finite value between the one-sided derivatives")
        elif where is not None:
            verdict = "kink"
            note = (f"non-differentiable point at {where}: agrad follows PyTorch's "
                    f"subgradient; " + ("SymPy agrees" if good.all() else "SymPy's value differs"))
        elif good.all():
            verdict = "ok"
            note = "not finite at this point (SymPy: undefined)" if undefined.any() else ""
        elif sv64 is not None and (good | close(ad, sv64, rtol, atol)).all():
            verdict = "ok"
            note = (f"ill-conditioned point: AD agrees with SymPy's formula evaluated in float64; the exact "
                    f"derivative differs by {err:.2g}, which float64 rounding of the inputs explains")
        elif nonsmooth and np.all(good | (np.isnan(sv) & np.isfinite(ad))):
            verdict = "kink"
            note = ("SymPy's derivative is undefined here (a DiracDelta or Heaviside at a tie of two branches "
                    "the graph never compares); agrad gives PyTorch's value")
        else:
            verdict, note = "mismatch", "AD and SymPy disagree"
        items.append(CheckItem(key_text(key), ad, sv, formula, error=err if math.isfinite(err) else float("inf"),
                               verdict=verdict, note=note))
    status = "failed" if any(i.verdict == "mismatch" for i in items) else "ok"
    return Check(status, "", rtol, atol, tuple(items), seconds=time.perf_counter() - t0)


def add_finite_differences(check: Check, fd: dict | None, one_sided: tuple | None, *, rtol: float,
                           atol: float, cut: dict | None = None) -> Check:
    """The third opinion. Every item gets the finite-difference value and a note saying
    which of AD, SymPy and finite differences agree; a kink also gets its one-sided derivatives,
    and fails when AD's value is not between them. `cut`: {variable: node text} for variables
    whose path to the output passes a detach()/no_grad() (cut_variables)."""
    if fd is None:
        return check
    items = tuple(_with_fd(i, fd, one_sided, rtol=rtol, atol=atol, cut=cut or {}) for i in check.items)
    status = "failed" if check.status == "ok" and any(i.verdict == "mismatch" for i in items) else check.status
    return dataclasses.replace(check, items=items, status=status)


def cut_variables(program) -> dict:
    """{variable: the detach()/no_grad() node's text} for each variable the output depends on
    through a detached value: AD cuts that dependence by design, finite differences see it."""
    raw: list[frozenset] = []  # variables each node's value depends on, detach or not
    for node in program.nodes:
        raw.append(frozenset([node.name]) if node.kind == "var" else frozenset().union(*(raw[j] for j in node.args)))
    reach, stack = {program.output}, [program.output]
    while stack:
        for j in program.nodes[stack.pop()].args:
            if j not in reach:
                reach.add(j)
                stack.append(j)
    out = {}
    for i in sorted(reach):
        node = program.nodes[i]
        if node.kind == "op" and node.op.name == "detach":
            for v in raw[node.args[0]]:
                out.setdefault(v, program.label(i))
    return out


def _with_fd(item: CheckItem, fd: dict, one_sided, *, rtol, atol, cut: dict) -> CheckItem:
    key = tuple(item.key.split(","))
    if key not in fd:
        return item
    value = fd[key]
    ad_fd = bool(close(item.ad, value, rtol, atol).all())
    sym_fd = item.sympy is not None and bool(close(item.sympy, value, rtol, atol).all())
    verdict, note = item.verdict, item.note
    if verdict == "ok" and note.startswith("ill-conditioned"):
        pass
    elif verdict == "ok" and not ad_fd and key[0] in cut:
        note = (f"AD and SymPy agree; finite differences do not because {cut[key[0]]} detaches {key[0]} by "
                f"design: differences see the dependence that AD cuts")
    elif verdict == "ok" and not ad_fd:
        note = "AD and SymPy agree, finite differences do not: the point is likely ill-conditioned for differences"
    elif verdict == "ok":
        note = "AD, SymPy and finite differences agree"
    elif verdict == "mismatch" and note.startswith("not finite at the non-differentiable"):
        note += f"; finite differences give {_brief(value)}"
    elif verdict == "mismatch":
        side = "AD" if ad_fd else "SymPy" if sym_fd else "neither"
        note = f"AD and SymPy disagree; finite differences side with {side}"
    elif verdict == "kink" and one_sided is not None:
        left, right = one_sided[0][key], one_sided[1][key]
        note += f"; left derivative {_brief(left)}, right derivative {_brief(right)}"
        ad, left, right = (np.asarray(v, dtype=np.float64) for v in (item.ad, left, right))
        sides = np.isfinite(left) & np.isfinite(right)  # else the function jumps or blows up: no slope to hold
        with np.errstate(invalid="ignore"):
            between = np.clip(ad, np.minimum(left, right), np.maximum(left, right))
        # one-sided differences are first-order accurate (error ~ h f''/2, h ~ 6e-6): a looser bound
        # than central differences', which still catches a value outside the two slopes
        if not (np.isfinite(ad) & (~sides | close(ad, between, max(rtol, 1e-3), 100 * atol))).all():
            verdict = "mismatch"
            note += "; AD's value is not between them, so it is no subgradient"
        elif not sides.all():
            note += "; the function jumps or is unbounded on a side, so no value is checked there"
    elif verdict == "unverified":
        verdict = "ok" if ad_fd else "unverified"
        note = ("AD and finite differences agree (SymPy skipped)" if ad_fd else
                "AD and finite differences disagree and SymPy was skipped: cannot tell which is right")
    return dataclasses.replace(item, fd=value, verdict=verdict, note=note)


def _brief(v) -> str:
    a = np.asarray(v, dtype=np.float64)
    return f"{float(a):.10g}" if a.ndim == 0 else np.array2string(a, precision=8, threshold=6, separator=", ")


def fd_only(derivatives: dict) -> tuple:
    """Items for first-order derivatives when SymPy was skipped: AD against differences alone."""
    return tuple(CheckItem(key_text(k), np.asarray(v), verdict="unverified")
                 for k, v in derivatives.items() if len(k) == 1)


# ---- the verdict of one agrad.grad call ----------------------------------------------------------
def verify(problem, run, derivatives: dict) -> Check:
    """The SymPy check and the finite-difference opinion, with dtype-scaled tolerances.
    problem: problem.Problem; run: differentiate.Run; derivatives: {(v, ...): array}."""
    o = problem.options
    rtol, atol = resolve(problem.dtype, o.rtol, o.atol)
    if not o.check:
        return Check("off", "check=False", rtol, atol)
    if not problem.wrt:
        return Check("skipped", "nothing to differentiate", rtol, atol)
    from .higher import canonical_keys
    from .program import evaluate

    program, values = problem.program, run.values
    if problem.run_program is not problem.program:  # fused: the check reads the fine-grained graph
        values = evaluate(program, run.leaves, problem.dtype)
    canon = set(canonical_keys(problem.wrt, problem.order))
    check = against_sympy(program, problem.shapes(), problem.point(), values,
                          {k: v for k, v in derivatives.items() if k in canon},
                          seed=run.seed, jacobian=o.jacobian, rtol=rtol, atol=atol, timeout=o.check_timeout)
    check = _third_opinion(check, problem, derivatives, run)
    return _rules(check, program, values, run.grads, timeout=o.check_timeout)


def _rules(check: Check, program, values: list, grads: dict, *, timeout: float) -> Check:
    """Each hand-written backward rule of a user function against SymPy: a wrong rule fails the
    check even where the end-to-end gradient happens to agree."""
    from .rules_check import check_rules, rule_nodes

    if not rule_nodes(program):
        return check
    rules = tuple(check_rules(program, values, grads, rtol=check.rtol, atol=check.atol, timeout=timeout))
    failed = any(r.verdict == "mismatch" for r in rules)
    return dataclasses.replace(check, rules=rules, status="failed" if failed else check.status)


def _third_opinion(check: Check, problem, derivatives: dict, run) -> Check:
    """Finite differences beside AD and SymPy (first order), one-sided ones at a kink."""
    from . import numeric

    if not check.items and check.status == "skipped":
        check = dataclasses.replace(check, items=fd_only(derivatives))
    if not any(len(i.key.split(",")) == 1 for i in check.items):
        return check
    n = sum(int(np.size(problem.bindings[v])) for v in problem.wrt)
    work = len(problem.program.nodes) * 2 * n  # node evaluations of central differences
    if work > MAX_FD_NODE_EVALS:
        why = (f"finite differences skipped: {work:,} node evaluations ({len(problem.program.nodes):,} nodes x "
               f"{2 * n:,} forward passes); the limit is {MAX_FD_NODE_EVALS:,}")
        return dataclasses.replace(check, reason=f"{check.reason}; {why}" if check.reason else check.reason)
    p64 = {n: np.asarray(v, dtype=np.float64) for n, v in problem.point().items()}
    fd = numeric.first_derivatives(problem.program, p64, problem.wrt, run.seed)
    sides = None
    if fd is not None and any(i.verdict == "kink" for i in check.items):
        sides = tuple(numeric.first_derivatives(problem.program, p64, problem.wrt, run.seed, side=s) for s in (-1, 1))
    finite = np.abs(np.asarray(run.output.value, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    scale = max(1.0, float(finite.max(initial=0.0)))
    return add_finite_differences(check, fd, sides, rtol=max(1e-5, 10 * check.rtol), atol=1e-6 * scale,
                                  cut=cut_variables(problem.program))


# ---- the user's claims -------------------------------------------------------------------------
def judge_claims(claims: dict, derivatives: dict, problem, *, rtol: float, atol: float) -> dict:
    """{key: Claim} for every claim: a number, list or formula against the derivative AD computed
    (derivatives keyed "x", "x,y"); a failed formula is explained by SymPy's simplified difference."""
    from .claims import claimed_value

    point = {k: np.asarray(v) for k, v in problem.bindings.items()}
    out = {}
    for key, claim in claims.items():
        if key not in derivatives:
            raise AgradError(f"the claim names the derivative '{key}', which was not computed; computed: "
                             f"{', '.join(derivatives) or 'none'}", kind="claim")
        actual = np.asarray(derivatives[key], dtype=np.float64)
        value, formula = claimed_value(claim, point, key)
        try:
            good = bool(np.all(close(np.broadcast_to(value, actual.shape), actual, rtol, atol)))
        except ValueError:
            good = False
        detail = ""
        if not good:
            detail = f"claimed {_short(value)}, but the derivative is {_short(actual)}"
            if formula is not None:
                detail += "; " + _explain(problem, str(claim), key)
        out[key] = Claim(key, claim, value, actual, good, detail)
    return out


def _short(v) -> str:
    a = np.asarray(v)
    return repr(float(a)) if a.ndim == 0 else np.array2string(a, precision=10, threshold=8, separator=", ")


def _explain(problem, formula: str, key: str) -> str:
    """SymPy's simplified difference between the claim and the true derivative."""
    try:
        import sympy as sp

        from . import symbolic as S
        from .program import compile_source

        with time_limit(5.0):
            syms = S.symbols_of(problem.shapes())
            program = problem.program
            expr = S.build(program, syms)[program.output]
            for v in key.split(","):
                expr = S.jacobian(expr, syms[v])
            claim_prog = compile_source(formula)
            claim = S.build(claim_prog, syms)[claim_prog.output]
            diff = np.vectorize(lambda a, b: sp.simplify(a - b), otypes=[object])(np.broadcast_to(claim, expr.shape),
                                                                                  expr)
            flat = diff.ravel()
            if all(d == 0 for d in flat):
                return "the formulas are equal symbolically; the claim differs only in rounding"
            shown = str(flat[0]) if flat.size == 1 else str(flat.tolist())
            return f"claim - derivative simplifies to {shown}"
    except Exception:  # SymPy could not decide in time: the numbers above already show the point
        return "the formulas differ at this point"
