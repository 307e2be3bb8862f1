"""The agrad command line: binds options to a request, calls the core, renders the result.

The CLI never differentiates: it parses what the person typed, hands agrad a request and
renders the dataclass that comes back. Heavy modules (rich, SymPy) load only when needed.
"""
from __future__ import annotations

import sys

import click

from agrad.cli.files import OutputPath

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

EXIT_CODES = """\b
Exit codes:
  0  every derivative computed and every check passed
  1  a check or an expectation failed (AD, SymPy and the claim disagree)
  2  bad input or usage: a parse error, an unknown name, a bad value,
     backward twice without --retain-graph, a non-scalar output without a seed,
     output that cannot be written
  130 Ctrl-C; 141 the output pipe was closed (| head): a quiet stop"""


class BindingCommand(click.Command):
    """A command that also takes `--NAME VALUE` for any variable name it does not know as an
    option. Values are taken verbatim, so `--x -1.5` binds -1.5, and an expression starting
    with '-' ("-x**2") stays an argument."""

    def parse_args(self, ctx, args):
        long_opts, short_opts, takes_value = set(), set(), set()
        for p in self.get_params(ctx):
            if isinstance(p, click.Option):
                for o in p.opts + p.secondary_opts:
                    (long_opts if o.startswith("--") else short_opts).add(o)
                    if not p.is_flag and not p.count:
                        takes_value.add(o)
        opts, positional, binds = [], [], []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--":
                positional.extend(args[i + 1:])
                break
            name, eq, val = a[2:].partition("=")
            if a.startswith("--") and "--" + name not in long_opts and name.isidentifier():
                if eq:
                    binds.append((name, val))
                    i += 1
                    continue
                if i + 1 >= len(args):
                    raise click.UsageError(f"--{name} needs a value (the value of the variable '{name}')", ctx)
                follows = args[i + 1].split("=", 1)[0]
                if follows in long_opts or follows[:2] in short_opts:  # `--jacobain --format plain`, `--y -v`:
                    # a mistyped flag, or a value left out
                    import difflib

                    close = difflib.get_close_matches("--" + name, sorted(long_opts), n=1, cutoff=0.75)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    raise click.UsageError(f"--{name} is not an option{hint}, and as a variable it needs a value, "
                                           f"not the option {follows if follows in long_opts else follows[:2]}", ctx)
                binds.append((name, args[i + 1]))
                i += 2
                continue
            head = a.split("=", 1)[0] if a.startswith("--") else a[:2]
            if a.startswith("-") and len(a) > 1 and (head in long_opts or head in short_opts):
                opts.append(a)
                if head in takes_value and "=" not in a and (a.startswith("--") or len(a) == 2):
                    if i + 1 < len(args):
                        opts.append(args[i + 1])
                        i += 1
                i += 1
                continue
            if a.startswith("--") and len(a) > 2:
                opts.append(a)  # an unknown option that is no name: let click say so
            else:
                positional.append(a)
            i += 1
        ctx.meta["agrad.bindings"] = binds
        return super().parse_args(ctx, opts + ["--"] + positional)


class _PipeClosed(Exception):
    """The reader closed stdout's pipe; not an OSError, so click's own EPIPE handler (exit 1, which
    here means "a check failed") never sees it and _main exits 141 for every output path."""


class _Group(click.Group):
    def invoke(self, ctx):
        import errno

        try:
            return super().invoke(ctx)
        except OSError as e:
            if e.errno == errno.EPIPE:
                raise _PipeClosed() from e
            raise


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
# package_name: click looks the version up only when --version is given (importlib.metadata
# costs 17 ms of start-up otherwise)
@click.version_option(None, "--version", package_name="agrad", prog_name="agrad", message="%(prog)s %(version)s")
def cli():
    """agrad: gradients of a formula, by reverse-mode autodiff, checked against SymPy.

    \b
    Examples:
      agrad grad "(x1**2 + 2*x2)**2" --x1 2 --x2 3
      agrad grad "x**2" --x 5 --order 2 --json
      agrad check samples/

    \b
    Exit codes: 0 all good, 1 a check or claim failed, 2 bad input or usage.
    Run `agrad COMMAND --help` for each command's options and examples.
    """


def _output_options(f):
    f = click.option("--precision", type=click.IntRange(1, 17), default=8, show_default=True,
                     help="Significant digits in the table (json and plain always print full float64).")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Shorthand for --format json.")(f)
    f = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "plain", "mermaid", "latex"]),
                     default="table", show_default=True,
                     help="How to print the result (mermaid: the graph as a flowchart; latex: the derivatives, "
                          "and with --explain the chain rule).")(f)
    return f


def _function_list(indent: str = "  ") -> str:
    """The language's functions, from the op table (never typed twice)."""
    import textwrap

    from agrad import function_signatures

    return textwrap.fill(" ".join(function_signatures()), 72, initial_indent=indent, subsequent_indent=indent)


