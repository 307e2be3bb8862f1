"""A program bound to a point: the variables' values, what is differentiated, the dtype and the
highest order asked for, each validated against agrad's bounds before any work starts."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import AgradError, real, shape_text, whole
from .parser import is_name
from .program import CONSTANTS, Program, compile_source, float_array, load_library
from .rng import Random
from .values import parse_value
from .tensor import Tensor

DTYPES = {name: np.dtype(name) for name in ("float64", "float32", "float16", "int64", "int32")}
MAX_ORDER = 30
MAX_PASSES = 1_000  # repeat, backward: each; their product is bounded by MAX_PASS_ENTRIES too
MAX_PASS_ENTRIES = 10_000_000  # passes x entries of the leaf gradients recorded per pass
MAX_PARTIALS = 10_000  # partial derivatives, or backward passes for them
MAX_ENTRIES = 1_000_000  # entries of the highest-order derivative
MAX_CHECK_TIMEOUT = 86_400.0  # a day: past it setitimer overflows on some platforms, and no check needs it


@dataclass(frozen=True)
class Options:
    """Every option of agrad.grad (and of `agrad grad`), with its default."""

    wrt: tuple | None = None  # None: every bound variable
    order: int = 1
    grad_output: object = None  # None, "ones", or an array broadcastable to the output
    check: bool = True
    dtype: str = "float64"
    repeat: int = 1  # forward+backward runs on fresh graphs; leaf gradients accumulate
    backward: int = 1  # backward passes on each graph
    retain_graph: bool = False
    zero_grad: bool = False
    jacobian: bool = False
    hessian: bool = False
    expect: dict | None = None  # claims: {"x": 80 or "formula", "x,y": ...}
    fuse: bool = False
    rtol: float | None = None
    atol: float | None = None
    check_timeout: float = 10.0
    lib: tuple | None = None  # def/backward files the program may call (functions.py)
    seed: int | None = None  # of rand()/randn(); None: one is picked and reported


@dataclass(frozen=True)
class Problem:
    program: Program  # as written: the check and the table read it
    run_program: Program  # what the passes run (fused with fuse=True)
    bindings: dict  # name -> float64 array (0-d for numbers)
    wrt: list
    dtype: np.dtype
    order: int  # the highest order computed: order, 2 for hessian, the highest claimed
    options: Options
    random: object = None  # the rng.Random the values and the program drew from

    @property
    def random_seed(self) -> int | None:
        """The seed rand()/randn() drew with, when anything was drawn (seed= replays the run)."""
        return self.random.seed if self.random is not None and self.random.draws else None

    def leaves(self) -> dict:
        """Fresh leaf Tensors in the problem's dtype; the differentiated ones require grad."""
        return {n: Tensor(cast(v, self.dtype), requires_grad=n in self.wrt, name=n) for n, v in self.bindings.items()}

    def point(self) -> dict:
        """The bound values in the problem's dtype, as arrays."""
        return {n: np.asarray(cast(v, self.dtype)) for n, v in self.bindings.items()}

    def shapes(self) -> dict:
        return {n: np.shape(v) for n, v in self.bindings.items()}


def cast(v, dtype):
    a = np.asarray(v).astype(dtype, copy=False)
    return a[()] if a.ndim == 0 else a


def as_array(value, name: str, rng=None) -> np.ndarray:
    """A binding as a float64 array: numbers, nested lists and numpy arrays directly; a string is
    a value in the language (a number, list, constant expression or @file), drawing from `rng`."""
    out = parse_value(value, name, rng) if isinstance(value, str) else np.asarray(float_array(value, name))
    if out.size == 0:  # as "[]" and an empty file are: ones(0), an empty array or TOML [] has nothing to differentiate
        raise AgradError(f"the value of '{name}' holds no numbers (shape {shape_text(out.shape)})", kind="binding")
    return out


def claimed_order(expect) -> int:
    return max((len(k.split(",")) for k in expect), default=1) if expect else 1


def make_problem(expr, bindings: dict, options: Options) -> Problem:
    """Compile (or take) the program, convert the bindings and validate every option. Random
    values are drawn in a documented order: lib files, then the bindings, then the expression."""
    if isinstance(expr, Program):
        program, rnd = expr, expr.random
        values = {n: as_array(v, n, rnd) for n, v in bindings.items()}
    else:
        values, library, rnd = bind(bindings, options)
        program = compile_source(expr, lib=library, rng=rnd)
    wrt = validate(program, values, options)
    order = max(options.order, 2 if options.hessian else 1, claimed_order(options.expect))
    _bound_work(values, wrt, order, options)
    run_program = program
    if options.fuse:  # only some calls need it: imported then (start-up time)
        from .fuse import fuse

        run_program = fuse(program)
    return Problem(program, run_program, values, wrt, DTYPES[options.dtype], order, options, rnd)


