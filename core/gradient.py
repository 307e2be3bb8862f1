"""agrad.grad and agrad.hessian: one call composes the modules that each own one concern
(problem: binding and validation; differentiate: passes and derivatives; check: the verdict;
report: the table's facts; curvature: the Hessian) into one frozen GradResult."""
from __future__ import annotations

import numpy as np

from .differentiate import derivatives, grad_value, run_passes
from .graph import merge_bindings
from .problem import Options, make_problem
from .report import node_rows, non_finite, saved
from .results import Check, GradResult, HessianSummary
from .tensor import gc_paused


def grad(expr, *, wrt=None, order: int = 1, grad_output=None, check: bool = True, dtype: str = "float64",
         repeat: int = 1, backward: int = 1, retain_graph: bool = False, zero_grad: bool = False,
         jacobian: bool = False, hessian: bool = False, expect=None, fuse: bool = False, rtol: float | None = None,
         atol: float | None = None, check_timeout: float = 10.0, lib=None, seed: int | None = None,
         explain: bool = False, paths: int = 10, latex: bool = False, intermediates: bool = True,
         at: dict | None = None, **bindings) -> GradResult:
    """Differentiate `expr` (text or an agrad.parse Program) at a point, as PyTorch's autograd
    would, and check every derivative against SymPy and finite differences.

    Bind variables as keywords (numbers, nested lists, numpy arrays, or strings in the
    language: "pi/4", "ones(2,2)", "@data.npy"); `at={...}` binds names that clash with the
    arguments below. `wrt` names the variables to differentiate (default: every bound one).

    >>> import agrad
    >>> r = agrad.grad("(x1**2 + 2*x2)**2", x1=2, x2=3)
    >>> r.gradients
    {'x1': 80.0, 'x2': 40.0}
    >>> r.check.ok, r.value
    (True, 100.0)
    >>> agrad.grad("x**3", x=2, order=3, check=False).derivatives["x,x,x"]
    6.0

    PyTorch semantics: `repeat` forward+backward runs accumulate into .grad (`gradients`),
    `backward` passes over one graph need `retain_graph=True`, `zero_grad` clears .grad before
    each pass, `grad_output` seeds a non-scalar output ("ones" or an array). `order`,
    `hessian` and `jacobian` ask for more derivatives; `expect` states claims ({"x1": 80} or
    "x1=80, x2: 4*x1**2 + 8*x2"), judged in `.expect`; `fuse` checkpoints elementwise chains.
    `lib` names files of def/backward statements (your own functions); `seed` seeds rand()/randn().
    `dtype` is "float64" (default), "float32" or "float16"; `check=False` skips the SymPy check,
    which gives up after `check_timeout` seconds (default 10) and compares with `rtol`/`atol`
    (default: scaled to the dtype's epsilon, float64 4e-10 / 2e-12).
    Errors are agrad.AgradError subclasses (ParseError, BindingError, UsageError, LimitError).

    `explain=True` writes the chain rule out on `.explanation` (agrad.Explanation): every edge's
    local derivative, and per variable the first `paths` paths, their count and their sum;
    `latex=True` puts the derivatives (and with explain the chain rule) as LaTeX on `.latex`.

    >>> e = agrad.grad("(x1**2 + 2*x2)**2", x1=2, x2=3, explain=True).explanation
    >>> [p.factors for p in e.paths_of("x1").paths], e.paths_of("x1").total
    ([(20.0, 1.0, 4.0)], 80.0)

    `intermediates=False` is for callers that read only the value and the derivatives: the
    backward pass keeps no non-leaf gradient when nothing else needs it (PyTorch's default,
    without retain_grad), `nodes` is empty and each Pass's `intermediates` is {}; `problems`
    may then name a non-finite gradient only where it reaches a variable.

    >>> r = agrad.grad("sin(x)*y", x=0, y=2, check=False, intermediates=False)
    >>> r.gradients, len(r.nodes)
    ({'x': 2.0, 'y': 0.0}, 0)
    """
    if expect is not None:
        from .claims import claims_of  # the claim language: only calls that state claims load it

        expect = claims_of(expect)
    options = Options(wrt=names(wrt), order=order, grad_output=seed_option(grad_output), check=check, dtype=dtype,
                      repeat=repeat, backward=backward, retain_graph=retain_graph, zero_grad=zero_grad,
                      jacobian=jacobian, hessian=hessian, expect=dict(expect) if expect else None, fuse=fuse,
                      rtol=rtol, atol=atol, check_timeout=check_timeout, lib=_paths(lib), seed=seed)
    with gc_paused():  # graphs are acyclic: the collector's passes over 100,000 live nodes find nothing
        problem = make_problem(expr, merge_bindings(at, bindings), options)
        # the check of user functions' backward rules reads every node's gradient
        run = run_passes(problem, intermediates=intermediates or options.check)
        ders, method, graph_nodes = derivatives(problem, run)
        finish = dict(method=method, graph_nodes=graph_nodes, paths=paths, explain=explain, latex=latex,
                      intermediates=intermediates)
        # without a check the result is made inside this pause: with the collector resumed in
        # between, one allocation sets off a walk over the whole graph
        if not options.check:
            from .tolerance import resolve

            verdict = Check("off", "check=False", *resolve(problem.dtype, options.rtol, options.atol))
            return _result(problem, run, ders, verdict, **finish)
    from .check import verify  # check.py (and SymPy after it) load only for a check

    verdict = verify(problem, run, ders)
    with gc_paused():
        return _result(problem, run, ders, verdict, **finish)


