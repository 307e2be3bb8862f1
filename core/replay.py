"""A pass recorded once and replayed: the numpy calls one forward and backward pass made, run
again at new values of its variable leaves, without Tensors, rules or graph bookkeeping.

A descent evaluates one program thousands of times, each time at new parameters but with the
same shapes, the same data and the same leaves requiring a gradient. Every decision the engine
and the derivative rules take in such a pass follows from shapes, dtypes, which inputs require a
gradient and the values of constants (data, literals, the seed), except where a rule looks at a
changing value: a mask (relu, abs, max and their ties) or a branch (pow at 0). Rules read values
only through tensor.peek, which tells the recorder; a pass that looked at a changing value, or
called an op outside the op table (a user function, a fused op), is not replayable, and its
caller keeps running the engine: as correct, only slower.

The recorder knows which values change between passes: the variable leaves and everything
computed from them. What is computed from constants alone is computed once, while recording.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .ops import OPS
from .tensor import _state


def _add_into(a, b):
    np.add(a, b, out=a)  # the backward loop's in-place accumulation (autodiff._walk)
    return a


class Recorder:
    """Watches one pass (tensor.apply, tensor.peek, tensor.view_of and the backward loop's
    in-place sums call it) and keeps its numpy calls as steps over numbered slots."""

    def __init__(self, leaves):
        # Tensors are known by their creation number (unique, unlike an id once a Tensor is
        # freed): holding them would keep every gradient of the pass alive until its end
        self._slot: dict[int, int] = {}  # Tensor.seq -> slot
        self.variable: list[bool] = []  # slot -> does its value change between passes
        self.values: list = []  # slot -> the value of a constant slot
        self.steps: list = []  # (numpy function, input slots, params, output slot)
        self.why: str | None = None  # why the pass cannot be replayed
        self.inputs = [self._new(t, True) for t in leaves]

    def _new(self, t, variable: bool) -> int:
        s = len(self.variable)
        self._slot[t.seq] = s
        self.variable.append(variable)
        self.values.append(None if variable else t.value)
        return s

    def slot(self, t) -> int:
        """t's slot; a Tensor not made by a recorded op is a constant (a literal, data, a rule's number)."""
        s = self._slot.get(t.seq)
        return self._new(t, False) if s is None else s

    def apply(self, op, inputs, params, out) -> None:
        if self.why is not None:
            return
        ins = tuple([self.slot(t) for t in inputs])
        if not any(self.variable[s] for s in ins):
            self._new(out, False)  # computed from constants: its value is kept as it is
        elif OPS.get(op.name) is not op:
            self.why = f"it calls '{op.name}', which is not a row of the op table"
        else:
            self.steps.append((op.fwd, ins, params or None, self._new(out, True)))

    def peek(self, t) -> None:
        s = self._slot.get(t.seq)
        if s is not None and self.variable[s] and self.why is None:
            self.why = "a derivative rule looks at a value that changes between passes (a mask or a branch)"

    def same(self, new, src) -> None:
        """`new` holds src's value (a read-only view of it)."""
        self._slot[new.seq] = self.slot(src)

    def add_into(self, target, g) -> None:
        """The backward loop is about to add g into target's value in place."""
        s, gs = self.slot(target), self.slot(g)
        if self.variable[s]:
            self.steps.append((_add_into, (s, gs), None, s))
        elif self.variable[gs]:  # a constant takes a changing term: from here on target changes
            self.values[s] = np.array(self.values[s], copy=True)  # as it was before the sum
            self.steps.append((np.add, (s, gs), None, self._new(target, True)))
        # constant + constant: the sum is a constant too, and target's value will hold it

    def finish(self, outputs) -> Replay | None:
        """The replay giving the values of `outputs` (Tensors of the recorded pass), or None
        (self.why says why)."""
        if self.why is not None:
            return None
        return Replay(self, [self.slot(t) for t in outputs])


class Replay:
    """replay(values) -> the outputs' values, `values` given for the recorded leaves in order."""

    __slots__ = ("initial", "inputs", "steps", "outputs")

    def __init__(self, rec: Recorder, outputs: list):
        read = {s for _, ins, _, _ in rec.steps for s in ins} | set(outputs)  # constants nobody reads are not kept
        self.initial = [v if s in read and not rec.variable[s] else None for s, v in enumerate(rec.values)]
        self.inputs = rec.inputs
        self.outputs = outputs
        # each variable slot is dropped after its last reader (memory reused sooner is time)
        last = {}
        for k, (_, ins, _, _) in enumerate(rec.steps):
            for s in ins:
                if rec.variable[s]:
                    last[s] = k
        keep = set(outputs)
        drops = [[] for _ in rec.steps]
        for s, k in last.items():
            if s not in keep:
                drops[k].append(s)
        self.steps = [(fn, ins, params, out, tuple(d)) for (fn, ins, params, out), d in zip(rec.steps, drops)]

    def __call__(self, values) -> list:
        v = self.initial.copy()
        for s, x in zip(self.inputs, values):
            v[s] = x
        for fn, ins, params, out, drop in self.steps:
            if len(ins) == 2:
                a, b = v[ins[0]], v[ins[1]]
                v[out] = fn(a, b, **params) if params else fn(a, b)
            elif len(ins) == 1:
                v[out] = fn(v[ins[0]], **params) if params else fn(v[ins[0]])
            else:
                v[out] = fn(*[v[s] for s in ins], **(params or {}))
            for s in drop:
                v[s] = None
        return [v[s] for s in self.outputs]


@contextmanager
def recording(leaves):
    """Record the pass this thread runs inside the block; `leaves` are the Tensors whose values
    will change. Inside another recording nothing is recorded (the pass is not replayable)."""
    rec = Recorder(leaves)
    if _state.trace is not None:
        rec.why = "another pass is being recorded"
        yield rec
        return
    _state.trace = rec
    try:
        yield rec
    finally:
        _state.trace = None


def same_values(a: list, b: list) -> bool:
    """Every value identical: same shape, dtype and bits (NaN where NaN)."""
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
            return False
    return len(a) == len(b)
