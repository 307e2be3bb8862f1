"""Your own functions: `def f(a, b) = BODY` and `backward f = G1, G2` (torch.autograd.Function).

A call of a user function compiles to ONE graph node whose Op is built here, per definition:

- fwd runs the body's compiled sub-program on numpy values;
- with a hand-written rule, each input's vjp runs that rule's expression with agrad's own ops
  (`g` the incoming gradient, `out` the output, the parameters the inputs), so create_graph
  records it and second derivatives flow through the user's rule, as in PyTorch; the node
  saves what the rule reads (ctx.save_for_backward);
- without a rule it is a coarse node: backward recomputes the body under grad mode and
  backpropagates through it (checkpointing, as --fuse does), so it saves only its inputs;
- sym builds the body in SymPy (the check differentiates the body itself, not the rule);
- jet propagates Taylor series through the body (a function with a rule has none: its
  higher derivatives must come from its rule, so they are taken by nested reverse mode).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import parser as P
from .errors import AgradError, shape_text
from .ops import FUNCTIONS, OPS, Op
from .graph import CONSTANTS, CONSTRUCTORS, Node, Program, evaluate
from .tensor import Tensor, _state, apply, const, grad_mode

MAX_PARAMS = 32
MAX_LIB_FILES = 100
_VIEW = OPS["reshape"]  # an identity that records a node: a place for one input's gradient


class Scope:
    """The names a def's body or a backward rule may use, and what to say about any other."""

    def __init__(self, owner: str, allowed, unknown):
        self.owner = owner  # the function being defined: calling it here is recursion
        self.allowed = allowed
        self.unknown = unknown  # name -> message


class Definition:
    """One `def`, its optional rule, and the Op built from them on the first call."""

    def __init__(self, name, params, body: Program, source: str, *, span, origin: str | None):
        self.name, self.params, self.body, self.source, self.span = name, params, body, source, span
        self.origin = origin  # the lib file it came from, or None for the program itself
        self.rules: list[Program] | None = None
        self.rule_spans: list = []
        self.rule_texts: list = []
        self.op_: Op | None = None

    @property
    def body_text(self) -> str:
        return self.body.label(self.body.output, limit=200)

    def op(self) -> Op:
        if self.op_ is None:
            self.op_ = _make_op(self)
        return self.op_


class Library:
    """User functions by name, in definition order. A compile copies it, so the definitions a
    program makes never leak into the library shared by several calls."""

    def __init__(self, defs: dict | None = None):
        self.defs: dict[str, Definition] = dict(defs or {})

    def __contains__(self, name) -> bool:
        return name in self.defs

    def __iter__(self):
        return iter(self.defs)

    def __getitem__(self, name) -> Definition:
        return self.defs[name]

    def copy(self) -> Library:
        return Library(self.defs)


def _built_in(name: str) -> str | None:
    if name in FUNCTIONS or name in CONSTRUCTORS:
        return "a built-in function"
    if name in CONSTANTS:
        return f"the constant {name}"
    return None


def error(compiler, msg, span, kind="definition"):
    raise AgradError(msg, kind=kind, span=span, source=compiler.src)


def statement(compiler, st) -> Library:
    """Compile a def or backward statement into the compiler's library (made on the first)."""
    lib = compiler.lib if compiler.lib is not None else Library()
    compiler.lib = lib
    if type(st) is P.FuncDef:
        _define(compiler, lib, st)
    else:
        _backward(compiler, lib, st)
    return lib


def _define(compiler, lib: Library, st: P.FuncDef):
    name = st.name
    what = _built_in(name)
    if what is not None:
        error(compiler, f"'{name}' is {what}; a def cannot redefine it", st.name_span)
    if name in lib:
        error(compiler, f"'{name}' is already defined; each function is defined once", st.name_span)
    if len(st.params) > MAX_PARAMS:
        error(compiler, f"{name} has {len(st.params)} parameters; the limit is {MAX_PARAMS}", st.name_span, "limit")
    params = [p for p, _ in st.params]
    for p, span in st.params:
        what = _built_in(p)
        if what is not None or p in lib:
            error(compiler, f"a parameter cannot be named '{p}': that is {what or 'a function'}", span)
    listed = ", ".join(params) or "none"
    scope = Scope(name, set(params), lambda n: f"the body of {name} uses '{n}', which is not one of its "
                                               f"parameters ({listed}); pass it as an argument")
    sub = type(compiler)(compiler.src, lib, compiler.random(), scope)
    for p, span in st.params:  # in order, so input k is parameter k
        sub.variables[p] = sub.add(Node("var", span=span, name=p))
    out = sub.expr(st.body)
    body = Program(compiler.src, sub.nodes, out, sub.variables, lib, compiler.rng)
    lib.defs[name] = Definition(name, params, body, compiler.src, span=st.span, origin=getattr(compiler, "origin", None))


