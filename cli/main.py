"""The agrad command line: binds options to a request, calls the core, renders the result.

The CLI never differentiates: it parses what the person typed, hands agrad a request and
renders the dataclass that comes back. Heavy modules (rich, SymPy) load only when needed.
"""
from __future__ import annotations

import json
import sys

import click

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

EXIT_CODES = """\b
Exit codes:
  0  every derivative computed and every check passed
  1  a check or an expectation failed (AD, SymPy and the claim disagree)
  2  bad input or usage: a parse error, an unknown name, a bad value,
     backward twice without --retain-graph, a non-scalar output without a seed"""


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    f = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "plain"]), default="table",
                     show_default=True, help="How to print the result.")(f)
    return f


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
  sin cos tan asin acos atan sinh cosh tanh exp log log2 log10 sqrt abs
  sigmoid relu softplus pow(a,b) maximum(a,b) minimum(a,b) dot(a,b)
  sum(a) mean(a) max(a) min(a) (each also with an axis: sum(A, 0))
  detach(a) no_grad(a)   ones(..) zeros(..) eye(n) linspace(a,b,n)
At kinks agrad follows PyTorch: abs'(0) = 0, relu'(0) = 0, a tie in
maximum/minimum splits 0.5/0.5, tied max/min entries share evenly.

\b
Examples:
  agrad grad "(x1**2 + 2*x2)**2" --x1 2 --x2 3
  agrad grad "sum(w*w + 2*w + 1)" --w "[1,2,3]" --json
  agrad grad "A @ (x*x)" --x "[1,2]" --A "[2,3]" --wrt x --backward 3 --retain-graph
  agrad grad "x**2" --x 5 --order 2
  agrad grad "(x1**2+2*x2)**2" --x1 2 --x2 3 --hessian

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
@click.option("--order", type=int, default=1, show_default=True, help="All partial derivatives up to this order.")
@click.option("--hessian", is_flag=True, help="Second-order partials as a matrix, its symmetry and eigenvalues.")
@click.option("--repeat", type=int, default=1, show_default=True,
              help="Forward and backward N times on fresh graphs; leaf gradients accumulate as .grad does.")
@click.option("--backward", "backward_n", type=int, default=1, show_default=True,
              help="Backward N times on the one graph (needs --retain-graph for N > 1).")
@click.option("--retain-graph", is_flag=True, help="Keep the graph's saved values for further backward passes.")
@click.option("--zero-grad", is_flag=True, help="Clear leaf gradients before each backward pass.")
@click.option("--graph", "show_graph", is_flag=True, help="Print the graph as a tree, output at the root.")
@click.option("--dot", "dot_file", type=click.Path(dir_okay=False, writable=True),
              help="Write the graph as Graphviz DOT (each node's value and gradient) to this file.")
@click.option("--save", "save_file", type=click.Path(dir_okay=False, writable=True),
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
              help="Seconds SymPy may take before the check is skipped.")
@_output_options
@click.pass_context
def grad_cmd(ctx, expr, var, wrt, grad_output, jacobian, order, hessian, repeat, backward_n, retain_graph,
             zero_grad, show_graph, dot_file, save_file, fuse, dtype, expect, check, rtol, atol, check_timeout, fmt, as_json,
             precision):
    fmt = "json" if as_json else fmt
    with _errors(fmt):
        from agrad.api import GradRequest, grad_job
        from agrad.claims import parse_claims

        source = _read_expr(expr)
        claims = {}
        for text in expect:
            claims.update(parse_claims(text))
        bindings = _bindings(ctx, var)
        req = GradRequest(
            source=source, bindings=bindings, wrt=_wrt_list(wrt), dtype=dtype,
            grad_output=_seed_value(grad_output), repeat=repeat, backward=backward_n,
            retain_graph=retain_graph, zero_grad=zero_grad, order=order, hessian=hessian, jacobian=jacobian,
            check=check, rtol=rtol, atol=atol, check_timeout=check_timeout, fuse=fuse, expect=claims or None)
        result = grad_job(req)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    if save_file:
        from agrad.cli import render

        render.save_npz(result, save_file)
    if dot_file:
        from agrad.cli import render

        with open(dot_file, "w", encoding="utf-8") as fh:
            fh.write(render.to_dot(result, precision))
    _emit(result, fmt, precision)
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
formula strings). agrad checks each derivative against SymPy and each
claim against AD, keeps going after a failure and reports them all.

\b
Examples:
  agrad check samples/
  agrad check derivations/ --junit report.xml
  agrad check calculus.toml --json

{EXIT_CODES}
  (for check: 1 if any case fails, 2 if a file is malformed)
