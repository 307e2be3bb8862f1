"""`agrad descend`: minimize a scalar expression with torch.optim's update rules.

Binds options to agrad.descend(), maps its argument names to flags in errors, and renders
the result (cli/render_descend.py) and the loss curve (cli/plot.py). No differentiation here.
"""
from __future__ import annotations

import sys
import time

import click

from agrad.cli.files import OutputPath
from agrad.cli.main import (EXIT_FAILED, EXIT_OK, BindingCommand, _bindings, _console, _errors,
                            _force_option, _read_expr, emit_json)

DESCEND_HELP = """Minimize the scalar EXPR over the parameters --wrt, from their bound values.

\b
Bind variables as for `agrad grad` (--NAME VALUE, -v NAME=VALUE, VALUE a
number, list, constant expression or @file). The parameters (--wrt,
default: the variables given values on the command line, not data read
from @files) start at their values; the other variables are data. Each
step k evaluates the loss and gradient at the parameters before update k
(loss, backward, step, as a training loop does), with torch.optim's
update rules and defaults:
  sgd      --momentum --dampening --nesterov --weight-decay   (lr 1e-3)
  adam     --betas 0.9,0.999 --eps 1e-8 --weight-decay --amsgrad (lr 1e-3)
  adamw    as adam, --weight-decay 0.01 decoupled            (lr 1e-3)
  rmsprop  --alpha 0.99 --eps 1e-8 --momentum --centered --weight-decay (lr 1e-2)
  adagrad  --lr-decay --initial-accumulator --eps 1e-10 --weight-decay (lr 1e-2)
and --maximize for any of them. The gradient at the start is checked
against SymPy (skipped, with the reason, for large data).

\b
Examples:
  agrad descend "mean((w*X + b - Y)**2)" --w 0 --b 0 --X @x.csv --Y @y.csv \\
      --optimizer adam --lr 0.1 --steps 500
  agrad descend "(1-x)**2 + 100*(y-x**2)**2" --x -1.5 --y 2 --optimizer adam --lr 0.02 --steps 5000
  agrad descend "sum((A @ w - c)**2)" --w "zeros(3)" --A @A.npy --c @c.npy --wrt w --tol 1e-8 --steps 100000
  agrad descend "x**2" --x 3 --optimizer sgd --lr 0.1 --steps 50 --json

\b
Output: a table of steps (the first, every --every K-th, the last), the
final parameters in full precision and why the run stopped; the loss
curve in the terminal (--plot, on for a terminal); --plot-file loss.png
(needs pip install "agrad[plot]"); --json, --format csv (one row per
step); --save traj.npz (every step's parameters).

\b
Exit codes:
  0  the run finished (all steps, or --tol reached) and the start-point check passed
  1  the loss became NaN or infinite (the run stops there), or the check failed
  2  bad input or usage: a parse error, an unbound variable, a non-scalar
     loss, an option the optimizer does not have, --lr <= 0, --steps over the limit
"""

# option -> (its torch name, the optimizers that have it)
_OPTIONS = {
    "momentum": ("momentum", ("sgd", "rmsprop")),
    "dampening": ("dampening", ("sgd",)),
    "nesterov": ("nesterov", ("sgd",)),
    "weight_decay": ("weight_decay", ("sgd", "adam", "adamw", "rmsprop", "adagrad")),
    "betas": ("betas", ("adam", "adamw")),
    "eps": ("eps", ("adam", "adamw", "rmsprop", "adagrad")),
    "amsgrad": ("amsgrad", ("adam", "adamw")),
    "alpha": ("alpha", ("rmsprop",)),
    "centered": ("centered", ("rmsprop",)),
    "lr_decay": ("lr_decay", ("adagrad",)),
    "initial_accumulator": ("initial_accumulator_value", ("adagrad",)),
    "maximize": ("maximize", ("sgd", "adam", "adamw", "rmsprop", "adagrad")),
}


def _betas(text):
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 2:
        raise click.BadParameter(f"takes two numbers, as in 0.9,0.999; got {text!r}", param_hint="--betas")
    return values


