"""Binding values: numbers, list literals, constant expressions, or @file (.npy, .csv, .txt).

Every read is bounded before it starts: a file's size is checked before it is opened for
reading and at most the limit + 1 bytes are read (a file may grow, /dev/zero never ends), and a
.npy's declared element count is checked from its header before its data is loaded.
"""
from __future__ import annotations

import errno
import io
import math
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from .errors import AgradError
from .parser import BackwardDef, FuncDef, Statement, parse_statements
from .program import MAX_ELEMENTS, compile_source, forward

MAX_FILE_BYTES = 100_000_000  # an @file (80 MB of float64 is MAX_ELEMENTS; text takes more per number)
_NPY_HEADER = 65_536  # room for a .npy header on top of its data
_NPY_LIMIT = MAX_ELEMENTS * 8 + _NPY_HEADER


def parse_value(text: str, name: str, rng=None) -> np.ndarray:
    """The value bound to `name`, as a float64 array (0-d for a number). `rng`: the run's
    rng.Random, which rand()/randn() draw from."""
    text = text.strip()
    if text.startswith("@"):
        return _load(text[1:], name)
    one_expression(text, f"the value of '{name}'")
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


def one_expression(text: str, what: str) -> None:
    """Refuse a value or claim written as statements: compiled as a program, "1;2" or "y=3; y*2"
    would silently be its last statement. `what` starts the message ("the value of 'x'")."""
    if not any(c in text for c in ";\n="):  # nothing separates statements or assigns: no parse needed
        return
    statements = parse_statements(text)
    try:
        first = next(statements)
        second = None if type(first) is not Statement or first.target is not None else next(statements, None)
    except AgradError:
        return  # not a program at all: compile_source says why, in its usual words
    finally:
        statements.close()
    if isinstance(first, (FuncDef, BackwardDef)):
        word = "def" if isinstance(first, FuncDef) else "backward"
        raise AgradError(f"{what} must be one expression, not a {word} statement", kind="value",
                         span=(first.span[0], first.name_span[1]), source=text)
    if first.target is not None:
        raise AgradError(f"{what} must be one expression, not an assignment to '{first.target}'", kind="value",
                         span=first.target_span, source=text)
    if second is not None:
        start = (second.target_span or second.expr.span)[0] if type(second) is Statement else second.span[0]
        raise AgradError(f"{what} must be one expression, not several statements (the second starts here)",
                         kind="value", span=(start, start + 1), source=text)


def short_path(path: str, limit: int = 60) -> str:
    """A path as a message shows it: repr'd and shortened in the middle past `limit` characters."""
    text = repr(str(path))
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[-half:]


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is longer than the system allows"
    return (exc.strerror or str(exc)).rstrip(".").lower() if exc.strerror else str(exc)


def file_size(path: str, limit: int, what: str) -> int:
    """The size of a regular file of at most `limit` bytes, from stat alone (nothing is read).
    `what` starts every message ("the value of 'w'", "the derivation file")."""
    shown = short_path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AgradError(f"{what}: no file {shown}", kind="binding") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in the path
        reason = _os_reason(exc) if isinstance(exc, OSError) else "the path holds a NUL character"
        raise AgradError(f"{what}: cannot read {shown}: {reason}", kind="binding") from None
    if stat.S_ISDIR(st.st_mode):
        raise AgradError(f"{what}: {shown} is a directory, not a file", kind="binding")
    if not stat.S_ISREG(st.st_mode):  # a FIFO, a device (/dev/zero), a socket: no size to bound
        raise AgradError(f"{what}: {shown} is not a regular file (a pipe or a device cannot be read as a value)",
                         kind="binding")
    if st.st_size > limit:
        raise AgradError(f"{what}: {shown} is {st.st_size:,} bytes, over the limit of {limit:,} bytes", kind="limit")
    return st.st_size


def open_bounded(path: str, limit: int, what: str):
    """Open a regular file for reading in binary, refusing it by its size before reading a byte.
    Returns (file, size)."""
    size = file_size(path, limit, what)
    shown = short_path(path)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise AgradError(f"{what}: cannot read {shown}: {_os_reason(exc)}", kind="binding") from None
    return fh, size


