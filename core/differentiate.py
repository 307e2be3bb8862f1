"""The backward passes (PyTorch's semantics: accumulation, retain_graph, zero_grad) and the
derivatives of every order: first order from the passes, a Jacobian by one pass per output
element, higher orders by Taylor mode or nested reverse mode (higher.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import autodiff
from .errors import AgradError
from .ops import OPS
from .problem import MAX_ENTRIES, MAX_PARTIALS, Problem
from .program import MAX_ELEMENTS, evaluate, forward
from .results import Pass
from .tensor import Tensor, apply, const


@dataclass
class Run:
    """The first forward graph, the passes over it, and what the table needs from them."""

    leaves: dict  # name -> leaf Tensor (their .grad holds the accumulated gradients)
    values: list  # the first graph's Tensors, one per program node
    passes: list  # Pass
    grads: dict  # Tensor -> gradient Tensor, of the first pass
    output: Tensor
    seed: np.ndarray | None  # the output's seed, broadcast to its shape


def seed_array(grad_output, y: Tensor):
    """The seed for y's backward pass: None for a scalar output, else 'ones' or an array."""
    if grad_output is None:
        return None
    if isinstance(grad_output, str) and grad_output == "ones":
        return np.ones(y.shape, dtype=y.value.dtype)
    return autodiff.seed_for(y, np.asarray(grad_output)).value  # broadcasts, or says why it cannot


def run_passes(problem: Problem, *, intermediates: bool = True) -> Run:
    """repeat forward graphs, each walked backward times; leaf .grad accumulates as in PyTorch.
    intermediates=False: no node but the leaves keeps its gradient (nothing will show them)."""
    o = problem.options
    program, leaves = problem.run_program, problem.leaves()
    passes, first, first_grads, seed = [], None, {}, None
    for f in range(o.repeat):
        vals = evaluate(program, leaves, problem.dtype)
        first = first or vals
        y = vals[program.output]
        if problem.wrt and not y.requires_grad:
            raise AgradError(
                f"the output does not require grad: no recorded op connects it to {', '.join(problem.wrt)} (it "
                f"depends on them only through constants, detach or no_grad, or not at all). PyTorch refuses this "
                f"too ('{autodiff.NO_GRAD_MESSAGE}'); differentiate a variable the output uses (wrt=)",
                kind="nograd")
        seed = seed_array(o.grad_output, y)
        if o.jacobian:  # one backward per output element instead, in derivatives()
            break
        for b in range(o.backward):
            if o.zero_grad:
                for leaf in leaves.values():
                    leaf.grad = None
            # the table shows every node's gradient (retain_grads); nothing to differentiate, no pass
            grads = autodiff.backward(y, seed, retain_graph=o.retain_graph,
                                      retain_grads=intermediates) if problem.wrt else {}
            if f == 0 and b == 0:
                first_grads = grads
            passes.append(Pass(len(passes) + 1, f + 1, {n: grad_value(leaves[n]) for n in problem.wrt},
                               {i: grads[t].value for i, t in enumerate(vals) if t in grads} if intermediates
                               else {}))
    return Run(leaves, first, passes, first_grads, first[program.output], seed)


def grad_value(leaf: Tensor):
    return np.zeros(leaf.shape, leaf.value.dtype) if leaf.grad is None else np.asarray(leaf.grad.value)


def derivatives(problem: Problem, run: Run):
    """({(v,): ..., (v, w): ...}, method, graph nodes): the mathematical derivatives, every
    order up to problem.order."""
    wrt, leaves, y = problem.wrt, run.leaves, run.output
    if problem.options.jacobian:
        if y.value.size > MAX_PARTIALS:  # one backward pass per output element
            raise AgradError(f"jacobian=True of an output with {y.value.size:,} elements needs as many backward "
                             f"passes; the limit is {MAX_PARTIALS:,} (seed a vector-Jacobian product with "
                             f"grad_output=)", kind="limit")
        entries = y.value.size * sum(leaves[v].value.size for v in wrt)
        if entries > MAX_ENTRIES:  # each entry is kept, checked and printed
            raise AgradError(f"jacobian=True of an output with {y.value.size:,} elements over {entries // y.value.size:,} "
                             f"input entries is {entries:,} numbers; the limit is {MAX_ENTRIES:,} (differentiate "
                             f"fewer variables with wrt=, or seed a vector-Jacobian product with grad_output=)",
                             kind="limit")
        return {(v,): jacobian(y, leaves[v]) for v in wrt}, "reverse", 0
    out = {}
    for v in wrt:
        g = run.grads.get(leaves[v])
        out[(v,)] = np.zeros(leaves[v].shape, problem.dtype) if g is None else np.asarray(g.value)
    if problem.order == 1 or not wrt:
        return out, "reverse", 0
    from . import higher

    if y.shape != () and run.seed is None:
        autodiff.seed_for(y, None)  # raises the non-scalar output error
    shapes = {v: leaves[v].shape for v in wrt}
    # Taylor mode needs every op's series rule; a user function with a backward rule has none
    # (its higher derivatives come from its rule), so nested reverse mode runs instead
    if len(wrt) == 1 and shapes[wrt[0]] == () and all(
            n.op.jet for n in problem.run_program.nodes if n.kind == "op"):
        canon, method, nodes = _taylor(problem, run)
    else:
        fresh = forward(problem.run_program, leaves, problem.dtype)  # the passes may have freed their graph
        target = fresh if run.seed is None else seeded(fresh, run.seed)
        canon, nodes = higher.reverse_derivatives(target, leaves, wrt, problem.order)
        method = "reverse"
    return higher.expand_symmetric(canon, wrt, shapes), method, nodes


def _taylor(problem: Problem, run: Run):
    """Every order along one scalar variable by truncated Taylor series (JAX's jet)."""
    from . import higher

    v, order = problem.wrt[0], problem.order
    biggest = max((np.size(t.value) for t in run.leaves.values()), default=1)
    if (order + 1) * biggest > MAX_ELEMENTS:  # every node carries order + 1 coefficients
        raise AgradError(f"order={order} on arrays of {biggest:,} elements needs {(order + 1) * biggest:,} "
                         f"Taylor coefficients per node; the limit is {MAX_ELEMENTS:,}", kind="limit")
    ks = higher.taylor_derivatives(problem.run_program, problem.point(), v, order, seed=run.seed,
                                   dtype=problem.dtype)
    canon = {(v,) * k: np.asarray(d) for k, d in enumerate(ks, 1)}
    return canon, "taylor", len(problem.run_program.nodes) * (order + 1)


def seeded(y: Tensor, seed) -> Tensor:
    """sum(y * seed): the scalar whose gradient is the vector-Jacobian product with the seed."""
    return apply(OPS["sum"], (y * const(seed, y),))


def jacobian(y: Tensor, x: Tensor) -> np.ndarray:
    """One backward pass per output element (one-hot seeds), as torch.autograd.functional.jacobian."""
    out = np.zeros(y.shape + x.shape, dtype=y.value.dtype)
    for idx in np.ndindex(*y.shape):
        onehot = np.zeros(y.shape, dtype=y.value.dtype)
        onehot[idx] = 1
        (g,) = autodiff.grad(y, [x], onehot if y.shape else None, retain_graph=True)
        out[idx] = g.value
    return out