_FUNCTIONS = _function_list()


def _force_option(f):
    return click.option("--force", is_flag=True,
                        help="Replace files that already exist (--save, --dot, --junit, plot and graph files). "
                             "Without it an existing file is left alone and the run stops with exit 2. Files "
                             "are written whole or not at all (a temporary file renamed into place).")(f)


# ---- your own functions (--lib) and random values (--seed): functions.py, rng.py -----------------
def _function_options(f):
    f = click.option("--seed", type=click.IntRange(0, 2**63 - 1), metavar="N",
                     help="Seed of rand(...)/randn(...) (numpy's default_rng); without it one is picked and "
                          "printed. Bind a variable named seed with -v seed=VALUE.")(f)
    f = click.option("--lib", "lib_files", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
                     help="Load def/backward statements from FILE (repeatable).")(f)
    return f



# ---- the chain rule, many points, pictures (core/explain.py, core/points.py) -------------------
def _picture_options(f):
    f = click.option("--graph-file", type=OutputPath(dir_okay=False),
                     help="Draw the graph to a .svg or .png file with Graphviz's dot (apt-get install graphviz, "
                          "brew install graphviz).")(f)
    f = click.option("--plot-file", type=OutputPath(dir_okay=False),
                     help='With --pointwise: write f and its derivatives to a .png or .svg file '
                          '(needs pip install "agrad[plot]").')(f)
    f = click.option("--plot/--no-plot", default=False, help="With --pointwise: draw f and its derivatives over "
                                                             "the one varying variable in the terminal.")(f)
    f = click.option("--points", "points_file", type=click.Path(dir_okay=False), metavar="FILE.csv",
                     help="With --pointwise: points from a CSV file (a header naming the variables).")(f)
    f = click.option("--pointwise", is_flag=True, help="Each element of the bound arrays (broadcast together) is "
                                                       "a separate point: one row per point.")(f)
    f = click.option("--paths", type=int, default=10, show_default=True, metavar="N",
                     help="With --explain: paths listed per variable (the count and sum cover all; at most 1,000).")(f)
    f = click.option("--explain", is_flag=True, help="Write the chain rule out: each edge's local derivative, "
                                                     "each path's factors, their sum.")(f)
    return f


# what agrad grad --pointwise passes on to agrad.pointwise; any other option given is refused
_POINTWISE_OPTIONS = {"expr", "var", "wrt", "order", "check", "check_timeout", "dtype", "lib_files", "seed", "fmt",
                      "as_json", "precision", "force", "pointwise", "points_file", "plot", "plot_file"}


def _pointwise(ctx, fmt, precision, options: dict):
    """agrad grad --pointwise / --points: agrad.pointwise, one row per point, plots."""
    import agrad
    from agrad.cli import render_pointwise as rp

    o = options
    with _errors(fmt):
        ignored = [p.opts[-1] for p in ctx.command.params if p.name not in _POINTWISE_OPTIONS and p.name in o
                   and ctx.get_parameter_source(p.name) is not click.core.ParameterSource.DEFAULT]
        if ignored:
            raise agrad.AgradError(f"--pointwise does not take {', '.join(ignored)}: it gives f and its first or "
                                   f"second derivatives at every point", kind="usage")
        if fmt in ("mermaid", "latex", "plain"):
            raise agrad.AgradError(f"--pointwise prints a table, csv or json, not --format {fmt}", kind="usage")
        result = agrad.pointwise(_read_expr(o["expr"]), at=_bindings(ctx, o["var"]), wrt=_wrt_list(o["wrt"]),
                                 order=o["order"], check=o["check"], points=o["points_file"], dtype=o["dtype"],
                                 check_timeout=o["check_timeout"], lib=o["lib_files"] or None, seed=o["seed"])
        if o["plot_file"]:
            rp.to_file(result, o["plot_file"], force=o["force"])
        if o["plot"]:
            rp.plot_series(result)  # refuses before anything is printed
    if fmt == "json":
        emit_json(rp.pointwise_dict(result))
    elif fmt == "csv":
        click.echo(rp.to_csv(result), nl=False)
    else:
        console = _console()
        rp.render_table(result, console, precision)
        if o["plot"]:
            rp.terminal(result, console)
    ctx.exit(EXIT_OK if result.ok else EXIT_FAILED)


def _pictures_after(result, fmt, precision, pictures):
    """--explain lines under the table, --format mermaid/latex."""
    if fmt == "mermaid":
        from agrad.cli.render_pictures import to_mermaid

        click.echo(to_mermaid(result, precision), nl=False)
    elif fmt == "latex":
        click.echo(result.latex, nl=False)
    elif fmt == "table" and result.explanation is not None:
        from agrad.cli.render_explain import explain_lines

        console = _console()
        for line in explain_lines(result, precision):
            console.print(line, markup=False, highlight=False)