def read_bounded(path: str, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, reading at most limit + 1 of them."""
    fh, _ = open_bounded(path, limit, what)
    with fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise AgradError(f"{what}: cannot read {short_path(path)}: {_os_reason(exc)}", kind="binding") from None
    if len(data) > limit:  # it grew after stat
        raise AgradError(f"{what}: {short_path(path)} is over the limit of {limit:,} bytes", kind="limit")
    return data


def read_source(stream, limit: int | None = None, what: str = "the input on stdin") -> str:
    """Text from a stream (stdin), reading at most `limit` + 1 bytes, decoded as UTF-8."""
    from .parser import MAX_SOURCE

    limit = MAX_SOURCE if limit is None else limit
    if stream is None:  # python started with stdin closed
        raise AgradError(f"{what} is closed; give the expression as an argument", kind="input")
    raw = getattr(stream, "buffer", stream)  # a text stream's bytes underneath
    try:
        data = raw.read(limit + 1)
    except (OSError, ValueError) as exc:  # ValueError: reading a closed file
        reason = _os_reason(exc) if isinstance(exc, OSError) else "it is closed"
        raise AgradError(f"{what}: cannot read it: {reason}", kind="input") from None
    if len(data) > limit:
        raise AgradError(f"{what} is over the limit of {limit:,} bytes; give a shorter program", kind="limit")
    return decode_utf8(data, what) if isinstance(data, bytes) else data


def decode_utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise AgradError(f"{what} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start:,} "
                         f"(line {line}) cannot be decoded", kind="input") from None


def _load(path: str, name: str) -> np.ndarray:
    what = f"the value of '{name}'"
    shown = short_path(path)
    suffix = Path(path).suffix.lower()
    file_size(path, _NPY_LIMIT if suffix == ".npy" else MAX_FILE_BYTES, what)  # said before the suffix
    if suffix == ".npz":
        raise AgradError(f"{what}: {shown} is a .npz archive (several named arrays); save the one array with "
                         f"numpy.save as a .npy file", kind="binding")
    if suffix == ".npy":
        value = _load_npy(path, what)
    elif suffix in (".csv", ".txt", ".tsv"):
        data = read_bounded(path, MAX_FILE_BYTES, what)
        text = decode_utf8(data, f"{what}: {shown}")
        try:
            with warnings.catch_warnings():  # an empty file is reported below, not warned about
                warnings.simplefilter("ignore", UserWarning)
                value = np.loadtxt(io.StringIO(text), delimiter="," if suffix == ".csv" else None, dtype=np.float64,
                                   ndmin=0)
        except ValueError as exc:
            raise AgradError(f"{what}: cannot read {shown}: {_first_line(exc)}", kind="binding") from None
    else:
        raise AgradError(f"{what}: {shown} is not a .npy, .csv or .txt file", kind="binding")
    if value.size == 0:
        raise AgradError(f"{what}: {shown} holds no numbers (an empty array)", kind="binding")
    return value.astype(np.float64, copy=False)  # a float64 file's array is already its own


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _header_reason(exc) -> str:
    """numpy's reason a header is malformed, unless it shows a Python object ('<ast.Name object at
    0x...>' from literal_eval) that would mean nothing to the user."""
    line = _first_line(exc)
    return "" if " object at 0x" in line or not isinstance(exc, ValueError) else f": {line}"


def _load_npy(path: str, what: str) -> np.ndarray:
    """A .npy file, its header read and bounded before its data."""
    shown = short_path(path)
    fh, size = open_bounded(path, _NPY_LIMIT, what)
    fmt = np.lib.format
    with fh:
        try:
            head = fh.read(6)
            if head[:2] == b"PK":  # a zip archive: np.savez's output renamed
                raise AgradError(f"{what}: {shown} is a .npz archive (several named arrays), not a .npy file; save "
                                 f"the one array with numpy.save", kind="binding")
            fh.seek(0)
            version = fmt.read_magic(fh)
            if version not in ((1, 0), (2, 0), (3, 0)):
                raise ValueError(f"unsupported .npy format version {version}")
        except AgradError:
            raise
        except (ValueError, OSError, SyntaxError, TypeError, EOFError) as exc:
            raise AgradError(f"{what}: {shown} is not a valid .npy file ({_first_line(exc)})", kind="binding") from None
        try:
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read(fh)
        except Exception as exc:  # noqa: BLE001 -- numpy's parse of the header dict raises many kinds (TokenError too)
            raise AgradError(f"{what}: {shown} is not a valid .npy file (its header is malformed{_header_reason(exc)})",
                             kind="binding") from None
        if not all(type(n) is int and n >= 0 for n in shape):  # np.empty would raise on (-1,) or (True, 2)
            raise AgradError(f"{what}: {shown} is not a valid .npy file (its header's shape {shape!r} is not "
                             f"whole numbers >= 0)", kind="binding")
        count = math.prod(shape)
        if count > MAX_ELEMENTS:
            raise AgradError(f"{what}: {shown} declares {count:,} elements (shape {tuple(shape)}), over the limit "
                             f"of {MAX_ELEMENTS:,}", kind="limit")
        if dtype.kind == "c":
            raise AgradError(f"{what}: {shown} holds complex numbers ({dtype}); agrad differentiates real values "
                             f"only, and dropping the imaginary part would lose data", kind="binding")
        if dtype.hasobject or dtype.kind not in "iuf":
            raise AgradError(f"{what}: {shown} is not numeric (dtype {dtype})", kind="binding")
        if count == 0:
            raise AgradError(f"{what}: {shown} holds no numbers (shape {tuple(shape)})", kind="binding")
        need = count * dtype.itemsize
        if size - fh.tell() < need:
            raise AgradError(f"{what}: {shown} is truncated: its header declares {need:,} bytes of data, the file "
                             f"holds {max(0, size - fh.tell()):,}", kind="binding")
        # read straight into the array's own memory (as np.load does): no bytes object to copy
        # from, so a float64 file costs one allocation and no astype copy afterwards
        value = np.empty(count, dtype=dtype)
        try:
            got = fh.readinto(memoryview(value).cast("B"))
        except OSError as exc:
            raise AgradError(f"{what}: cannot read {shown}: {_os_reason(exc)}", kind="binding") from None
    if got < need:
        raise AgradError(f"{what}: {shown} is truncated", kind="binding")
    return value.reshape(shape, order="F" if fortran else "C")