def _backward(compiler, lib: Library, st: P.BackwardDef):
    name = st.name
    if name not in lib:
        if _built_in(name) == "a built-in function":
            error(compiler, f"'{name}' is a built-in function with its own rule; backward gives rules to "
                             f"functions made with def", st.name_span)
        error(compiler, f"backward for '{name}', which is not defined: define it first (def {name}(...) = ...)",
               st.name_span)
    d = lib[name]
    if d.rules is not None:
        error(compiler, f"'{name}' already has a backward rule", st.name_span)
    if d.op_ is not None:
        error(compiler, f"backward for '{name}' comes after {name} is called; give the rule before the first call",
               st.name_span)
    n, listed = len(d.params), ", ".join(d.params)
    if len(st.exprs) != n:
        error(compiler, f"backward for {name} gives {len(st.exprs)} expression{'s' * (len(st.exprs) != 1)}, but "
                         f"{name} has {n} parameter{'s' * (n != 1)} ({listed}): give one per parameter, in order",
               st.span)
    for reserved, meaning in (("g", "the incoming gradient"), ("out", "the output")):
        if reserved in d.params:
            error(compiler, f"{name} has a parameter named '{reserved}', which a backward rule reads as {meaning}; "
                             f"rename the parameter", st.name_span)
    allowed = {"g", "out", *d.params}
    scope = Scope(name, allowed, lambda v: f"the backward rule of {name} names '{v}'; it may name g (the incoming "
                                           f"gradient), out (the output) and the parameters of {name} ({listed})")
    rules, spans = [], []
    for e in st.exprs:
        sub = type(compiler)(compiler.src, lib, compiler.random(), scope)
        out = sub.expr(e)
        rules.append(Program(compiler.src, sub.nodes, out, sub.variables, lib, compiler.rng))
        spans.append(e.span)
    d.rules, d.rule_spans = rules, spans
    d.rule_texts = [compiler.src[a:b] for a, b in spans]


def call(compiler, node: P.Call, args) -> int:
    """A call of a user function: one node, its Op built from the definition."""
    f = node.func
    scope = compiler.scope
    if scope is not None and f == scope.owner:
        error(compiler, f"{f} calls itself: a function may call only functions defined before it (no recursion)",
               node.func_span)
    d = compiler.lib[f]
    if len(args) != len(d.params):
        n = len(d.params)
        error(compiler, f"{f}() takes {n} argument{'s' * (n != 1)} ({', '.join(d.params)}), got {len(args)}",
               node.span, "parse")
    return compiler.add(Node("op", d.op(), tuple(args), span=node.span))


# ---- the Op of a definition -------------------------------------------------------------------
def _grad_fn_name(name: str) -> str:
    return name[:1].upper() + name[1:] + "Backward"  # as PyTorch names MultiplyAdd's: MultiplyAddBackward


@dataclass(frozen=True, slots=True, repr=False)
class FunctionOp(Op):
    """An Op made from a def. `reads[k]`: what input k's rule reads (input positions, None for
    the output), so a node keeps exactly that, as ctx.save_for_backward does."""

    definition: object = None
    reads: tuple = ()

    def saved(self, inputs) -> set:
        out = set()
        for r, t in zip(self.reads, inputs):
            if t.requires_grad:
                out |= r
        return out

    def __repr__(self):
        return f"FunctionOp({self.name})"


def _run_numpy(body: Program, args):
    """The body on plain numpy values (a forward pass records nothing inside the node)."""
    dtype = np.result_type(*args) if args else np.float64
    pos = {body.variables[p]: k for k, p in enumerate(body.variables)}
    vals = [None] * len(body.nodes)
    for i, n in enumerate(body.nodes):
        if n.kind == "var":
            vals[i] = args[pos[i]]
        elif n.kind == "const":
            v = np.asarray(n.value, dtype=dtype)
            vals[i] = v[()] if v.ndim == 0 else v
        elif n.params:
            vals[i] = n.op.fwd(*[vals[j] for j in n.args], **n.params)
        else:
            vals[i] = n.op.fwd(*[vals[j] for j in n.args])
    return vals[body.output]


def run_body(d: Definition, inputs) -> Tensor:
    """The body on Tensors: records a graph when grad mode is on."""
    return evaluate(d.body, dict(zip(d.params, inputs)), inputs[0].dtype if inputs else np.float64,
                    keep=(d.body.output,))[d.body.output]


