"""agrad: gradients of a formula by reverse-mode automatic differentiation with PyTorch's
autograd semantics, checked against SymPy and finite differences.

    >>> import agrad
    >>> r = agrad.grad("(x1**2 + 2*x2)**2", x1=2, x2=3)
    >>> r.gradients, r.check.ok
    ({'x1': 80.0, 'x2': 40.0}, True)

The public API is what __all__ lists; every other module is agrad's own business. Core never
prints: every call returns a frozen dataclass (agrad.results) and the command line renders it.
"""


from .errors import AgradError, BindingError, LimitError, ParseError, UsageError  # noqa: E402
from .gradient import grad, hessian
from .program import Program, parse
from .results import Check, CheckItem, Claim, GradcheckResult, GradResult, HessianSummary, NodeRow

# The rest load on first use (PEP 562), so `import agrad` and the command line start quickly.
_LAZY = {
    "gradcheck": "fdcheck", "check_file": "derivation", "derivation_files": "derivation", "CaseResult": "derivation",
    "bench": "timing",
    "BenchResult": "timing", "descend": "descent", "DescendResult": "descent", "pointwise": "points",
    "PointwiseResult": "points", "Explanation": "explain", "function_signatures": "ops", "read_source": "values",
}

__all__ = [
    "grad", "hessian", "gradcheck", "check_file", "derivation_files", "parse", "bench", "descend", "pointwise",
    "function_signatures", "read_source",
    "Program", "GradResult", "GradcheckResult", "HessianSummary", "CaseResult", "Check", "CheckItem", "Claim",
    "NodeRow", "BenchResult", "DescendResult", "PointwiseResult", "Explanation",
    "AgradError", "ParseError", "BindingError", "UsageError", "LimitError",
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agrad' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
