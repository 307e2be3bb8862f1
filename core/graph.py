"""The flat program: a list of graph nodes (inputs before users), the constant builders, and
evaluating it on Tensors, releasing what no derivative rule reads.

The flat form is what every later stage walks in one loop: the AD engine (Tensors), the SymPy
cross-check (object arrays of symbols) and the table (one row per node). Nothing recurses over
the expression, so a 100,000-term sum or a 25,000-statement program costs only linear time.
program.py compiles text into this form; functions.py builds user functions on it.
"""
from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import AgradError
from .ops import Op
from .tensor import Tensor, _state, apply, gc_paused, grad_mode, quiet_numpy

CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_ELEMENTS = 10_000_000  # elements in one array value (80 MB in float64)
MAX_EXPONENT = 1_000  # |b| of a literal exponent a**b
MAX_AXIS = 64  # numpy's limit on dimensions


def _constructor_args(args, name, ints):
    if ints and not all(float(a).is_integer() and a >= 0 for a in args):
        raise ValueError(f"{name}() takes whole, non-negative sizes")
    return [int(a) for a in args] if ints else args


def _sized(shape):
    n = math.prod(shape)
    if n > MAX_ELEMENTS:
        count = f"{n:,}" if n < 10**15 else f"{float(n):.3g}"  # ones(1e300): not 300 digits
        raise ValueError(f"an array of {count} elements is over the limit of {MAX_ELEMENTS:,}")
    return shape


def _linspace(a, b, n=50):
    (n,) = _constructor_args([n], "linspace", True)
    return np.linspace(a, b, _sized((n,))[0])


# Functions that build constant arrays; their arguments are numbers.
CONSTRUCTORS = {
    "ones": lambda *s: np.ones(_sized(tuple(_constructor_args(s, "ones", True)))),
    "zeros": lambda *s: np.zeros(_sized(tuple(_constructor_args(s, "zeros", True)))),
    "eye": lambda n: np.eye(*_sized(tuple(_constructor_args([n, n], "eye", True)))),
    "linspace": _linspace,
    # random arrays: numpy's default_rng, drawn from the run's generator (rng.py), uniform on [0, 1)
    # and standard normal, as torch.rand and torch.randn
    "rand": lambda *s, rng: rng.generator().random(_sized(tuple(_constructor_args(s, "rand", True)))),
    "randn": lambda *s, rng: rng.generator().standard_normal(_sized(tuple(_constructor_args(s, "randn", True)))),
}
RANDOM = ("rand", "randn")


_NO_PARAMS: dict = {}


@dataclass(slots=True)
class Node:
    kind: str  # "var", "const" or "op"
    op: Op | None = None
    args: tuple = ()
    params: dict = field(default_factory=lambda: _NO_PARAMS)  # shared and never mutated: 100k nodes, one dict
    span: tuple = (0, 0)
    name: str | None = None  # a statement's target, or the variable's name
    value: object = None  # a constant's value
    exact: str | None = None  # a numeric literal's text, for an exact SymPy number
    no_grad: bool = False  # written inside no_grad(...): computed with grad mode off, never recorded


@dataclass(slots=True)
class Program:
    source: str
    nodes: list
    output: int
    variables: dict  # name -> index of its node (in order of first use)
    lib: object = None  # the user functions it was compiled with (functions.Library)
    random: object = None  # the generator rand()/randn() drew from (rng.Random)

    def __call__(self, at: dict | None = None, **bindings):
        """The output's value at a point (numbers, lists or arrays), with no graph recorded: a
        compiled program is evaluated again without parsing."""
        values = merge_bindings(at, bindings)
        for name, idx in self.variables.items():
            if name not in values:
                raise AgradError(f"no value for '{name}': bind it with {name}=VALUE", kind="name",
                                 span=self.nodes[idx].span, source=self.source)
        with grad_mode(False):
            leaves = {n: Tensor(float_array(v, n)) for n, v in values.items()}
            v = forward(self, leaves, np.float64).value
        return v.item() if np.ndim(v) == 0 else v

    def label(self, i: int, limit: int = 60) -> str:
        """The source text node i was written as, shortened to `limit` characters. Computed on
        demand: storing it per node would cost quadratic memory for a 100,000-term sum."""
        node = self.nodes[i]
        if node.kind == "var":
            return node.name
        a, b = node.span
        if b - a <= limit:
            return self.source[a:b]
        half = (limit - 1) // 2
        return self.source[a:a + half] + "…" + self.source[b - half:b]