@click.command("descend", cls=BindingCommand, help=DESCEND_HELP, no_args_is_help=True,
               short_help="Minimize a formula with torch.optim's optimizers (SGD, Adam, ...).")
@click.argument("expr")
@click.option("-v", "--var", "var", multiple=True, metavar="NAME=VALUE", help="Bind a variable (repeatable).")
@click.option("--wrt", metavar="W,B", help="The parameters to optimize (default: the variables given values on the "
                                           "command line; variables read from @files are data).")
@click.option("--optimizer", type=click.Choice(["sgd", "adam", "adamw", "rmsprop", "adagrad"]), default="sgd",
              show_default=True, help="torch.optim's algorithm.")
@click.option("--lr", type=float, help="Learning rate (default: the optimizer's, 1e-3 or 1e-2 as in torch).")
@click.option("--steps", type=int, default=100, show_default=True, help="Steps to run (at most 1,000,000).")
@click.option("--tol", type=float, help="Stop early once the L2 norm of the whole gradient is <= this.")
@click.option("--every", type=int, help="Show every K-th step in the table (default: about ten rows).")
@click.option("--momentum", type=float, help="sgd, rmsprop: momentum factor (0).")
@click.option("--dampening", type=float, help="sgd: dampening of momentum (0).")
@click.option("--nesterov", is_flag=True, default=None, help="sgd: Nesterov momentum (needs --momentum, dampening 0).")
@click.option("--weight-decay", type=float, help="L2 penalty (0; adamw: 0.01, decoupled).")
@click.option("--betas", metavar="B1,B2", help="adam, adamw: running-average coefficients (0.9,0.999).")
@click.option("--eps", type=float, help="Added to the denominator (1e-8; adagrad 1e-10).")
@click.option("--amsgrad", is_flag=True, default=None, help="adam, adamw: the AMSGrad variant.")
@click.option("--alpha", type=float, help="rmsprop: smoothing constant (0.99).")
@click.option("--centered", is_flag=True, default=None, help="rmsprop: normalize by the gradient's variance.")
@click.option("--lr-decay", type=float, help="adagrad: learning-rate decay (0).")
@click.option("--initial-accumulator", type=float, help="adagrad: initial value of the sum of squares (0).")
@click.option("--maximize", is_flag=True, default=None, help="Maximize instead of minimizing.")
@click.option("--plot/--no-plot", default=None, help="Draw the loss curve in the terminal (default: on for a "
                                                     "terminal, off when piped).")
@click.option("--plot-file", type=OutputPath(dir_okay=False), help="Write the loss curve to a .png or .svg file "
                                                                    "(needs pip install \"agrad[plot]\").")
@click.option("--save", "save_file", type=OutputPath(dir_okay=False),
              help="Write the whole trajectory (every step's loss, gradient norm and parameters) to this .npz file.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table, json (one object), or csv (one row per step).")
@click.option("--json", "as_json", is_flag=True, help="Shorthand for --format json.")
@click.option("--precision", type=click.IntRange(1, 17), default=8, show_default=True,
              help="Significant digits in the table (the final parameters always print in full).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Check the gradient at the starting point against SymPy.")
@click.option("--check-timeout", type=float, default=10.0, show_default=True,
              help="Seconds SymPy may take before the check is skipped.")
