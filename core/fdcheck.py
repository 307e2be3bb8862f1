"""agrad.gradcheck: PyTorch's gradcheck (and gradgradcheck with order=2). Numerical Jacobians by
central differences against analytical ones by AD, entry by entry: an entry passes when
|analytical - numerical| <= atol + rtol * |numerical|. No SymPy."""
from __future__ import annotations

import numpy as np

from . import autodiff, higher, numeric
from .differentiate import jacobian, seed_array, seeded
from .errors import AgradError, real
from .gradient import _paths, names, seed_option
from .problem import Options, cast, make_problem
from .graph import merge_bindings
from .program import forward
from .results import GradcheckBlock, GradcheckResult
from .tensor import Tensor

# Differences cost two forward passes per input entry, and order 2 a backward pass per entry too.
MAX_GRADCHECK_INPUTS = 10_000  # input entries perturbed
MAX_GRADCHECK_ENTRIES = 4_000_000  # entries of the Jacobians compared


def gradcheck(expr, *, wrt=None, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, order: int = 1,
              grad_output=None, lib=None, seed: int | None = None, at: dict | None = None,
              **bindings) -> GradcheckResult:
    """torch.autograd.gradcheck (order=2: gradgradcheck) with PyTorch's defaults and meaning:
    every entry of the AD Jacobian must satisfy |analytical - numerical| <= atol + rtol * |numerical|,
    the numerical one by central differences of step `eps`. Bindings, `wrt` (default: every bound
    variable), `lib` and `seed` as for agrad.grad; `grad_output` seeds a non-scalar output for
    order=2, as torch's grad_outputs.

    >>> import agrad
    >>> r = agrad.gradcheck("sigmoid(x)", x=[[0.1, -2], [3, 0.5]])
    >>> r.ok, r.failures
    (True, [])
    >>> agrad.gradcheck("relu(x)", x=0.0).failures  # at the kink AD says 0, differences 0.5
    [('y', 'x', (), 0.0, 0.5)]
    """
    wrt, grad_output = names(wrt), seed_option(grad_output)
    if order not in (1, 2):
        raise AgradError(f"gradcheck takes order=1 (gradcheck) or order=2 (gradgradcheck), got {order}",
                         kind="usage")
    for name, v in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not (real(v) and v >= 0) or (name == "eps" and v == 0):  # a string or None too: not a raw numpy error
            raise AgradError(f"{name}= must be a finite number {'> 0' if name == 'eps' else '>= 0'}, got {v}",
                             kind="usage")
    problem = make_problem(expr, merge_bindings(at, bindings), Options(wrt=wrt, check=False, lib=_paths(lib), seed=seed))
    program, wrt = problem.program, problem.wrt
    if not wrt:  # nothing checked must not read as "passed"
        raise AgradError("gradcheck needs a variable to check, and wrt= names none", kind="usage")
    point = {n: np.asarray(v, dtype=np.float64) for n, v in problem.bindings.items()}
    leaves = problem.leaves()
    y = forward(program, leaves, np.float64)
    n_in = sum(int(np.size(point[v])) for v in wrt)
    entries = n_in * (int(np.size(y.value)) if order == 1 else n_in)
    if n_in > MAX_GRADCHECK_INPUTS or entries > MAX_GRADCHECK_ENTRIES:
        raise AgradError(f"gradcheck of {n_in:,} input entries compares {entries:,} Jacobian entries "
                         f"({2 * n_in:,} forward passes); the limits are {MAX_GRADCHECK_INPUTS:,} inputs and "
                         f"{MAX_GRADCHECK_ENTRIES:,} entries: check a smaller point or fewer variables (wrt=)",
                         kind="limit")
    seed = seed_array(grad_output, y)
    blocks = []
    if order == 1:
        for v in wrt:
            analytical = jacobian(y, leaves[v])
            numerical = numeric.jacobian(numeric.output_fn(program, point, v), point[v], h=eps)
            blocks.append(_block("y", v, analytical, numerical, rtol=rtol, atol=atol))
        return GradcheckResult(problem.program.source, order, eps, atol, rtol, tuple(blocks), problem.random_seed)
    if y.shape != () and seed is None:
        autodiff.seed_for(y, None)  # raises the non-scalar output error

    def ad_grad(p, v):
        lv = {n: Tensor(cast(x, np.float64), requires_grad=n in wrt, name=n) for n, x in p.items()}
        out = forward(program, lv, np.float64)
        (g,) = autodiff.grad(out if seed is None else seeded(out, seed), [lv[v]])
        return g.value

    canon, _ = higher.reverse_derivatives(y if seed is None else seeded(y, seed), leaves, wrt, 2)
    hess = higher.expand_symmetric(canon, wrt, {v: leaves[v].shape for v in wrt})
    for v in wrt:
        for w in wrt:
            numerical = numeric.jacobian(lambda x: ad_grad({**point, w: x}, v), point[w], h=eps)
            blocks.append(_block(f"d/d{v}", w, np.asarray(hess[(v, w)]), numerical, rtol=rtol, atol=atol))
    return GradcheckResult(problem.program.source, order, eps, atol, rtol, tuple(blocks), problem.random_seed)


def _block(of: str, wrt: str, analytical, numerical, *, rtol: float, atol: float) -> GradcheckBlock:
    analytical = np.asarray(analytical, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64).reshape(analytical.shape)
    bad = ~(np.abs(analytical - numerical) <= atol + rtol * np.abs(numerical))
    return GradcheckBlock(of, wrt, analytical, numerical, bad)
