"""Derivation files (TOML, one [[case]] per derivation) and running them: `agrad check`."""
from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .api import GradRequest, grad_job
from .claims import claim_order, judge
from .errors import AgradError
from .values import parse_value

# key -> (python types allowed, what it means); the README documents the same table
KEYS = {
    "name": (str, "what the case is called in reports"),
    "expr": (str, "the expression (statements allowed)"),
    "at": (dict, "one point: { x1 = 2, x2 = 3 }"),
    "points": (list, "several points: [{ x1 = 2 }, { x1 = -1 }]"),
    "wrt": (list, "variables to differentiate (default: every bound one)"),
    "order": (int, "highest order of derivatives (default 1, or the highest claimed)"),
    "expect": (dict, "claims: numbers, nested lists or formula strings; keys 'x' or 'x,y'"),
    "dtype": (str, "float64 (default), float32 or float16"),
    "grad_output": ((str, int, float, list), "seed for a non-scalar output ('ones', a number or a list)"),
    "jacobian": (bool, "compare the full Jacobian of a vector output"),
    "repeat": (int, "forward+backward runs on fresh graphs (gradients accumulate)"),
    "backward": (int, "backward passes on one graph"),
    "retain_graph": (bool, "keep saved values for further backward passes"),
    "zero_grad": (bool, "clear leaf gradients before each pass"),
    "expect_passes": (list, "leaf gradients after each pass: [{ x = [4, 12] }, ...]"),
    "expect_error": (str, "the case must fail with this error kind (e.g. 'backward', 'nonscalar', 'dtype')"),
    "expect_grad_fn": (dict, "grad_fn of named nodes: { output = \"MeanBackward0\", z = \"MulBackward0\" }"),
    "expect_saved": (dict, "values saved for backward: { values = 1 } (also unfused_values with fuse)"),
    "fuse": (bool, "fuse elementwise chains (checkpointing); gradients must not change"),
    "rtol": ((int, float), "relative tolerance (default: from the dtype)"),
    "atol": ((int, float), "absolute tolerance (default: from the dtype)"),
    "descend": (dict, "minimize expr from the point: { optimizer = \"adam\", lr = 0.05, steps = 2000, ... }"),
    "expect_params": (dict, "with descend: the final parameters { w = [1, 2] } (descend's rtol/atol)"),
    "expect_loss": ((int, float, str), "with descend: the final loss"),
    "expect_stop": (str, "with descend: how the run stops: 'steps', 'tol' or 'diverged'"),
}


@dataclass
class Case:
    name: str
    file: str
    line: int
    expr: str
    points: list
    fields: dict


@dataclass
class CaseResult:
    case: Case
    status: str  # pass | FAIL | skipped
    messages: list = field(default_factory=list)
    seconds: float = 0.0
    points: list = field(default_factory=list)  # per point: {"at", "derivatives", "claims", "check"}


def _file_error(path, line, msg):
    where = f"{path}:{line}" if line else str(path)
    return AgradError(f"{where}: {msg}", kind="file")


def load(path) -> list[Case]:
    """Every case of one file; a malformed file is an AgradError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _file_error(path, None, f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _file_error(path, _toml_line(str(exc)), f"not valid TOML: {exc}") from None
    starts = [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip().startswith("[[case]]")]
    raw = data.get("case")
    if not isinstance(raw, list) or not raw:
        raise _file_error(path, None, "no [[case]] tables")
    extra = set(data) - {"case"}
    if extra:
        raise _file_error(path, None, f"unknown top-level key '{sorted(extra)[0]}' (cases go in [[case]] tables)")
    cases = []
    for i, c in enumerate(raw):
        line = starts[i] if i < len(starts) else None
        label = f"case {c.get('name', i + 1)!r}"
        for k, v in c.items():
            if k not in KEYS:
                raise _file_error(path, line, f"{label}: unknown key '{k}'; known: {', '.join(KEYS)}")
            if not isinstance(v, KEYS[k][0]) or (KEYS[k][0] is int and isinstance(v, bool)):
                raise _file_error(path, line, f"{label}: '{k}' should be {_kind(KEYS[k][0])}, not {type(v).__name__}")
        if "expr" not in c:
            raise _file_error(path, line, f"{label}: missing 'expr'")
        if "at" in c and "points" in c:
            raise _file_error(path, line, f"{label}: give 'at' or 'points', not both")
        points = c.get("points") or [c.get("at", {})]
        if not all(isinstance(p, dict) for p in points):
            raise _file_error(path, line, f"{label}: each of 'points' is a table like {{ x = 1 }}")
        cases.append(Case(c.get("name", f"{path.name}#{i + 1}"), str(path), line or 0, c["expr"], points, c))
    return cases


def _toml_line(msg: str):
    import re

    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else None


def _kind(t) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a table"}
    return " or ".join(names[x] for x in t) if isinstance(t, tuple) else names[t]


def collect(paths) -> list[Path]:
    """Files named, and *.toml files under directories named, in a stable order."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(p.rglob("*.toml"))
        elif p.exists():
            out.append(p)
        else:
            raise AgradError(f"{p}: no such file or directory", kind="file")
    return out


