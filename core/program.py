"""Syntax tree -> the flat program of graph.py: the compiler, agrad.parse, and lib files of
def/backward statements (functions.py builds each definition's Op)."""
from __future__ import annotations

import os
import stat

import numpy as np

from . import parser as P
from .errors import AgradError
from .graph import (CONSTANTS, CONSTRUCTORS, MAX_AXIS, MAX_ELEMENTS, MAX_EXPONENT, RANDOM, Node, Program, evaluate,
                    float_array, forward, release_plan)
from .ops import FUNCTIONS, OPS, SYMBOLS
from .tensor import gc_paused

_PARAMS = Node("var").params  # graph's one shared, never mutated, empty dict: passed, not made per node

__all__ = ["CONSTANTS", "CONSTRUCTORS", "MAX_ELEMENTS", "Node", "Program", "compile_source", "evaluate", "float_array",
           "forward", "load_library", "parse", "release_plan"]


class _Compiler:
    def __init__(self, src: str, lib=None, rng=None, scope=None):
        self.src = src
        self.nodes: list[Node] = []
        self.variables: dict[str, int] = {}
        self.names: dict[str, int] = {}
        self.lib = lib  # user functions (functions.Library), None until a def appears
        self.rng = rng  # rng.Random that rand()/randn() draw from
        self.scope = scope  # inside a def's body or a backward rule: the names allowed (functions.Scope)
        self.no_grad_starts: dict[int, int] = {}

    def error(self, msg, span, kind="parse"):
        raise AgradError(msg, kind=kind, span=span, source=self.src)

    def add(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def compile(self, statements) -> Program:
        out = last_def = None
        for st in statements:  # one at a time: a statement's syntax tree is dropped once compiled
            if type(st) in (P.FuncDef, P.BackwardDef):  # user functions: functions.py
                from . import functions  # only programs that define functions pay for the module

                self.lib, last_def = functions.statement(self, st), st
                continue
            if st.target is not None:
                self.check_target(st.target, st.target_span)
            out = self.expr(st.expr)
            if st.target is not None:
                node = self.nodes[out]
                if node.kind == "op" and node.name is None:
                    node.name = st.target
                self.names[st.target] = out
        if out is None:
            self.error("the program defines functions but computes nothing: end it with an expression, "
                       "as in f(x)", last_def.span)
        return Program(self.src, self.nodes, out, self.variables, self.lib, self.rng)

    def check_target(self, name, span):
        if name in FUNCTIONS or name in CONSTRUCTORS:
            self.error(f"'{name}' is a function; it cannot be assigned", span)
        if name in CONSTANTS:
            self.error(f"'{name}' is the constant {CONSTANTS[name]!r}; it cannot be assigned", span)
        if self.lib is not None and name in self.lib:
            self.error(f"'{name}' is a function defined with def; it cannot be assigned", span)

    def expr(self, root) -> int:
        """The nodes of a syntax tree in post-order; returns the node index of root. A chain of
        binary operators (a flat sum of 500,000 terms is that deep) is walked down its left side
        in a loop; recursion is left for nesting the parser bounds (MAX_DEPTH): right operands,
        arguments, unary signs. Leaves and binary operators, nearly every node of a long program,
        are emitted inline; the rest goes through emit."""
        kind = type(root)
        if kind is P.Num:  # no children: emitted at once (half the nodes of a formula)
            self.nodes.append(Node("const", None, (), _PARAMS, root.span, value=root.value, exact=root.text))
            return len(self.nodes) - 1
        if kind is P.Name:
            return self.name(root)
        if kind is P.Bin:
            spine = []
            while type(root) is P.Bin:
                spine.append(root)
                root = root.left
            nodes, symbols, names, num, name = self.nodes, SYMBOLS, self.names, P.Num, P.Name
            left = names.get(root.id) if type(root) is name else None  # a name read before: no call
            if left is None:
                left = self.expr(root)
            for node in reversed(spine):
                right = node.right
                kind = type(right)
                if kind is name:  # the leaves of expr, inline: most right operands are one
                    right = names.get(right.id)
                    if right is None:
                        right = self.name(node.right)
                elif kind is num:
                    nodes.append(Node("const", None, (), _PARAMS, right.span, value=right.value, exact=right.text))
                    right = len(nodes) - 1
                else:
                    right = self.expr(right)
                op = symbols[node.op]
                if op.name == "pow":
                    self.check_exponent(op, (left, right), node.right.span)
                nodes.append(Node("op", op, (left, right), _PARAMS, node.span))
                left = len(nodes) - 1
            return left
        if kind is P.Call and root.func == "no_grad":
            self.no_grad_starts[id(root)] = len(self.nodes)  # its argument's nodes follow, contiguously
        args = []
        for k in self.children(root):
            idx = self.names.get(k.id) if type(k) is P.Name else None  # a name read before: no call
            args.append(self.expr(k) if idx is None else idx)
        return self.emit(root, args)

    def children(self, node):
        if type(node) is P.Bin:
            return (node.left, node.right)
        if isinstance(node, P.Unary):
            return [node.operand]
        if isinstance(node, P.Index):
            return [node.value]
        if isinstance(node, P.Call) and node.func in FUNCTIONS:
            return node.args[: FUNCTIONS[node.func].nargs]
        if isinstance(node, P.Call) and self.lib is not None and node.func in self.lib:
            return node.args  # a user function's arguments are all values
        return []

    def emit(self, node, args) -> int:
        if isinstance(node, P.Num):
            return self.add(Node("const", span=node.span, value=node.value, exact=node.text))
        if isinstance(node, P.Name):
            return self.name(node)
        if isinstance(node, P.Bin):
            op = SYMBOLS[node.op]
            self.check_exponent(op, args, node.right.span)
            return self.add(Node("op", op, tuple(args), span=node.span))
        if isinstance(node, P.Unary):
            if node.op == "+":
                return args[0]
            return self.add(Node("op", OPS["neg"], tuple(args), span=node.span))
        if isinstance(node, P.Index):
            return self.add(Node("op", OPS["index"], tuple(args), {"key": node.key}, span=node.span))
        if isinstance(node, P.Call):
            return self.call(node, args)
        if isinstance(node, P.ListLit):
            return self.add(Node("const", span=node.span, value=self.constant_list(node)))
        raise AssertionError(f"unhandled syntax node {type(node).__name__}")

    def name(self, node: P.Name) -> int:
        n = node.id
        if n in self.names:
            return self.names[n]
        if n in CONSTANTS:
            return self.add(Node("const", span=node.span, value=CONSTANTS[n], exact=n))
        if n in FUNCTIONS or n in CONSTRUCTORS or (self.lib is not None and n in self.lib):
            self.error(f"'{n}' is a function: call it, as in {n}(x)", node.span)
        if self.scope is not None and n not in self.scope.allowed:
            self.error(self.scope.unknown(n), node.span, "name")
        if n not in self.variables:
            self.variables[n] = self.add(Node("var", span=node.span, name=n))
        return self.variables[n]

    def call(self, node: P.Call, args) -> int:
        f = node.func
        if (self.lib is not None and f in self.lib) or (self.scope is not None and f == self.scope.owner):
            from . import functions

            return functions.call(self, node, args)
        if f in CONSTRUCTORS:
            values = [self.constant(a) for a in node.args]
            try:
                value = CONSTRUCTORS[f](*values, **({"rng": self.random()} if f in RANDOM else {}))
            except (TypeError, ValueError) as exc:
                self.error(f"{f}(): {exc}", node.span, "value")
            return self.add(Node("const", span=node.span, value=value))
        op = FUNCTIONS.get(f)
        if op is None:
            import difflib  # only for this message

            known = sorted(set(FUNCTIONS) | set(CONSTRUCTORS) | set(self.lib or ()))
            close = difflib.get_close_matches(f, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known functions: {', '.join(known)}"
            self.error(f"unknown function '{f}'{hint}", node.func_span, "name")
        extra = node.args[op.nargs:]
        if len(node.args) < op.nargs or len(extra) > len(op.params):
            want = f"{op.nargs}" if not op.params else f"{op.nargs} to {op.nargs + len(op.params)}"
            self.error(f"{f}() takes {want} argument{'s' if want != '1' else ''}, got {len(node.args)}", node.span)
        params = {}
        for pname, a in zip(op.params, extra):
            if not (isinstance(a, P.Num) and float(a.value).is_integer()):
                self.error(f"the {pname} of {f}() must be a whole number, as in {f}(A, 0)", a.span)
            if abs(a.value) > MAX_AXIS:  # numpy arrays have at most 64 dimensions; int(1e300) overflows C
                self.error(f"the {pname} of {f}() is {a.text}, out of range for any array (at most "
                           f"{MAX_AXIS} dimensions)", a.span, "value")
            params[pname] = int(a.value)
        params = params or _PARAMS  # no parameters: the one shared empty dict, as a Node's default
        self.check_exponent(op, args, node.args[-1].span)
        if f == "no_grad":  # as inside `with torch.no_grad():`, the ops written in the argument record nothing
            for k in range(self.no_grad_starts.pop(id(node)), len(self.nodes)):
                if self.nodes[k].kind == "op":
                    self.nodes[k].no_grad = True
        return self.add(Node("op", op, tuple(args), params, span=node.span))

    def check_exponent(self, op, args, span):
        """A literal exponent is bounded (x**1e9 of an array near 1 is fine, but its derivative
        rules and Taylor series multiply work by the exponent's size)."""
        if op.name == "pow" and self.nodes[args[1]].kind == "const":
            b = np.max(np.abs(self.nodes[args[1]].value))
            if b > MAX_EXPONENT:
                self.error(f"the exponent {b:g} is over the limit of {MAX_EXPONENT}", span, "limit")

    def constant(self, ast_node):
        """The number an argument of a constructor stands for (ones(2, 3), linspace(0, pi, 5))."""
        sub = _Compiler(self.src, self.lib, self.random())
        idx = sub.expr(ast_node)
        if sub.variables:
            name = next(iter(sub.variables))
            self.error(f"this must be a constant, but it uses the variable '{name}'", ast_node.span, "value")
        value = evaluate(Program(self.src, sub.nodes, idx, {}), {}, np.float64)[idx].value
        if np.ndim(value) != 0:
            self.error("this must be a single number", ast_node.span, "value")
        return float(value)

    def constant_list(self, node: P.ListLit):
        rows = []
        for item in node.items:
            if isinstance(item, P.ListLit):
                rows.append(self.constant_list(item))
            else:
                rows.append(self.constant(item))
        shapes = {np.shape(r) for r in rows}
        if len(shapes) != 1:
            self.error("the rows of this list have different lengths", node.span, "value")
        if np.ndim(rows[0]) >= MAX_AXIS:  # np.array would raise ValueError
            self.error(f"this list nests more than {MAX_AXIS} levels of brackets; an array has at most {MAX_AXIS} "
                       "dimensions", node.span, "limit")
        return np.array(rows, dtype=np.float64)


    def random(self):
        if self.rng is None:
            from .rng import Random

            self.rng = Random()
        return self.rng


def compile_source(src: str, *, lib=None, rng=None) -> Program:
    """`lib`: user functions (functions.Library) the program may call; `rng`: the run's
    rng.Random for rand()/randn() (one is made, with a fresh seed, on the first draw)."""
    if not isinstance(src, str):  # str(None) would be a program naming the variable None
        raise AgradError(f"the expression must be text (a str) or a Program from agrad.parse, got "
                         f"{type(src).__name__}", kind="usage")
    with gc_paused():
        return _Compiler(src, lib.copy() if lib is not None else None, rng).compile(P.parse_statements(src))


def parse(expr: str) -> Program:
    """Compile the text once into a Program that can be evaluated, or differentiated with
    agrad.grad, at any number of points without parsing again.

    >>> import agrad
    >>> f = agrad.parse("x**2 + y")
    >>> f(x=3, y=1), f(x=[1, 2], y=0).tolist()
    (10.0, [1.0, 4.0])
    >>> agrad.grad(f, x=3, y=1).gradients
    {'x': 6.0, 'y': 1.0}
    """
    return compile_source(expr)


# ---- library files ----------------------------------------------------------------------------
def load_library(paths, rng=None, base=None):
    """def/backward statements (and # comments) from files, in order; a later file may call
    the functions of an earlier one."""
    from . import functions

    paths = list(paths)
    if len(paths) > functions.MAX_LIB_FILES:
        raise AgradError(f"{len(paths)} lib files; the limit is {functions.MAX_LIB_FILES}", kind="limit")
    lib = base.copy() if base is not None else functions.Library()
    for path in paths:
        text = _read_lib(path)
        lib = parse_library(text, str(path), lib, rng)
    return lib


def parse_library(text: str, origin: str, lib, rng=None):
    from . import functions

    compiler = _Compiler(text, lib.copy(), rng)
    compiler.origin = origin
    try:
        with gc_paused():
            for st in P.parse_statements(text):
                if type(st) not in (P.FuncDef, P.BackwardDef):
                    span = st.target_span or st.expr.span
                    functions.error(compiler, f"{origin} is a lib file: it holds def and backward statements only",
                           (span[0], st.expr.span[1]))
                functions.statement(compiler, st)
    except AgradError as exc:
        if exc.message == "the expression is empty":
            return compiler.lib or lib  # comments only: nothing defined
        if not exc.message.startswith(origin):
            exc.message = f"in {origin}: {exc.message}"
            exc.args = (exc.message,)
        raise
    return compiler.lib




MAX_LIB_BYTES = 4 * P.MAX_SOURCE  # a lib file is source: at most MAX_SOURCE characters of UTF-8


def _read_lib(path) -> str:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # checked before open: opening a FIFO with no writer blocks forever
            what = "a directory" if stat.S_ISDIR(st.st_mode) else "a pipe or a device"
            raise AgradError(f"lib={path}: cannot read it ({what}, not a regular file)", kind="file")
        if st.st_size > MAX_LIB_BYTES:
            raise AgradError(f"lib={path}: over {MAX_LIB_BYTES:,} bytes", kind="file")
        with open(path, "rb") as fh:
            text = fh.read(MAX_LIB_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise AgradError(f"lib={path}: cannot read it ({reason})", kind="file") from None
    if len(text) > P.MAX_SOURCE:
        raise AgradError(f"lib={path}: the file is {len(text):,} characters long; the limit is {P.MAX_SOURCE:,}, "
                         f"as for a program", kind="limit")
    return text
