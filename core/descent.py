"""Gradient descent on a scalar expression: agrad.descend, and `agrad descend` over it.

The program is compiled once; each step builds the leaves, runs it forward, differentiates it with
the same reverse-mode engine as `agrad grad` (program.forward + autodiff.grad) and hands the
gradient to one of torch.optim's update rules (optim.py). Nothing else happens inside the loop:
no parsing, no SymPy, no rows of a table, no per-parameter Python work (the parameters share one
flat vector). The gradient at the starting point is checked against SymPy once, before the loop.

Steps count from 1 and step k is a training loop's iteration k: the loss and gradient at the
parameters before update k, then the update. The final loss is evaluated at the final parameters.
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from . import autodiff, replay
from .errors import AgradError, real, shape_text
from .gradient import _paths, grad, names
from .optim import OPTIMIZERS, make
from .problem import Options, as_array, bind, validate
from .graph import merge_bindings
from .program import Program, compile_source, evaluate, release_plan
from .results import Check
from .tensor import Tensor, gc_paused, quiet_numpy

MAX_STEPS = 1_000_000
MAX_RECORDED = 10_000_000  # parameter entries kept over the run: recorded rows (or the trajectory) x entries
MAX_CHECK_BOUND = 128  # bound entries (parameters and data) the SymPy check of the start is tried for
PROGRESS_TICKS = 200  # progress callbacks per run, at most


@dataclass(frozen=True)
class Step:
    """One recorded step: the loss and gradient norm at the parameters before update `step`."""

    step: int
    loss: float
    grad_norm: float
    params: dict  # name -> float (a scalar) or a numpy array (a copy)


@dataclass(frozen=True)
class DescendResult:
    expression: str
    optimizer: str  # "sgd", "adam", ...
    settings: dict  # lr and every option of the optimizer (torch's names), steps, tol, every
    wrt: tuple  # the parameters optimized
    data: tuple  # the other bound variables, held constant
    shapes: dict  # name -> shape of every bound variable
    rows: tuple  # Step: the first, every `every`-th, the last computed
    losses: np.ndarray  # every step's loss (step k at index k - 1)
    grad_norms: np.ndarray  # every step's gradient norm
    params: dict  # final parameters
    loss: float  # the loss at the final parameters
    grad_norm: float  # the gradient norm at the final parameters
    stop: str  # "steps" | "tol" | "diverged"
    reason: str  # why it stopped, as a sentence
    updates: int  # optimizer updates applied
    diverged_at: int | None = None  # the step whose loss was NaN or infinite
    last_finite: tuple | None = None  # (step, loss) of the last finite loss before divergence
    check: object = None  # results.Check of the gradient at the start, or None
    trajectory: dict | None = None  # name -> array (steps + 1, *shape): every step's parameters, and the final
    seconds: float = 0.0  # wall time of the whole call, the start-point check included
    warnings: tuple = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """No divergence and no failed check: exit code 0."""
        return self.stop != "diverged" and (self.check is None or self.check.status != "failed")


def _usage(msg):
    return AgradError(msg, kind="usage")


def descend(expr, *, wrt=None, optimizer: str = "sgd", lr: float | None = None, steps: int = 100,
            tol: float | None = None, every: int | None = None, options: dict | None = None, check: bool = True,
            check_timeout: float = 10.0, trajectory: bool = False, progress=None, lib=None, seed: int | None = None,
            at: dict | None = None, **bindings) -> DescendResult:
    """Minimize the scalar `expr` over the variables `wrt` (default: every bound variable),
    starting from their bound values; the other bound variables are data.

    Bind values by keyword (`w=0, X=xs`) or with `at={...}` for names that clash with these
    arguments: numbers, nested lists, numpy arrays or strings in the language ("ones(3)"), as for
    agrad.grad (`lib`, `seed` too).
    `optimizer` is one of sgd, adam, adamw, rmsprop, adagrad with torch.optim's defaults (lr too
    when None); `options` sets the others by torch's names (momentum, betas, weight_decay, ...,
    maximize). Stops after `steps` steps, or when the gradient's L2 norm is <= `tol`, or when the
    loss is NaN or infinite. `every` picks the recorded rows (default: about ten). `trajectory`
    keeps every step's parameters. `progress(done, total)` is called now and then. `check` checks
    the gradient at the start against SymPy (given up after `check_timeout` seconds).

    >>> import agrad
    >>> r = agrad.descend("(x - 3)**2", x=0.0, optimizer="sgd", lr=0.1, steps=200, check=False)
    >>> round(r.params["x"], 12), r.stop
    (3.0, 'steps')
    """
    t_start = time.perf_counter()
    settings = _settings(steps, tol, every, optimizer)
    steps, every = settings["steps"], settings["every"]
    options_ = Options(wrt=names(wrt), lib=_paths(lib), seed=seed, check=check, check_timeout=check_timeout)
    values, library, rnd = bind(merge_bindings(at, bindings), options_)
    # a compiled program (agrad.parse) as agrad.grad takes one; its own functions stand
    program = expr if isinstance(expr, Program) else compile_source(expr, lib=library, rng=rnd)
    wrt = validate(program, values, options_)
    if not wrt:
        raise _usage("wrt= is empty: name at least one parameter to optimize")
    opt, opt_settings = make(optimizer, sum(values[n].size for n in wrt), lr, options)
    entries = sum(values[n].size for n in wrt)
    rows_kept = (steps // every + 2) * entries
    if rows_kept > MAX_RECORDED:
        raise AgradError(f"every={every} over {steps:,} steps records {rows_kept:,} parameter entries; the "
                         f"limit is {MAX_RECORDED:,}: record fewer rows (a larger every=)", kind="limit")
    if trajectory and (steps + 1) * entries > MAX_RECORDED:
        raise AgradError(f"the trajectory of {steps:,} steps over {entries:,} parameter entries has "
                         f"{(steps + 1) * entries:,} values, over the limit of {MAX_RECORDED:,}", kind="limit")

    warnings = tuple(f"'{n}' is bound but the expression does not use it"
                     + ("; its gradient is 0 and it never moves" if n in wrt else "")
                     for n in values if n not in program.variables)
    loop = _Loop(program, values, wrt)
    first = loop.loss_only()
    if np.shape(first) != ():
        raise AgradError(f"the loss must be a scalar, but the expression has shape {shape_text(np.shape(first))}: "
                         f"reduce it with sum(...) or mean(...)", kind="nonscalar")
    start_check = start_point_check(program, values, wrt, check_timeout) if check else None

    run = loop.run(opt, steps=steps, tol=tol, every=every, trajectory=trajectory, progress=progress)
    all_settings = {"optimizer": optimizer, **opt_settings, "steps": steps, "tol": tol, "every": every}
    return DescendResult(
        expression=program.source, optimizer=optimizer, settings=all_settings, wrt=tuple(wrt),
        data=tuple(n for n in values if n not in wrt), shapes={n: v.shape for n, v in values.items()},
        check=start_check, warnings=warnings, seconds=time.perf_counter() - t_start, **run)


def _settings(steps, tol, every, optimizer):
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:  # ["sgd"] is unhashable: a TypeError
        raise _usage(f"optimizer= must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise _usage(f"steps= must be a whole number >= 1, got {steps!r}")
    steps = int(steps)
    if steps > MAX_STEPS:
        raise AgradError(f"steps= must be at most {MAX_STEPS:,}, got {steps:,}", kind="limit")
    if tol is not None and not (real(tol) and tol >= 0):
        raise _usage(f"tol= must be a number >= 0, got {tol!r}")
    if every is None:
        every = max(1, steps // 10)
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise _usage(f"every= must be a whole number >= 1, got {every!r}")
    every = int(every)
    return {"steps": steps, "tol": tol, "every": every}


def start_point_check(program, values: dict, wrt: list, timeout: float):
    """SymPy's verdict on the gradient at the starting point: agrad.grad's own check. SymPy
    rebuilds every bound entry, data included, as a symbol, so large data is skipped."""
    bound = sum(int(v.size) for v in values.values())
    if bound > MAX_CHECK_BOUND:
        return Check("skipped", f"the bindings hold {bound:,} entries; the start-point check rebuilds each in SymPy "
                                f"and is tried for at most {MAX_CHECK_BOUND:,}")
    return grad(program, at=values, wrt=wrt, check=True, check_timeout=timeout).check


class _Loop:
    """The compiled program bound to its data, with the parameters in one flat vector `theta`
    (array parameters are views into it, so the optimizer's in-place update moves them)."""

    def __init__(self, program, values, wrt):
        self.program = program
        self.release = release_plan(program, (program.output,))
        self.names = list(wrt)
        sizes = [values[n].size for n in wrt]
        self.offsets = np.cumsum([0] + sizes)
        self.shapes = [values[n].shape for n in wrt]
        self.theta = np.concatenate([values[n].ravel() for n in wrt]).astype(np.float64)
        self.grad = np.zeros_like(self.theta)
        used = program.variables
        self.data = {n: Tensor(v[()] if v.ndim == 0 else v, name=n) for n, v in values.items()
                     if n not in wrt and n in used}
        self.params = []  # (name, leaf, scalar index or None)
        for i, n in enumerate(wrt):
            leaf = Tensor(None, requires_grad=True, name=n)
            a, b = self.offsets[i], self.offsets[i + 1]
            if self.shapes[i] == ():
                self.params.append((n, leaf, int(a)))
            else:
                leaf.value = self.theta[a:b].reshape(self.shapes[i])  # a view: updates show through
                self.params.append((n, leaf, None))
        self.leaves = {**self.data, **{n: leaf for n, leaf, _ in self.params if n in used}}
        self.diff = [leaf for _, leaf, _ in self.params]
        self.replay = None  # the first pass, recorded (replay.py), once it has reproduced itself
        self.recorded = False

    def _bind(self):
        theta = self.theta
        for _, leaf, i in self.params:
            if i is not None:
                leaf.value = theta[i]  # a fresh numpy scalar: a scalar graph's fast path

    def loss_only(self):
        self._bind()
        return evaluate(self.program, self.leaves, np.float64, release=self.release)[self.program.output].value

    def loss_and_grad(self):
        """(loss, gradient); the gradient lands in self.grad (flat, in wrt order).
        The first pass is recorded; when it replays to the same bits, later passes replay it."""
        if self.replay is not None:
            theta = self.theta
            values = self.replay([theta[i] if i is not None else leaf.value for _, leaf, i in self.params])
        elif not self.recorded:
            self.recorded = True
            with replay.recording([leaf for _, leaf, _ in self.params]) as rec:
                tensors = self._pass()
            values = [t.value for t in tensors]
            again = rec.finish(tensors)
            if again is not None and replay.same_values(again([t.value for _, t, _ in self.params]), values):
                self.replay = again
        else:
            values = [t.value for t in self._pass()]
        g, off = self.grad, self.offsets
        for k, v in enumerate(values[1:]):
            if type(v) is np.ndarray:
                g[off[k]:off[k + 1]] = v.ravel()
            else:
                g[off[k]] = v
        return values[0], g

    def _pass(self) -> list:
        """The engine's pass: [the loss, the gradient of each parameter] as Tensors."""
        self._bind()
        # forward()'s way: unread arrays are released as soon as possible (memory reuse is time),
        # with the plan of what to release computed once, not per step
        vals = evaluate(self.program, self.leaves, np.float64, release=self.release)
        out = vals[self.program.output]
        # the leaves are this loop's own (no history): program order is a topological order
        return [out, *autodiff.grad(out, self.diff, order=[t for t in vals if t.requires_grad])]

    def snapshot(self) -> dict:
        out = {}
        for k, (n, _, i) in enumerate(self.params):
            if i is not None:
                out[n] = float(self.theta[i])
            else:
                out[n] = self.theta[self.offsets[k]:self.offsets[k + 1]].reshape(self.shapes[k]).copy()
        return out

    def run(self, opt, *, steps, tol, every, trajectory, progress) -> dict:
        losses = np.full(steps, np.nan)
        norms = np.full(steps, np.nan)
        traj = np.empty((steps + 1, self.theta.size)) if trajectory else None
        rows = []
        stop, diverged_at, last_finite, done = "steps", None, None, 0
        tick = max(1, steps // PROGRESS_TICKS)
        isfinite, sqrt, dot = math.isfinite, math.sqrt, np.dot
        t0 = time.perf_counter()
        with quiet_numpy(), gc_paused():
            for k in range(1, steps + 1):
                loss, g = self.loss_and_grad()
                loss = float(loss)
                norm = sqrt(dot(g, g))
                losses[k - 1], norms[k - 1] = loss, norm
                if traj is not None:
                    traj[k - 1] = self.theta
                stopping = not isfinite(loss) or (tol is not None and norm <= tol)
                if k == 1 or k % every == 0 or k == steps or stopping:
                    rows.append(Step(k, loss, norm, self.snapshot()))
                if stopping:
                    if isfinite(loss):
                        stop = "tol"
                    else:
                        stop, diverged_at = "diverged", k
                        if k > 1:
                            last_finite = (k - 1, float(losses[k - 2]))
                    break
                opt.step(self.theta, g)
                done = k
                if progress is not None and k % tick == 0:
                    progress(k, steps)
            seconds = time.perf_counter() - t0
            if stop == "steps":
                loss, g = self.loss_and_grad()
                loss, norm = float(loss), sqrt(dot(g, g))
                if traj is not None:
                    traj[steps] = self.theta
            n_steps = k
        if progress is not None:
            progress(steps if stop == "steps" else n_steps, steps)
        reason = _reason(stop, n_steps, norm=norm, tol=tol, loss=loss, last_finite=last_finite, opt=opt)
        trajectory_out = None
        if traj is not None:
            kept = traj[: n_steps + (1 if stop == "steps" else 0)]
            trajectory_out = {n: kept[:, self.offsets[k]:self.offsets[k + 1]].reshape((len(kept),) + self.shapes[k])
                              for k, n in enumerate(self.names)}
        return {"rows": tuple(rows), "losses": losses[:n_steps], "grad_norms": norms[:n_steps],
                "params": self.snapshot(), "loss": loss, "grad_norm": norm, "stop": stop, "reason": reason,
                "updates": done, "diverged_at": diverged_at, "last_finite": last_finite, "trajectory": trajectory_out}


def _reason(stop, n, *, norm, tol, loss, last_finite, opt) -> str:
    if stop == "tol":
        return f"converged: stopped early at step {n:,}, the gradient norm {norm:.3g} is <= tol={tol:g}"
    if stop == "diverged" and n == 1:  # no step was taken: the learning rate is not to blame
        return (f"diverged: the loss is {_nonfinite(loss)} at the starting point, before any step; start from "
                f"values where the loss is finite")
    if stop == "diverged":
        before = (f"the last finite loss was {last_finite[1]:.6g} at step {last_finite[0]:,}" if last_finite
                  else "the loss was not finite at the starting point")
        return (f"diverged: the loss is {_nonfinite(loss)} at step {n:,}; {before}. Try a smaller lr= "
                f"(now {opt.lr:g}; for example lr={opt.lr / 10:g})")
    return f"ran all {n:,} steps"


def _nonfinite(x) -> str:
    return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")


# ---- derivation files: a [[case]] with a `descend` table ------------------------------------------
CASE_KEYS = {"optimizer", "lr", "steps", "tol", "every", "rtol", "atol"}  # and the optimizer's options by name


def run_descend_case(fields: dict, points: list, *, sympy: bool = True, check_timeout: float = 10.0, lib=None):
    """Run a derivation-file case that descends: `descend = { optimizer = "adam", lr = 0.05,
    steps = 2000, betas = [0.9, 0.99], rtol = 1e-6 }` from each point (`at`/`points` are the
    starting values and data), judged by `expect_params` (numbers, lists or constant expressions,
    compared with rtol/atol, default 1e-6/1e-9), `expect_loss` and `expect_stop` ("steps", "tol",
    "diverged"). Returns (status, messages, per-point entries) for derivation.run_case."""

    spec = dict(fields["descend"])
    tols = {"rtol": spec.pop("rtol", 1e-6), "atol": spec.pop("atol", 1e-9)}
    for k, v in tols.items():  # TOML gives any type: a string is the case's error, not float()'s ValueError
        if not (real(v) and v >= 0):
            return "error", [f"descend.{k} must be a number >= 0, got {v!r}"], []
    run_args = {k: spec.pop(k) for k in ("optimizer", "lr", "steps", "tol", "every") if k in spec}
    if isinstance(spec.get("betas"), list):  # TOML's array; a string stays one, for make() to refuse
        spec["betas"] = tuple(spec["betas"])
    status, messages, entries = "pass", [], []
    for point in points:
        where = ", ".join(f"{k}={v}" for k, v in point.items())
        try:
            r = descend(fields["expr"], at=point, wrt=fields.get("wrt"), options=spec, check=sympy,
                        check_timeout=check_timeout, lib=lib, seed=fields.get("seed"), **run_args)
        except AgradError as exc:  # bad input in the case: an error (exit 2), not a failed claim
            status = "error"
            messages.append(f"from {where}: error ({exc.kind}): {exc.message}")
            continue
        entry = {"at": point, "params": r.params, "loss": r.loss, "stop": r.stop, "updates": r.updates,
                 "check": None if r.check is None else r.check.status}
        entries.append(entry)
        problems = _judge_descent(r, fields, tols)
        if r.check is not None and r.check.status == "failed":
            problems.append("the gradient at the start disagrees with SymPy")
        want_stop = fields.get("expect_stop")
        if r.stop == "diverged" and want_stop != "diverged":
            problems.append(r.reason)
        if problems:
            status = "FAIL"
            messages += [f"from {where}: {p}" for p in problems]
    return status, messages, entries


def _judge_descent(r: DescendResult, fields: dict, tols: dict) -> list:
    problems = []
    for name, want in fields.get("expect_params", {}).items():
        if name not in r.params:
            problems.append(f"expect_params names '{name}', which is not a parameter ({', '.join(r.wrt)})")
            continue
        want = as_array(want, name)
        got = np.asarray(r.params[name])
        if want.shape != got.shape or not np.allclose(got, want, **tols):
            problems.append(f"{name}: expected {want.tolist()}, got {got.tolist()} "
                            f"(rtol {tols['rtol']:g}, atol {tols['atol']:g})")
    if "expect_loss" in fields:
        want = float(as_array(fields["expect_loss"], "expect_loss"))
        if not np.isclose(r.loss, want, **tols):
            problems.append(f"final loss: expected {want!r}, got {r.loss!r}")
    if "expect_stop" in fields and r.stop != fields["expect_stop"]:
        problems.append(f"expected the run to stop by '{fields['expect_stop']}', but it stopped by '{r.stop}': "
                        f"{r.reason}")
    return problems