def run_rule(d: Definition, k: int, g: Tensor, out: Tensor, inputs) -> Tensor:
    """Rule k (for parameter k) at one node, its result's shape checked as PyTorch checks a
    Function's backward: the input's shape must broadcast to it (sum_to reduces it then)."""
    prog = d.rules[k]
    env = {"g": g, "out": out, **dict(zip(d.params, inputs))}
    r = evaluate(prog, {n: env[n] for n in prog.variables}, g.value.dtype, keep=(prog.output,))[prog.output]
    want = np.shape(inputs[k].value)
    got = np.shape(r.value)
    if got != want:
        try:
            fits = np.broadcast_shapes(want, got) == got
        except ValueError:
            fits = False
        if not fits:
            raise AgradError(f"the backward rule of {d.name} returned an invalid gradient for input {d.params[k]}: "
                             f"got shape {shape_text(got)} but expected a shape compatible with {shape_text(want)}",
                             kind="shape", span=d.rule_spans[k], source=d.source)
    return r


def _coarse_vjps(d: Definition, n: int) -> tuple:
    """One rule per input that recomputes the body once for all of a node's inputs."""
    state: dict = {}

    def grads_of(g, out, inputs):
        from .autodiff import run_backward

        hit = state.get("refs")
        if hit is not None and hit[0] is out and hit[1] is g:
            return state["grads"]
        create = _state.grad
        with grad_mode(True):
            if create:  # one view per input: the recomputed body hangs from the real inputs, and an input
                # passed twice (f(x, x)) still gets one gradient per position
                local = [apply(_VIEW, (p,), {"shape": np.shape(p.value)}) for p in inputs]
            else:
                local = [Tensor(p.value, requires_grad=p.requires_grad) for p in inputs]
            t = run_body(d, local)
        grads = (run_backward([t], [g], retain_graph=create, create_graph=create, stop=tuple(local))
                 if t.requires_grad else {})
        res = [grads[x] if x in grads else const(np.zeros(np.shape(p.value)), p) for x, p in zip(local, inputs)]
        state["refs"], state["grads"] = (out, g), res
        return res

    def rule_for(k):
        def rule(g, out, *inputs):
            res = grads_of(g, out, inputs)[k]
            if k == max(j for j, p in enumerate(inputs) if p.requires_grad):
                state.clear()  # the node's last input served: drop the arrays
            return res
        return rule

    return tuple(rule_for(k) for k in range(n))


def _rule_vjps(d: Definition) -> tuple:
    def rule_for(k):
        return lambda g, out, *inputs: run_rule(d, k, g, out, inputs)
    return tuple(rule_for(k) for k in range(len(d.params)))


def _sym(d: Definition):
    def build(sp, *args):
        from . import symbolic as S

        if any(n.kind == "op" and n.op.name == "detach" for n in d.body.nodes):
            raise ValueError(f"detach inside the body of {d.name} has no SymPy form")
        syms = {p: np.asarray(a, dtype=object) for p, a in zip(d.params, args)}
        return S.build(d.body, syms)[d.body.output]
    return build


def _jet(d: Definition):
    body = d.body
    if any(n.kind == "op" and n.op.jet is None for n in body.nodes):
        return None
    pos = {body.variables[p]: k for k, p in enumerate(body.variables)}

    def jet(_op, K, *series):
        dtype = np.result_type(*series) if series else np.float64
        vals = [None] * len(body.nodes)
        for i, n in enumerate(body.nodes):
            if n.kind == "var":
                vals[i] = series[pos[i]]
            elif n.kind == "const":
                c = np.asarray(n.value, dtype=dtype)
                z = np.zeros((K + 1,) + c.shape, dtype=dtype)
                z[0] = c
                vals[i] = z
            else:
                vals[i] = n.op.jet(n.op, K, *[vals[j] for j in n.args], **n.params)
        return vals[body.output]
    return jet


def _make_op(d: Definition) -> FunctionOp:
    n = len(d.params)
    if d.rules is None:
        vjp, jet = _coarse_vjps(d, n), _jet(d)
        reads = tuple(frozenset(range(n)) for _ in range(n))  # recomputing the body needs every input
    else:
        vjp, jet = _rule_vjps(d), None  # Taylor series of the body would ignore the rule
        reads = tuple(frozenset(None if v == "out" else d.params.index(v) for v in r.variables if v != "g")
                      for r in d.rules)
    return FunctionOp(d.name, lambda *a: _run_numpy(d.body, a), vjp, _sym(d), jet, _grad_fn_name(d.name),
                      nargs=n, definition=d, reads=reads)


