"""Text -> syntax tree, with a hand-written tokenizer and precedence-climbing parser.

Why not Python's `ast`: CPython 3.11 raises RecursionError building the tree of a flat sum of
100,000 terms, and Python's `^` binds looser than `+` (people who type `x^2 + 1` mean a power).
Our own parser loops over same-precedence chains, recurses only into real nesting (bounded by
MAX_DEPTH), and records the character span of every node for error carets. Nothing is ever
evaluated here: the result is plain data.
"""
from __future__ import annotations

import re
import sys

from .errors import AgradError

MAX_SOURCE = 1_000_000  # characters: a 25,000-statement program is about 550,000; the longest program
# (a flat sum of 500,000 terms) runs in about 13 s and 700 MB
MAX_INDEX_DIGITS = 18  # an index or slice bound fits numpy's int64
MAX_DEPTH = 200  # nesting of parentheses, calls, brackets, unary signs and power chains


class _Syntax:
    """A syntax-tree node: plain slotted classes (creating dataclasses costs start-up time)."""

    __slots__ = ()

    def __init__(self, *args):
        for name, value in zip(self.__slots__, args):
            setattr(self, name, value)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"


class Num(_Syntax):
    __slots__ = ("value", "text", "span")

    def __init__(self, value, text, span):  # spelled out: the generic setattr loop is the parser's slowest line
        self.value = value
        self.text = text
        self.span = span


class Name(_Syntax):
    __slots__ = ("id", "span")

    def __init__(self, id, span):  # spelled out: the generic setattr loop is the parser's slowest line
        self.id = id
        self.span = span


class Unary(_Syntax):
    __slots__ = ("op", "operand", "span")  # op: "-" or "+"


class Bin(_Syntax):
    __slots__ = ("op", "left", "right", "span")  # op: + - * / ** @

    def __init__(self, op, left, right, span):  # spelled out: the generic setattr loop is the parser's slowest line
        self.op = op
        self.left = left
        self.right = right
        self.span = span


class Call(_Syntax):
    __slots__ = ("func", "args", "span", "func_span")

    def __init__(self, func, args, span, func_span):  # spelled out: the generic setattr loop is the parser's slowest line
        self.func = func
        self.args = args
        self.span = span
        self.func_span = func_span


class Index(_Syntax):
    __slots__ = ("value", "key", "span")  # key: ints and slices, numpy basic indexing


class ListLit(_Syntax):
    __slots__ = ("items", "span")


class Statement(_Syntax):
    __slots__ = ("target", "target_span", "expr")

    def __init__(self, target, target_span, expr):  # spelled out: the generic setattr loop is the parser's slowest line
        self.target = target
        self.target_span = target_span
        self.expr = expr


class FuncDef(_Syntax):
    """def NAME(P1, ..., Pn) = BODY: a user function (core/functions.py compiles it)."""
    __slots__ = ("name", "name_span", "params", "body", "span")  # params: [(name, span)]


class BackwardDef(_Syntax):
    """backward NAME = G1, ..., Gn: a hand-written rule, one expression per parameter."""
    __slots__ = ("name", "name_span", "exprs", "span")


class Parsed(_Syntax):
    __slots__ = ("source", "statements")

    def __init__(self, source: str):
        super().__init__(source, [])


