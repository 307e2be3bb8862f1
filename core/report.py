"""Facts about one forward graph for the table: a row per node, the values saved for backward,
and the first node to produce a NaN or an infinity."""
from __future__ import annotations

import math

import numpy as np

from .program import Program
from .results import NodeRow, NonFinite


def node_rows(program: Program, values: list, grads: dict) -> list:
    rows = []
    for i, node in enumerate(program.nodes):
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
        rows.append(NodeRow(i, node.name, program.label(i), op, t.value, None if g is None else g.value,
                            is_leaf=t.op is None, requires_grad=t.requires_grad, detached=detached,
                            parents=tuple(node.args)))
    return rows


def saved(program: Program, values: list) -> dict:
    """Values the graph keeps for backward (PyTorch's saved tensors), and their bytes."""
    count, seen = 0, {}
    for i, node in enumerate(program.nodes):
        t = values[i]
        if node.kind != "op" or not t.requires_grad:
            continue
        for k in t.op.saved(t.parents):
            src = t if k is None else t.parents[k]
            count += 1
            seen[id(src)] = np.asarray(src.value).nbytes
    return {"values": count, "bytes": int(sum(seen.values()))}


def _finite(v) -> bool:
    if isinstance(v, np.floating):  # the scalar graph's case: math.isfinite is 50x quicker than numpy here
        return math.isfinite(v)
    v = np.asarray(v)
    return v.dtype.kind != "f" or bool(np.isfinite(v).all())


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
