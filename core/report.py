"""Facts about one forward graph for the table: a row per node, the values saved for backward,
and the first node to produce a NaN or an infinity."""
from __future__ import annotations

import math
from collections.abc import Sequence
from operator import attrgetter

import numpy as np

from .program import Program
from .results import NodeRow, NonFinite


def node_rows(program: Program, values: list, grads: dict) -> "NodeRows":
    """A row per node, each built when first read: the JSON shows 1,000 rows of a 100,000-node
    program and the plain format none, and building them all cost more than the backward pass."""
    return NodeRows(program, values, grads)


class NodeRows(Sequence):
    """A read-only list of NodeRow (indexing, slices as lists, len, iteration, == with a list)."""

    __slots__ = ("_program", "_values", "_grads", "_rows")

    def __init__(self, program: Program, values: list, grads: dict):
        self._program, self._values, self._grads = program, values, grads
        self._rows: dict = {}

    def __len__(self):
        return len(self._program.nodes)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._row(k) for k in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError("node index out of range")
        return self._row(i % n)

    def __iter__(self):
        return (self._row(k) for k in range(len(self)))

    def __eq__(self, other):
        return isinstance(other, (list, tuple, NodeRows)) and list(self) == list(other)

    __hash__ = None

    def __repr__(self):
        return f"NodeRows({len(self)} nodes)"

    def _row(self, i: int) -> NodeRow:
        row = self._rows.get(i)
        if row is None:
            row = self._rows[i] = _node_row(self._program, self._values, self._grads, i)
        return row


def _node_row(program: Program, values: list, grads: dict, i: int) -> NodeRow:
    node = program.nodes[i]
    t = values[i]
    g = grads.get(t)
    detached = node.kind == "op" and node.op.name == "detach"
    if node.kind == "var":
        op = "leaf"
    elif node.kind == "const":
        op = "const"
    elif detached:
        op = "detach"
    else:
        op = node.op.torch_name([values[j] for j in node.args], node.params)
    return NodeRow(i, node.name, program.label(i), op, t.value, None if g is None else g.value,
                   is_leaf=t.op is None, requires_grad=t.requires_grad, detached=detached,
                   parents=tuple(node.args))


def saved(program: Program, values: list) -> dict:
    """Values the graph keeps for backward (PyTorch's saved tensors), and their bytes."""
    count, seen = 0, {}
    # What op.saved answers depends only on the op and on which inputs require a gradient (ops.py,
    # functions.py): asked once per kind of node, not once per node. The ops outlive this loop,
    # so their ids stay theirs. A value's bytes are found once (by id), at the end.
    plans: dict = {}
    for node, t in zip(program.nodes, values):
        op = t.op
        if op is None or not t.requires_grad or node.kind != "op":  # constants, leaves, what records no graph
            continue
        parents = t.parents
        if len(parents) == 2:  # most nodes: the key without a generator
            key = (id(op), parents[0].requires_grad, parents[1].requires_grad)
        else:
            key = (id(op), *map(_requires_grad, parents))
        which = plans.get(key)
        if which is None:
            which = plans[key] = tuple(op.saved(parents))
        count += len(which)
        for k in which:
            src = t if k is None else parents[k]
            seen[id(src)] = src
    nbytes = 0
    for src in seen.values():
        value = src.value
        nbytes += value.nbytes if isinstance(value, (np.ndarray, np.generic)) else np.asarray(value).nbytes
    return {"values": count, "bytes": int(nbytes)}


_requires_grad = attrgetter("requires_grad")


def _finite(v) -> bool:
    if isinstance(v, np.floating):  # the scalar graph's case: math.isfinite is 50x quicker than numpy here
        return math.isfinite(v)
    v = np.asarray(v)
    if v.dtype.kind != "f":
        return True
    if v.size > 1 and not any(v.strides):  # a broadcast (all strides 0): one number in memory
        return math.isfinite(v.flat[0])
    if v.size > 4096:
        # A sum is finite only if every entry is (a nan or inf makes it nan or inf): one pass
        # that allocates nothing, instead of a boolean array as big as v, for every node value
        # and gradient of the table. Only an overflow needs the exact test below.
        with np.errstate(over="ignore", invalid="ignore"):
            if math.isfinite(np.add.reduce(v, axis=None)):
                return True
    return bool(np.isfinite(v).all())


def _kind(v) -> str:
    return "nan" if np.any(np.isnan(np.asarray(v, dtype=np.float64))) else "inf"


def non_finite(program: Program, values: list, grads: dict) -> list:
    """The first node that produced a NaN/inf value (its inputs finite), and the first node,
    in backward order, to receive a non-finite gradient."""
    found = []
    for i, node in enumerate(program.nodes):
        v = values[i].value
        if not _finite(v) and all(_finite(values[j].value) for j in node.args):
            found.append(NonFinite("value", i, program.label(i), _kind(v)))
            break
    for i in reversed(range(len(program.nodes))):
        g = grads.get(values[i])
        if g is not None and not _finite(g.value):
            found.append(NonFinite("gradient", i, program.label(i), _kind(g.value)))
            break
    return found