GRAD_HELP = f"""Differentiate EXPR at a point and check every derivative against SymPy.

\b
Bind variables with --NAME VALUE (or -v NAME=VALUE for names that clash
with options). VALUE is a number (--x -1.5), a list ("[1, 2, 3]",
"[[1,2],[3,4]]"), a constant expression ("pi/4", "ones(2,2)", "zeros(3)",
"linspace(0,1,5)") or @file (.npy, .csv, .txt). EXPR "-" reads stdin.

\b
The language: numbers, names, + - * / ** (also ^) @, unary -, indexing
w[0] w[1:] A[0, 1], constants pi and e, statements separated by ';' or
new lines naming intermediates (z1 = x1**2; y = z1 + 2*x2), and
{_FUNCTIONS}
and the constant builders ones(..) zeros(..) eye(n) linspace(a,b,n).
  rand(..) randn(..) (numpy's default_rng; --seed N replays a run)
At kinks agrad follows PyTorch: abs'(0) = 0, relu'(0) = 0, a tie in
maximum/minimum splits 0.5/0.5, tied max/min entries share evenly.

\b
Examples:
  agrad grad "(x1**2 + 2*x2)**2" --x1 2 --x2 3
  agrad grad "sum(w*w + 2*w + 1)" --w "[1,2,3]" --json
  agrad grad "A @ (x*x)" --x "[1,2]" --A "[2,3]" --wrt x --backward 3 --retain-graph
  agrad grad "x**2" --x 5 --order 2
  agrad grad "(x1**2+2*x2)**2" --x1 2 --x2 3 --hessian
  agrad grad "(x1**2 + 2*x2)**2" --x1 2 --x2 3 --explain
  agrad grad "sin(x)*x" --x "linspace(0, 6.28, 200)" --pointwise --plot

\b
Your own functions (torch.autograd.Function), in EXPR or a --lib file:
  def NAME(P1, ..., Pn) = BODY      one expression over its parameters
                                    and earlier functions (no recursion)
  backward NAME = G1, ..., Gn       one rule per parameter; g is the
                                    incoming gradient, out the output
A call is one graph node. With a rule it saves what the rule reads and
the check compares each rule with SymPy's derivative of the body; without
one it is a coarse node that recomputes its body in backward.
  agrad grad "def muladd(w, x, b) = w*x + b; backward muladd = g*x, g*w, g;
    muladd(w, x, b)" --w 0.5 --x 1 --b 0.2 --wrt w,b

\b
--format plain: a first line `value F` (f's value), then `NAME V...` per
derivative (x, or x,y for a mixed partial), an array's entries
space-separated, row-major; nan, inf, -inf as awk reads them. At order 1
it is x.grad, accumulated over --repeat/--backward passes as in PyTorch.
--format csv: derivative,index,value rows, f's value first (named value),
index space-separated ("" for a scalar). With both, a failed --expect
claim or check is also named on stderr.

{EXIT_CODES}
"""


@cli.command("grad", cls=BindingCommand, help=GRAD_HELP, no_args_is_help=True,
             short_help="Differentiate a formula at a point, checked against SymPy.")
@click.argument("expr")
@click.option("-v", "--var", "var", multiple=True, metavar="NAME=VALUE", help="Bind a variable (repeatable).")
@click.option("--wrt", metavar="X,Y", help="Variables to differentiate (default: every bound variable); "
                                           "the others are constants.")
@click.option("--grad-output", metavar="VALUE", help="Seed for a non-scalar output (a vector-Jacobian product): "
                                                     "'ones', a number or a list, broadcastable to the output.")
@click.option("--jacobian", is_flag=True, help="Print the full Jacobian of a vector output.")
@click.option("--order", type=int, default=1, show_default=True, help="All partial derivatives up to this order (at most 30).")
@click.option("--hessian", is_flag=True, help="Second-order partials as a matrix, its symmetry and eigenvalues.")
@click.option("--repeat", type=int, default=1, show_default=True,
              help="Forward and backward N times on fresh graphs; leaf gradients accumulate as .grad does "
                   "(at most 1,000).")
@click.option("--backward", "backward_n", type=int, default=1, show_default=True,
              help="Backward N times on the one graph (needs --retain-graph for N > 1; at most 1,000).")
@click.option("--retain-graph", is_flag=True, help="Keep the graph's saved values for further backward passes.")
@click.option("--zero-grad", is_flag=True, help="Clear leaf gradients before each backward pass.")
@click.option("--graph", "show_graph", is_flag=True, help="Print the graph as a tree, output at the root.")
@click.option("--dot", "dot_file", type=OutputPath(dir_okay=False, writable=True),
              help="Write the graph as Graphviz DOT (each node's value and gradient) to this file.")
