"""Reverse mode: topological order, the backward loop, accumulation, retain/create graph."""
from __future__ import annotations

import gc

import numpy as np

from .errors import AgradError, shape_text
from .ops import OPS
from .tensor import Tensor, _state, apply, const, gc_paused, grad_mode, quiet_numpy


def toposort(roots, stop=()) -> list[Tensor]:
    """Nodes that require a gradient and lead to `roots`, inputs before their users.
    Iterative (a chain of 100,000 ops must not hit Python's recursion limit, which
    micrograd's recursive sort does): collect the reachable nodes, then order them by
    creation, which is a topological order because a node is made after its inputs.
    Nodes in `stop` are treated as leaves (their inputs are not visited)."""
    seen = {s.seq: s for s in stop if s.requires_grad}  # by creation number: sorting ints is quick
    stack = []
    for r in roots:
        if r.requires_grad and r.seq not in seen:
            seen[r.seq] = r
            stack.append(r)
    while stack:
        for p in stack.pop().parents:
            if p.requires_grad and p.seq not in seen:
                seen[p.seq] = p
                stack.append(p)
    return [seen[k] for k in sorted(seen)]


_SUM_TO = OPS["sum_to"]


def unbroadcast(g: Tensor, shape) -> Tensor:
    """The one place where broadcasting is undone: sum the gradient down to the input's shape."""
    return g if g.value.shape == shape else apply(_SUM_TO, (g,), {"shape": shape})


def seed_for(root: Tensor, seed) -> Tensor:
    """The gradient that starts a backward pass: 1 for a scalar output, else the given seed
    broadcast to the output (backward(gradient=...)); no seed for a non-scalar output is an error."""
    if seed is None:
        if root.shape != () and root.value.size != 1:  # PyTorch takes any one-element output: (1,), (1, 1)
            raise AgradError(
                f"a gradient can be created implicitly only for a scalar output, and the output "
                f"has shape {shape_text(root.shape)}: wrap it in sum(...), or give a seed with "
                f"grad_output= (for example grad_output=ones)", kind="nonscalar")
        return const(1.0, root) if root.shape == () else const(np.ones(root.shape), root)
    seed = seed if isinstance(seed, Tensor) else const(seed, root)
    if seed.value.shape == root.value.shape and seed.value.dtype == root.value.dtype:
        return seed  # what the lines below give it back as
    try:
        value = np.broadcast_to(seed.value, root.shape)
    except ValueError:
        raise AgradError(f"the seed (grad_output=) has shape {shape_text(seed.shape)}, which does not "
                         f"broadcast to the output's shape {shape_text(root.shape)}", kind="seed") from None
    return seed if seed.shape == root.shape else Tensor(value.astype(root.dtype), seed.requires_grad)


NO_GRAD_MESSAGE = "element 0 of tensors does not require grad and does not have a grad_fn"


def require_grad(root: Tensor) -> None:
    """PyTorch's refusal to differentiate an output no recorded op connects to a variable that
    requires a gradient (it depends only on constants, detach/no_grad values, or variables left
    out of --wrt). Raised by backward and grad; the caller decides what a run makes of it."""
    if not root.requires_grad:
        raise AgradError(NO_GRAD_MESSAGE, kind="nograd")


def run_backward(roots, seeds, *, retain_graph: bool, create_graph: bool, stop=(), retain_grads: bool = True,
                 order=None) -> dict:
    """One backward pass from `roots`. Returns {node: gradient} for every node reached.

    With create_graph the rules run in grad mode, so the returned gradients are themselves
    differentiable graph nodes. Without retain_graph, nodes that saved values for backward
    are marked freed, and a second pass through them fails as in PyTorch.
    `order`: the graph's nodes that require a gradient in a topological order, when the caller
    knows it (graph.program_order: a graph evaluate() built); nodes it lists that the roots do
    not reach get no gradient and are skipped. Default: toposort.
    """
    grads: dict[Tensor, Tensor] = {}
    for r, s in zip(roots, seeds):
        if r.requires_grad:
            s = seed_for(r, s)
            grads[r] = grads[r] + s if r in grads else s
    if order is None:
        order = toposort(roots, stop)
    stop_ids = {id(s) for s in stop} if stop else None
    # An all-ones seed multiplies nothing (ops._unit_times); with create_graph the product stays a graph node.
    unit = None
    if not create_graph and len(grads) == 1:
        s = next(iter(grads.values()))
        if (seeds[0] is None and len(roots) == 1) or _all_ones(s.value):  # no seed: seed_for made a 1
            unit = [s]
    outer_unit, _state.unit = _state.unit, unit
    try:
        return _backward_loop(order, grads, stop_ids, retain_graph=retain_graph, create_graph=create_graph,
                              retain_grads=retain_grads)
    finally:
        _state.unit = outer_unit


