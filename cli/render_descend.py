"""Renderers of a DescendResult: the table of steps (rich), JSON, CSV, the .npz trajectory, and the
loss curve (cli/plot.py). rich loads only for the table."""
from __future__ import annotations

import csv
import io

import numpy as np

from agrad.cli.render import CROSS, TICK, flag_words, fmt

FLAGS = {"lr": "--lr", "momentum": "--momentum", "dampening": "--dampening", "weight_decay": "--weight-decay",
         "nesterov": "--nesterov", "betas": "--betas", "eps": "--eps", "amsgrad": "--amsgrad", "alpha": "--alpha",
         "centered": "--centered", "lr_decay": "--lr-decay", "initial_accumulator_value": "--initial-accumulator",
         "maximize": "--maximize", "steps": "--steps", "every": "--every", "tol": "--tol", "wrt": "--wrt",
         "optimizer": "--optimizer"}


def settings_text(r) -> str:
    """`adam lr=0.1 betas=0.9,0.999 ...`: every setting in force, torch's defaults included."""
    s = r.settings
    parts = [r.optimizer]
    for k, v in s.items():
        if k in ("optimizer", "steps", "tol", "every"):
            continue
        if isinstance(v, tuple):
            v = ",".join(f"{x:g}" for x in v)
        elif isinstance(v, bool):
            v = str(v).lower()
        elif isinstance(v, float):
            v = f"{v:g}"
        parts.append(f"{FLAGS.get(k, k).lstrip('-')}={v}")
    return " ".join(parts)


def _cell(v, digits) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return fmt(v, digits)
    body = np.array2string(a.ravel(), separator=", ", threshold=4, edgeitems=2,
                           formatter={"float_kind": lambda x: f"{x:.{min(digits, 5)}g}"})
    return f"{body} {a.shape}" if a.ndim > 1 or a.size > 4 else body


def full(v) -> str:
    """A value in full float64 precision (shortest repr that reads back the same)."""
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return repr(float(a))
    return np.array2string(a, separator=", ", threshold=1000, max_line_width=100,
                           formatter={"float_kind": lambda x: repr(float(x))})


def render_table(r, console, *, digits: int = 8, wrt_note: str = "") -> None:
    from rich.table import Table

    console.print(f"descend {r.expression}", highlight=False, soft_wrap=True)
    console.print(f"  {settings_text(r)}", highlight=False)
    console.print(f"  parameters: {', '.join(r.wrt)}{wrt_note}"
                  + (f"; data: {', '.join(r.data)}" if r.data else ""), highlight=False)
    t = Table(header_style="bold")
    t.add_column("step", justify="right")
    t.add_column("loss", justify="right")
    t.add_column("‖grad‖", justify="right")
    for n in r.wrt:
        t.add_column(n, justify="right", overflow="fold")
    for row in r.rows:
        t.add_row(f"{row.step:,}", fmt(row.loss, digits), fmt(row.grad_norm, 3),
                  *(_cell(row.params[n], digits) for n in r.wrt))
    if r.stop == "steps":
        t.add_row("final", fmt(r.loss, digits), fmt(r.grad_norm, 3), *(_cell(r.params[n], digits) for n in r.wrt),
                  style="bold")
    console.print(t)
    label = "final parameters" if r.stop != "diverged" else f"parameters at step {r.diverged_at:,}"
    console.print(f"{label} (full precision):", highlight=False)
    for n in r.wrt:
        console.print(f"  {n} = {full(r.params[n])}", highlight=False, soft_wrap=True)
    console.print(f"loss {r.loss!r}, gradient norm {r.grad_norm:.3g}, after {r.updates:,} updates "
                  f"({r.seconds:.2f} s)", highlight=False)
    style = {"diverged": "bold red", "tol": "green"}.get(r.stop, "")
    console.print(f"[{style}]{stop_text(r)}[/]" if style else stop_text(r), highlight=False)
    render_check_line(r.check, console)