@_force_option
@click.pass_context
def descend_cmd(ctx, expr, var, wrt, optimizer, lr, steps, tol, every, plot, plot_file, save_file, fmt, as_json,
                precision, check, check_timeout, force, **opts):
    fmt = "json" if as_json else fmt
    with _errors(fmt):
        from agrad import descend

        source = _read_expr(expr)
        bindings = _bindings(ctx, var)
        options = _optimizer_options(optimizer, opts)
        wrt_list, wrt_default = _wrt(ctx, var, bindings, wrt)
        console = _console() if fmt == "table" else None
        progress = _Progress(console) if console is not None and console.is_terminal else None
        try:
            result = descend(source, at=bindings, wrt=wrt_list, optimizer=optimizer, lr=lr, steps=steps, tol=tol,
                             every=every, options=options, check=check, check_timeout=check_timeout,
                             trajectory=bool(save_file) or fmt == "csv", progress=progress)
        finally:
            if progress is not None:
                progress.close()
        if plot_file:
            _plot_file(result, plot_file, force=force)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    if save_file:
        from agrad.cli.render_descend import save_npz

        with _errors(fmt):
            save_npz(result, save_file, force=force)
    from agrad.cli import render_descend as R

    if fmt == "json":
        emit_json(R.result_dict(result, wrt_default=wrt_default))
    elif fmt == "csv":
        click.echo(R.to_csv(result), nl=False)
    else:
        note = f" (default: {wrt_default})" if wrt_default else ""
        R.render_table(result, console, digits=precision, wrt_note=note)
        if plot if plot is not None else sys.stdout.isatty():
            _plot_terminal(result, console)
    if result.stop == "diverged" and fmt != "table":
        click.echo(f"error: {R.stop_text(result)}", err=True)
    ctx.exit(EXIT_OK if result.ok else EXIT_FAILED)


def _optimizer_options(optimizer, opts) -> dict:
    """The options given on the command line, by torch's names; one the optimizer does not
    have is an error (torch would raise a TypeError for the keyword)."""
    from agrad import AgradError

    out = {}
    for key, value in opts.items():
        if value is None:
            continue
        name, owners = _OPTIONS[key]
        flag = "--" + key.replace("_", "-")
        if optimizer not in owners:
            have = [("--" + k.replace("_", "-")) for k, (_, o) in _OPTIONS.items() if optimizer in o]
            raise AgradError(f"{flag} is not an option of --optimizer {optimizer} (its options: {', '.join(have)})",
                             kind="usage")
        out[name] = _betas(value) if key == "betas" else value
    return out


def _wrt(ctx, var, bindings, wrt):
    """The parameters: --wrt, or every variable given a value on the command line (not @file)."""
    from agrad.cli.main import _wrt_list
    from agrad import AgradError

    if wrt is not None:
        return _wrt_list(wrt), None
    texts = dict(ctx.meta.get("agrad.bindings", []))
    for item in var:
        name, _, value = item.partition("=")
        texts[name.strip()] = value
    params = [n for n in bindings if not texts.get(n, "").strip().startswith("@")]
    files = [n for n in bindings if n not in params]
    if not params and files:
        raise AgradError("no parameters: every bound variable is data read from a file; name the parameters "
                         "with --wrt", kind="usage")
    return params, "the values given on the command line" + (", not @file data" if files else "")


def _plot_file(result, path, *, force: bool):
    from agrad.cli.plot import file_plot, spans_decades
    from agrad.cli.render_descend import loss_series

    series = loss_series(result)
    file_plot(path, series, title=f"loss: {result.expression}"[:80], xlabel="step", ylabel="loss",
              logy=spans_decades(series[0][2]), force=force)


def _plot_terminal(result, console):
    from agrad.cli.plot import spans_decades, terminal_plot
    from agrad.cli.render_descend import loss_series

    series = loss_series(result)
    logy = spans_decades(series[0][2])
    width = min(80, console.width)
    text = terminal_plot(series, title="loss" + (" (log scale)" if logy else ""), xlabel="step", logy=logy,
                         width=width, height=18, color=console.is_terminal and not console.no_color)
    console.print(text, markup=False, highlight=False, soft_wrap=True)


class _Progress:
    """A rich progress bar that appears only once a run has taken half a second."""

    def __init__(self, console):
        self.console, self.bar, self.task = console, None, None
        self.t0 = time.perf_counter()

    def __call__(self, done, total):
        if self.bar is None:
            if time.perf_counter() - self.t0 < 0.5:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress("descending", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("descend", total=total)
        self.bar.update(self.task, completed=done)

    def close(self):
        if self.bar is not None:
            self.bar.stop()