def merge_bindings(at, bindings: dict) -> dict:
    """at= and the keyword bindings as one dict; a name in both is refused, as the command line
    refuses a variable bound twice (at= is for names that clash with a function's arguments)."""
    if not at:
        if at is not None and not isinstance(at, dict):
            raise AgradError(f"at= must be a dict of name: value, got {type(at).__name__}", kind="usage")
        return bindings
    if not isinstance(at, dict):
        raise AgradError(f"at= must be a dict of name: value, got {type(at).__name__}", kind="usage")
    for name in bindings:
        if name in at:
            raise AgradError(f"'{name}' is bound twice: in at= and as a keyword", kind="binding")
    return {**at, **bindings}


def float_array(v, name: str):
    not_number = f"the value of '{name}' is not a number, a rectangular list or an array"
    if v is None:  # np.asarray(None, float) is NaN: a value left out, not a number
        raise AgradError(f"{not_number} (it is None)", kind="binding")
    try:
        kind = v.dtype.kind if isinstance(v, (np.ndarray, np.generic)) else None
        if kind is not None and kind not in "biuf":  # datetimes as days, complex without its imaginary part
            raise AgradError(f"the value of '{name}' holds {v.dtype} values, not real numbers", kind="binding")
        a = np.asarray(v, dtype=np.float64)
    except OverflowError:  # a Python int past float64 (10**400)
        raise AgradError(f"the value of '{name}' is too large for float64 (at most about 1.8e308)",
                         kind="binding") from None
    except (ValueError, TypeError):
        raise AgradError(not_number, kind="binding") from None
    return a[()] if a.ndim == 0 else a


def evaluate(program: Program, leaves: dict, dtype, keep=None, release=None) -> list:
    """Run the program forward on Tensors. `leaves` maps variable names to Tensors.

    `keep` holds the nodes whose values the caller reads (default: all, as the table shows
    them). Any other array is released once its last user has run unless a derivative rule
    reads it (Op.saved), as PyTorch frees an intermediate nobody holds: on large arrays memory
    is time, since every array that cannot reuse freed memory faults in fresh pages."""
    if release is None and keep is not None:
        release = _known_plan(program, keep)
    if _state.quiet and not gc.isenabled():  # a caller's loop (a descent) holds both already
        return _run(program, leaves, dtype, release)
    with quiet_numpy(), gc_paused():  # nan/inf are reported per node afterwards, not as warnings
        return _run(program, leaves, dtype, release)


def _run(program: Program, leaves: dict, dtype, release) -> list:
    vals = [None] * len(program.nodes)
    ndarray, scalar = np.ndarray, np.dtype(dtype).type
    saved, plan, pattern = set(), release, None
    if type(release) is ReleasePlan:
        # Which nodes are recorded, and so what their rules save, follows from grad mode and from
        # which leaves require a gradient alone: learnt once per pattern, not per node per pass.
        pattern = (_state.grad, tuple([leaves[n].requires_grad for n in program.variables]))
        learnt = release.pruned.get(pattern)
        if learnt is not None:
            plan, saved = learnt, None
    for i, node in enumerate(program.nodes):
        kind = node.kind
        if kind == "op":
            args, op = node.args, node.op
            if len(args) == 2:
                inputs = (vals[args[0]], vals[args[1]])
                if op.elementwise:  # refuse a huge broadcast before numpy allocates it
                    a, b = inputs[0].value, inputs[1].value
                    if type(a) is ndarray and type(b) is ndarray and a.shape != b.shape:
                        _check_broadcast(program, i, a, b)
            else:
                inputs = tuple([vals[j] for j in args])
            try:
                if node.no_grad:
                    with grad_mode(False):
                        out = apply(op, inputs, node.params)
                else:
                    out = apply(op, inputs, node.params)
            except (ValueError, IndexError, TypeError) as exc:
                raise AgradError(f"cannot compute {program.label(i)}: {_numpy_message(exc)}", kind="shape",
                                 span=node.span, source=program.source) from None
            vals[i] = out
            v = out.value
            if type(v) is ndarray and v.size > MAX_ELEMENTS:
                raise AgradError(f"{program.label(i)} has {np.size(vals[i].value):,} elements, over the "
                                 f"limit of {MAX_ELEMENTS:,}", kind="limit", span=node.span,
                                 source=program.source)
            if plan is not None:
                if saved is None:  # a learnt plan: the saved nodes are already left out
                    for j in plan.get(i, ()):
                        _release(vals[j])
                    continue
                if out.op is not None:  # recorded: its rules will read what they save
                    saved.update(i if k is None else args[k] for k in out.op.saved(out.parents))
                for j in plan.get(i, ()):
                    if j not in saved:
                        _release(vals[j])
        elif kind == "var":
            vals[i] = leaves[node.name]
        elif type(node.value) is float:  # a literal: the quick way to a numpy scalar
            vals[i] = Tensor(scalar(node.value))
        else:
            v = np.asarray(node.value, dtype=dtype)
            vals[i] = Tensor(v[()] if v.ndim == 0 else v)
    if pattern is not None and saved is not None:
        # A node saved by a rule is saved by a user, and its last user is the one releasing it,
        # so the saved set at the end is what each release above had seen.
        pruned = {}
        for i, js in release.items():
            kept = [j for j in js if j not in saved]
            if kept:
                pruned[i] = kept
        release.pruned[pattern] = pruned
    return vals


