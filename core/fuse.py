"""--fuse: a coarse-grained graph. Each chain of elementwise ops on a single value becomes one
node that saves only its input and recomputes the chain during backward (checkpointing), so
the graph saves fewer values and the gradients are identical.
"""
from __future__ import annotations

import numpy as np

from .ops import Op
from .program import Node, Program
from .tensor import Tensor, _state, apply, const, grad_mode


def _fusable(node: Node, nodes: list) -> int | None:
    """The one non-constant argument of an elementwise op, or None."""
    if node.kind != "op" or not node.op.elementwise or node.op.vjp is None:
        return None
    live = [a for a in node.args if nodes[a].kind != "const"]
    return live[0] if len(live) == 1 else None


def fuse(program: Program) -> Program:
    nodes = program.nodes
    users = [0] * len(nodes)
    for n in nodes:
        for a in n.args:
            users[a] += 1
    users[program.output] += 1
    chains: dict[int, list] = {}  # last node of a chain -> the chain's node indices
    for i, n in enumerate(nodes):
        src = _fusable(n, nodes)
        if src is None:
            continue
        # continue the chain through src only when nothing else reads src and it has no name to show
        extend = src in chains and users[src] == 1 and nodes[src].name is None
        chains[i] = (chains.pop(src) if extend else []) + [i]
    in_chain = {i: c for c in chains.values() if len(c) >= 2 for i in c}
    new_nodes, remap = [], {}
    for i, n in enumerate(nodes):
        chain = in_chain.get(i)
        if chain is not None and chain[-1] != i:
            continue  # an inner node: recomputed inside its fused node
        if chain is not None:
            head = _fusable(nodes[chain[0]], nodes)
            span = (min(nodes[k].span[0] for k in chain), max(nodes[k].span[1] for k in chain))
            node = Node("op", _fused_op(chain, nodes), (remap[head],), {}, span, n.name, no_grad=n.no_grad)
        else:
            node = Node(n.kind, n.op, tuple(remap[a] for a in n.args), n.params, n.span, n.name, n.value, n.exact,
                        n.no_grad)
        remap[i] = len(new_nodes)
        new_nodes.append(node)
    variables = {k: remap[v] for k, v in program.variables.items()}
    return Program(program.source, new_nodes, remap[program.output], variables)


def _fused_op(chain: list, nodes: list) -> Op:
    steps = []  # (op, position of the running value among the args, the args' constant values, params)
    for i in chain:
        n = nodes[i]
        live = _fusable(n, nodes)
        consts = [None if a == live else np.asarray(nodes[a].value, dtype=np.float64) for a in n.args]
        steps.append((n.op, list(n.args).index(live), consts, n.params))
    return _make_op(steps)


def _make_op(steps) -> Op:
    def args_with(value, pos, consts, cast):
        return [value if k == pos else cast(c) for k, c in enumerate(consts)]

    def fwd(x):
        v = x
        for op, pos, consts, params in steps:
            v = op.fwd(*args_with(v, pos, consts, lambda c: c.astype(np.result_type(x))), **params)
        return v

    def run(x: Tensor) -> Tensor:
        t = x
        for op, pos, consts, params in steps:
            t = apply(op, tuple(args_with(t, pos, consts, lambda c: const(c, x))), params)
        return t

    def vjp(g, out, x):
        from .autodiff import run_backward

        create = _state.grad
        with grad_mode(True):
            local = x if create else Tensor(x.value, requires_grad=True)
            t = run(local)
        # the recomputed chain is part of the gradient's graph under create_graph: keep it
        grads = run_backward([t], [g], retain_graph=create, create_graph=create, stop=(local,))
        return grads.get(local) if local in grads else const(np.zeros(x.shape), x)

    def sym(sp, x):
        from .symbolic import exact  # only a check calls this, and a check has SymPy loaded

        v = x
        for op, pos, consts, params in steps:
            v = op.sym(sp, *args_with(v, pos, consts, exact), **params)
        return v

    def jet(_op, K, x):
        def series(c):
            z = np.zeros((K + 1,) + c.shape, dtype=x.dtype)
            z[0] = c
            return z

        s = x
        for op, pos, consts, params in steps:
            s = op.jet(op, K, *args_with(s, pos, consts, series), **params)
        return s

    names = "→".join(op.name for op, *_ in steps)
    return Op("fused", fwd, (vjp,), sym, jet, f"FusedBackward0[{names}]", "x", True)
