"""Renderers of the core's result dataclasses: table (rich), json, csv, plain.

rich is imported only by the table renderer, so `--json` and `--format plain` start faster.
"""
from __future__ import annotations

import dataclasses
import io
import math

import numpy as np

from agrad.cli.safe import literal

TICK, CROSS, KINK = "✓", "✗", "~"


def flag_words(reason):
    """A check's reason in the CLI's words: the core names its arguments (check_timeout=), the
    command line has flags (--check-timeout)."""
    from agrad.cli.main import _flags

    return reason and _flags(reason)


# ---- numbers -------------------------------------------------------------------------------
def jsonable(v):
    """numpy values as JSON: full float64 precision (shortest repr), nested lists for arrays,
    and the strings "NaN", "Infinity", "-Infinity" where JSON has no number."""
    t = type(v)
    if t is float:  # the common cases first
        return v if math.isfinite(v) else ("NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity"))
    if v is None or t is str or t is bool or t is int:
        return v
    if t is list and all(type(x) is int or (type(x) is float and math.isfinite(x)) for x in v):
        return v
    if isinstance(v, (bool, str)):
        return v
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return jsonable({f.name: getattr(v, f.name) for f in dataclasses.fields(v)})
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    a = np.asarray(v)
    if a.dtype == object:
        return jsonable(a.tolist())
    if a.ndim:
        if a.dtype.kind in "iub" or (a.dtype.kind == "f" and np.isfinite(a).all()):
            return a.tolist()  # numpy converts in C: a million entries in milliseconds
        return [jsonable(x) for x in a]
    x = a.item()
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return x


def fmt(v, digits: int = 8) -> str:
    """A number (or a numpy-style summary of an array) with `digits` significant digits."""
    if v is None:
        return "—"
    a = np.asarray(v)
    if a.ndim == 0:
        x = a.item()
        if isinstance(x, float):
            return f"{x:.{digits}g}"
        return str(x)
    body = np.array2string(a, separator=", ", threshold=12, edgeitems=3,
                           formatter={"float_kind": lambda x: f"{x:.{digits}g}"})
    if a.size > 12:
        body += f"  shape {a.shape}"
    return body


def cell(v, digits: int = 8) -> str:
    """fmt() for a rich table or line: "[nan, 1]" would otherwise be read as a style tag. The
    line breaks are numpy's own, between a matrix's rows."""
    return literal(fmt(v, digits), newlines=True)


# ---- json -------------------------------------------------------------------------------------
MAX_JSON_NODES = 1_000  # intermediates printed without --full: the first and last 500


