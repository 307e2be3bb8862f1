"""Frozen dataclasses: what a call computed, ready for any renderer. No printing here."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class NodeRow:
    """One node of the forward graph, as the table and `intermediates` show it."""

    index: int
    name: str | None  # a variable's name or a statement's target
    expr: str  # the source text of the node
    op: str  # PyTorch-style grad_fn name, "leaf", "const" or "detach"
    value: object
    grad: object  # d(output)/d(node) in the first pass, or None when no gradient reaches it
    is_leaf: bool
    requires_grad: bool
    detached: bool
    parents: tuple

    @property
    def grad_fn(self) -> str | None:
        """PyTorch's grad_fn name: None for leaves and for values that need no gradient."""
        return self.op if self.requires_grad and not self.is_leaf else None


@dataclass(frozen=True)
class Pass:
    number: int  # 1-based; with repeat each forward graph gets its own run of numbers
    forward: int  # which forward graph (1..repeat)
    gradients: dict  # leaf name -> accumulated .grad after this pass
    intermediates: dict  # node index -> gradient in this pass


@dataclass(frozen=True)
class CheckItem:
    key: str  # "x", or "x,y" for a mixed partial
    ad: object
    sympy: object = None
    formula: object = None  # SymPy's derivative as text (an array of texts for tensors)
    fd: object = None  # central finite differences, when computed
    error: float | None = None  # max |ad - sympy|
    verdict: str = "ok"  # ok | mismatch | kink | unverified
    note: str = ""


@dataclass(frozen=True)
class Check:
    status: str  # ok | failed | skipped | off
    reason: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    items: tuple = ()
    seconds: float = 0.0
    rules: tuple = ()  # hand-written backward rules vs SymPy (rules_check.RuleItem)

    @property
    def ok(self) -> bool | None:
        return {"ok": True, "failed": False}.get(self.status)


@dataclass(frozen=True)
class NonFinite:
    """A NaN or infinity, and the node that first produced it."""

    what: str  # "value" or "gradient"
    node: int
    expr: str
    kind: str  # "nan" or "inf"


@dataclass(frozen=True)
class Claim:
    """A user's claim about one derivative (expect=...) and how it fared."""

    key: str
    claimed: object  # as written: a number, a list or a formula
    claimed_value: object
    actual: object
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class HessianSummary:
    """Second-order partials as one matrix over every scalar entry of the variables."""

    labels: list
    matrix: np.ndarray
    symmetric: bool
    eigenvalues: np.ndarray
    kind: str  # minimum | maximum | saddle | degenerate ... | not a stationary point | undefined


@dataclass(frozen=True)
class GradResult:
    """What agrad.grad computed. `gradients` is PyTorch's x.grad after every pass;
    `derivatives` the mathematical derivatives of one pass, every order computed."""

    expression: str
    dtype: str
    output_shape: tuple
    value: object
    wrt: list
    gradients: dict
    derivatives: dict  # "x", "x,y", ... -> array
    nodes: list  # NodeRow, one per graph node
    output: NodeRow  # the node of the last statement
    passes: list  # Pass
    check: Check
    order: int = 1
    jacobian: bool = False
    seed: object = None
    saved: dict = field(default_factory=dict)  # {"values": n, "bytes": b} (+ "unfused_*" with fuse)
    problems: list = field(default_factory=list)  # NonFinite
    warnings: list = field(default_factory=list)
    method: str = "reverse"  # how higher orders were computed: reverse | taylor
    graph_nodes: int = 0  # nodes built to compute every derivative (forward + backward graphs)
    hessian: HessianSummary | None = None
    expect: dict | None = None  # key -> Claim
    random_seed: int | None = None  # the seed rand()/randn() drew with, when they drew (seed= replays it)
    explanation: object = None  # explain=True: the chain rule edge by edge (explain.Explanation)
    latex: str | None = None  # latex=True: the derivatives (and with explain the chain rule) as LaTeX

    @property
    def ok(self) -> bool:
        """No derivative disagrees with SymPy and every claim holds."""
        claims_hold = self.expect is None or all(c.ok for c in self.expect.values())
        return self.check.status != "failed" and claims_hold


@dataclass(frozen=True)
class GradcheckBlock:
    of: str  # "y", or "d/dx" for gradgradcheck
    wrt: str
    analytical: np.ndarray
    numerical: np.ndarray
    bad: np.ndarray  # True where |analytical - numerical| > atol + rtol * |numerical|

    @property
    def ok(self) -> bool:
        return not bool(self.bad.any())


@dataclass(frozen=True)
class GradcheckResult:
    """agrad.gradcheck: numerical against analytical Jacobians, entry by entry."""

    expression: str
    order: int
    eps: float
    atol: float
    rtol: float
    blocks: tuple
    random_seed: int | None = None  # the seed rand()/randn() drew with, when they drew
    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.blocks)

    @property
    def failures(self) -> list:
        """(of, wrt, index, analytical, numerical) for every entry that differs."""
        return [(b.of, b.wrt, idx, float(b.analytical[idx]), float(b.numerical[idx]))
                for b in self.blocks for idx in np.ndindex(*b.bad.shape) if b.bad[idx]]
