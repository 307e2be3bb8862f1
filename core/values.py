"""Binding values: numbers, list literals, constant expressions, or @file (.npy, .csv, .txt)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import AgradError
from .program import MAX_ELEMENTS, compile_source, forward


def parse_value(text: str, name: str, rng=None) -> np.ndarray:
    """The value bound to `name`, as a float64 array (0-d for a number). `rng`: the run's
    rng.Random, which rand()/randn() draw from."""
    text = text.strip()
    if text.startswith("@"):
        return _load(text[1:], name)
    try:
        program = compile_source(text, rng=rng)
    except AgradError as exc:
        raise AgradError(f"the value of '{name}' is not a number, list or constant expression: {exc.message}",
                         kind="binding", span=exc.span, source=text) from None
    if program.variables:
        other = next(iter(program.variables))
        raise AgradError(f"the value of '{name}' must be constant, but it names '{other}'", kind="binding",
                         span=program.nodes[program.variables[other]].span, source=text)
    value = forward(program, {}, np.float64).value
    return np.asarray(value, dtype=np.float64)


def _load(path: str, name: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise AgradError(f"the value of '{name}': no file {path!r}", kind="binding")
    try:
        if p.suffix == ".npy":
            value = np.load(p, allow_pickle=False)
        elif p.suffix in (".csv", ".txt", ".tsv"):
            value = np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, dtype=np.float64, ndmin=0)
        else:
            raise AgradError(f"the value of '{name}': {path!r} is not a .npy, .csv or .txt file", kind="binding")
    except AgradError:
        raise
    except (ValueError, OSError) as exc:
        raise AgradError(f"the value of '{name}': cannot read {path!r}: {exc}", kind="binding") from None
    if value.size > MAX_ELEMENTS:
        raise AgradError(f"the value of '{name}' has {value.size:,} elements, over the limit of {MAX_ELEMENTS:,}",
                         kind="limit")
    if not np.issubdtype(value.dtype, np.number):
        raise AgradError(f"the value of '{name}' in {path!r} is not numeric", kind="binding")
    return value.astype(np.float64)
