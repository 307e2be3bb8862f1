"""Graph nodes. A Tensor holds a numpy value and, when it requires a gradient, how it was made.

Arithmetic operators are attached by ops.py, where every primitive is defined, so this module
stays free of any knowledge of particular operations.
"""
from __future__ import annotations

import gc
import itertools
import threading
import warnings
from contextlib import contextmanager

import numpy as np


class _State(threading.local):
    """The engine's modes, per thread as PyTorch's grad mode is: one thread's backward pass
    (grad mode off) must not stop another thread's forward pass from recording its graph."""

    def __init__(self):
        self.grad = True  # record graphs (grad mode)
        self.unit = None  # the all-ones gradients of the running backward pass: its seed and a
        # full reduction's spread of it (autodiff, ops._unit_times), or None
        self.quiet = False  # inside quiet_numpy
        self.trace = None  # the replay.Recorder of a pass being recorded for replay, or None


_state = _State()
_seq = itertools.count()  # creation order: a node is always created after its inputs


class quiet_numpy:
    """NaN and inf are reported per node (api._problems), so numpy's warnings, both the
    floating-point ones and warnings.warn ones such as 'Mean of empty slice', stay quiet.
    Inside an outer quiet_numpy (a descent's loop runs thousands of passes) it costs nothing.
    A class, not a generator: entered once per pass, its own cost counts on small arrays."""

    __slots__ = ("_err", "_warn")

    def __enter__(self):
        if _state.quiet:
            self._err = None
            return None
        self._err = np.errstate(all="ignore")
        self._err.__enter__()
        self._warn = warnings.catch_warnings()
        self._warn.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        _state.quiet = True
        return None

    def __exit__(self, *exc):
        if self._err is not None:
            _state.quiet = False
            try:
                self._warn.__exit__(*exc)
            finally:
                self._err.__exit__(*exc)
        return False


class gc_paused:
    """Pause Python's cyclic garbage collector while building or walking a graph. Graphs are
    acyclic, so there is nothing for it to find, yet with 100,000 new nodes its repeated
    passes over every live object cost more than the arithmetic (3 us per op -> 0.8 us)."""

    __slots__ = ("_was",)

    def __enter__(self):
        self._was = gc.isenabled()
        gc.disable()
        return None

    def __exit__(self, *exc):
        if self._was:
            gc.enable()
        return False


@contextmanager
def grad_mode(enabled: bool):
    """Record graph (enabled) or compute plain values (disabled), like torch.set_grad_enabled."""
    before = _state.grad
    _state.grad = enabled
    try:
        yield
    finally:
        _state.grad = before


class Tensor:
    """A value in the graph.

    op/parents/params describe how it was computed; they are set only when it requires a
    gradient (PyTorch: grad_fn is None for leaves and for values that need no gradient).
    `freed` marks a node whose saved values a backward pass without retain_graph released.
    """

    __slots__ = ("value", "op", "parents", "params", "requires_grad", "grad", "name", "freed", "seq")

    def __init__(self, value, requires_grad: bool = False, name: str | None = None):
        self.value = value
        self.op = None
        self.parents = ()
        self.params = None
        self.requires_grad = requires_grad
        self.grad = None
        self.name = name
        self.freed = False
        self.seq = next(_seq)

    @property
    def shape(self):
        return self.value.shape  # values are numpy scalars or arrays: both have .shape

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def grad_fn(self) -> str | None:
        return None if self.op is None else self.op.torch_name(self.parents, self.params)

    def __repr__(self):
        extra = f", grad_fn=<{self.grad_fn}>" if self.op is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        return f"tensor({self.value!r}{extra})"


def apply(op, inputs: tuple, params: dict | None = None) -> Tensor:
    """Run one primitive forward; record it in the graph when grad mode is on and an input needs it.
    The inputs come as one tuple (it becomes the node's parents) and params as a dict or None:
    no packing of *args and **kwargs on the hottest call."""
    out = Tensor.__new__(Tensor)
    if len(inputs) == 2:  # the common cases unrolled
        a, b = inputs
        out.value = op.fwd(a.value, b.value, **params) if params else op.fwd(a.value, b.value)
        needs = a.requires_grad or b.requires_grad
    elif len(inputs) == 1:
        a = inputs[0]
        out.value = op.fwd(a.value, **params) if params else op.fwd(a.value)
        needs = a.requires_grad
    else:
        out.value = op.fwd(*[t.value for t in inputs], **params)
        needs = any(t.requires_grad for t in inputs)
    out.grad = out.name = None
    out.freed = False
    out.seq = next(_seq)
    if needs and _state.grad and op.vjp is not None:
        out.requires_grad = True
        out.op = op
        out.parents = inputs
        out.params = params or None  # most ops have none: no empty dict per node
    else:
        out.requires_grad = False
        out.op = None
        out.parents = ()
        out.params = None
    trace = _state.trace
    if trace is not None:
        trace.apply(op, inputs, params, out)
    return out


def peek(t: Tensor):
    """t's value, read by a derivative rule to decide something (a mask, a branch) rather than to
    compute with ops. A pass being recorded for replay cannot replay such a decision if t changes
    between passes (replay.py), so rules read values only through here."""
    if _state.trace is not None:
        _state.trace.peek(t)
    return t.value


def view_of(src: Tensor) -> Tensor:
    """A new Tensor holding a read-only view of src's value (a gradient that is a forward value:
    the backward loop may not add into it)."""
    v = src.value
    if type(v) is np.ndarray:
        v = v.view()
        v.flags.writeable = False
    out = Tensor(v)
    if _state.trace is not None:
        _state.trace.same(out, src)
    return out


def const(value, like: Tensor | None = None) -> Tensor:
    """A constant (requires no gradient), in the dtype of `like` when given."""
    if like is not None:
        dt = like.value.dtype
        if type(value) in (int, float) and dt.kind == "f":  # a rule's number (2, n, 1): no 0-d array on the way
            return Tensor(dt.type(value))
        value = np.asarray(value, dtype=dt)
    else:
        value = np.asarray(value)
    return Tensor(value[()] if value.ndim == 0 else value)
