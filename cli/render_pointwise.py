"""agrad.pointwise's result: one row per point (table, CSV, JSON) and f with its derivatives
plotted over the one varying variable (cli/plot.py)."""
from __future__ import annotations

import csv
import io

import numpy as np

from agrad.cli.render import CROSS, TICK, flag_words, fmt, jsonable

ROWS_SHOWN = 20  # the table shows the first and last rows of a long run; CSV and JSON hold every one


def _label(key: str) -> str:
    parts = key.split(",")
    return f"∂f/∂{parts[0]}" if len(parts) == 1 else f"∂²f/∂{parts[0]}∂{parts[1]}"


def columns(r) -> list:
    """(header, values) in the order of a row: the variables, f, each derivative."""
    return ([(n, v) for n, v in r.variables.items()] + [("f", r.value)]
            + [(_label(k) if k else k, v) for k, v in r.derivatives.items()])


def to_csv(r) -> str:
    """One clean row per point: the variables, f, the derivatives (plain ASCII headers d/dx,
    d2/dxdy), then kink as 0/1; numbers in full float64 (repr)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = list(r.derivatives)
    w.writerow(list(r.variables) + ["f"] + [("d/d" if "," not in k else "d2/d") + k.replace(",", "d") for k in keys]
               + ["kink"])
    cols = [np.asarray(v, dtype=np.float64) for v in r.variables.values()] + [r.value] + \
           [r.derivatives[k] for k in keys]
    for i in range(r.points):
        w.writerow([repr(float(c[i])) for c in cols] + [int(r.kinks[i])])
    return buf.getvalue()


def pointwise_dict(r) -> dict:
    c = r.check
    return jsonable({
        "expression": r.expression, "points": r.points, "shape": list(r.shape), "wrt": r.wrt, "order": r.order,
        "variables": r.variables, "value": r.value, "derivatives": r.derivatives,
        "kinks": np.flatnonzero(r.kinks).tolist(), "varying": r.varying, "seconds": r.seconds,
        "check": {"status": c.status, "ok": c.ok, "reason": flag_words(c.reason), "rtol": c.rtol, "atol": c.atol,
                  "seconds": round(c.seconds, 6),
                  "derivatives": {i.key: {"formula": i.formula, "max_error": i.max_error, "worst_point": i.worst,
                                          "mismatches": i.mismatches, "kinks": i.kinks, "verdict": i.verdict}
                                  for i in c.items}},
        "random_seed": r.random_seed, "ok": r.ok,
    })


def render_table(r, console, digits: int = 8):
    from rich.table import Table

    t = Table(title=f"agrad pointwise: f = {r.expression if len(r.expression) < 60 else r.expression[:57] + '...'}"
                    f"  ({r.points:,} points in one vectorized graph)", title_justify="left", header_style="bold")
    t.add_column("#", justify="right")
    cols = columns(r)
    for head, _ in cols:
        t.add_column(head, justify="right")
    t.add_column("", justify="left")
    n = r.points
    rows = list(range(n)) if n <= ROWS_SHOWN else list(range(ROWS_SHOWN - 5)) + [None] + list(range(n - 5, n))
    for i in rows:
        if i is None:
            t.add_row("…", *[""] * len(cols), f"({n - ROWS_SHOWN + 1:,} more points)")
            continue
        t.add_row(str(i), *[fmt(v[i], digits) for _, v in cols], "kink" if r.kinks[i] else "")
    console.print(t)
    for line in check_lines(r, digits):
        console.print(line, markup=False, highlight=False)
    if r.random_seed is not None:
        console.print(f"random values drawn with --seed {r.random_seed}", highlight=False)


def check_lines(r, digits: int = 8) -> list:
    c = r.check
    if c.status in ("off", "skipped"):
        return [f"SymPy check {c.status}" + (f": {flag_words(c.reason)}" if c.reason else "")]
    out = []
    for item in c.items:
        mark = TICK if item.verdict == "ok" else CROSS
        judged = r.points - item.kinks
        text = (f"{_label(item.key)} = {item.formula}  {mark} SymPy on {judged:,} point{'s' * (judged != 1)}, "
                f"max |AD - SymPy| {item.max_error:.3g}")
        if item.worst is not None and r.points:
            text += f", worst at point #{item.worst}"
        if item.mismatches:
            text += f"; {item.mismatches:,} points differ"
        if item.kinks:
            text += f"; {item.kinks:,} kink or undefined point{'s' * (item.kinks != 1)} not judged"
        out.append(text)
    return out


def plot_series(r):
    """(series, marks, x name): f and each derivative along the one varying variable, sorted by
    it, and the kink points of each curve."""
    from agrad import AgradError

    if len(r.varying) != 1:
        vary = ", ".join(r.varying) or "none"
        raise AgradError(f"a plot draws f over one varying variable; varying: {vary}", kind="usage")
    name = r.varying[0]
    x = np.asarray(r.variables[name], dtype=np.float64)
    order = np.argsort(x, kind="stable")
    keys = [k for k in r.derivatives if set(k.split(",")) == {name}]
    series = [("f", x[order], r.value[order])] + [(_label(k), x[order], r.derivatives[k][order]) for k in keys]
    k = r.kinks[order]
    marks = [("kink / undefined", x[order][k], r.value[order][k])] if k.any() else []
    return series, marks, name


def terminal(r, console):
    from agrad.cli.plot import terminal_plot

    series, marks, name = plot_series(r)
    width = min(80, console.width)
    text = terminal_plot(series, title=f"f = {r.expression}"[:width - 4], xlabel=name, width=width, height=20,
                         color=console.is_terminal and not console.no_color, marks=marks)
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def to_file(r, path, *, force: bool = False):
    from agrad.cli.plot import file_plot

    series, marks, name = plot_series(r)
    file_plot(path, series, title=f"f = {r.expression}"[:80], xlabel=name, marks=marks, force=force)