def stop_text(r) -> str:
    """Why the run stopped (the core's reason), in the CLI's words: flags, not argument names."""
    from agrad.cli.main import _flags

    if r.stop == "steps":
        return f"{r.reason} (--steps)"
    return f"{CROSS if r.stop == 'diverged' else TICK} {_flags(r.reason)}"


def render_check_line(check, console) -> None:
    if check is None:
        console.print("start-point check: off (--no-check)", highlight=False)
        return
    if check.status == "ok":
        console.print(f"[green]{TICK} the gradient at the start agrees with SymPy ({check.seconds:.2f} s)[/]",
                      highlight=False)
    elif check.status == "failed":
        bad = [i.key for i in check.items if i.verdict == "mismatch"]
        console.print(f"[bold red]{CROSS} the gradient at the start disagrees with SymPy: d/{', d/'.join(bad)}[/]",
                      highlight=False)
    else:
        console.print(f"[yellow]start-point check skipped: {flag_words(check.reason)}[/]", highlight=False)


def check_dict(check):
    if check is None:
        return {"status": "off", "ok": None}
    return {"status": check.status, "ok": check.ok, "reason": flag_words(check.reason),
            "derivatives": {i.key: {"ad": i.ad, "sympy": i.sympy, "formula": i.formula, "error": i.error,
                                    "verdict": i.verdict} for i in check.items}}


def result_dict(r, *, wrt_default: str | None = None) -> dict:
    """The run as JSON data; arrays stay numpy arrays (render_json writes them in C)."""
    return {
        "expression": r.expression,
        "settings": r.settings,
        "wrt": list(r.wrt),
        "wrt_default": wrt_default,
        "data": list(r.data),
        "steps": [{"step": s.step, "loss": s.loss, "grad_norm": s.grad_norm, "params": s.params} for s in r.rows],
        "final": {"params": r.params, "loss": r.loss, "grad_norm": r.grad_norm, "updates": r.updates},
        "stop": r.stop,
        "reason": stop_text(r),
        "diverged_at": r.diverged_at,
        "last_finite": None if r.last_finite is None else {"step": r.last_finite[0], "loss": r.last_finite[1]},
        "check": check_dict(r.check),
        "seconds": round(r.seconds, 6),
        "warnings": list(r.warnings),
        "ok": r.ok,
    }


def _columns(r):
    """CSV column names: one per parameter entry, W[0][1] for arrays (no commas to quote)."""
    cols = []
    for n in r.wrt:
        shape = r.shapes[n]
        cols += [n] if shape == () else [n + "".join(f"[{j}]" for j in i) for i in np.ndindex(*shape)]
    return cols


def to_csv(r) -> str:
    """One row per step (loss, gradient norm, the parameters before that step's update), and a
    last row `final` when all steps ran. Needs the result's trajectory."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "loss", "grad_norm", *_columns(r)])
    flat = np.concatenate([r.trajectory[n].reshape(len(r.trajectory[n]), -1) for n in r.wrt], axis=1)
    for k in range(len(r.losses)):
        w.writerow([k + 1, repr(float(r.losses[k])), repr(float(r.grad_norms[k])), *map(repr, flat[k].tolist())])
    if r.stop == "steps":
        w.writerow(["final", repr(float(r.loss)), repr(float(r.grad_norm)), *map(repr, flat[-1].tolist())])
    return buf.getvalue()


def save_npz(r, path, *, force: bool = False) -> None:
    """step, loss, grad_norm per step; each parameter as (rows, *shape): row k - 1 before step k's
    update, and the final parameters as the last row when all steps ran."""
    arrays = {"step": np.arange(1, len(r.losses) + 1), "loss": r.losses, "grad_norm": r.grad_norms,
              "final_loss": np.float64(r.loss)}
    for n in r.wrt:
        arrays[f"param_{n}"] = r.trajectory[n]
    from agrad.cli.files import write_atomic

    write_atomic(path, lambda fh: np.savez(fh, **arrays), force=force)


def loss_series(r):
    steps = np.arange(1, len(r.losses) + 1)
    if r.stop == "steps":
        return [("", np.append(steps, steps[-1] + 1), np.append(r.losses, r.loss))]
    return [("", steps, r.losses)]