@click.option("--save", "save_file", type=OutputPath(dir_okay=False, writable=True),
              help="Write every value, gradient and derivative in full to this .npz file (numpy.load reads it).")
@click.option("--fuse", is_flag=True, help="Fuse chains of elementwise ops into nodes that save only their input "
                                          "and recompute the chain in backward (checkpointing).")
@click.option("--dtype", type=click.Choice(["float64", "float32", "float16", "int64", "int32"]), default="float64",
              show_default=True, help="dtype of every value.")
@click.option("--expect", "expect", multiple=True, metavar="CLAIMS",
              help='Your claim, checked against AD and SymPy: "x1=80,x2=40", "x1: 4*x1*(x1**2 + 2*x2)", '
                   '"x1,x2=16" (a mixed partial). A wrong claim exits 1.')
@click.option("--check/--no-check", default=True, show_default=True, help="Compare every derivative with SymPy.")
@click.option("--rtol", type=float, help="Relative tolerance of the check (default: from the dtype's epsilon).")
@click.option("--atol", type=float, help="Absolute tolerance of the check (default: from the dtype's epsilon).")
@click.option("--check-timeout", type=float, default=10.0, show_default=True,
              help="Seconds SymPy may take before the check is skipped (at most 86,400).")
@click.option("--full", is_flag=True, help="Everything in full: every derivative in the table (past 30 a summary) "
                                          "and every graph node in --json (past 1,000 the first and last 500), "
                                          "every element of its value and grad (past 10,000 a summary: shape, "
                                          "min, max, mean, norm). Gradients are always in full.")
@_output_options
@_function_options
@_picture_options
@_force_option
@click.pass_context
def grad_cmd(ctx, expr, var, wrt, grad_output, jacobian, order, hessian, repeat, backward_n, retain_graph,
             zero_grad, show_graph, dot_file, save_file, fuse, dtype, expect, check, rtol, atol, check_timeout, full,
             fmt, as_json, precision, lib_files, seed, **pictures):
    fmt = "json" if as_json else fmt
    if pictures["pointwise"] or pictures["points_file"]:
        return _pointwise(ctx, fmt, precision, {**locals(), **pictures})
    with _errors(fmt):
        for option, needs, flag in (("paths", "explain", "--explain"), ("plot", None, "--pointwise"),
                                    ("plot_file", None, "--pointwise")):
            given = ctx.get_parameter_source(option) is not click.core.ParameterSource.DEFAULT
            if given and not (needs and pictures[needs]):
                from agrad import AgradError

                raise AgradError(f"--{option.replace('_', '-')} goes with {flag}", kind="usage")
    with _errors(fmt):
        import agrad

        result = agrad.grad(
            _read_expr(expr), at=_bindings(ctx, var), wrt=_wrt_list(wrt), dtype=dtype, grad_output=grad_output,
            repeat=repeat, backward=backward_n, retain_graph=retain_graph, zero_grad=zero_grad, order=order,
            hessian=hessian, jacobian=jacobian, check=check, rtol=rtol, atol=atol, check_timeout=check_timeout,
            fuse=fuse, expect=list(expect) or None,
            lib=lib_files or None, seed=seed, explain=pictures["explain"], paths=pictures["paths"],
            latex=fmt == "latex",
            # plain and csv print values and derivatives only: no node rows, no non-leaf gradients
            intermediates=not (fmt in ("plain", "csv") and not (save_file or dot_file or show_graph
                                                               or pictures["graph_file"] or pictures["explain"])))
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    with _errors(fmt):  # files first: a refused --save stops the run before anything is printed
        from agrad.cli import render
        from agrad.cli.files import write_atomic

        if save_file:
            render.save_npz(result, save_file, force=pictures["force"])
        if dot_file:
            write_atomic(dot_file, render.to_dot(result, precision), force=pictures["force"])
        if pictures["graph_file"]:
            from agrad.cli.render_pictures import write_graph_file

            write_graph_file(result, pictures["graph_file"], precision, force=pictures["force"])
    if fmt not in ("mermaid", "latex"):
        _emit(result, fmt, precision, full=full)
    if fmt in ("plain", "csv"):  # a script sees the exit code; a person should see which claim failed
        _failures_to_stderr(result)
    _pictures_after(result, fmt, precision, pictures)
    if show_graph and fmt == "table":
        from agrad.cli import render

        console = _console()
        console.print(render.graph_tree(result, precision))
        if result.order > 1:
            console.print(f"derivative graph for --order {result.order}: {result.graph_nodes:,} nodes "
                          f"({'Taylor coefficients: forward nodes × (order + 1)' if result.method == 'taylor' else 'nested reverse mode'})")
    ctx.exit(EXIT_OK if result.ok else EXIT_FAILED)


