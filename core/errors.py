"""The errors user input can raise. The CLI turns each into a message with a caret and exit 2.

Every error is an AgradError; its class says what went wrong and `kind` is a short word
scripts can match (it is the JSON error's "type"). Messages speak of the Python API's
arguments (`retain_graph=True`); the CLI maps them to its flags (`--retain-graph`).
"""
import math
import numbers


class AgradError(Exception):
    """Bad input or a request agrad cannot honour.

    kind: a short word scripts can match ("parse", "name", "binding", "shape", "backward", ...).
    span: (start, end) character offsets into `source`, when the error has a place.

    `AgradError(message, kind=...)` builds the subclass that owns that kind, so every raise
    site names the kind once and callers can still catch by class.
    """

    kinds: tuple = ()

    def __new__(cls, message: str = "", *, kind: str = "input", span=None, source: str | None = None):
        if cls is AgradError:
            cls = _BY_KIND.get(kind, AgradError)
        return super().__new__(cls, message)

    def __init__(self, message: str, *, kind: str = "input", span=None, source: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.span = span
        self.source = source

    def where(self):
        """(line number, column, line text) of the span's start, 1-based line and 0-based column."""
        if self.span is None or self.source is None:
            return None
        start = self.span[0]
        line_start = self.source.rfind("\n", 0, start) + 1
        line_end = self.source.find("\n", start)
        if line_end == -1:
            line_end = len(self.source)
        lineno = self.source.count("\n", 0, start) + 1
        return lineno, start - line_start, self.source[line_start:line_end]


class ParseError(AgradError):
    """The text is not a program of the language (the span points at the place)."""

    kinds = ("parse",)


class BindingError(AgradError):
    """A name has no value, or a value cannot be read or used (files, shapes, dtypes, seeds)."""

    kinds = ("name", "binding", "value", "shape", "dtype", "seed", "claim", "file")


class UsageError(AgradError):
    """Arguments that contradict each other or ask for something the engine does not do."""

    kinds = ("usage", "nonscalar", "backward", "nograd", "input", "internal")


class LimitError(AgradError):
    """A request over one of agrad's documented bounds (sizes, depths, orders, passes)."""

    kinds = ("limit",)


_BY_KIND = {k: c for c in (ParseError, BindingError, UsageError, LimitError) for k in c.kinds}


def shape_text(shape) -> str:
    """A shape as Python writes a tuple, for messages: (), (3,), (2, 3)."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def whole(value, label: str, low: int, high: int) -> int:
    """An API argument that counts something (order=, repeat=, steps=, runs=, paths=): an int or
    a numpy integer (not a bool, a float or a string) from low to high, as a Python int; else
    the argument's own error, never a TypeError from deep inside."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise AgradError(f"{label}= must be a whole number from {low:,} to {high:,}, got {value!r}", kind="usage")
    if not low <= value <= high:
        raise AgradError(f"{label}= must be between {low:,} and {high:,}, got {int(value):,}", kind="usage")
    return int(value)


def real(x, *, finite: bool = True) -> bool:
    """An API argument that is a number (tolerances, eps, lr, tol): a real number, not a bool, a
    string ("0.9" would be float()-ed into a value nobody wrote) or None; finite unless told."""
    if type(x) is float:  # the usual case, quickly
        return not finite or math.isfinite(x)
    if isinstance(x, bool) or not isinstance(x, numbers.Real):  # numpy's bool is no numbers.Real
        return False
    return not finite or math.isfinite(x)