def _shown_passes(passes: list, full: bool) -> list:
    """The passes listed without --full: the first and last 500 past MAX_JSON_NODES (1,000 x 1,000
    passes of --repeat and --backward were a million entries: 28 s and 2 GB of JSON)."""
    if full or len(passes) <= MAX_JSON_NODES:
        return passes
    return passes[:MAX_JSON_NODES // 2] + passes[-(MAX_JSON_NODES // 2):]


def _shown_nodes(r, full: bool) -> list:
    if full or len(r.nodes) <= MAX_JSON_NODES:
        return list(r.nodes)
    half = MAX_JSON_NODES // 2
    return list(r.nodes[:half]) + list(r.nodes[-half:])


def result_dict(r, full: bool = False) -> dict:
    """The result as JSON data; past MAX_JSON_NODES graph nodes only the first and last 500 are
    listed (with "intermediates_omitted") unless full=True, and an intermediate's value or grad
    of more than render_json.SUMMARY_OVER elements is {"summary": {shape, dtype, finite, min, max,
    mean, norm}} (gradients and derivatives are always in full). Arrays stay numpy arrays:
    render_json writes them in C."""
    from agrad.cli.render_json import shown as summarized

    check = {
        "status": r.check.status,
        "ok": r.check.ok,
        "reason": flag_words(r.check.reason),
        "rtol": r.check.rtol,
        "atol": r.check.atol,
        "seconds": round(r.check.seconds, 6),
        "derivatives": {
            i.key: {"ad": i.ad, "sympy": i.sympy, "formula": i.formula, "fd": i.fd, "error": i.error,
                    "verdict": i.verdict, "note": i.note}
            for i in r.check.items
        },
    }
    if r.check.rules:  # hand-written backward rules (rules_check.py)
        check["rules"] = [{"function": i.function, "input": i.input, "node": i.node, "rule": i.rule, "ours": i.ours,
                           "sympy": i.sympy, "formula": i.formula, "fd": i.fd, "error": i.error,
                           "verdict": i.verdict, "text": i.text} for i in r.check.rules]
    shown = _shown_nodes(r, full)
    keep = None if len(shown) == len(r.nodes) else {n.index for n in shown}
    out = {
        "expression": r.expression,
        "value": r.value,
        "shape": list(r.output_shape),
        "dtype": r.dtype,
        "wrt": r.wrt,
        "gradients": r.gradients,
        "derivatives": r.derivatives,
        "intermediates": [
            {"index": n.index, "name": n.name, "expr": n.expr, "op": n.op, "value": summarized(n.value, full),
             "grad": summarized(n.grad, full),
             "is_leaf": n.is_leaf, "requires_grad": n.requires_grad, "grad_fn": n.grad_fn,
             "detached": n.detached, "next": n.parents}
            for n in shown
        ],
        "passes": [{"pass": p.number, "forward": p.forward, "gradients": p.gradients,
                    "intermediates": {str(k): summarized(v, full) for k, v in p.intermediates.items()
                                      if keep is None or k in keep}}
                   for p in _shown_passes(r.passes, full)],
        "output": r.output.index,
        "saved": r.saved,
        "order": r.order,
        "method": r.method,
        "graph_nodes": r.graph_nodes,
        "check": check,
        "problems": r.problems,
        "warnings": r.warnings,
        "ok": r.ok,
    }
    if len(r.passes) > len(out["passes"]):
        out["passes_omitted"] = {"count": len(r.passes) - len(out["passes"]),
                                 "why": f"over {MAX_JSON_NODES:,} passes; --full lists every one"}
    if keep is not None:
        out["intermediates_omitted"] = {"count": len(r.nodes) - len(shown), "first": shown[MAX_JSON_NODES // 2 - 1].index + 1,
                                        "last": shown[MAX_JSON_NODES // 2].index - 1,
                                        "why": f"over {MAX_JSON_NODES:,} nodes; --full lists every one"}
    if r.hessian is not None:
        out["hessian"] = r.hessian
    if r.expect is not None:
        out["expect"] = r.expect
    if r.random_seed is not None:
        out["random_seed"] = r.random_seed
    if getattr(r, "explanation", None) is not None:  # --explain (cli/render_explain.py)
        from agrad.cli.render_explain import explain_dict

        out["explain"] = explain_dict(r.explanation)
    return out


def to_plain(r) -> str:
    """For shell scripts (`read name value`): a first line `value F` (f's own value), then one
    `NAME V...` line per derivative (NAME is x, or x,y for a mixed partial; at order 1 the
    variable's .grad, accumulated over passes as PyTorch does). An array's
    entries follow its name space-separated, row-major; inf, -inf and nan as awk reads them."""
    return "".join(plain_chunks(r))


def plain_chunks(r):
    """to_plain's text in pieces, for a writer that should not hold 1e7 numbers' text at once."""
    from agrad.cli.render_plain import number_chunks

    for k, v in [("value", r.value), *(r.derivatives if r.order > 1 else r.gradients).items()]:
        yield f"{k} "
        yield from number_chunks(v)
        yield "\n"


def to_csv(r) -> str:
    """derivative,index,value rows: first f's own value (derivative "value"), then each
    derivative's entries; index is the entry's position, space-separated ("" for a scalar)."""
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["derivative", "index", "value"])
    # f's own value first, then the derivatives (a variable named value comes after: pairs, not a dict)
    rows = [("value", r.value)] + list((r.derivatives if r.order > 1 else r.gradients).items())
    for k, v in rows:
        a = np.asarray(v)
        for idx in np.ndindex(*a.shape):
            w.writerow([k, " ".join(map(str, idx)), repr(float(a[idx]))])
    return buf.getvalue()


# ---- table (rich) -----------------------------------------------------------------------------
def _verdict(item) -> str:
    return {"ok": f"[green]{TICK}[/]", "mismatch": f"[bold red]{CROSS}[/]", "kink": f"[yellow]{KINK} kink[/]",
            "unverified": "[yellow]?[/]"}.get(item.verdict, item.verdict)


def _partial_label(key: str) -> str:
    parts = key.split(",")
    if len(parts) == 1:
        return f"∂y/∂{parts[0]}"
    counts = {}
    for p in parts:
        counts[p] = counts.get(p, 0) + 1
    den = "".join(f"∂{v}" + (_sup(c) if c > 1 else "") for v, c in counts.items())
    return f"∂{_sup(len(parts))}y/{den}"


def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


MAX_TABLE_DERIVATIVES = 30  # rows of the check table without --full (every disagreement is always shown)


TABLE_ROWS, TABLE_HEAD, TABLE_TAIL = 200, 100, 50  # past 200 rows (nodes, passes) a table shows the
# first 100 and the last 50, the rest as one "…" row


def _elided(rows: list) -> list:
    """The first and last rows of a long table, with None where the others are left out."""
    if len(rows) <= TABLE_ROWS:
        return rows
    return rows[:TABLE_HEAD] + [None] + rows[-TABLE_TAIL:]


def render_table(r, console, digits: int = 8, show_passes: bool = True, full: bool = False):
    from rich.table import Table

    g = Table(title=f"agrad: y = {literal(r.expression if len(r.expression) < 70 else r.expression[:67] + '...')}",
              title_justify="left", header_style="bold")
    for col, just in (("#", "right"), ("name", "left"), ("expression", "left"), ("grad_fn", "left"),
                      ("value", "right"), ("∂y/∂node", "right"), ("", "left")):
        g.add_column(col, justify=just, overflow="fold")
    for n in _elided(r.nodes):
        if n is None:
            g.add_row("…", "", f"({len(r.nodes) - TABLE_HEAD - TABLE_TAIL:,} more nodes)", "", "", "", "")
            continue
        notes = []
        if n.detached:
            notes.append("detached")
        elif n.op == "const":
            notes.append("constant")
        elif n.is_leaf:
            notes.append("leaf" if n.requires_grad else "leaf, no grad")
        else:
            notes.append("non-leaf")
        style = "bold" if n.index == r.output.index else None
        # grad_fn as PyTorch (and the JSON) report it: None for leaves and for what needs no gradient
        g.add_row(str(n.index), literal(n.name or ""), literal(n.expr), n.grad_fn or "None",
                  cell(n.value, digits), cell(n.grad, digits), ", ".join(notes), style=style)
    console.print(g)
    if r.passes and show_passes and len(r.passes) > 1:
        # leaves accumulate (.grad); non-leaf gradients belong to their pass (named ones first, a few)
        inner = sorted((n for n in r.nodes if n.requires_grad and not n.is_leaf), key=lambda n: n.name is None)[:4]
        p = Table(title="passes: leaf .grad after each backward pass, and that pass's non-leaf gradients",
                  title_justify="left", header_style="bold")
        p.add_column("pass", justify="right")
        p.add_column("forward", justify="right")
        for v in r.wrt:
            p.add_column(v, justify="right", overflow="fold")
        for n in inner:
            p.add_column(f"{literal(n.name or n.expr)} (non-leaf)", justify="right", overflow="fold")
        for ps in _elided(r.passes):
            if ps is None:
                p.add_row("…", f"({len(r.passes) - TABLE_HEAD - TABLE_TAIL:,} more passes)")
                continue
            p.add_row(str(ps.number), str(ps.forward), *[cell(ps.gradients[v], digits) for v in r.wrt],
                      *[cell(ps.intermediates.get(n.index), digits) for n in inner])
        console.print(p)
    render_check(r, console, digits, full=full)
    if r.expect is not None:
        render_claims(r.expect, console, digits)
    extra = []
    if r.saved:
        extra.append(f"saved for backward: {r.saved['values']} values, {r.saved['bytes']:,} bytes"
                     + (f" (unfused: {r.saved['unfused_values']} values, {r.saved['unfused_bytes']:,} bytes)"
                        if "unfused_values" in r.saved else ""))
    if r.order > 1:
        extra.append(f"order {r.order} by {'Taylor-mode series' if r.method == 'taylor' else 'nested reverse mode'}"
                     f"; derivative graph: {r.graph_nodes:,} nodes")
    for pr in r.problems:
        extra.append(f"[yellow]{pr.kind} {pr.what} first produced at node {pr.node}: {literal(pr.expr)}[/]")
    if r.random_seed is not None:
        extra.append(f"random values drawn with --seed {r.random_seed}")
    for line in extra:
        console.print(line, highlight=False)


def _summarized(items: list, full: bool) -> tuple[list, int]:
    """(rows to show, how many were left out): past MAX_TABLE_DERIVATIVES the first ones and
    every item that is not a plain agreement, in table order."""
    if full or len(items) <= MAX_TABLE_DERIVATIVES:
        return items, 0
    keep = set(range(MAX_TABLE_DERIVATIVES)) | {k for k, i in enumerate(items) if i.verdict != "ok"}
    shown = [i for k, i in enumerate(items) if k in keep]
    return shown, len(items) - len(shown)


def render_check(r, console, digits: int, full: bool = False):
    from rich.table import Table

    c = r.check
    if c.status in ("off",):
        console.print("check: off (--no-check)")
        return
    if c.status == "skipped" and not c.items:  # nothing to compare at all
        console.print(f"[yellow]check skipped: {literal(flag_words(c.reason))}[/]", highlight=False)
        rows = [(k, v) for k, v in r.derivatives.items()]
        left = 0 if full or len(rows) <= MAX_TABLE_DERIVATIVES else len(rows) - MAX_TABLE_DERIVATIVES
        t = Table(header_style="bold")
        t.add_column("derivative")
        t.add_column("AD", justify="right", overflow="fold")
        for k, v in rows[:len(rows) - left]:
            t.add_row(literal(_partial_label(k)), cell(v, digits))
        if left:
            t.add_row("…", f"{left:,} more derivatives (--full lists them; --format plain or --json has all)")
        console.print(t)
        return
    t = Table(title=f"derivatives vs SymPy (rtol {c.rtol:.2g}, atol {c.atol:.2g}, {r.dtype})",
              title_justify="left", header_style="bold")
    show_fd = any(i.fd is not None for i in c.items)
    for col, just in (("derivative", "left"), ("AD", "right"), ("SymPy formula", "left"), ("SymPy value", "right"),
                      ("|error|", "right")) + ((("finite diff.", "right"),) if show_fd else ()) + (("", "left"),):
        t.add_column(col, justify=just, overflow="fold")
    shown, left = _summarized(list(c.items), full)
    for i in shown:
        formula = i.formula if isinstance(i.formula, str) or i.formula is None else _formula_summary(i.formula)
        fd = (cell(i.fd, digits),) if show_fd else ()
        t.add_row(literal(_partial_label(i.key)), cell(i.ad, digits), literal(formula or "—"), cell(i.sympy, digits),
                  "—" if i.error is None else f"{i.error:.1e}", *fd, _verdict(i))
    if left:
        t.add_row("…", "", f"{left:,} more derivatives, each agreeing with SymPy (--full lists them)", "", "",
                  *(("",) if show_fd else ()), "")
    console.print(t)
    if r.order > 1 and len(r.wrt) > 1 and not r.hessian:
        console.print("mixed partials are symmetric: each is shown once (JSON lists every order of the variables)")
    if r.hessian is not None:
        render_hessian(r.hessian, console, digits)
    notes: dict[str, list] = {}  # each note once, with the derivatives it is about, in table order
    for i in c.items:
        if i.note and i.verdict != "ok" or "ill-conditioned" in i.note or "detaches" in i.note:
            notes.setdefault(i.note, []).append(_partial_label(i.key))
    for n, labels in notes.items():
        console.print(f"[yellow]{literal(', '.join(labels))}: {literal(n)}[/]", highlight=False)
    for i in c.rules:  # hand-written backward rules: which function, which input
        mark = {"ok": f"[green]{TICK}[/]", "mismatch": f"[bold red]{CROSS}[/]"}.get(i.verdict, "[yellow]?[/]")
        console.print(f"{mark} {literal(i.text)}", highlight=False)
    kinks = sum(i.verdict == "kink" for i in c.items)
    agree = (f"{TICK} no derivative disagrees with SymPy ({kinks} at a non-differentiable point)" if kinks
             else f"{TICK} every derivative agrees with SymPy")
    summary = {"ok": f"[green]{agree}[/]",
               "failed": f"[bold red]{CROSS} some derivatives disagree with SymPy[/]" if any(
                   i.verdict == "mismatch" for i in c.items) else f"[bold red]{CROSS} a backward rule disagrees with SymPy[/]",
               "skipped": f"[yellow]check skipped: {literal(flag_words(c.reason))}[/]"}[c.status]
    console.print(summary + f" ({c.seconds:.2f} s)", highlight=False)


def _formula_summary(formulas) -> str:
    flat = np.asarray(formulas, dtype=object).ravel()
    if flat.size <= 3:
        return "[" + ", ".join(flat) + "]"
    return "[" + ", ".join(flat[:2]) + f", … ({flat.size} entries)]"


def render_hessian(h, console, digits):
    from rich.table import Table

    t = Table(title="Hessian" + ("" if h.symmetric else " (NOT symmetric)"), title_justify="left",
              header_style="bold")
    t.add_column("")
    for label in h.labels:
        t.add_column(literal(label), justify="right")
    for label, row in zip(h.labels, np.asarray(h.matrix)):
        t.add_row(literal(label), *[cell(x, digits) for x in row])
    console.print(t)
    console.print(f"eigenvalues: {cell(h.eigenvalues, digits)} → {h.kind}"
                  + ("; symmetric ✓" if h.symmetric else ""), highlight=False)


# ---- agrad check ----------------------------------------------------------------------------------
def case_dict(res) -> dict:
    c = res.case
    return jsonable({"name": c.name, "file": c.file, "line": c.line, "status": res.status, "messages": res.messages,
                     "seconds": round(res.seconds, 6), "points": [_point_dict(p) for p in res.points]})


def _point_dict(p: dict) -> dict:
    out = dict(p)
    if "claims" in out:
        out["claims"] = {k: {"claimed": c.claimed, "claimed_value": c.claimed_value, "actual": c.actual,
                             "ok": c.ok, "detail": c.detail} for k, c in out["claims"].items()}
    return out


def check_summary(results, file_errors) -> dict:
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "FAIL", "skipped", "error")}
    return {"cases": len(results), "passed": counts["pass"], "failed": counts["FAIL"], "skipped": counts["skipped"],
            "errors": counts["error"], "file_errors": [e.message for e in file_errors],
            "seconds": round(sum(r.seconds for r in results), 6),
            "ok": not file_errors and counts["FAIL"] == counts["error"] == 0}