# The tokens, read by findall in C (a regex match per token from Python cost 0.3 us): whitespace,
# a comment, a line continuation, a number, a name, an operator, or any other single character
# (refused). Every character belongs to one, so their lengths add up to the positions.
_PIECE = re.compile(
    r"""
    [ \t\r\f]+|\\\n|\#[^\n]*
  | (?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?
  | [A-Za-z_][A-Za-z_0-9]*
  | \*\*|[-+*/^@()\[\],:;=\n]
  | .
    """,
    re.VERBOSE,
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")  # _PIECE's name rule: ASCII only, so str.isidentifier is too loose


def is_name(text) -> bool:
    """Whether `text` is a name the language can write (a bound variable, a claim's key):
    'ℌ' is a Python identifier, but no expression can use it."""
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


_KIND = {**dict.fromkeys("0123456789", "num"),
         **dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_", "name"),
         **dict.fromkeys("-+*/^@()[],:;=\n", "op"), **dict.fromkeys(" \t\r\f#", "ws")}  # by a piece's first character
_CHUNK = 1 << 15  # characters tokenized at a time, cut after a line break (no token spans one)

_BATCH = 512  # tokens read ahead at a time (the window stays small)
_BINARY = {"+": 10, "-": 10, "*": 20, "/": 20, "@": 20}  # ** and ^ are handled by unary
_LEAF_END = frozenset(("(", "[", "**", "^"))  # after a name or number: the operand goes on (a call, an index, a power)


def _bad_character(src: str, pos: int):
    ch = src[pos]
    hint = " (strings are not part of the language)" if ch in "'\"" else ""
    return AgradError(f"unexpected character {ch!r}{hint}", kind="parse", span=(pos, pos + 1), source=src)


def tokenize(src: str):
    """(kind, text, start, end) tuples, lazily; kind is num, name, op, or end (last)."""
    for batch in _batches(src):
        yield from batch


def _batches(src: str):
    """The tokens in lists of _BATCH, the last one ending with ("end", "", n, n). A character no
    token starts with raises its error when the batch that holds it is read, not before: what the
    parser reports first is the same as reading the tokens one by one in batches."""
    n = len(src)
    findall, kind_of = _PIECE.findall, _KIND.get
    pending: list = []
    append = pending.append
    start = 0  # of the next chunk
    while start < n:
        stop = src.find("\n", start + _CHUNK) + 1 or n
        pos = start
        for text in findall(src, start, stop):
            kind = kind_of(text[0])
            if kind == "ws":
                pos += len(text)
                continue
            if kind is None:
                kind = _odd_kind(text)
                if kind == "ws":
                    pos += len(text)
                    continue
                if kind is None:
                    while len(pending) >= _BATCH:
                        yield pending[:_BATCH]
                        del pending[:_BATCH]
                    raise _bad_character(src, pos)
            end = pos + len(text)
            append((kind, text, pos, end))
            pos = end
        start = stop
        while len(pending) >= _BATCH:
            yield pending[:_BATCH]
            del pending[:_BATCH]
    append(("end", "", n, n))
    yield pending


def _odd_kind(text: str):
    """The kind of a token _KIND does not know by its first character: None for a refused one."""
    if text == "\\\n":
        return "ws"
    if len(text) > 1 or text[0].isdecimal():  # .5, or a digit of another script (re's \d)
        return "num"
    return None


class _Parser:
    def __init__(self, src: str):
        self.src = src
        self.batches = _batches(src)
        self.buf: list = []  # a window of tokens: a long program is never held as one token list
        self.base = 0  # the index of buf[0]
        self.i = 0
        self.depth = 0
        self.brackets = 0  # newlines inside (), [] continue the statement

    # -- token helpers -------------------------------------------------------------------
    def tok(self, i: int):
        buf = self.buf
        j = i - self.base
        if j < len(buf):
            return buf[j]
        while j >= len(buf):
            buf.extend(next(self.batches, None) or [buf[-1]])  # past the end: 'end' again
        return buf[j]

    def forget(self):
        """Drop the tokens of finished statements, keeping the last one for error messages."""
        keep = self.i - 1 - self.base
        if keep > 0:
            del self.buf[:keep]
            self.base += keep

    def peek(self):
        try:
            tok = self.buf[self.i - self.base]  # the hot path inlined: ~40 calls a statement
        except IndexError:
            tok = self.tok(self.i)
        if self.brackets:
            while tok[1] == "\n":
                self.i += 1
                tok = self.tok(self.i)
        return tok

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def error(self, msg, span):
        raise AgradError(msg, kind="parse", span=span, source=self.src)

    def expect(self, text, what):
        tok = self.peek()
        if tok[1] != text:
            found = "the end of the expression" if tok[0] == "end" else repr(tok[1])
            if tok[1] == "\n":
                found = "a line break"
            self.error(f"expected {what}, found {found}", (tok[2], max(tok[3], tok[2] + 1)))
        return self.take()

    def enter(self, span):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.error(f"expression nested deeper than {MAX_DEPTH} levels", span)

    # -- grammar -------------------------------------------------------------------------
    def statements(self):
        """Each statement as soon as it is parsed, so a compiler can consume them one by one."""
        count = 0
        buf = self.buf
        while True:
            try:  # peek, inlined (between statements no bracket is open)
                tok = buf[self.i - self.base]
            except IndexError:
                tok = self.tok(self.i)
            if tok[0] == "end":
                break
            if tok[1] in (";", "\n"):
                self.i += 1
                continue
            st = self.statement(tok)
            try:
                tok = buf[self.i - self.base]
            except IndexError:
                tok = self.tok(self.i)
            if tok[1] not in (";", "\n") and tok[0] != "end":
                prev = self.tok(self.i - 1)
                if (prev[0] in ("num", "name") or prev[1] in ")]") and (tok[0] in ("num", "name") or tok[1] == "("):
                    hint = f" (write {prev[1]}*{tok[1]})" if prev[0] != "op" and tok[0] != "op" else ""
                    self.error(f"multiplication needs '*' between {prev[1]!r} and {tok[1]!r}{hint}",
                               (tok[2], tok[3]))
                self.error(f"unexpected {tok[1]!r} after a complete expression "
                           "(separate statements with ';' or a new line)", (tok[2], tok[3]))
            count += 1
            if self.i - self.base > _BATCH:  # the window moves in steps, not after every statement
                self.forget()
            yield st
        if not count:
            raise AgradError("the expression is empty", kind="parse", span=(0, 0), source=self.src)

    def statement(self, tok) -> Statement:
        """tok: the statement's first token, which the caller peeked."""
        try:
            nxt = self.buf[self.i + 1 - self.base]
        except IndexError:
            nxt = self.tok(self.i + 1)
        if tok[0] == "name" and nxt[0] == "name":  # `def f(...) = ...`, `backward f = ...`
            if tok[1] == "def":
                return self.funcdef()
            if tok[1] == "backward":
                return self.backward_def()
        if tok[0] == "name" and nxt[1] == "=":
            self.i += 2
            return Statement(tok[1], (tok[2], tok[3]), self.expr())
        return Statement(None, None, self.expr())

    def funcdef(self) -> FuncDef:
        start = self.take()[2]
        _, name, a, b = self.take()
        self.expect("(", f"'(' and the parameters of {name}")
        params = []
        while self.peek()[1] != ")":
            tok = self.take()
            if tok[0] != "name":
                self.error(f"a parameter of {name} must be a name", (tok[2], max(tok[3], tok[2] + 1)))
            if any(p == tok[1] for p, _ in params):
                self.error(f"{name} has two parameters named '{tok[1]}'", (tok[2], tok[3]))
            params.append((tok[1], (tok[2], tok[3])))
            if self.peek()[1] != ",":
                break
            self.take()
        self.expect(")", f"')' to close the parameters of {name}")
        self.expect("=", f"'=' and the body of {name}")
        body = self.expr()
        return FuncDef(name, (a, b), params, body, (start, body.span[1]))

    def backward_def(self) -> BackwardDef:
        start = self.take()[2]
        _, name, a, b = self.take()
        self.expect("=", f"'=' and the backward rule of {name}")
        exprs = [self.expr()]
        while self.peek()[1] == ",":
            self.take()
            exprs.append(self.expr())
        return BackwardDef(name, (a, b), exprs, (start, exprs[-1].span[1]))

    def expr(self):
        """Sums of products of unary operands, in one loop: `total` is the sum so far and
        `product` the product being read (precedence climbing over two levels, unrolled).

        An operand that is a lone name or number (one not followed by '(', '[', '**' or '^')
        is made here: most operands of a long program are one, and unary() costs a call."""
        buf, base, binary, leaf_end = self.buf, self.base, _BINARY, _LEAF_END  # the window moves only between statements
        total = total_op = product = product_op = None
        while True:
            tok = self.peek()
            operand = None
            kind = tok[0]
            if kind == "name" or kind == "num":
                try:
                    nxt = buf[self.i + 1 - base]
                except IndexError:
                    nxt = self.tok(self.i + 1)
                if nxt[1] not in leaf_end and not (nxt[1] == "\n" and self.brackets):
                    self.i += 1
                    operand = (Name(tok[1], (tok[2], tok[3])) if kind == "name"
                               else Num(float(tok[1]), tok[1], (tok[2], tok[3])))
                    tok = nxt
            if operand is None:
                operand = self.unary()
                tok = self.peek()
            if product_op is None:
                product = operand
            else:
                product = Bin(product_op, product, operand, (product.span[0], operand.span[1]))
            prec = binary.get(tok[1])  # only an operator's text is in the table
            if prec == 20:
                product_op = tok[1]
                self.i += 1
                continue
            if total_op is None:
                total = product
            else:
                total = Bin(total_op, total, product, (total.span[0], product.span[1]))
            if prec is None:
                return total
            total_op, product_op = tok[1], None
            self.i += 1

    def unary(self):
        """unary -> power -> postfix -> atom in one frame for a name, a number or a call."""
        tok = self.peek()
        kind = tok[0]
        if kind == "name":
            self.i += 1
            nxt = self.peek()
            if nxt[1] == "(":
                node = self.call(tok)
                nxt = self.peek()
            else:
                node = Name(tok[1], (tok[2], tok[3]))
        elif kind == "num":
            self.i += 1
            node = Num(float(tok[1]), tok[1], (tok[2], tok[3]))
            nxt = self.peek()
        elif tok[1] in ("-", "+"):
            return self.signed()
        else:
            node = self.atom()
            nxt = self.peek()
        if nxt[1] == "[":
            node = self.subscripts(node)
            nxt = self.peek()
        if nxt[1] in ("**", "^"):
            self.i += 1
            self.enter((nxt[2], nxt[3]))
            exponent = self.unary()  # right-associative, and allows 2**-1
            self.depth -= 1
            return Bin("**", node, exponent, (node.span[0], exponent.span[1]))
        return node

    def signed(self):
        tok = self.take()
        self.enter((tok[2], tok[3]))
        operand = self.unary()
        self.depth -= 1
        # -2 is the number -2, so `--x -1.5` style values and `2**-1` read naturally
        if tok[1] == "-" and isinstance(operand, Num):
            text = operand.text[1:] if operand.text.startswith("-") else "-" + operand.text
            return Num(-operand.value, text, (tok[2], operand.span[1]))
        return Unary(tok[1], operand, (tok[2], operand.span[1]))

    def subscripts(self, node):
        """node[...][...]: the postfix indexing after an atom."""
        while self.peek()[1] == "[":
            open_tok = self.take()
            self.enter((open_tok[2], open_tok[3]))
            self.brackets += 1
            key = self.index_key()
            self.brackets -= 1
            close = self.expect("]", "']' to close the index")
            self.depth -= 1
            node = Index(node, key, (node.span[0], close[3]))
        return node

    def index_key(self):
        items = []
        while True:
            items.append(self.index_item())
            if self.peek()[1] != ",":
                return tuple(items)
            self.take()

    def index_item(self):
        parts, start = [None], self.peek()[2]
        while True:
            tok = self.peek()
            if tok[1] == ":":
                self.take()
                parts.append(None)
                if len(parts) > 3:
                    self.error("a slice has at most two ':'", (tok[2], tok[3]))
                continue
            if tok[1] in (",", "]"):
                break
            if parts[-1] is not None:
                self.error(f"unexpected {tok[1]!r} in an index", (tok[2], tok[3]))
            parts[-1] = self.index_int()
        if len(parts) == 1:
            if parts[0] is None:
                tok = self.peek()
                self.error("empty index", (start, tok[3]))
            return parts[0]
        return slice(*parts)

    def index_int(self):
        tok = self.peek()
        sign = 1
        if tok[1] == "-":
            self.take()
            sign, tok = -1, self.peek()
        if tok[0] != "num" or not tok[1].isdigit():
            self.error("indices and slice bounds must be whole numbers (w[0], w[1:], A[0, -1])",
                       (tok[2], max(tok[3], tok[2] + 1)))
        if len(tok[1]) > MAX_INDEX_DIGITS:  # no array is that long, and int() refuses 4,300 digits
            self.error(f"an index of {len(tok[1]):,} digits is out of range for any array", (tok[2], tok[3]))
        self.take()
        return sign * int(tok[1])

    def atom(self):
        tok = self.take()
        kind, text, start, end = tok
        if kind == "num":
            return Num(float(text), text, (start, end))
        if kind == "name":
            if self.peek()[1] == "(":
                return self.call(tok)
            return Name(text, (start, end))
        if text == "(":
            self.enter((start, end))
            self.brackets += 1
            inner = self.expr()
            self.brackets -= 1
            close = self.expect(")", "')' to close the '(' opened here")
            self.depth -= 1
            inner.span = (start, close[3])  # the label of (a + b) keeps its parentheses
            return inner
        if text == "[":
            items, close = self.bracketed((start, end), "]", "']' to close the list")
            if not items:
                self.error("an empty list has no value", (start, close[3]))
            return ListLit(items, (start, close[3]))
        if kind == "end":
            self.error("the expression ends too early", (start, start + 1) if start < len(self.src) else (start, start))
        if text == "\n":
            self.error("the line ends too early", (start, end))
        if text == "=":
            self.error("'=' names a result (z = x*y); it cannot stand inside an expression", (start, end))
        self.error(f"unexpected {text!r}", (start, end))

    def call(self, name_tok):
        """bracketed(), for the arguments of a call (inside the brackets a line break is skipped),
        with its message built only for an error."""
        _, fname, start, end = name_tok
        self.i += 1  # the '(' the caller peeked
        self.enter((start, end))
        self.brackets += 1
        args = []
        while True:
            tok = self.peek()
            if tok[1] == ")":
                break
            args.append(self.expr())
            tok = self.peek()
            if tok[1] != ",":
                break
            self.i += 1
        self.brackets -= 1
        if tok[1] != ")":  # tok is where the arguments stopped: not a line break
            self.expect(")", f"')' to close the call to {fname}")
        self.i += 1
        self.depth -= 1
        return Call(fname, args, (start, tok[3]), (start, end))

    def bracketed(self, opened, closer, what):
        """Comma-separated expressions up to `closer`: a list's items or a call's arguments."""
        self.enter(opened)
        self.brackets += 1
        items = []
        while self.peek()[1] != closer:
            items.append(self.expr())
            if self.peek()[1] != ",":
                break
            self.take()
        self.brackets -= 1
        close = self.expect(closer, what)
        self.depth -= 1
        return items, close


def parse_statements(src: str):
    """Parse a program statement by statement (statements separated by ';' or new lines; the
    last one is the output), yielding each one as soon as it is complete."""
    if len(src) > MAX_SOURCE:
        raise AgradError(f"the expression is {len(src):,} characters long; the limit is {MAX_SOURCE:,}",
                         kind="limit")
    # Each nesting level costs about five Python frames; make room for MAX_DEPTH of them.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 6 * MAX_DEPTH + 500))
    try:
        yield from _Parser(src).statements()
    finally:
        sys.setrecursionlimit(limit)


def parse(src: str) -> Parsed:
    """The whole program as one syntax tree."""
    out = Parsed(src)
    out.statements.extend(parse_statements(src))
    return out
