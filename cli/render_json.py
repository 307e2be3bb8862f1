"""JSON output at scale: orjson writes numpy arrays natively (~10x the standard library, which
turned a 1e6-element result into a Python list of floats first), and intermediates of huge
arrays are summarized unless --full asks for every number.

The contract of render.jsonable holds: every float at full precision (the shortest text that
reads back to the same float64; orjson may write 1e-05 as 0.00001, the same number), and the
strings "NaN", "Infinity", "-Infinity" where JSON has no number. Without orjson (it is a
dependency, but a broken install should still answer) the standard library writes the same data.
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

SUMMARY_OVER = 10_000  # elements: an intermediate's value or grad past this is summarized, unless --full


def summary(a) -> dict | None:
    """{"summary": {shape, min, max, mean, norm}} for an array of more than SUMMARY_OVER elements
    (NaN-aware: min/max/mean/norm over the finite entries, with their count), else None."""
    if not isinstance(a, np.ndarray) or a.size <= SUMMARY_OVER or a.dtype.kind not in "biuf":
        return None
    x = a.astype(np.float64, copy=False)
    finite = np.isfinite(x)
    n = int(finite.sum())
    y = x if n == x.size else x[finite]
    stats = {"shape": list(a.shape), "dtype": str(a.dtype), "finite": n}
    if n:
        stats.update({"min": float(y.min()), "max": float(y.max()), "mean": float(y.mean()),
                      "norm": float(np.sqrt(np.dot(y.ravel(), y.ravel())))})
    return {"summary": stats}


def shown(v, full: bool):
    """An intermediate's value or grad as the JSON shows it: in full, or summarized past the limit."""
    return v if full else (summary(v) or v)


def _number(x: float):
    return x if math.isfinite(x) else ("NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity"))


def prepare(v):
    """v with every array ready for orjson: float64 and C-contiguous when all finite (written
    natively, in C), else converted element by element as render.jsonable does."""
    if v is None or isinstance(v, (bool, str, int)):
        return v
    if isinstance(v, float):
        return _number(v)
    if isinstance(v, dict):
        return {str(k): prepare(x) for k, x in v.items()}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return prepare({f.name: getattr(v, f.name) for f in dataclasses.fields(v)})
    if isinstance(v, (list, tuple)):
        return [prepare(x) for x in v]
    if isinstance(v, np.generic):
        return prepare(v.item())
    if isinstance(v, np.ndarray):
        if v.ndim == 0 or v.dtype == object:
            return prepare(v.tolist())
        if v.dtype.kind == "f":
            x = v.astype(np.float64, copy=False)  # float32's values as float64 text, as jsonable writes them
            if np.isfinite(x).all():
                return np.ascontiguousarray(x)
            from agrad.cli.render import jsonable

            return jsonable(x)
        if v.dtype.kind in "biu":
            return np.ascontiguousarray(v)
    from agrad.cli.render import jsonable

    return jsonable(v)


def dumps(data, *, indent: bool = True) -> str:
    """JSON text of `data` (dicts, lists, numbers, numpy arrays, dataclasses)."""
    return dumps_bytes(data, indent=indent).decode()


def write(data, out, *, indent: bool = True) -> None:
    """dumps_bytes(data) written to the binary stream `out`. Compact output goes out a top-level
    entry at a time, and a dict's entries one by one two levels down (gradients -> x): the text
    of one array is held at once, not the whole document (a 1e6-element run writes 110 MB)."""
    if indent:  # indented is for a terminal: small, and orjson indents nested values itself
        out.write(dumps_bytes(data, indent=True))
        return
    try:
        import orjson
    except ImportError:
        out.write(dumps_bytes(data, indent=False))
        return
    _stream(prepare(data), out.write, orjson, depth=2)


def _stream(v, put, orjson, depth: int) -> None:
    if depth and type(v) is dict:
        put(b"{")
        for k, (key, x) in enumerate(v.items()):
            put((b"," if k else b"") + orjson.dumps(key) + b":")
            _stream(x, put, orjson, depth - 1)
        put(b"}")
    else:
        put(orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY))


def dumps_bytes(data, *, indent: bool = True) -> bytes:
    """The same as UTF-8 bytes: what stdout writes, without a str copy of 100 MB of text between."""
    try:
        import orjson
    except ImportError:  # the standard library: the same data, slower
        from agrad.cli.render import jsonable

        return json.dumps(jsonable(data), indent=2 if indent else None, ensure_ascii=False,
                          separators=None if indent else (",", ":")).encode()
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(prepare(data), option=option)
