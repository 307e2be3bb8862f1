"""`agrad bench`: programs side by side, forward + backward timed (the tutorial's %timeit).
Registered by one line at the end of cli/main.py."""
from __future__ import annotations

import click

from agrad.cli.main import (EXIT_CODES, EXIT_FAILED, EXIT_OK, BindingCommand, _bindings, _console, _errors,
                            _function_options, _read_expr, _wrt_list, cli, emit_json)

BENCH_HELP = f"""Time forward + backward of several programs side by side, as %timeit.

\b
Each EXPR is compiled once; every loop builds its graph on fresh leaves
and runs backward (seeded with ones when the output is not a scalar).
The loop count grows as timeit's does (1, 2, 5, 10, ...) until one run
takes --min-time; then --runs runs are timed. Per program: the median time
per loop, its spread (standard deviation over the runs), the ratio to the
fastest, graph nodes, values saved for backward and their bytes, and
whether its gradients agree with the first program's (exit 1 if not).
At most 20 programs, --runs 100 and --min-time 10 s, and programs x runs x
min-time at most 600 s (refused before any timing).

\b
Examples:
  agrad bench "sig(x)" "1/(1 + exp(-x))" "sigmoid(x)" --lib samples/sigmoid.agrad --x "randn(100,100)"
  agrad bench "sum(x*x)" "sum(x**2)" "dot(x, x)" --x "randn(1000)" --json

{EXIT_CODES}
"""


def _time(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


@cli.command("bench", cls=BindingCommand, help=BENCH_HELP, no_args_is_help=True,
             short_help="Time forward + backward of programs side by side (%timeit).")
@click.argument("exprs", nargs=-1, required=True)
@click.option("-v", "--var", "var", multiple=True, metavar="NAME=VALUE", help="Bind a variable (repeatable).")
@click.option("--wrt", metavar="X,Y", help="Variables that require a gradient (default: every bound variable).")
@click.option("--runs", type=int, default=7, show_default=True, help="Timed runs (each of the chosen loop count; at most 100).")
@click.option("--min-time", type=float, default=0.2, show_default=True,
              help="Seconds one run must take when choosing the loop count (timeit's autorange; at most 10).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_function_options
@click.pass_context
def bench_cmd(ctx, exprs, var, wrt, runs, min_time, as_json, lib_files, seed):
    with _errors("json" if as_json else "table"):
        import agrad

        res = agrad.bench([_read_expr(e) for e in exprs], at=_bindings(ctx, var), wrt=_wrt_list(wrt), runs=runs,
                          min_time=min_time, lib=lib_files or None, seed=seed)
    if as_json:
        emit_json({"variants": res.rows, "wrt": res.wrt, "agree": res.ok, "disagreements": res.disagreements,
                   "rtol": res.rtol, "atol": res.atol, "random_seed": res.random_seed, "ok": res.ok})
    else:
        _render(res, _console())
    ctx.exit(EXIT_OK if res.ok else EXIT_FAILED)


def _render(res, console):
    from rich.table import Table

    t = Table(title="forward + backward per loop", title_justify="left", header_style="bold")
    for col, just in (("#", "right"), ("expression", "left"), ("median", "right"), ("spread", "right"),
                      ("vs fastest", "right"), ("loops × runs", "right"), ("nodes", "right"), ("saved", "right"),
                      ("saved bytes", "right"), ("grads", "left")):
        t.add_column(col, justify=just, overflow="fold")
    for k, r in enumerate(res.rows, 1):
        t.add_row(str(k), r.expression, _time(r.median), "± " + _time(r.spread), f"{r.ratio:.2f}×",
                  f"{r.loops:,} × {r.runs}", str(r.nodes), str(r.saved_values), f"{r.saved_bytes:,}",
                  "[green]✓[/]" if r.agrees else "[bold red]✗[/]")
    console.print(t)
    if res.random_seed is not None:
        console.print(f"random values drawn with --seed {res.random_seed}", highlight=False)
    for line in res.disagreements:
        console.print(f"[bold red]✗ {line}[/]", highlight=False)
    if res.ok:
        console.print(f"[green]✓ every variant's gradients agree (rtol {res.rtol:.2g}, atol {res.atol:.2g})[/]",
                      highlight=False)