def _backward_loop(order, grads, stop_ids, *, retain_graph, create_graph, retain_grads) -> dict:
    before = _state.grad
    _state.grad = create_graph
    try:
        if _state.quiet and not gc.isenabled():  # a caller's loop (a descent) holds both already
            return _walk(order, grads, stop_ids, retain_graph=retain_graph, create_graph=create_graph,
                         retain_grads=retain_grads)
        with quiet_numpy(), gc_paused():  # non-finite results are reported per node
            return _walk(order, grads, stop_ids, retain_graph=retain_graph, create_graph=create_graph,
                         retain_grads=retain_grads)
    finally:
        _state.grad = before


def _walk(order, grads, stop_ids, *, retain_graph, create_graph, retain_grads) -> dict:
    # Gradients a rule just made and only this pass holds take later contributions in place
    # (PyTorch's InputBuffer does the same): one fresh array fewer per extra use of a value.
    # Whether such an array is writeable memory of its own is asked only when a second
    # contribution comes (most gradients get one): an array's flags do not change meanwhile.
    owned = set()
    ndarray = np.ndarray
    for node in reversed(order):
        op = node.op
        if op is None or (stop_ids and id(node) in stop_ids):
            continue
        g = grads.get(node) if retain_grads else grads.pop(node, None)
        if g is None:
            continue
        if owned:
            owned.discard(id(g))  # the rules may pass g on (add does): no longer this slot's alone
        params, parents = node.params, node.parents
        if node.freed and op.saved(parents):
            raise AgradError(
                "trying to backward through the graph a second time: the first backward pass "
                "freed the values this graph saved for it. Pass retain_graph=True to keep them "
                "for further passes", kind="backward")
        vjp = op.vjp
        for i, p in enumerate(parents):
            if not p.requires_grad:
                continue
            rule = vjp[i]
            if rule is None:
                raise AgradError(f"no derivative rule for '{op.name}' with respect to argument {i + 1}",
                                 kind="internal")
            gi = rule(g, node, *parents, **params) if params else rule(g, node, *parents)
            shape = p.value.shape
            if gi.value.shape != shape:
                gi = unbroadcast(gi, shape)
            prev = grads.get(p)
            if prev is None:
                grads[p] = gi
                if gi is not g and not create_graph and type(gi.value) is ndarray:
                    owned.add(id(gi))
            elif (id(prev) in owned and _private(prev.value)
                  and np.result_type(prev.value, gi.value) == prev.value.dtype):
                if _state.trace is not None:
                    _state.trace.add_into(prev, gi)
                np.add(prev.value, gi.value, out=prev.value)
            else:
                grads[p] = prev + gi
        if not retain_graph:
            node.freed = True
    return grads


def _all_ones(v) -> bool:
    """Every entry 1; a broadcast one (all strides 0: one number in memory) is read once."""
    if type(v) is np.ndarray and v.size and not any(v.strides):
        return bool(v.flat[0] == 1)
    return bool(np.all(v == 1))


def _private(v) -> bool:
    """A writeable array with its own memory (not a view of another value)."""
    return v.flags.owndata and v.flags.writeable


def backward(root: Tensor, seed=None, *, retain_graph: bool | None = None, create_graph: bool = False,
             retain_grads: bool = False) -> dict:
    """Tensor.backward(): accumulate into the .grad of every leaf that requires a gradient.
    retain_graph defaults to create_graph, as in PyTorch. Returns the leaves' gradients of this
    pass, and with retain_grads (PyTorch's retain_grad() on every node) every node's: without
    it a non-leaf gradient is dropped once used, so large arrays are freed early."""
    require_grad(root)
    if retain_graph is None:
        retain_graph = create_graph
    grads = run_backward([root], [seed], retain_graph=retain_graph, create_graph=create_graph,
                         retain_grads=retain_grads)
    with grad_mode(create_graph):
        for node, g in grads.items():
            if node.op is None:
                node.grad = g if node.grad is None else node.grad + g
    return grads


def grad(output: Tensor, inputs, seed=None, *, create_graph: bool = False, retain_graph: bool | None = None,
         order=None):
    """torch.autograd.grad with allow_unused and materialized zeros: one gradient per input,
    nothing accumulated into .grad. `order` as for run_backward."""
    if retain_graph is None:  # an output that requires no gradient gives zeros (nested reverse mode relies on it)
        retain_graph = create_graph
    grads = run_backward([output], [seed], retain_graph=retain_graph, create_graph=create_graph, order=order)
    return [grads.get(x) if x in grads else const(np.zeros(x.shape), x) for x in inputs]
