"""Plain dataclasses: what a command computed, ready for any renderer. No printing here."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NodeRow:
    """One node of the forward graph, as the table and `intermediates` show it."""

    index: int
    name: str | None  # a variable's name or a statement's target
    expr: str  # the source text of the node
    op: str  # PyTorch-style grad_fn name, "leaf", "const" or "detach"
    value: object
    grad: object  # d(output)/d(node) in the last pass, or None when no gradient reaches it
    is_leaf: bool
    requires_grad: bool
    detached: bool
    parents: list


@dataclass
class Pass:
    number: int  # 1-based; with --repeat each forward graph gets its own run of numbers
    forward: int  # which forward graph (1..repeat)
    gradients: dict  # leaf name -> accumulated .grad after this pass
    intermediates: dict  # node index -> gradient in this pass


@dataclass
class CheckItem:
    key: str  # "x", or "x,y" for a mixed partial
    ad: object
    sympy: object = None
    formula: object = None  # SymPy's derivative as text (an array of texts for tensors)
    fd: object = None  # central finite differences, when computed
    error: float | None = None  # max |ad - sympy|
    verdict: str = "ok"  # ok | mismatch | kink | skipped
    note: str = ""


@dataclass
class Check:
    status: str  # ok | failed | skipped | off
    reason: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    items: list = field(default_factory=list)
    seconds: float = 0.0
    rules: list = field(default_factory=list)  # hand-written backward rules vs SymPy (rules_check.RuleItem)

    @property
    def ok(self) -> bool | None:
        return {"ok": True, "failed": False}.get(self.status)


@dataclass
class Problem:
    """A NaN or infinity, and the node that first produced it."""

    what: str  # "value" or "gradient"
    node: int
    expr: str
    kind: str  # "nan" or "inf"


@dataclass
class GradResult:
    expression: str
    dtype: str
    output_shape: tuple
    value: object
    wrt: list
    gradients: dict  # leaf name -> accumulated .grad, PyTorch's x.grad after every pass
    derivatives: dict  # "x", "x,y", ... -> the mathematical derivative (one pass, no accumulation)
    nodes: list  # NodeRow
    passes: list  # Pass
    check: Check
    order: int = 1
    jacobian: bool = False
    seed: object = None
    saved: dict = field(default_factory=dict)  # {"values": n, "bytes": b} (+ "unfused_*" with --fuse)
    problems: list = field(default_factory=list)  # Problem
    warnings: list = field(default_factory=list)
    method: str = "reverse"  # how higher orders were computed: reverse | taylor
    graph_nodes: int = 0  # nodes built to compute every derivative (forward + backward graphs)
    hessian: dict | None = None  # {"matrix", "symmetric", "eigenvalues"} with --hessian
    expect: dict | None = None  # the user's claims (--expect) and how each fared
    random_seed: int | None = None  # the seed rand()/randn() drew with, when they drew (--seed replays it)

    @property
    def ok(self) -> bool:
        claims_hold = self.expect is None or all(c["ok"] for c in self.expect.values())
        return self.check.status != "failed" and claims_hold
