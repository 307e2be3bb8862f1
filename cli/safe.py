"""Text is text: what a person typed is shown literally, and the output never crashes agrad.

- `literal(s)`: user text (an expression, a name, a case name, a message quoting either) for a
  rich string: markup such as "[red]" is escaped and control characters (terminal escape
  sequences, NUL, DEL, bidi overrides) are shown as visible escapes, never sent to the terminal.
- `plain(s)`: the same for text printed without rich (errors on stderr): control characters only.
- `xml_text(s)`: text XML 1.0 can hold (JUnit reports): characters it forbids become visible escapes.
- `fit_streams()`: stdin that is not UTF-8 is an error, not lone surrogates; an output encoding that cannot show ∂ or ✓ (LC_ALL=C) gets ASCII stand-ins
  (d, ok, FAIL, +-, ...) instead of a UnicodeEncodeError; anything else unencodable is escaped.
"""
from __future__ import annotations

import codecs
import re
import sys

# C0 and C1 controls and DEL (tab and newline only where the caller allows them), and the
# invisible characters that reorder or hide text on a terminal (bidi overrides, isolates).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_NL = re.compile("[\x00-\x09\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# XML 1.0 allows only #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]; the
# complement is spelled out because compiling the negated class (astral range) took 8 ms of start-up
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _visible(m) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def plain(s, *, newlines: bool = True) -> str:
    """Control characters as visible escapes (\\x1b); newlines kept unless newlines=False."""
    return (_CONTROL if newlines else _CONTROL_NL).sub(_visible, str(s))


def literal(s, *, newlines: bool = False) -> str:
    """User text inside rich markup: shown exactly as typed, never interpreted."""
    from rich.markup import escape

    return escape(plain(s, newlines=newlines))


def xml_text(s) -> str:
    return _NOT_XML.sub(_visible, str(s))


# ---- output encodings ----------------------------------------------------------------------------
ASCII = {"∂": "d", "✓": "ok", "✗": "FAIL", "±": "+-", "…": "...", "×": "x", "→": "->", "—": "-", "–": "-",
         "≤": "<=", "≥": ">=", "‖": "||", "·": "*", "∇": "grad ", "∞": "inf", "≈": "~", "λ": "lambda",
         "•": "*", "²": "2", "³": "3", "¹": "1", "⁰": "0", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8",
         "⁹": "9"}


def _fallback(exc):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start:exc.end]
    return "".join(ASCII.get(c) or c.encode("ascii", "backslashreplace").decode("ascii") for c in text), exc.end


codecs.register_error("agrad-ascii", _fallback)


def fit_streams() -> None:
    """Make stdout and stderr never raise UnicodeEncodeError: an ASCII terminal gets stand-ins,
    and text no encoding can hold (a lone surrogate) is escaped."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if hasattr(stream, "reconfigure") and getattr(stream, "errors", "") in ("strict", "surrogateescape"):
            try:
                stream.reconfigure(errors="agrad-ascii")
            except (ValueError, OSError):  # a stream in use or closed: leave it
                pass
    stdin = sys.stdin
    if stdin is not None and hasattr(stdin, "reconfigure") and getattr(stdin, "errors", "") == "surrogateescape":
        try:  # bytes that are not UTF-8 are an error agrad reports, not text to parse
            stdin.reconfigure(errors="strict")
        except (ValueError, OSError):
            pass


def bad_argument(args) -> str | None:
    """The first command-line argument that is not UTF-8 text (its undecodable bytes arrive as
    lone surrogates), as a message; None when all are text."""
    for i, a in enumerate(args, 1):
        try:
            a.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = ord(a[exc.start]) - 0xDC00 if 0xDC80 <= ord(a[exc.start]) <= 0xDCFF else ord(a[exc.start])
            return (f"argument {i} is not UTF-8 text (byte 0x{byte:02x} at position {exc.start}); "
                    f"agrad reads expressions and values as UTF-8")
    return None