CHECK_HELP = f"""Run derivation files: every case's expression, points and claims.

\b
PATHS are TOML files or directories (every *.toml below them). Each
[[case]] has a name, an expr, a point (at = {{ x1 = 2, x2 = 3 }}) or several
(points = [...]), and optionally wrt, order, and expect (numbers, lists or
formula strings); further keys (dtype, repeat, backward, lib, seed,
expect_passes, expect_error, expect_wrong_rules, descend, ...) are listed
in the README. agrad checks each derivative against SymPy and each claim
against AD, keeps going after a failure and reports them all. A file is at
most 10 MB.

\b
Examples:
  agrad check samples/
  agrad check samples/ --junit report.xml
  agrad check samples/calculus.toml --json

{EXIT_CODES}
  (for check: 1 if any case fails, 2 if a file is malformed)
"""


@cli.command("check", help=CHECK_HELP, no_args_is_help=True,
             short_help="Run derivation files (TOML) and report every case.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--junit", "junit", type=OutputPath(dir_okay=False, writable=True),
              help="Also write a JUnit XML report to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every case.")
@click.option("--sympy/--no-sympy", "use_sympy", default=True, show_default=True,
              help="Check every derivative against SymPy (claims are checked either way).")
@click.option("--check-timeout", type=float, default=10.0, show_default=True,
              help="Seconds SymPy may take per point before its check is skipped.")
@_force_option
@click.pass_context
def check_cmd(ctx, paths, junit, as_json, use_sympy, check_timeout, force):
    import dataclasses

    import agrad
    from agrad.cli import render

    with _errors("json" if as_json else "table"):
        files = agrad.derivation_files(paths)
        if junit:  # refuse a report file that cannot be written before the run, not after it
            import os

            from agrad.cli.files import target_of

            if os.path.realpath(junit) in {os.path.realpath(f) for f in files}:  # --force would replace it
                raise agrad.AgradError(f"--junit names the derivation file {junit!r} that is being checked; "
                                       f"give the report its own file", kind="usage")
            target_of(junit, force=force)
    console = None if as_json else _console()
    results, file_errors = [], []

    def show(res):
        # a case's messages may quote the core's budget argument; the command line has --check-timeout
        res = dataclasses.replace(res, messages=[_flags(m, only=("check_timeout",)) for m in res.messages])
        results.append(res)
        if console is not None:
            console.print(render.case_line(res), highlight=False, soft_wrap=True)

    for f in files:
        try:
            agrad.check_file(f, sympy=use_sympy, check_timeout=check_timeout, on_result=show)
        except agrad.AgradError as exc:  # this file cannot be read as derivations: say so, run the others
            if exc.kind == "usage":  # the command's own options are wrong (--check-timeout): once, and stop
                report_error(exc, as_json)
                ctx.exit(EXIT_INPUT)
            file_errors.append(exc)
            click.echo(f"error: {exc.message}", err=True)
    summary = render.check_summary(results, file_errors)
    if junit:
        from agrad.cli.files import write_atomic

        with _errors("json" if as_json else "table"):
            write_atomic(junit, render.junit_xml(results, file_errors), force=force)
    if as_json:
        emit_json({"cases": [render.case_dict(r) for r in results], "summary": summary, "ok": summary["ok"]})
    else:
        render.render_check_summary(summary, console)
    broken = file_errors or summary["errors"]
    ctx.exit(EXIT_INPUT if broken else EXIT_FAILED if summary["failed"] else EXIT_OK)


GRADCHECK_HELP = f"""Compare AD with finite differences, as torch.autograd.gradcheck does.

\b
Every entry of the analytical Jacobian (AD) must satisfy
|analytical - numerical| <= atol + rtol * |numerical|, where the numerical
one uses central differences with step --eps. The defaults are PyTorch's
(eps 1e-6, atol 1e-5, rtol 1e-3). --order 2 checks the second derivatives
against differences of the AD gradient (gradgradcheck). No SymPy is used.
On failure both Jacobians are printed side by side, differing entries marked.

\b
Examples:
  agrad gradcheck "sigmoid(x)" --x "[[0.1, -2], [3, 0.5]]"
  agrad gradcheck "sum(x**3 * y)" --x "[1, 2]" --y 0.5 --order 2

{EXIT_CODES}
"""


@cli.command("gradcheck", cls=BindingCommand, help=GRADCHECK_HELP, no_args_is_help=True,
             short_help="Finite differences against AD, as torch.autograd.gradcheck.")