def case_line(res) -> str:
    mark = {"pass": "[green]pass[/]   ", "FAIL": "[bold red]FAIL[/]   ", "skipped": "[yellow]skipped[/]",
            "error": "[bold red]error[/]  "}[res.status]
    where = f"{res.case.file}:{res.case.line}" if res.case.line else res.case.file
    lines = [f"{mark} {literal(res.case.name)}  [dim]({literal(where)}, {res.seconds:.2f} s)[/]"]
    lines += [f"         {literal(m)}" for m in res.messages]
    return "\n".join(lines)


def render_check_summary(summary, console):
    from rich.table import Table

    t = Table(title="agrad check", title_justify="left", header_style="bold")
    for col in ("cases", "passed", "failed", "skipped", "broken cases", "malformed files", "seconds"):
        t.add_column(col, justify="right")
    t.add_row(str(summary["cases"]), f"[green]{summary['passed']}[/]",
              f"[bold red]{summary['failed']}[/]" if summary["failed"] else "0", str(summary["skipped"]),
              f"[bold red]{summary['errors']}[/]" if summary["errors"] else "0",
              str(len(summary["file_errors"])), f"{summary['seconds']:.2f}")
    console.print(t)


def junit_xml(results, file_errors) -> str:
    """JUnit XML: one <testsuite> per file, one <testcase> per case (CI systems display it)."""
    import xml.etree.ElementTree as ET

    from agrad.cli.safe import xml_text as x  # NUL, ESC, U+FFFE...: characters XML 1.0 cannot hold

    root = ET.Element("testsuites", name="agrad check")
    files: dict = {}
    for r in results:
        files.setdefault(r.case.file, []).append(r)
    for e in file_errors:
        suite = ET.SubElement(root, "testsuite", name=x(e.message.split(":", 1)[0]), tests="1", failures="0",
                              errors="1", skipped="0", time="0")
        case = ET.SubElement(suite, "testcase", classname="agrad.file", name="load")
        ET.SubElement(case, "error", message=x(e.message)).text = x(e.message)
    for fname, rs in files.items():
        suite = ET.SubElement(root, "testsuite", name=x(fname), tests=str(len(rs)),
                              failures=str(sum(r.status == "FAIL" for r in rs)),
                              errors=str(sum(r.status == "error" for r in rs)),
                              skipped=str(sum(r.status == "skipped" for r in rs)),
                              time=f"{sum(r.seconds for r in rs):.6f}")
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=x(fname), name=x(r.case.name), time=f"{r.seconds:.6f}")
            if r.status in ("FAIL", "error"):
                ET.SubElement(case, "failure" if r.status == "FAIL" else "error",
                              message=x(r.messages[0] if r.messages else "failed")).text = x("\n".join(r.messages))
            elif r.status == "skipped":
                ET.SubElement(case, "skipped", message=x("; ".join(r.messages)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---- the graph: a tree in the terminal, DOT for Graphviz ---------------------------------------------
def _fn_label(n) -> str:
    """grad_fn as PyTorch reports it (the table and the JSON agree): a leaf or a constant says
    so; an op whose value needs no gradient (detached, or of constants only) has None."""
    return n.grad_fn or {"leaf": "leaf", "const": "const"}.get(n.op, "None")


def _node_label(n, digits) -> str:
    fn = _fn_label(n)
    grad = "" if n.grad is None else f", grad {cell(n.grad, digits)}"
    flags = " \\[detached]" if n.detached else ""
    head = literal(f"{n.name + ' = ' if n.name and n.name != n.expr else ''}{n.expr}")
    return f"{fn}: {head} = {cell(n.value, digits)}{grad}{flags}"


def graph_tree(r, digits: int = 6, limit: int = 300):
    """The graph as PyTorch walks it, output at the root, each node's inputs below it
    (next_functions). A node reached again is shown once and referred to by number."""
    from rich.tree import Tree

    nodes = r.nodes
    root_node = r.output
    root = Tree(f"[bold]#{root_node.index}[/] {_node_label(root_node, digits)}")
    shown, count = {root_node.index}, 1
    stack = [(root, root_node)]
    while stack:
        tree, node = stack.pop()
        for p in node.parents:
            pn = nodes[p]
            if count >= limit:
                tree.add(f"… (graph truncated at {limit} nodes)")
                return root
            if p in shown:
                tree.add(f"[dim]#{p} (shown above)[/]")
                continue
            shown.add(p)
            count += 1
            child = tree.add(f"[bold]#{p}[/] {_node_label(pn, digits)}")
            stack.append((child, pn))
    return root


def to_dot(r, digits: int = 6) -> str:
    """Graphviz DOT, one record per node (expression | value | grad), edges input -> user,
    as micrograd's draw_dot and torchviz's make_dot draw them: `dot -Tsvg graph.dot`."""
    def esc(s: str) -> str:
        return (str(s).replace("\\", "\\\\").replace('"', '\\"').replace("{", "\\{").replace("}", "\\}")
                .replace("|", "\\|").replace("<", "\\<").replace(">", "\\>"))

    lines = ["digraph agrad {", '  rankdir="LR";', '  node [shape=record, fontname="Helvetica"];']
    for n in r.nodes:
        head = f"{n.name} = {n.expr}" if n.name and n.name != n.expr else n.expr
        grad = "—" if n.grad is None else fmt(n.grad, digits)
        color = ', style=filled, fillcolor="#dddddd"' if n.detached or n.op == "const" else ""
        color += ", penwidth=2" if n.index == r.output.index else ""  # the output: the last statement
        lines.append(f'  n{n.index} [label="{{{esc(head)} | {esc(_fn_label(n))} | value {esc(fmt(n.value, digits))} | '
                     f'grad {esc(grad)}}}"{color}];')
    for n in r.nodes:
        for p in n.parents:
            lines.append(f"  n{p} -> n{n.index};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_claims(claims: dict, console, digits: int):
    from rich.table import Table

    t = Table(title="your claims (--expect)", title_justify="left", header_style="bold")
    for col, just in (("derivative", "left"), ("claimed", "left"), ("claimed value", "right"),
                      ("true value", "right"), ("", "left")):
        t.add_column(col, justify=just, overflow="fold")
    for key, c in claims.items():
        t.add_row(literal(_partial_label(key)), literal(c.claimed), cell(c.claimed_value, digits), cell(c.actual, digits),
                  f"[green]{TICK}[/]" if c.ok else f"[bold red]{CROSS}[/]")
    console.print(t)
    for key, c in claims.items():
        if not c.ok:
            console.print(f"[bold red]{CROSS} {literal(_partial_label(key))}:[/] {literal(c.detail)}", highlight=False)


def gradcheck_dict(res) -> dict:
    return jsonable({"expression": res.expression, "order": res.order, "eps": res.eps, "atol": res.atol,
                     "rtol": res.rtol, "ok": res.ok, "random_seed": res.random_seed,
                     "blocks": [{"of": b.of, "wrt": b.wrt, "analytical": b.analytical, "numerical": b.numerical,
                                 "bad": b.bad, "ok": b.ok} for b in res.blocks]})


def render_gradcheck(res, console, digits: int):
    from rich.table import Table

    title = "gradgradcheck" if res.order == 2 else "gradcheck"
    for b in res.blocks:
        t = Table(title=f"{title}: d({literal(b.of)})/d{literal(b.wrt)} (eps {res.eps:g}, atol {res.atol:g}, "
                        f"rtol {res.rtol:g})", title_justify="left", header_style="bold")
        for col, just in (("entry", "left"), ("numerical", "right"), ("analytical", "right"),
                          ("|difference|", "right"), ("", "left")):
            t.add_column(col, justify=just)
        a, n, bad = b.analytical, b.numerical, b.bad
        entries = list(np.ndindex(*a.shape))
        shown = entries if len(entries) <= 60 else [e for e in entries if bad[e]][:60] or entries[:20]
        for e in shown:
            t.add_row(str(list(e)) if e else "()", cell(n[e], digits), cell(a[e], digits), f"{abs(a[e] - n[e]):.1e}",
                      f"[bold red]{CROSS}[/]" if bad[e] else f"[green]{TICK}[/]")
        if len(shown) < len(entries):
            t.add_row("…", f"({len(entries) - len(shown)} more entries)", "", "", "")
        console.print(t)
    for b in res.blocks:  # which input, and its worst entry
        if not b.ok:
            d = np.where(b.bad, np.abs(b.analytical - b.numerical), -1.0)
            e = np.unravel_index(int(np.argmax(np.nan_to_num(d, nan=np.inf))), d.shape)
            console.print(f"[bold red]{CROSS} d({literal(b.of)})/d{literal(b.wrt)}: {int(b.bad.sum())} of {b.bad.size} "
                          f"entries differ; worst {list(map(int, e))}: analytical {cell(b.analytical[e], digits)}, "
                          f"numerical {cell(b.numerical[e], digits)}[/]", highlight=False)
    if res.random_seed is not None:
        console.print(f"random values drawn with --seed {res.random_seed}", highlight=False)
    verdict = (f"[green]{TICK} {title} passed[/]" if res.ok else
               f"[bold red]{CROSS} {title} failed: {len(res.failures)} entries differ[/]")
    console.print(verdict, highlight=False)


def save_npz(r, path, *, force: bool = False):
    """Every array in full: value, gradients (grad/x), derivatives (derivative/x,y), and each
    node's value and gradient (node/3/value, node/3/grad)."""
    arrays = {"value": np.asarray(r.value)}
    arrays.update({f"grad/{k}": np.asarray(v) for k, v in r.gradients.items()})
    arrays.update({f"derivative/{k}": np.asarray(v) for k, v in r.derivatives.items()})
    for n in r.nodes:
        arrays[f"node/{n.index}/value"] = np.asarray(n.value)
        if n.grad is not None:
            arrays[f"node/{n.index}/grad"] = np.asarray(n.grad)
    from agrad.cli.files import write_atomic
    from agrad.cli.npz import write_npz  # np.savez's archive, written without its chunk copies

    write_atomic(path, lambda fh: write_npz(fh, arrays), force=force)