class ReleasePlan(dict):
    """release_plan(): {user: the nodes released after it}, and `pruned`, the same without the
    nodes a derivative rule saves, per (grad mode, which leaves require a gradient)."""

    __slots__ = ("pruned",)

    def __init__(self, plan: dict):
        super().__init__(plan)
        self.pruned = {}


def program_order(vals: list, leaves) -> list | None:
    """The nodes of a graph evaluate() built that require a gradient, in program order: a node's
    inputs come before it, so this is a topological order for a backward pass from any of them
    (autodiff.run_backward's order=), found without walking the graph. None when a leaf has a
    history of its own (it is itself a computed node), which this order would not include."""
    for t in leaves:
        if t.op is not None:
            return None
    return [t for t in vals if t.requires_grad]


def _last_users(program: Program, keep) -> dict:
    """{user: the op nodes, outside `keep`, whose value is read last by that user}."""
    last = {}
    for i, node in enumerate(program.nodes):
        for j in node.args:
            last[j] = i
    keep = set(keep)
    out: dict[int, list] = {}
    for j, i in last.items():
        if j not in keep and program.nodes[j].kind == "op":
            out.setdefault(i, []).append(j)
    return out


_PLANS: dict = {}  # (id of the program, its length, keep) -> (program, plan): the programs evaluated lately


def _known_plan(program: Program, keep) -> ReleasePlan:
    """The release plan of a program evaluated again (a compiled program called many times, as
    agrad.pointwise or forward() are), with what it learnt; the program itself is held and
    compared, so a new program that reuses a freed one's id never gets its plan."""
    key = (id(program), len(program.nodes), tuple(keep))
    hit = _PLANS.get(key)
    if hit is not None and hit[0] is program:
        return hit[1]
    if len(_PLANS) >= 16:
        _PLANS.pop(next(iter(_PLANS)))
    plan = _PLANS[key] = (program, ReleasePlan(_last_users(program, keep)))
    return plan[1]


def release_plan(program: Program, keep) -> dict:
    """What evaluate(..., keep=keep) releases after each node: computed once by a caller that
    evaluates the same program many times (a descent) and passed as `release`."""
    return ReleasePlan(_last_users(program, keep))


_STAND_INS: dict = {}  # (shape, dtype) -> a read-only NaN view: np.broadcast_to costs ~10 us a call


def _release(t: Tensor) -> None:
    """Drop an array value, keeping its shape and dtype (rules read shapes of values they do not
    save). The stand-in is NaN, so a rule that read a value its `saves` did not list shows up."""
    v = t.value
    if type(v) is np.ndarray and v.size > 1:
        key = (v.shape, v.dtype)
        stand_in = _STAND_INS.get(key)
        if stand_in is None:
            if len(_STAND_INS) > 256:
                _STAND_INS.clear()
            stand_in = _STAND_INS[key] = np.broadcast_to(
                np.array(np.nan if v.dtype.kind in "fc" else 0, dtype=v.dtype), v.shape)
        t.value = stand_in


def forward(program: Program, leaves: dict, dtype) -> Tensor:
    """The output alone: every intermediate value nobody reads is released on the way."""
    return evaluate(program, leaves, dtype, keep=(program.output,))[program.output]


def _check_broadcast(program, i, a, b):
    try:
        size = math.prod(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        return  # the operation itself reports shapes that do not broadcast
    if size > MAX_ELEMENTS:
        raise AgradError(f"{program.label(i)} would have {size:,} elements, over the limit of {MAX_ELEMENTS:,}",
                         kind="limit", span=program.nodes[i].span, source=program.source)


def _numpy_message(exc) -> str:
    msg = str(exc)
    if "could not be broadcast" in msg:
        shapes = msg.split("shapes", 1)[-1].strip()
        return f"the shapes {shapes} do not broadcast together"
    if "out of bounds" in msg or "too many indices" in msg:
        return msg.replace("index", "the index", 1)
    return msg
