"""The claim language: a user's claims about derivatives (`expect=`, `--expect`, `expect = {...}`
in derivation files) as text and as values. check.judge_claims decides whether they hold."""
from __future__ import annotations

import numpy as np

from .errors import AgradError
from .parser import is_name
from .program import compile_source, forward
from .tensor import Tensor, grad_mode
from .values import one_expression


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
        if not all(is_name(k) for k in key.split(",")) or not value.strip():
            raise AgradError(f"expect= takes NAME=VALUE or NAME: FORMULA pairs separated by commas, got {text!r}",
                             kind="usage")
        if key in claims:  # as a dict the last claim would silently replace the first
            raise AgradError(f"'{key}' is claimed twice", kind="claim")
        claims[key] = value.strip()
    if pending:
        raise AgradError(f"the claim '{','.join(pending)}' has no value (write {pending[0]}=VALUE)", kind="usage")
    return claims


def claims_of(expect) -> dict:
    """expect= as {key: claim}: a text or a list of texts in the claim language, or a dict whose
    keys are spelled as the language spells them ("x, y" is "x,y"). A derivative claimed twice
    is an error: merged into one dict, the last claim would silently replace the first."""
    if isinstance(expect, (str, list, tuple)):
        texts = [expect] if isinstance(expect, str) else expect
        pairs = [pair for text in texts for pair in parse_claims(text).items()]
    else:
        pairs = [(_key(k), v) for k, v in dict(expect).items()]
    claims = {}
    for key, claim in pairs:
        if key in claims:
            raise AgradError(f"'{key}' is claimed twice", kind="claim")
        if isinstance(claim, str):  # refused before the work starts, not after the check
            one_expression(claim, f"the claim for {key}")
        claims[key] = claim
    return claims


def _key(key):
    return ",".join(k.strip() for k in key.split(",")) if isinstance(key, str) else key


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


def claimed_value(claim, point: dict, key: str):
    """A claim as a numpy array: a number or list as given, a formula evaluated at the point."""
    if isinstance(claim, (int, float, list, np.ndarray, np.number)):
        try:
            return np.asarray(claim, dtype=np.float64), None
        except (ValueError, TypeError):
            raise AgradError(f"the claim for {key} is not a number or a rectangular list", kind="claim") from None
    text = str(claim)
    one_expression(text, f"the claim for {key}")
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
