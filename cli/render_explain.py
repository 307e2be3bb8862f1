"""The chain rule written out (agrad.grad(..., explain=True)): as text lines and as JSON.

Text and JSON only read the Explanation dataclass; nothing is differentiated here."""
from __future__ import annotations

from agrad.cli.render import CROSS, TICK, fmt


def _num(v, digits: int) -> str:
    return fmt(v, digits)


def explain_lines(r, digits: int = 8) -> list:
    """Names of the intermediates, each edge's local derivative, each variable's paths."""
    e = r.explanation
    lines = ["chain rule: names"]
    for i, name in sorted(e.names.items()):
        node = r.nodes[i]
        if node.requires_grad and not node.is_leaf or i == e.output:
            lines.append(f"  {name} = {node.expr} = {_num(node.value, digits)}")
    lines.append("local derivatives on the edges (input -> node)" + ("" if e.scalar else
                 ": tensor edges show the vector-Jacobian product g ↦ ... each applies, at the node's gradient g"))
    width = max((len(edge.label) for edge in e.edges), default=0)
    for edge in e.edges:
        if edge.scalar:
            formula = f" = {edge.formula}" if edge.formula and edge.formula != _num(edge.value, digits) else ""
            lines.append(f"  {edge.label:<{width}}{formula} = {_num(edge.value, digits)}")
        else:
            lines.append(f"  {edge.label:<{width}}: {edge.formula}  {edge.shape}  = {_num(edge.value, digits)}")
    out = e.names[e.output]
    for vp in e.variables:
        noun = "path" if vp.count == 1 else "paths"
        shown = f", the first {vp.listed} listed" if vp.listed < vp.count else ""
        lines.append(f"paths from {out} to {vp.variable}: {vp.count:,} {noun}{shown}")
        for p in vp.paths:
            chain = " · ".join(e.edges[k].label for k in p.edges)
            if p.factors is not None:
                lines.append(f"  {chain} = {' · '.join(_num(f, digits) for f in p.factors)} = {_num(p.product, digits)}")
            else:
                lines.append(f"  {' <- '.join(e.names[n] for n in p.nodes)}")
        mark = TICK if vp.agrees else f"{CROSS} (not equal)"
        what = "sum over all paths" if e.scalar else "sum of the VJPs arriving at it"
        lines.append(f"  {what} = {_num(vp.total, digits)} = ∂{out}/∂{vp.variable} {mark}")
    return lines


def explain_dict(e) -> dict:
    """The JSON of `explain`: edges (from, to, formula, value) and per-variable paths."""
    return {
        "names": {str(i): n for i, n in sorted(e.names.items())},
        "scalar": e.scalar,
        "edges": [{"from": x.source_name, "to": x.target_name, "from_index": x.source, "to_index": x.target,
                   "arg": x.arg, "formula": x.formula, "value": x.value, "exact": x.scalar,
                   **({"shape": x.shape} if x.shape else {})} for x in e.edges],
        "paths": {vp.variable: {"count": vp.count, "listed": vp.listed, "sum": vp.total, "gradient": vp.gradient,
                                "agrees": vp.agrees,
                                "paths": [{"nodes": [e.names[n] for n in p.nodes], "edges": list(p.edges),
                                           "factors": None if p.factors is None else list(p.factors),
                                           "product": p.product} for p in vp.paths]}
                  for vp in e.variables},
        "ok": e.ok,
    }