def _value(v, name):
    if isinstance(v, str):
        return parse_value(v, name)
    try:
        return np.asarray(v, dtype=np.float64)
    except (ValueError, TypeError):
        raise AgradError(f"the value of '{name}' is not a number or a rectangular list", kind="binding") from None


def run_case(case: Case, *, check: bool = True, check_timeout: float = 10.0) -> CaseResult:
    t0 = time.perf_counter()
    f = case.fields
    res = CaseResult(case, "pass")
    if "descend" in f:  # a descent, run and judged by core/descend.py
        from .descend import run_descend_case

        res.status, res.messages, res.points = run_descend_case(f, case.points, check=check,
                                                                check_timeout=check_timeout)
        res.seconds = time.perf_counter() - t0
        return res
    claims = dict(f.get("expect", {}))
    order = max(f.get("order", 1), claim_order(claims) if claims else 1)
    for point in case.points:
        try:
            bindings = {k: _value(v, k) for k, v in point.items()}
            seed = f.get("grad_output")
            if seed is not None and seed != "ones":
                seed = _value(seed, "grad_output")
            req = GradRequest(case.expr, bindings, wrt=f.get("wrt"), dtype=f.get("dtype", "float64"),
                              grad_output=seed, repeat=f.get("repeat", 1), backward=f.get("backward", 1),
                              retain_graph=f.get("retain_graph", False), zero_grad=f.get("zero_grad", False),
                              order=order, jacobian=f.get("jacobian", False), fuse=f.get("fuse", False),
                              check=check, rtol=f.get("rtol"),
                              atol=f.get("atol"), check_timeout=check_timeout)
            result = grad_job(req)
        except AgradError as exc:
            if f.get("expect_error") and exc.kind == f["expect_error"]:
                res.points.append({"at": point, "error": {"type": exc.kind, "message": exc.message}})
                continue
            res.status = "FAIL"
            res.messages.append(f"at {_point_text(point)}: error ({exc.kind}): {exc.message}")
            continue
        if f.get("expect_error"):
            res.status = "FAIL"
            res.messages.append(f"at {_point_text(point)}: expected a '{f['expect_error']}' error, but it succeeded")
            continue
        entry = {"at": point, "derivatives": result.derivatives, "check": result.check.status}
        if result.check.status == "failed":
            res.status = "FAIL"
            for item in result.check.items:
                if item.verdict == "mismatch":
                    res.messages.append(f"at {_point_text(point)}: d/{item.key}: AD {item.ad.tolist()} but SymPy "
                                        f"{item.sympy.tolist()}")
        elif result.check.status == "skipped" and not claims and res.status == "pass":
            res.status = "skipped"
            res.messages.append(f"check skipped: {result.check.reason}")
        if claims:
            point_values = {k: np.asarray(v) for k, v in bindings.items()}
            verdicts = judge(claims, result.derivatives, point_values, result.check.rtol, result.check.atol,
                             source=case.expr, shapes={k: np.shape(v) for k, v in bindings.items()})
            entry["claims"] = verdicts
            for key, v in verdicts.items():
                if not v["ok"]:
                    res.status = "FAIL"
                    res.messages.append(f"at {_point_text(point)}: d/{key}: {v['detail']}")
        for i, want in enumerate(f.get("expect_passes", [])):
            if i >= len(result.passes):
                res.status = "FAIL"
                res.messages.append(f"expected {len(f['expect_passes'])} passes, ran {len(result.passes)}")
                break
            got = result.passes[i].gradients
            for k, v in want.items():
                if k not in got or not np.allclose(got[k], np.asarray(v, dtype=np.float64), rtol=1e-12, atol=0):
                    res.status = "FAIL"
                    res.messages.append(f"pass {i + 1}: {k}: expected {v}, got {np.asarray(got.get(k)).tolist()}")
        _expect_graph(f, result, point, res)
        res.points.append(entry)
    res.seconds = time.perf_counter() - t0
    return res


def _expect_graph(f: dict, result, point: dict, res: CaseResult):
    """expect_grad_fn and expect_saved: graph facts as PyTorch would show them."""
    names = {n.name: n for n in result.nodes if n.name}
    names["output"] = result.nodes[-1]
    for name, want in f.get("expect_grad_fn", {}).items():
        node = names.get(name)
        got = None if node is None else (node.op if node.requires_grad and not node.is_leaf else "None")
        if got != want:
            res.status = "FAIL"
            res.messages.append(f"at {_point_text(point)}: grad_fn of {name}: expected {want}, got {got}")
    for key, want in f.get("expect_saved", {}).items():
        if result.saved.get(key) != want:
            res.status = "FAIL"
            res.messages.append(f"at {_point_text(point)}: saved {key}: expected {want}, got {result.saved.get(key)}")


def _point_text(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "(no variables)"