"""


@cli.command("check", help=CHECK_HELP, no_args_is_help=True,
             short_help="Run derivation files (TOML) and report every case.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--junit", "junit", type=click.Path(dir_okay=False, writable=True),
              help="Also write a JUnit XML report to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every case.")
@click.option("--sympy/--no-sympy", "use_sympy", default=True, show_default=True,
              help="Check every derivative against SymPy (claims are checked either way).")
@click.option("--check-timeout", type=float, default=10.0, show_default=True,
              help="Seconds SymPy may take per point before its check is skipped.")
@click.pass_context
def check_cmd(ctx, paths, junit, as_json, use_sympy, check_timeout):
    from agrad.cli import render
    from agrad.derivation import collect, load, run_case
    from agrad.errors import AgradError

    with _errors("json" if as_json else "table"):
        files = collect(paths)
    cases, file_errors = [], []
    for f in files:
        try:
            cases += load(f)
        except AgradError as exc:
            file_errors.append(exc)
    console = None if as_json else _console()
    for e in file_errors:
        click.echo(f"error: {e.message}", err=True)
    results = []
    progress = console is not None and console.is_terminal and len(cases) >= 20
    if progress:
        from rich.progress import track

        iterator = track(cases, description="checking", console=console, transient=True)
    else:
        iterator = cases
    for case in iterator:
        res = run_case(case, check=use_sympy, check_timeout=check_timeout)
        results.append(res)
        if console is not None:
            console.print(render.case_line(res), highlight=False, soft_wrap=True)
    summary = render.check_summary(results, file_errors)
    if junit:
        with open(junit, "w", encoding="utf-8") as fh:
            fh.write(render.junit_xml(results, file_errors))
    if as_json:
        click.echo(render.to_json({"cases": [render.case_dict(r) for r in results], "summary": summary,
                                   "ok": not file_errors and summary["failed"] == 0}))
    else:
        render.render_check_summary(summary, console)
    ctx.exit(EXIT_INPUT if file_errors else EXIT_FAILED if summary["failed"] else EXIT_OK)


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
@click.pass_context
def gradcheck_cmd(ctx, expr, var, wrt, eps, atol, rtol, order, grad_output, as_json, precision):
    fmt = "json" if as_json else "table"
    with _errors(fmt):
        from agrad.api import GradcheckRequest, gradcheck_job

        res = gradcheck_job(GradcheckRequest(_read_expr(expr), _bindings(ctx, var), wrt=_wrt_list(wrt), eps=eps,
                                             atol=atol, rtol=rtol, order=order, grad_output=_seed_value(grad_output)))
    from agrad.cli import render

    if as_json:
        click.echo(render.to_json(res))
    else:
        render.render_gradcheck(res, _console(), precision)
    ctx.exit(EXIT_OK if res["ok"] else EXIT_FAILED)


# ---- helpers ------------------------------------------------------------------------------------
def _read_expr(expr: str) -> str:
    if expr == "-":
        from agrad.values import read_source

        return read_source(sys.stdin).strip()
    return expr


def _bindings(ctx, var) -> dict:
    from agrad.errors import AgradError
    from agrad.values import parse_value

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
        out[name] = parse_value(value, name)
    return out


def _wrt_list(wrt):
    if wrt is None:
        return None
    return [w.strip() for w in wrt.split(",") if w.strip()]


def _seed_value(text):
    if text is None or text.strip() == "ones":
        return None if text is None else "ones"
    from agrad.values import parse_value

    return parse_value(text, "--grad-output")


def _console():
    import os

    from rich.console import Console

    # Piped or captured output has no terminal width to follow; 80 columns would fold formulas.
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
    return Console(highlight=False, soft_wrap=False, width=width)


def _emit(result, fmt: str, precision: int):
    from agrad.cli import render

    if fmt == "json":
        click.echo(render.to_json(render.result_dict(result)))
    elif fmt == "plain":
        click.echo(render.to_plain(result), nl=False)
    elif fmt == "csv":
        click.echo(render.to_csv(result), nl=False)
    else:
        render.render_table(result, _console(), precision)


class _errors:
    """AgradError -> a clear message (a caret under the expression) and exit 2; JSON with --json."""

    def __init__(self, fmt: str):
        self.fmt = fmt

    def __enter__(self):
        return self

    def __exit__(self, et, exc, tb):
        from agrad.errors import AgradError

        if exc is None or not isinstance(exc, AgradError):
            return False
        report_error(exc, self.fmt == "json")
        sys.exit(EXIT_INPUT)


def report_error(exc, as_json: bool):
    where = exc.where()
    if as_json:
        err = {"type": exc.kind, "message": exc.message, "column": None, "line": None}
        if where:
            err["line"], err["column"] = where[0], where[1]
        click.echo(json.dumps({"error": err, "ok": False}, indent=2))
        return
    lines = [f"error: {exc.message}"]
    if where:
        lineno, col, text = where
        width = max(1, min(exc.span[1], exc.span[0] + len(text) - col) - exc.span[0])
        prefix = f"  line {lineno}: " if exc.source.count("\n") else "  "
        lines += [prefix + text, " " * (len(prefix) + col) + "^" * width]
    click.echo("\n".join(lines), err=True)


def main(argv=None):
    """Entry point: click's own usage errors keep exit 2; nothing escapes as a traceback."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = cli.main(args=args, prog_name="agrad", standalone_mode=False)
    except click.ClickException as e:
        if "--json" in args or "--format=json" in args:
            click.echo(json.dumps({"error": {"type": "usage", "message": e.format_message(), "column": None},
                                   "ok": False}, indent=2))
        else:
            e.show()
        sys.exit(EXIT_INPUT)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        sys.exit(130)
    except RecursionError:
        click.echo("error: the input is nested too deeply to process", err=True)
        sys.exit(EXIT_INPUT)
    except MemoryError:
        click.echo("error: out of memory; use smaller arrays", err=True)
        sys.exit(EXIT_INPUT)
    sys.exit(code if isinstance(code, int) else EXIT_OK)

