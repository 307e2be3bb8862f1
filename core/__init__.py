"""agrad: gradients of a formula by reverse-mode automatic differentiation with PyTorch's
autograd semantics, checked against SymPy and finite differences.

    >>> import agrad
    >>> r = agrad.grad("(x1**2 + 2*x2)**2", x1=2, x2=3)
    >>> r.gradients, r.check.ok
    ({'x1': 80.0, 'x2': 40.0}, True)

The public API is what __all__ lists; every other module is agrad's own business. Core never
prints: every call returns a frozen dataclass (agrad.results) and the command line renders it.
"""
from .memory import keep_freed_memory

keep_freed_memory()  # array memory is reused across passes, not faulted in again (memory.py)

from .derivation import CaseResult, check_file  # noqa: E402
from .descent import DescendResult, descend
from .errors import AgradError, BindingError, LimitError, ParseError, UsageError
from .fdcheck import gradcheck
from .explain import Explanation
from .gradient import grad, hessian
from .ops import function_signatures
from .points import PointwiseResult, pointwise
from .program import Program, parse
from .timing import BenchResult, bench
from .values import read_source
from .results import Check, CheckItem, Claim, GradcheckResult, GradResult, HessianSummary, NodeRow

__all__ = [
    "grad", "hessian", "gradcheck", "check_file", "parse", "bench", "descend", "function_signatures", "read_source", "BenchResult",
    "DescendResult", "pointwise", "PointwiseResult", "Explanation",
    "Program", "GradResult", "GradcheckResult", "HessianSummary", "CaseResult", "Check", "CheckItem", "Claim",
    "NodeRow",
    "AgradError", "ParseError", "BindingError", "UsageError", "LimitError",
]