def bind(bindings: dict, options: Options):
    """(values, library, generator): the run's generator, the lib files (they draw first), then
    the bindings as float64 arrays (they draw next; the expression draws last)."""
    rnd = Random(options.seed)
    library = load_library(options.lib, rnd) if options.lib else None
    return {n: as_array(v, n, rnd) for n, v in bindings.items()}, library, rnd


def validate(program: Program, values: dict, o: Options) -> list:
    """Every name bound, every option in range; returns the variables differentiated."""
    for name in values:
        if not is_name(name):  # the tokenizer's rule: 'ℌ' passes str.isidentifier, but no expression can use it
            raise AgradError(f"{name!r} cannot be bound: a name is ASCII letters, digits and '_', and does not start "
                             f"with a digit", kind="binding")
        if name in CONSTANTS:
            raise AgradError(f"'{name}' is the constant {CONSTANTS[name]!r} and cannot be bound; "
                             f"rename the variable", kind="binding")
    for name, idx in program.variables.items():
        if name not in values:
            raise AgradError(f"no value for '{name}': bind it with {name}=VALUE", kind="name",
                             span=program.nodes[idx].span, source=program.source)
    wrt = list(values) if o.wrt is None else list(dict.fromkeys(o.wrt))
    for name in wrt:
        if name not in values:
            raise AgradError(f"wrt= names '{name}', which has no value; bound: {', '.join(values) or 'none'}",
                             kind="name")
    if o.dtype not in DTYPES:
        raise AgradError(f"unknown dtype '{o.dtype}'; choose one of {', '.join(DTYPES)}", kind="usage")
    if wrt and DTYPES[o.dtype].kind != "f":  # np.issubdtype(.., np.floating) for these dtypes, at 1/20 the cost
        raise AgradError(f"only floating point values can require gradients, and dtype={o.dtype} is an "
                         f"integer type: use float64, float32 or float16", kind="dtype")
    for n, label, limit in ((o.order, "order", MAX_ORDER), (o.repeat, "repeat", MAX_PASSES),
                            (o.backward, "backward", MAX_PASSES)):
        whole(n, label, 1, limit)
    validate_tolerances(o.rtol, o.atol)
    validate_timeout(o.check_timeout)
    if o.jacobian and (o.order > 1 or o.hessian):
        raise AgradError("jacobian=True gives first derivatives; use order= or hessian=True without it", kind="usage")
    if o.hessian and not wrt:
        raise AgradError("hessian=True needs a variable to differentiate by, and wrt= names none", kind="usage")
    return wrt


def validate_tolerances(rtol, atol):
    """rtol= and atol= are finite and >= 0 (None: the dtype's default): an infinite or NaN
    tolerance would accept any claim."""
    for label, x in (("rtol", rtol), ("atol", atol)):
        if x is not None and not (real(x) and x >= 0):
            raise AgradError(f"{label}= must be a finite number >= 0, got {x!r}", kind="usage")


def validate_timeout(seconds):
    """check_timeout= is a positive number of seconds: 0, a negative number or NaN would
    silently switch the budget off."""
    if not (real(seconds) and 0 < seconds <= MAX_CHECK_TIMEOUT):
        raise AgradError(f"check_timeout= must be a number of seconds above 0 and at most {MAX_CHECK_TIMEOUT:,.0f}, "
                         f"got {seconds!r}", kind="usage")


def _bound_work(values: dict, wrt: list, order: int, o: Options):
    """Refuse, before any work, what would take too many passes or too much memory."""
    if order > MAX_ORDER:
        raise AgradError(f"the claims ask for order {order}; the limit is {MAX_ORDER}", kind="limit")
    n = sum(int(np.size(values[v])) for v in wrt)  # scalar entries differentiated
    passes = o.repeat * o.backward
    if passes * max(n, 1) > MAX_PASS_ENTRIES:
        raise AgradError(f"repeat={o.repeat} x backward={o.backward} passes over {n:,} gradient entries records "
                         f"{passes * n:,} numbers; the limit is {MAX_PASS_ENTRIES:,}: fewer passes or smaller arrays",
                         kind="limit")
    if len(wrt) > 1 and sum(len(wrt) ** k for k in range(1, order + 1)) > MAX_PARTIALS:
        raise AgradError(f"order {order} over {len(wrt)} variables means more than {MAX_PARTIALS:,} partial "
                         f"derivatives; lower the order or differentiate fewer variables (wrt=)", kind="limit")
    if order > 1 and not (len(wrt) == 1 and n == 1) and (
            sum(n ** k for k in range(1, order)) > MAX_PARTIALS or n ** order > MAX_ENTRIES):
        # nested reverse mode runs one backward pass per entry of each order below the last
        raise AgradError(f"order {order} over {n:,} entries means {n ** order:,} derivative entries and "
                         f"{sum(n ** k for k in range(1, order)):,} backward passes; the limits are "
                         f"{MAX_ENTRIES:,} and {MAX_PARTIALS:,}", kind="limit")