@click.argument("expr")
@click.option("-v", "--var", "var", multiple=True, metavar="NAME=VALUE", help="Bind a variable (repeatable).")
@click.option("--wrt", metavar="X,Y", help="Variables to check (default: every bound variable).")
@click.option("--eps", type=float, default=1e-6, show_default=True, help="Finite-difference step.")
@click.option("--atol", type=float, default=1e-5, show_default=True, help="Absolute tolerance.")
@click.option("--rtol", type=float, default=1e-3, show_default=True, help="Relative tolerance.")
@click.option("--order", type=click.IntRange(1, 2), default=1, show_default=True,
              help="1: gradcheck; 2: also second derivatives (gradgradcheck).")
@click.option("--grad-output", metavar="VALUE", help="Seed that turns a vector output into a scalar for --order 2.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--precision", type=click.IntRange(1, 17), default=8, show_default=True,
              help="Significant digits in the table.")
@_function_options
@click.pass_context
def gradcheck_cmd(ctx, expr, var, wrt, eps, atol, rtol, order, grad_output, as_json, precision, lib_files, seed):
    fmt = "json" if as_json else "table"
    with _errors(fmt):
        import agrad

        res = agrad.gradcheck(_read_expr(expr), at=_bindings(ctx, var), wrt=_wrt_list(wrt), eps=eps, atol=atol,
                              rtol=rtol, order=order, grad_output=grad_output,
                              lib=lib_files or None, seed=seed)
    from agrad.cli import render

    if as_json:
        emit_json(render.gradcheck_dict(res))
    else:
        render.render_gradcheck(res, _console(), precision)
    ctx.exit(EXIT_OK if res.ok else EXIT_FAILED)


# ---- helpers ------------------------------------------------------------------------------------
def _read_expr(expr: str) -> str:
    if expr == "-":
        from agrad import read_source

        expr = read_source(sys.stdin).strip()
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # _bindings asks whether a --NAME that looks like a typo names a variable of it
        ctx.meta.setdefault("agrad.sources", []).append(expr)
    return expr


def _bindings(ctx, var) -> dict:
    """{name: VALUE text} from --NAME VALUE and -v NAME=VALUE; agrad reads the values."""
    from agrad import AgradError

    pairs = list(ctx.meta.get("agrad.bindings", []))
    for item in var:
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise AgradError(f"-v/--var takes NAME=VALUE, got {item!r}", kind="usage")
        pairs.append((name.strip(), value))
    out = {}
    for name, value in pairs:
        if name in out:
            raise AgradError(f"'{name}' is bound twice", kind="binding")
        out[name] = value
    _typos(ctx, [name for name, _ in ctx.meta.get("agrad.bindings", [])])
    return out


