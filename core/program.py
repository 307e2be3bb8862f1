"""Syntax tree -> a flat list of graph nodes (inputs before users), and its evaluation.

The flat form is what every later stage walks in one loop: the AD engine (Tensors), the SymPy
cross-check (object arrays of symbols) and the table (one row per node). Nothing recurses over
the expression, so a 100,000-term sum or a 25,000-statement program costs only linear time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import parser as P
from .errors import AgradError
from .ops import FUNCTIONS, OPS, SYMBOLS, Op
from .tensor import Tensor, apply, gc_paused, grad_mode, quiet_numpy

CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_ELEMENTS = 10_000_000  # elements in one array value (80 MB in float64)
MAX_EXPONENT = 1_000  # |b| of a literal exponent a**b
MAX_AXIS = 64  # numpy's limit on dimensions


def _constructor_args(args, name, ints):
    if ints and not all(float(a).is_integer() and a >= 0 for a in args):
        raise ValueError(f"{name}() takes whole, non-negative sizes")
    return [int(a) for a in args] if ints else args


def _sized(shape):
    n = math.prod(shape)
    if n > MAX_ELEMENTS:
        count = f"{n:,}" if n < 10**15 else f"{float(n):.3g}"  # ones(1e300): not 300 digits
        raise ValueError(f"an array of {count} elements is over the limit of {MAX_ELEMENTS:,}")
    return shape


def _linspace(a, b, n=50):
    (n,) = _constructor_args([n], "linspace", True)
    return np.linspace(a, b, _sized((n,))[0])


# Functions that build constant arrays; their arguments are numbers.
CONSTRUCTORS = {
    "ones": lambda *s: np.ones(_sized(tuple(_constructor_args(s, "ones", True)))),
    "zeros": lambda *s: np.zeros(_sized(tuple(_constructor_args(s, "zeros", True)))),
    "eye": lambda n: np.eye(*_sized(tuple(_constructor_args([n, n], "eye", True)))),
    "linspace": _linspace,
    # random arrays: numpy's default_rng, drawn from the run's generator (rng.py), uniform on [0, 1)
    # and standard normal, as torch.rand and torch.randn
    "rand": lambda *s, rng: rng.generator().random(_sized(tuple(_constructor_args(s, "rand", True)))),
    "randn": lambda *s, rng: rng.generator().standard_normal(_sized(tuple(_constructor_args(s, "randn", True)))),
}
RANDOM = ("rand", "randn")


_NO_PARAMS: dict = {}


@dataclass(slots=True)
class Node:
    kind: str  # "var", "const" or "op"
    op: Op | None = None
    args: tuple = ()
    params: dict = field(default_factory=lambda: _NO_PARAMS)  # shared and never mutated: 100k nodes, one dict
    span: tuple = (0, 0)
    name: str | None = None  # a statement's target, or the variable's name
    value: object = None  # a constant's value
    exact: str | None = None  # a numeric literal's text, for an exact SymPy number
    no_grad: bool = False  # written inside no_grad(...): computed with grad mode off, never recorded


@dataclass(slots=True)
class Program:
    source: str
    nodes: list
    output: int
    variables: dict  # name -> index of its node (in order of first use)
    lib: object = None  # the user functions it was compiled with (functions.Library)
    random: object = None  # the generator rand()/randn() drew from (rng.Random)

    def __call__(self, at: dict | None = None, **bindings):
        """The output's value at a point (numbers, lists or arrays), with no graph recorded: a
        compiled program is evaluated again without parsing."""
        values = {**(at or {}), **bindings}
        for name, idx in self.variables.items():
            if name not in values:
                raise AgradError(f"no value for '{name}': bind it with {name}=VALUE", kind="name",
                                 span=self.nodes[idx].span, source=self.source)
        with grad_mode(False):
            leaves = {n: Tensor(float_array(v, n)) for n, v in values.items()}
            v = forward(self, leaves, np.float64).value
        return v.item() if np.ndim(v) == 0 else v

    def label(self, i: int, limit: int = 60) -> str:
        """The source text node i was written as, shortened to `limit` characters. Computed on
        demand: storing it per node would cost quadratic memory for a 100,000-term sum."""
        node = self.nodes[i]
        if node.kind == "var":
            return node.name
        a, b = node.span
        if b - a <= limit:
            return self.source[a:b]
        half = (limit - 1) // 2
        return self.source[a:a + half] + "…" + self.source[b - half:b]


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
                from . import functions

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
        """Post-order walk with an explicit stack; returns the node index of root."""
        results: dict[int, int] = {}
        stack = [(root, None)]
        leaf = (P.Num, P.Name)
        while stack:
            node, kids = stack.pop()
            if kids is None:
                if type(node) in leaf:  # no children: emitted at once (half the nodes of a formula)
                    results[id(node)] = self.emit(node, ())
                    continue
                if isinstance(node, P.Call) and node.func == "no_grad":
                    self.no_grad_starts[id(node)] = len(self.nodes)  # its argument's nodes follow, contiguously
                kids = self.children(node)
                stack.append((node, kids))
                stack.extend((k, None) for k in reversed(kids))
                continue
            results[id(node)] = self.emit(node, [results[id(k)] for k in kids])
        return results[id(root)]

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
        return np.array(rows, dtype=np.float64)


    def random(self):
        if self.rng is None:
            from .rng import Random

            self.rng = Random()
        return self.rng


def compile_source(src: str, *, lib=None, rng=None) -> Program:
    """`lib`: user functions (functions.Library) the program may call; `rng`: the run's
    rng.Random for rand()/randn() (one is made, with a fresh seed, on the first draw)."""
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


def float_array(v, name: str):
    try:
        a = np.asarray(v, dtype=np.float64)
    except (ValueError, TypeError):
        raise AgradError(f"the value of '{name}' is not a number, a rectangular list or an array",
                         kind="binding") from None
    return a[()] if a.ndim == 0 else a


def evaluate(program: Program, leaves: dict, dtype, keep=None, release=None) -> list:
    """Run the program forward on Tensors. `leaves` maps variable names to Tensors.

    `keep` holds the nodes whose values the caller reads (default: all, as the table shows
    them). Any other array is released once its last user has run unless a derivative rule
    reads it (Op.saved), as PyTorch frees an intermediate nobody holds: on large arrays memory
    is time, since every array that cannot reuse freed memory faults in fresh pages."""
    vals = [None] * len(program.nodes)
    ndarray, scalar = np.ndarray, np.dtype(dtype).type
    if release is None and keep is not None:  # a caller running one program many times passes release_plan()
        release = _last_users(program, keep)
    saved = set()
    with quiet_numpy(), gc_paused():  # nan/inf are reported per node afterwards, not as warnings
        for i, node in enumerate(program.nodes):
            if node.kind == "op":
                args = node.args
                if len(args) == 2 and node.op.elementwise:  # refuse a huge broadcast before numpy allocates it
                    a, b = vals[args[0]].value, vals[args[1]].value
                    if type(a) is ndarray and type(b) is ndarray and a.shape != b.shape:
                        _check_broadcast(program, i, a, b)
                try:
                    if node.no_grad:
                        with grad_mode(False):
                            out = apply(node.op, tuple([vals[j] for j in args]), node.params)
                    elif len(args) == 2 and not node.params:
                        out = apply(node.op, (vals[args[0]], vals[args[1]]))
                    else:
                        out = apply(node.op, tuple([vals[j] for j in args]), node.params)
                except (ValueError, IndexError, TypeError) as exc:
                    raise AgradError(f"cannot compute {program.label(i)}: {_numpy_message(exc)}", kind="shape",
                                     span=node.span, source=program.source) from None
                vals[i] = out
                if type(out.value) is ndarray and out.value.size > MAX_ELEMENTS:
                    raise AgradError(f"{program.label(i)} has {np.size(vals[i].value):,} elements, over the "
                                     f"limit of {MAX_ELEMENTS:,}", kind="limit", span=node.span,
                                     source=program.source)
                if release is not None:
                    if out.op is not None:  # recorded: its rules will read what they save
                        saved.update(i if k is None else args[k] for k in out.op.saved(out.parents))
                    for j in release.get(i, ()):
                        if j not in saved:
                            _release(vals[j])
            elif node.kind == "var":
                vals[i] = leaves[node.name]
            elif type(node.value) is float:  # a literal: the quick way to a numpy scalar
                vals[i] = Tensor(scalar(node.value))
            else:
                v = np.asarray(node.value, dtype=dtype)
                vals[i] = Tensor(v[()] if v.ndim == 0 else v)
    return vals


def _last_users(program: Program, keep) -> dict:
    """{user: the op nodes, outside `keep`, whose value is read last by that user}."""
    last = {}
    for i, node in enumerate(program.nodes):
        for j in node.args:
            last[j] = i
    keep = set(keep)
    out: dict[int, list] = {}
    for j, i in last.items():
        if j not in keep and program.nodes[j].kind == "op":
            out.setdefault(i, []).append(j)
    return out


def release_plan(program: Program, keep) -> dict:
    """What evaluate(..., keep=keep) releases after each node: computed once by a caller that
    evaluates the same program many times (a descent) and passed as `release`."""
    return _last_users(program, keep)


_STAND_INS: dict = {}  # (shape, dtype) -> a read-only NaN view: np.broadcast_to costs ~10 us a call


def _release(t: Tensor) -> None:
    """Drop an array value, keeping its shape and dtype (rules read shapes of values they do not
    save). The stand-in is NaN, so a rule that read a value its `saves` did not list shows up."""
    v = t.value
    if type(v) is np.ndarray and v.size > 1:
        key = (v.shape, v.dtype)
        stand_in = _STAND_INS.get(key)
        if stand_in is None:
            if len(_STAND_INS) > 256:
                _STAND_INS.clear()
            stand_in = _STAND_INS[key] = np.broadcast_to(
                np.array(np.nan if v.dtype.kind in "fc" else 0, dtype=v.dtype), v.shape)
        t.value = stand_in


def forward(program: Program, leaves: dict, dtype) -> Tensor:
    """The output alone: every intermediate value nobody reads is released on the way."""
    return evaluate(program, leaves, dtype, keep=(program.output,))[program.output]


def _check_broadcast(program, i, a, b):
    try:
        size = math.prod(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        return  # the operation itself reports shapes that do not broadcast
    if size > MAX_ELEMENTS:
        raise AgradError(f"{program.label(i)} would have {size:,} elements, over the limit of {MAX_ELEMENTS:,}",
                         kind="limit", span=program.nodes[i].span, source=program.source)


def _numpy_message(exc) -> str:
    msg = str(exc)
    if "could not be broadcast" in msg:
        shapes = msg.split("shapes", 1)[-1].strip()
        return f"the shapes {shapes} do not broadcast together"
    if "out of bounds" in msg or "too many indices" in msg:
        return msg.replace("index", "the index", 1)
    return msg