def _result(problem, run, ders, verdict, *, method, graph_nodes, paths, explain, latex, intermediates):
    options, jacobian = problem.options, problem.options.jacobian
    program, wrt = problem.run_program, problem.wrt
    warnings = [f"'{name}' is bound but the expression does not use it; its gradient is 0"
                for name in problem.bindings if name not in program.variables]
    counts = saved(program, run.values)
    if problem.run_program is not problem.program:  # fused: say what the fine-grained graph would save
        from .program import evaluate

        unfused = saved(problem.program, evaluate(problem.program, problem.leaves(), problem.dtype))
        counts.update(unfused_values=unfused["values"], unfused_bytes=unfused["bytes"])
    keyed = {",".join(k): _public(v) for k, v in ders.items()}
    rows = node_rows(program, run.values, run.grads)
    output = rows[program.output]
    if not intermediates:
        rows = []
    explanation = _explanation(problem, run, ders, paths) if explain else None
    return GradResult(
        expression=program.source, dtype=options.dtype, output_shape=tuple(run.output.shape), value=_public(run.output.value),
        wrt=wrt, gradients={n: _public(ders[(n,)] if jacobian else grad_value(run.leaves[n])) for n in wrt},
        derivatives=keyed, nodes=rows, output=output, passes=run.passes, check=verdict,
        order=problem.order, jacobian=jacobian, seed=run.seed, saved=counts,
        problems=non_finite(program, run.values, run.grads), warnings=warnings, method=method,
        graph_nodes=graph_nodes or len(program.nodes),
        hessian=_hessian(ders, problem, verdict) if options.hessian else None,
        expect=(_judge(options.expect, keyed, problem, verdict)
                if options.expect else None),
        random_seed=problem.random_seed, explanation=explanation,
        latex=_latex(problem, ders, explanation) if latex else None)


def _explanation(problem, run, ders, paths):
    """The chain rule on a fresh graph of the program as written (explain.py)."""
    from .tolerance import tolerances
    from .errors import AgradError
    from .explain import explain

    if problem.options.jacobian:
        raise AgradError("explain=True follows one backward pass; drop jacobian=True (or seed it with "
                         "grad_output=)", kind="usage")
    rtol, atol = tolerances(problem.dtype)
    return explain(problem.program, problem.leaves(), problem.dtype, wrt=problem.wrt,
                   gradients={v: ders[(v,)] for v in problem.wrt}, seed=run.seed, max_paths=paths,
                   rtol=rtol, atol=atol)


def _latex(problem, ders, explanation):
    from .latex import latex_text

    return latex_text(problem, ders, explanation)


def hessian(expr, *, wrt=None, grad_output=None, check: bool = False, dtype: str = "float64", lib=None,
            seed: int | None = None, at: dict | None = None, **bindings) -> HessianSummary:
    """The Hessian over every scalar entry of the `wrt` variables, its eigenvalues and the
    second-order test (minimum, maximum, saddle, or not a stationary point). Bindings, `wrt`,
    `grad_output`, `dtype`, `lib` and `seed` as for agrad.grad (every other keyword binds a
    variable, even one named like an option of grad); `check=True` checks the second derivatives
    against SymPy first (a failure raises nothing: read agrad.grad(..., hessian=True).check).

    >>> import agrad
    >>> h = agrad.hessian("x**2 + 3*y**2 - x*y", x=0, y=0)
    >>> h.matrix.tolist(), h.kind
    ([[2.0, -1.0], [-1.0, 6.0]], 'minimum')
    """
    return grad(expr, wrt=wrt, grad_output=grad_output, hessian=True, check=check, dtype=dtype, lib=lib, seed=seed,
                at=merge_bindings(at, bindings)).hessian



def _public(v):
    """What a caller reads: a numpy array, or for a scalar a Python float (float64) or a numpy
    scalar that keeps a narrower dtype."""
    a = np.asarray(v)
    if a.ndim:
        return a
    return a.item() if a.dtype in (np.float64, np.int64) else a[()]


def _paths(lib):
    if lib is None:
        return None
    return (str(lib),) if isinstance(lib, (str, bytes)) or hasattr(lib, "__fspath__") else tuple(map(str, lib))


def _hessian(ders, problem, verdict):
    from .curvature import hessian_summary

    return hessian_summary(ders, problem.wrt, problem.shapes(), rtol=verdict.rtol, atol=verdict.atol)


def _judge(claims, keyed, problem, verdict):
    from .check import judge_claims

    return judge_claims(claims, keyed, problem, rtol=verdict.rtol, atol=verdict.atol)


def names(wrt):
    """wrt as a tuple of names: None, "x,y" or a sequence."""
    if wrt is None:
        return None
    if isinstance(wrt, str):
        wrt = wrt.split(",")
    return tuple(w.strip() for w in wrt if w.strip())


def seed_option(grad_output):
    """grad_output as None, "ones" or an array (a string is a value in the language)."""
    if grad_output is None or (isinstance(grad_output, str) and grad_output.strip() == "ones"):
        return None if grad_output is None else "ones"
    if isinstance(grad_output, str):
        from .values import parse_value

        return parse_value(grad_output, "grad_output")
    return grad_output