def _typos(ctx, names):
    """`--ordr 2` binds a variable 'ordr' only if the expression uses one; otherwise it is a
    mistyped option and says so (-v NAME=VALUE binds without this test)."""
    from collections import Counter

    from agrad import AgradError, parse

    options = {o[2:].replace("-", "_"): o for p in ctx.command.get_params(ctx) if isinstance(p, click.Option)
               for o in p.opts + p.secondary_opts if o.startswith("--")}
    elsewhere = {o[2:]: name for name, cmd in cli.commands.items() if name != ctx.command.name
                 for p in cmd.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")}
    suspects = {}
    for name in names:  # difflib over the few option names: microseconds; parsing only for a suspect
        key = name.replace("-", "_")
        close = None
        # difflib's quick_ratio (shared letters) bounds its ratio: no option near the cutoff means
        # no close match, and difflib (1-2 ms of start-up) is not imported for the usual x, x1, w
        if any(2 * sum((Counter(key) & Counter(o)).values()) >= 0.75 * (len(key) + len(o)) for o in options):
            import difflib

            close = difflib.get_close_matches(key, options, n=1, cutoff=0.75)
        if close:
            suspects[name] = f"did you mean {options[close[0]]}?"
        elif name in elsewhere:  # --dtype on gradcheck: an option of another command
            suspects[name] = f"it is an option of agrad {elsewhere[name]}, not of agrad {ctx.command.name}"
    if not suspects:
        return
    used = set()
    for source in ctx.meta.get("agrad.sources", []):
        try:
            used |= set(parse(source).variables)
        except AgradError:  # unparsable (or calls --lib functions): the run itself will say why
            return
    for name, hint in suspects.items():
        if name not in used:
            raise AgradError(f"no such option --{name} ({hint}); the expression has no variable "
                             f"'{name}' to bind (-v '{name}=VALUE' binds one anyway)", kind="usage")


def _wrt_list(wrt):
    if wrt is None:
        return None
    return [w.strip() for w in wrt.split(",") if w.strip()]


def _console():
    import os

    from rich.console import Console

    # Piped or captured output has no terminal width to follow; 80 columns would fold formulas.
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
    # emoji=False: ":smile:" in an expression or a case name is text, like every other user text
    return Console(highlight=False, soft_wrap=False, width=width, emoji=False)


def emit_json(data) -> None:
    """Every command's --json: orjson's bytes (render_json.py), indented at a terminal, compact
    and written an entry at a time when piped."""
    from agrad.cli import render_json

    indent = sys.stdout.isatty()
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream (an embedding program's): the whole document at once
        click.echo(render_json.dumps(data, indent=indent))
        return
    sys.stdout.flush()  # anything written as text before goes out first
    render_json.write(data, out, indent=indent)
    out.write(b"\n")
    out.flush()


def _emit(result, fmt: str, precision: int, full: bool = False):
    from agrad.cli import render

    if fmt == "json":
        emit_json(render.result_dict(result, full=full))
    elif fmt == "plain":  # piece by piece: the text of 1e7 numbers is never one string
        for piece in render.plain_chunks(result):
            click.echo(piece, nl=False)
    elif fmt == "csv":
        click.echo(render.to_csv(result), nl=False)
    else:
        render.render_table(result, _console(), precision, full=full)


def _failures_to_stderr(result):
    """One line per failed claim or disagreeing derivative (plain and csv print numbers only)."""
    from agrad.cli.safe import plain

    for key, claim in (result.expect or {}).items():
        if not claim.ok:
            click.echo(f"claim failed: d/{plain(key)}: {plain(claim.detail, newlines=False)}", err=True)
    for item in result.check.items:
        if item.verdict == "mismatch":
            click.echo(f"check failed: d/{plain(item.key)}: {plain(item.note, newlines=False)}", err=True)
    for rule in result.check.rules:
        if rule.verdict == "mismatch":
            click.echo(f"check failed: {plain(rule.text, newlines=False)}", err=True)


class _errors:
    """AgradError -> a clear message (a caret under the expression) and exit 2; JSON with --json."""

    def __init__(self, fmt: str):
        self.fmt = fmt

    def __enter__(self):
        return self

    def __exit__(self, et, exc, tb):
        from agrad import AgradError

        if exc is None or not isinstance(exc, AgradError):
            return False
        report_error(exc, self.fmt == "json")
        sys.exit(EXIT_INPUT)


# The core speaks of the Python API's arguments; the command line names its flags instead.
_FLAG_OF = {"retain_graph": "--retain-graph", "grad_output": "--grad-output", "zero_grad": "--zero-grad",
            "check_timeout": "--check-timeout", "wrt": "--wrt", "order": "--order", "repeat": "--repeat",
            "backward": "--backward", "jacobian": "--jacobian", "hessian": "--hessian", "dtype": "--dtype",
            "rtol": "--rtol", "atol": "--atol", "eps": "--eps", "expect": "--expect", "lib": "--lib",
            "seed": "--seed", "runs": "--runs", "min_time": "--min-time",
            "paths": "--paths", "points": "--points", "explain": "--explain",
            # agrad descend: torch.optim's argument names
            "optimizer": "--optimizer", "lr": "--lr", "steps": "--steps", "tol": "--tol", "every": "--every",
            "momentum": "--momentum", "dampening": "--dampening", "nesterov": "--nesterov",
            "weight_decay": "--weight-decay", "betas": "--betas", "amsgrad": "--amsgrad", "alpha": "--alpha",
            "centered": "--centered", "lr_decay": "--lr-decay", "initial_accumulator_value": "--initial-accumulator",
            "maximize": "--maximize"}


def _flags(message: str, only=None) -> str:
    """'pass retain_graph=True' -> 'pass --retain-graph'; 'order= must' -> '--order must';
    'bind it with y=VALUE' -> 'bind it with --y VALUE (or -v y=VALUE)'. `only`: map just these names
    (a derivation file's messages also name its TOML keys, which are no flags)."""
    import re

    if only is None:
        message = re.sub(r"bind it with ([A-Za-z_]\w*)=VALUE", r"bind it with --\1 VALUE (or -v \1=VALUE)", message)
        message = message.replace("the value of 'grad_output'", "the value of --grad-output")  # a seed, not a variable
    names = "|".join(only or _FLAG_OF)

    def flag(m):
        value = m.group(2)
        return _FLAG_OF[m.group(1)] + ("" if value in ("True", "") else f" {value}")

    return re.sub(rf"(?<![\w'-])({names})=(True\b|[^\s,;)]*)", flag, message)


def report_error(exc, as_json: bool):
    where = exc.where()
    message = _flags(exc.message)
    if as_json:
        err = {"type": exc.kind, "message": message, "column": None, "line": None}
        if where:
            err["line"], err["column"] = where[0], where[1]
        emit_json({"error": err, "ok": False})  # the results' writer: compact when piped, indented at a terminal
        return
    from agrad.cli.safe import plain

    lines = [f"error: {plain(message, newlines=False)}"]
    if where:
        lineno, col, text = where
        width = max(1, min(exc.span[1], exc.span[0] + len(text) - col) - exc.span[0])
        prefix = f"  line {lineno}: " if exc.source.count("\n") else "  "
        # the source line as visible escapes (an ESC typed into an expression must not drive the
        # terminal), the caret under the escaped text
        before, under = plain(text[:col], newlines=False), plain(text[col:col + width], newlines=False)
        lines += [prefix + plain(text, newlines=False), " " * (len(prefix) + len(before)) + "^" * max(1, len(under))]
    click.echo("\n".join(lines), err=True)


def main(argv=None):
    """Entry point: click's own usage errors keep exit 2; nothing escapes as a traceback."""
    import gc

    from agrad.cli.memory import keep_freed_memory

    args = sys.argv[1:] if argv is None else argv
    keep_freed_memory()  # backward passes reuse freed array memory instead of faulting pages in again
    # Python's cyclic collector paused for the run: graphs are acyclic, and with 100,000 nodes
    # alive each of its passes walks them all (0.08 s of a 100k-op --json run) for nothing
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _main(args)
    finally:
        if gc_was_on:
            gc.enable()


def _wants_json(args) -> bool:
    """--json, --format json or --format=json among the arguments, however the run failed."""
    pairs = zip(args, list(args[1:]) + [None])
    return any(a in ("--json", "--format=json") or (a == "--format" and b == "json") for a, b in pairs)


def _main(args):
    import errno

    from agrad.cli import safe

    safe.fit_streams()  # an ASCII terminal gets d and ok for ∂ and ✓, not a UnicodeEncodeError
    bad = safe.bad_argument(args)
    if bad:
        click.echo(f"error: {bad}", err=True)
        sys.exit(EXIT_INPUT)
    try:
        try:
            code = cli.main(args=args, prog_name="agrad", standalone_mode=False)
        except SystemExit as e:
            # click ends a run whose stdout pipe closed with exit 1, which here means "a check failed"
            if isinstance(e.__context__, OSError) and e.__context__.errno == errno.EPIPE:
                raise BrokenPipeError(errno.EPIPE, "broken pipe") from None
            raise
        sys.stdout.flush()  # a full disk shows here, inside the handlers, not at interpreter exit
    except click.ClickException as e:
        if _wants_json(args):
            emit_json({"error": {"type": "usage", "message": safe.plain(e.format_message()),
                                 "line": None, "column": None}, "ok": False})
        else:
            message = safe.plain(e.format_message())  # an option's value quoted back is text, not escapes
            e.format_message = lambda: message
            e.show()
        sys.exit(EXIT_INPUT)
    except click.Abort as e:
        if isinstance(e.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            _interrupted()
        click.echo("aborted", err=True)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        _interrupted()
    except (BrokenPipeError, _PipeClosed):
        _quiet_pipe()
    except RecursionError:
        click.echo("error: the input is nested too deeply to process", err=True)
        sys.exit(EXIT_INPUT)
    except MemoryError:
        click.echo("error: out of memory; use smaller arrays", err=True)
        sys.exit(EXIT_INPUT)
    except UnicodeDecodeError as e:
        click.echo(f"error: the input is not UTF-8 text (byte 0x{e.object[e.start]:02x} at position {e.start}); "
                   f"agrad reads expressions, values and files as UTF-8", err=True)
        sys.exit(EXIT_INPUT)
    except OSError as e:  # a write that failed: a full disk, a closed stream, a file that cannot be made
        if e.errno == errno.EPIPE:
            _quiet_pipe()
        what = f"cannot write {e.filename}" if e.filename else "cannot write the output"
        _stderr_line(f"error: {what}: {e.strerror or e}")
        _silence_stdout()
        sys.exit(EXIT_INPUT)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


EXIT_PIPE, EXIT_INTERRUPT = 141, 130  # as a shell reports a process ended by SIGPIPE / SIGINT


def _silence_stdout():
    """Point stdout at /dev/null so the interpreter's final flush of unwritten output cannot
    fail again (Python's documented recipe for a closed pipe)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test's capture)
        pass


def _quiet_pipe():
    """The reader closed the pipe (`agrad ... | head -1`): stop quietly, as `head` expects."""
    _silence_stdout()
    sys.exit(EXIT_PIPE)


def _interrupted():
    _stderr_line("interrupted (Ctrl-C)")
    sys.exit(EXIT_INTERRUPT)


def _stderr_line(text: str):
    try:
        click.echo(text, err=True)
    except OSError:  # stderr is gone too: the exit code still tells
        pass


from agrad.cli import bench as _bench  # noqa: E402,F401  agrad bench (cli/bench.py) registers itself
from agrad.cli.descend import descend_cmd  # noqa: E402  (registered last: it imports this module)
cli.add_command(descend_cmd)
