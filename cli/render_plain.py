"""--format plain at scale: numbers as Python's repr writes them (the shortest text that reads
back to the same float64), but written in C.

repr per element costs ~0.2 us, which made 1e7 gradient entries take seconds. orjson writes a
float64 array with the same shortest digits, and in the same notation as repr for every finite
number from 1e-4 up to (not including) 1e16; outside that range (orjson writes 0.00001 where repr
writes 1e-05, 1e16 where repr writes 1e+16) and for nan/inf (orjson writes null) those few entries
are written by repr itself. The text is made CHUNK entries at a time, so no list of 1e7 strings
and no second copy of the whole text is ever held.
"""
from __future__ import annotations

import numpy as np

CHUNK = 1 << 16
FEW_ODD = 2048  # odd entries a chunk writes run by run; past it a split of the chunk is quicker (measured)


def _repr_text(a: np.ndarray) -> str:
    return " ".join(map(repr, a.tolist()))


def number_chunks(v):
    """The entries of v (row-major) as space-separated pieces of text, joined in order."""
    a = np.asarray(v, dtype=np.float64).ravel()
    try:
        import orjson
    except ImportError:  # a broken install still answers, slower
        orjson = None
    if orjson is None or a.size < 64:
        yield _repr_text(a)
        return
    def run(seg):  # orjson's "[1.5,2.0]" as "1.5 2.0"
        return orjson.dumps(seg, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().replace(",", " ")

    for start in range(0, a.size, CHUNK):
        part = np.ascontiguousarray(a[start:start + CHUNK])
        mag = np.abs(part)
        odd = ~(mag < 1e16) | ((mag < 1e-4) & (part != 0))  # nan, inf, and repr's exponent notation
        if start:
            yield " "
        if not odd.any():
            yield run(part)
            continue
        where = np.flatnonzero(odd).tolist()
        if len(where) > FEW_ODD:  # many: one text split into entries, the odd ones patched by repr
            pieces = orjson.dumps(part, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
            for i in where:
                pieces[i] = repr(part[i].item()).encode()
            yield b" ".join(pieces).decode()
            continue
        # few (1e7 normal draws hold ~5 a chunk under 1e-4): the runs between them by orjson, each
        # odd entry by repr, rather than a split of all 65,536 entries
        pieces, prev = [], 0
        for i in where:
            if i > prev:
                pieces.append(run(part[prev:i]))
            pieces.append(repr(part[i].item()))
            prev = i + 1
        if prev < part.size:
            pieces.append(run(part[prev:]))
        yield " ".join(pieces)


def plain_numbers(v) -> str:
    return "".join(number_chunks(v))
