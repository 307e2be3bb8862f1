"""The graph as a picture: Mermaid (Markdown viewers draw it with nothing installed) and an
SVG/PNG rendered from the DOT text by Graphviz's `dot` when it is installed. With an
explanation, each edge carries its local derivative."""
from __future__ import annotations

import re

from agrad.cli.render import fmt, to_dot

GRAPHVIZ_INSTALL = "apt-get install graphviz (Debian/Ubuntu) or brew install graphviz (macOS)"


def _edge_text(edge, digits) -> str:
    if edge.scalar:
        formula = f" = {edge.formula}" if edge.formula and edge.formula != fmt(edge.value, digits) else ""
        return f"{edge.label}{formula} = {fmt(edge.value, digits)}"
    return f"{edge.label}: {edge.formula} {edge.shape}"


def _edge_labels(r, digits) -> dict:
    """(parent, node, arg) -> label, when the result carries an explanation."""
    e = r.explanation
    return {} if e is None else {(x.source, x.target, x.arg): _edge_text(x, digits) for x in e.edges}


def _mm(text: str) -> str:
    """Mermaid label text: quotes and the characters Mermaid reads as markup become entities."""
    return (str(text).replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("\n", "<br/>"))


def to_mermaid(r, digits: int = 6) -> str:
    """A Mermaid flowchart: inputs as boxes, operations as circles, each with its value and
    gradient, arrows input -> user (labelled with the local derivative under explain)."""
    names = r.explanation.names if r.explanation is not None else {}
    labels = _edge_labels(r, digits)
    lines = ["flowchart LR"]
    for n in r.nodes:
        head = n.name or (names.get(n.index) if n.op != "const" else None) or n.expr
        body = [f"{head} = {n.expr}" if head != n.expr else head]
        if n.op not in ("leaf", "const"):
            body.append(n.op)
        body.append(f"value {fmt(n.value, digits)}" + ("" if n.grad is None else f", grad {fmt(n.grad, digits)}"))
        text = _mm("\n".join(body))
        shape = ('(("', '"))') if n.op not in ("leaf", "const") else ('["', '"]')
        lines.append(f"  n{n.index}{shape[0]}{text}{shape[1]}")
    for n in r.nodes:
        for k, p in enumerate(n.parents):
            label = labels.get((p, n.index, k))
            lines.append(f'  n{p} -->|"{_mm(label)}"| n{n.index}' if label else f"  n{p} --> n{n.index}")
    return "\n".join(lines) + "\n"


def dot_with_edges(r, digits: int = 6) -> str:
    """The DOT of render.to_dot, each edge labelled with its local derivative under explain."""
    text = to_dot(r, digits)
    labels = _edge_labels(r, digits)
    if not labels:
        return text
    edges = iter((p, n.index, k) for n in r.nodes for k, p in enumerate(n.parents))  # to_dot's order

    def label(m):
        key = next(edges)
        lab = labels.get(key)
        return m.group(0) if lab is None else f'{m.group(1)} [label="{_esc(lab)}", fontsize=10];'

    return re.sub(r"^(  n\d+ -> n\d+);$", label, text, flags=re.M)


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def write_graph_file(r, path, digits: int = 6, *, force: bool = False) -> None:
    """Render the graph with Graphviz's dot into `path` (.svg or .png)."""
    import shutil
    import subprocess

    from agrad import AgradError

    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if suffix not in ("svg", "png"):
        raise AgradError(f"the graph file must end in .svg or .png, got {str(path)!r}", kind="usage")
    dot = shutil.which("dot")
    if dot is None:
        raise AgradError(f"drawing the graph needs Graphviz's dot program, which is not installed: "
                         f"{GRAPHVIZ_INSTALL} (or write the DOT text with --dot)", kind="usage")
    from agrad.cli.files import target_of, write_atomic

    target_of(path, force=force)  # refused before dot runs
    proc = subprocess.run([dot, f"-T{suffix}"], input=dot_with_edges(r, digits).encode(), capture_output=True,
                          timeout=60)
    if proc.returncode != 0:
        raise AgradError(f"Graphviz's dot failed: {proc.stderr.decode(errors='replace').strip()[:300]}",
                         kind="usage")
    write_atomic(path, proc.stdout, force=force)
