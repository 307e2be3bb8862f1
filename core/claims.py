"""A user's claims about derivatives (`--expect`, `expect = {...}` in derivation files),
judged against AD (and, for a formula that fails, explained with SymPy)."""
from __future__ import annotations

import numpy as np

from .check import close
from .errors import AgradError
from .program import compile_source, forward
from .tensor import Tensor, grad_mode


def parse_claims(text: str) -> dict:
    """'x1=80,x2=40' or 'x1: 4*x1*(x1**2 + 2*x2)' or 'x1,x2=16' (a mixed partial) or
    'w=[4,6,8]'. Commas inside brackets belong to the value."""
    segments, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            segments.append(cur)
            cur = ""
        else:
            cur += ch
    segments.append(cur)
    claims, pending = {}, []
    for seg in segments:
        sep = _separator(seg)
        if sep is None:  # the language has no top-level commas, so this is part of a key (x1,x2=16)
            pending.append(seg.strip())
            continue
        key, value = seg.split(sep, 1)
        key = ",".join(pending + [key.strip()])
        pending = []
        if not all(k.isidentifier() for k in key.split(",")) or not value.strip():
            raise AgradError(f"--expect takes NAME=VALUE or NAME: FORMULA pairs separated by commas, got {text!r}",
                             kind="usage")
        claims[key] = value.strip()
    if pending:
        raise AgradError(f"--expect: '{','.join(pending)}' has no value (write {pending[0]}=VALUE)", kind="usage")
    return claims


def _separator(seg: str):
    depth = 0
    for ch in seg:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch in "=:" and depth == 0:
            return ch
    return None


def claim_order(claims: dict) -> int:
    return max((len(k.split(",")) for k in claims), default=1)


def claimed_value(claim, point: dict, key: str):
    """A claim as a numpy array: a number or list as given, a formula evaluated at the point."""
    if isinstance(claim, (int, float, list)):
        return np.asarray(claim, dtype=np.float64), None
    text = str(claim)
    try:
        program = compile_source(text)
    except AgradError as exc:
        raise AgradError(f"the claim for {key} is not a number, list or formula: {exc.message}", kind="claim",
                         span=exc.span, source=text) from None
    missing = [v for v in program.variables if v not in point]
    if missing:
        raise AgradError(f"the claim for {key} uses '{missing[0]}', which has no value", kind="claim")
    with grad_mode(False), np.errstate(all="ignore"):
        leaves = {n: Tensor(np.asarray(point[n], dtype=np.float64)) for n in program.variables}
        value = forward(program, leaves, np.float64).value
    is_formula = bool(program.variables) or any(n.kind == "op" for n in program.nodes)
    return np.asarray(value, dtype=np.float64), (program if is_formula else None)


def judge(claims: dict, derivatives: dict, point: dict, rtol: float, atol: float, *, source: str | None = None,
          shapes: dict | None = None, explain: bool = True) -> dict:
    """{key: {claimed, claimed_value, actual, ok, detail}} for every claim."""
    out = {}
    for key, claim in claims.items():
        if key not in derivatives:
            raise AgradError(f"the claim names the derivative '{key}', which was not computed; computed: "
                             f"{', '.join(derivatives) or 'none'}", kind="claim")
        actual = np.asarray(derivatives[key], dtype=np.float64)
        value, formula = claimed_value(claim, point, key)
        try:
            good = bool(np.all(close(np.broadcast_to(value, actual.shape), actual, rtol, atol)))
        except ValueError:
            good = False
        detail = ""
        if not good:
            detail = f"claimed {_short(value)}, but the derivative is {_short(actual)}"
            if formula is not None and explain and source is not None:
                detail += "; " + _explain(source, str(claim), key, point, shapes or {})
        out[key] = {"claimed": claim, "claimed_value": value, "actual": actual, "ok": good, "detail": detail}
    return out


def _short(v) -> str:
    a = np.asarray(v)
    return repr(float(a)) if a.ndim == 0 else np.array2string(a, precision=10, threshold=8, separator=", ")


def _explain(source: str, formula: str, key: str, point: dict, shapes: dict) -> str:
    """SymPy's simplified difference between the claim and the true derivative."""
    try:
        import sympy as sp

        from . import symbolic as S
        from .check import _time_limit

        with _time_limit(5.0):
            syms = S.symbols_of(shapes)
            program = compile_source(source)
            expr = S.build(program, syms)[program.output]
            for v in key.split(","):
                expr = S.jacobian(expr, syms[v])
            claim_prog = compile_source(formula)
            claim = S.build(claim_prog, syms)[claim_prog.output]
            diff = np.vectorize(lambda a, b: sp.simplify(a - b), otypes=[object])(np.broadcast_to(claim, expr.shape),
                                                                                  expr)
            flat = diff.ravel()
            if all(d == 0 for d in flat):
                return "the formulas are equal symbolically; the claim differs only in rounding"
            shown = str(flat[0]) if flat.size == 1 else str(flat.tolist())
            return f"claim - derivative simplifies to {shown}"
    except Exception:  # SymPy could not decide in time: the numbers above already show the point
        return "the formulas differ at this point"
