"""The chain rule written out: every edge parent -> node with its local derivative, and for each
differentiated variable the paths from the output down to it, their factors and products.

A gradient is the sum over paths of the products of the local derivatives along them. Paths
multiply in DAGs (a chain of n diamonds has 2**n), so they are counted and summed by dynamic
programming over the graph, never enumerated; only the first `max_paths` per variable are listed.

Each local derivative is computed with agrad's own rules (the op's vjp at a unit seed for a
scalar edge, at the node's actual gradient for a tensor edge), never re-derived here; the
formula beside it comes from the op table's SymPy column (SymPy is imported only for that).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import autodiff
from .autodiff import unbroadcast
from .errors import AgradError, shape_text, whole
from .program import Program, evaluate
from .tensor import const, grad_mode, quiet_numpy

MAX_PATHS = 1_000  # paths listed per variable (the count and the sum cover all of them)
MAX_EXPLAIN_NODES = 2_000  # graph nodes explained edge by edge

# What the vector-Jacobian product of a non-elementwise op does, in words, per input position.
_VJP_TEXT = {
    "sum": ("g broadcast back to {shape}",),
    "mean": ("g / n broadcast back to {shape}",),
    "max": ("g at the maximal entries (ties share it)",),
    "min": ("g at the minimal entries (ties share it)",),
    "matmul": ("g @ {b}ᵀ", "{a}ᵀ @ g"),
    "index": ("g scattered into zeros{shape}",),
    "detach": ("0",),
}


@dataclass(frozen=True)
class Edge:
    """parent -> node: the local derivative ∂node/∂parent (input position `arg` of the node)."""

    source: int  # the parent's node index (the table's # column)
    target: int  # the node's index
    arg: int  # which input of the node (x*x has two edges from x)
    source_name: str
    target_name: str
    formula: str  # ∂target/∂source in terms of the node's inputs (SymPy), or the VJP in words
    value: object  # a number for a scalar edge; for a tensor edge the VJP applied to the node's gradient
    scalar: bool  # True: `value` is the exact local derivative; False: a vector-Jacobian product
    shape: str = ""  # a tensor edge: "(out shape) -> (in shape)"

    @property
    def label(self) -> str:
        return f"∂{self.target_name}/∂{self.source_name}"


@dataclass(frozen=True)
class PathInfo:
    """One path from the output down to a variable: its edges (indices into Explanation.edges),
    the factors along it and their product (None when an edge is a tensor VJP)."""

    nodes: tuple  # node indices, output first
    edges: tuple
    factors: tuple | None
    product: float | None


@dataclass(frozen=True)
class VariablePaths:
    variable: str
    count: int  # every path from the output to the variable (exact, by dynamic programming)
    paths: tuple  # the first max_paths of them (PathInfo)
    total: object  # the sum over every path of its product (scalars) / of the edge VJPs into it (tensors)
    gradient: object  # what the backward pass computed
    agrees: bool  # total == gradient (to the check's tolerance)

    @property
    def listed(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class Explanation:
    """The chain rule of one graph: names[i] is node i's name in the formulas (the user's name,
    z<#> for an unnamed intermediate, y for an unnamed output), edges in graph order, and for
    each differentiated variable its paths."""

    names: dict  # node index -> name
    edges: tuple  # Edge
    variables: tuple  # VariablePaths, in wrt order
    scalar: bool  # every node on the graph is a scalar: factors multiply exactly
    max_paths: int
    output: int

    @property
    def ok(self) -> bool:
        return all(v.agrees for v in self.variables)

    def paths_of(self, variable: str) -> VariablePaths:
        return next(v for v in self.variables if v.variable == variable)


def node_names(program: Program) -> dict:
    """Every node's name in the chain-rule lines: a variable's or statement's own name, `y` for an
    unnamed output, and z<#> (the table's # column) for other intermediates, never clashing with
    a name the user wrote."""
    taken = {n.name for n in program.nodes if n.name}
    names = {}
    for i, node in enumerate(program.nodes):
        if node.name:
            names[i] = node.name
        elif i == program.output:
            names[i] = next(c for c in ("y", "out", "output", f"y{i}", f"out_{i}") if c not in taken)
        else:
            names[i] = f"z{i}" if f"z{i}" not in taken else f"node_{i}"
    return names


def explain(program: Program, leaves: dict, dtype, *, wrt, gradients: dict, seed=None,
            max_paths: int = 10, rtol: float = 1e-9, atol: float = 1e-12) -> Explanation:
    """Build the explanation on a fresh forward graph of `program` at `leaves` (Tensors; the
    differentiated ones require grad). `gradients` {name: the backward pass's gradient} is what
    every path sum is compared with; `seed` seeds a non-scalar output."""
    if len(program.nodes) > MAX_EXPLAIN_NODES:
        raise AgradError(f"explain=True lists every edge, and the graph has {len(program.nodes):,} nodes; the "
                         f"limit is {MAX_EXPLAIN_NODES:,}", kind="limit")
    max_paths = whole(max_paths, "paths", 0, MAX_PATHS)
    values = evaluate(program, leaves, dtype)  # every value kept: the rules below read them
    names = node_names(program)
    out = values[program.output]
    live = [t.requires_grad and program.nodes[i].kind != "const" for i, t in enumerate(values)]
    scalar = all(np.shape(values[i].value) == () for i in range(len(values)) if live[i])
    node_grads = {}
    if not scalar and out.requires_grad:  # tensor edges show the VJP of the node's actual gradient
        grads = autodiff.run_backward([out], [seed], retain_graph=True, create_graph=False)
        node_grads = {i: grads[t] for i, t in enumerate(values) if t in grads}
    edges, into = [], {}  # into[node] = edge indices leaving node towards its parents
    with grad_mode(False), quiet_numpy():
        for i, node in enumerate(program.nodes):
            if node.kind != "op" or not live[i]:
                continue
            for k, j in enumerate(node.args):
                if not live[j]:
                    continue
                edge = _edge(program, values, names, i, k, scalar=scalar, node_grad=node_grads.get(i))
                into.setdefault(i, []).append(len(edges))
                edges.append(edge)
    reach = _reachable(program, edges, into)
    variables = tuple(_variable_paths(program, values, edges, into, reach=reach, v=v, gradient=gradients.get(v), scalar=scalar,
                                      max_paths=max_paths, rtol=rtol, atol=atol) for v in wrt)
    return Explanation(names, tuple(edges), variables, scalar, max_paths, program.output)


def _edge(program, values, names, i, k, *, scalar, node_grad) -> Edge:
    node = program.nodes[i]
    j = node.args[k]
    t, parents = values[i], tuple(values[a] for a in node.args)
    rule = node.op.vjp[k]
    params = node.params or {}
    in_shape, out_shape = np.shape(values[j].value), np.shape(t.value)
    if scalar:
        g = rule(const(1.0, t), t, *parents, **params)
        value = float(np.asarray(g.value).reshape(()))
        return Edge(j, i, k, names[j], names[i], _formula(program, names, i, k), value, True)
    g_node = node_grad if node_grad is not None else const(np.zeros(out_shape), t)
    g = rule(g_node, t, *parents, **params)
    g = unbroadcast(g, in_shape) if g.shape != in_shape else g
    if node.op.elementwise:
        local = _formula(program, names, i, k)
        formula = f"g ⊙ ({local})" if local not in ("1", "") else "g"
        if out_shape != in_shape:
            formula += f", summed to {shape_text(in_shape)}"
    else:
        texts = _VJP_TEXT.get(node.op.name)
        a, b = names[node.args[0]], names[node.args[-1]]
        formula = (texts[k] if texts and k < len(texts) else f"vjp of {t.op.torch_name(parents, node.params)}").format(
            shape=shape_text(in_shape), a=a, b=b)
    return Edge(j, i, k, names[j], names[i], formula, np.asarray(g.value), False,
                f"{shape_text(out_shape)} -> {shape_text(in_shape)}")


def _formula(program, names, i, k) -> str:
    d = local_formula(program, names, i, k)
    return "" if d is None else str(d)


def local_formula(program, names, i, k):
    """∂node/∂(input k) as a SymPy expression from the op table's SymPy column, the inputs named
    as in the lines (None where the op has no SymPy form). An input used twice (x*x) is
    differentiated in position k only: each position is an edge."""
    node = program.nodes[i]
    if node.op.sym is None or not node.op.elementwise:
        return None
    import sympy as sp

    from .symbolic import _literal

    args, marker = [], sp.Dummy("arg")
    for pos, j in enumerate(node.args):
        n = program.nodes[j]
        if pos == k:
            args.append(marker)
        elif n.kind == "const" and np.ndim(n.value) == 0:
            args.append(_literal(n) if n.exact is not None else sp.Float(float(n.value)))
        else:
            args.append(sp.Symbol(names[j], real=True))
    try:
        expr = node.op.sym(sp, *args, **(node.params or {}))
        d = sp.diff(expr, marker).subs(marker, sp.Symbol(names[node.args[k]], real=True))
    except (TypeError, ValueError, AttributeError):
        return None
    return d


def _reachable(program, edges, into) -> list:
    """reach[i]: the set of variables node i leads to along edges (used to prune enumeration)."""
    reach = [frozenset() for _ in program.nodes]
    for i, node in enumerate(program.nodes):
        if node.kind == "var":
            reach[i] = frozenset([node.name])
        elif i in into:
            reach[i] = frozenset().union(*(reach[edges[e].source] for e in into[i]))
    return reach


def _variable_paths(program, values, edges, into, *, reach, v, gradient, scalar, max_paths, rtol, atol):
    target = program.variables.get(v)
    out = program.output
    if target is None or v not in reach[out]:
        zero = 0.0 if gradient is None else np.zeros(np.shape(gradient))
        ok = gradient is None or bool(np.all(np.asarray(gradient) == 0))
        return VariablePaths(v, 0, (), zero, gradient, ok)
    # counts and sums by dynamic programming, output first (reverse creation order is topological)
    count = {out: 1}
    total = {out: 1.0}
    for i in range(out, -1, -1):
        if i not in count or i not in into:
            continue
        for e in into[i]:
            s = edges[e].source
            if v not in reach[s]:
                continue
            count[s] = count.get(s, 0) + count[i]
            if scalar:
                total[s] = total.get(s, 0.0) + total[i] * edges[e].value
    if scalar:
        path_sum = total[target]
    else:  # a tensor graph: the VJPs arriving at the variable along its incoming edges add up to it
        path_sum = sum(np.asarray(edges[e].value) for i, es in into.items() for e in es if edges[e].source == target)
    listed = _enumerate(edges, into, reach, out=out, target=target, v=v, limit=max_paths)
    infos = []
    for path_edges in listed:
        nodes = (out,) + tuple(edges[e].source for e in path_edges)
        if scalar:
            factors = tuple(edges[e].value for e in path_edges)
            infos.append(PathInfo(nodes, tuple(path_edges), factors, math.prod(factors)))
        else:
            infos.append(PathInfo(nodes, tuple(path_edges), None, None))
    g = np.asarray(gradient, dtype=np.float64) if gradient is not None else np.zeros(np.shape(path_sum))
    agrees = bool(np.all(np.isclose(np.asarray(path_sum, dtype=np.float64), g, rtol=rtol, atol=atol, equal_nan=True)))
    return VariablePaths(v, count[target], tuple(infos), path_sum if not scalar else float(path_sum), gradient, agrees)


def _enumerate(edges, into, reach, *, out, target, v, limit) -> list:
    """The first `limit` paths from out to target in depth-first order (edges in argument order),
    walking only edges that lead to v: every step is on some path, so this costs limit x depth."""
    found, stack = [], [(out, ())]
    while stack and len(found) < limit:
        i, path = stack.pop()
        if i == target:
            found.append(path)
            continue
        nxt = [e for e in into.get(i, ()) if v in reach[edges[e].source]]
        stack.extend((edges[e].source, path + (e,)) for e in reversed(nxt))
    return found
