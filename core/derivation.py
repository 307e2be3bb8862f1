"""Derivation files (TOML, one [[case]] per derivation) and running them: agrad.check_file,
`agrad check` and the pytest plugin all go through run_case.

A problem in one case (an unknown key, a bad value, an error while computing) is that case's
error; every other case still runs. Only a file that cannot be read as TOML at all is a file
error."""
from __future__ import annotations

import difflib
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import AgradError, BindingError, LimitError, ParseError, UsageError
from .gradient import grad

MAX_FILE_BYTES = 10_000_000  # a derivation file is text someone wrote: 10 MB is far beyond any

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
    "lib": ((str, list), "def/backward files the expression may call, relative to this file"),
    "seed": (int, "seed of rand(...)/randn(...) in the values and the expression"),
    "expect_wrong_rules": (list, "the backward rules the check must catch: [\"sig: x\"] (function: input)"),
    "descend": (dict, "minimize expr from the point: { optimizer = \"adam\", lr = 0.05, steps = 2000, ... }"),
    "expect_params": (dict, "with descend: the final parameters { w = [1, 2] } (descend's rtol/atol)"),
    "expect_loss": ((int, float, str), "with descend: the final loss"),
    "expect_stop": (str, "with descend: how the run stops: 'steps', 'tol' or 'diverged'"),
}
# Keys only one kind of case reads: elsewhere they would be silently ignored, so they are refused.
DESCEND_ONLY = ("descend", "expect_params", "expect_loss", "expect_stop")
GRAD_ONLY = ("order", "expect", "dtype", "grad_output", "jacobian", "repeat", "backward", "retain_graph",
             "zero_grad", "expect_passes", "expect_error", "expect_grad_fn", "expect_saved", "fuse", "rtol",
             "atol", "expect_wrong_rules")
# Claims a case that expects an error never reaches (the error comes first).
CLAIMS = ("expect", "expect_passes", "expect_grad_fn", "expect_saved", "expect_wrong_rules")
# Every kind an AgradError can have (errors.py's classes, and functions.py's "definition").
ERROR_KINDS = tuple(k for c in (ParseError, BindingError, UsageError, LimitError) for k in c.kinds) + ("definition",)
STOPS = ("steps", "tol", "diverged")  # descent.DescendResult.stop


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    line: int
    expr: str
    points: list
    fields: dict
    error: str = ""  # what is wrong with the case itself; it is reported, not run


@dataclass
class CaseResult:
    case: Case
    status: str  # pass | FAIL | skipped | error
    messages: list = field(default_factory=list)
    seconds: float = 0.0
    points: list = field(default_factory=list)  # per point: {"at", "derivatives", "claims", "check"}

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "skipped")


def _file_error(path, line, msg):
    where = f"{path}:{line}" if line else str(path)
    return AgradError(f"{where}: {msg}", kind="file")


def _read(path: Path) -> str:
    try:
        if not path.is_file():
            raise _file_error(path, None, "not a regular file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _file_error(path, None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise _file_error(path, None, f"over {MAX_FILE_BYTES:,} bytes; split it into smaller files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _file_error(path, None, f"not UTF-8 text (byte {exc.start})") from None


def load(path) -> list[Case]:
    """Every case of one file. A file that is not TOML, or has no cases, is an AgradError naming the
    file and line; a broken case becomes a Case with its `error` set."""
    path = Path(path)
    text = _read(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _file_error(path, _toml_line(str(exc)), f"not valid TOML: {exc}") from None
    except ValueError as exc:  # tomllib's own limits, such as an integer of over 4,300 digits
        raise _file_error(path, None, f"not readable as TOML: {exc}") from None
    starts = [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip().startswith("[[case]]")]
    raw = data.get("case")
    if not isinstance(raw, list) or not raw:
        raise _file_error(path, None, "no [[case]] tables")
    extra = sorted(set(data) - {"case"})
    if extra:
        raise _file_error(path, None, f"unknown top-level key '{extra[0]}' (cases go in [[case]] tables)")
    return [_case(path, i, c, starts[i] if i < len(starts) else 0) for i, c in enumerate(raw)]


def _case(path: Path, i: int, c, line: int) -> Case:
    if not isinstance(c, dict):
        return Case(f"{path.name}#{i + 1}", str(path), line, "", [], {}, "a case must be a table")
    name = c.get("name") if isinstance(c.get("name"), str) else f"{path.name}#{i + 1}"
    fields = dict(c)

    def broken(msg):
        return Case(name, str(path), line, str(c.get("expr", "")), [], fields, msg)

    for k, v in c.items():
        if k not in KEYS:
            close = difflib.get_close_matches(k, KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(KEYS)}"
            return broken(f"unknown key '{k}' in case '{name}'{hint}")
        types = KEYS[k][0]
        if not isinstance(v, types) or (types is int and isinstance(v, bool)):
            return broken(f"case '{name}': '{k}' should be {_kind(types)}, not {type(v).__name__}")
    if "expr" not in c:
        return broken(f"case '{name}': missing 'expr'")
    misplaced = [k for k in (GRAD_ONLY if "descend" in c else DESCEND_ONLY[1:]) if k in c]
    if misplaced:
        why = ("a descend case reads only name, expr, at/points, wrt, lib, seed, descend, expect_params, "
               "expect_loss and expect_stop" if "descend" in c else "it applies only to a case with a 'descend' table")
        return broken(f"case '{name}': '{misplaced[0]}' does not apply here: {why}")
    if "expect_error" in c:
        claim = next((k for k in CLAIMS if k in c), None)
        if claim:
            return broken(f"case '{name}': '{claim}' is never checked beside 'expect_error' (the error comes first)")
        if c["expect_error"] not in ERROR_KINDS:
            return broken(f"case '{name}': expect_error '{c['expect_error']}' is not an error kind; "
                          f"known: {', '.join(ERROR_KINDS)}")
    if "expect_stop" in c and c["expect_stop"] not in STOPS:
        return broken(f"case '{name}': expect_stop '{c['expect_stop']}' is not a way a descent stops; "
                      f"known: {', '.join(STOPS)}")
    if "at" in c and "points" in c:
        return broken(f"case '{name}': give 'at' or 'points', not both")
    points = c.get("points") or [c.get("at", {})]
    if not all(isinstance(p, dict) for p in points):
        return broken(f"case '{name}': each of 'points' is a table like {{ x = 1 }}")
    lib = c.get("lib", [])
    if not all(isinstance(p, str) for p in ([lib] if isinstance(lib, str) else lib)):
        return broken(f"case '{name}': 'lib' is a file name or a list of them")
    if not all(isinstance(w, str) for w in c.get("wrt", [])):
        return broken(f"case '{name}': 'wrt' is a list of variable names")
    passes = c.get("expect_passes", [])
    if not all(isinstance(p, dict) for p in passes):
        return broken(f"case '{name}': each of 'expect_passes' is a table like {{ x = [4, 12] }}")
    problem = _value_types(c, points, passes)
    if problem:
        return broken(f"case '{name}': {problem}")
    return Case(name, str(path), line, c["expr"], points, fields)


SAVED_KEYS = ("values", "bytes", "unfused_values", "unfused_bytes")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers(v) -> bool:
    """A number or a (nested) list of numbers; true/false and dates are not numbers."""
    return _number(v) or (isinstance(v, list) and all(_numbers(x) for x in v))


def _value_types(c: dict, points: list, passes: list) -> str:
    """What is wrong with the types inside the case's tables (values, claims, expectations), or "":
    a wrong type is the case's error, reported before anything runs."""
    def bad(where: str, v, want: str) -> str:
        return f"{where} should be {want}, not {type(v).__name__} ({v!r})"

    value = "a number, a list of numbers or a string"
    for p in points:
        for k, v in p.items():
            if not (_numbers(v) or isinstance(v, str)):
                return bad(f"the value of '{k}'", v, value)
    for k, v in c.get("expect", {}).items():
        if not (_numbers(v) or isinstance(v, str)):
            return bad(f"the claim 'expect.{k}'", v, "a number, a list of numbers or a formula string")
    for i, p in enumerate(passes, 1):
        for k, v in p.items():
            if not _numbers(v):
                return bad(f"'expect_passes' entry {i}, '{k}',", v, "a number or a list of numbers")
    for k, v in c.get("expect_grad_fn", {}).items():
        if not isinstance(v, str):
            return bad(f"'expect_grad_fn.{k}'", v, 'a grad_fn name string like "MulBackward0" or "None"')
    for k, v in c.get("expect_saved", {}).items():
        if k not in SAVED_KEYS:
            close = difflib.get_close_matches(k, SAVED_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(SAVED_KEYS)}"
            return f"unknown key '{k}' in 'expect_saved'{hint}"
        if not (_number(v) and int(v) == v):
            return bad(f"'expect_saved.{k}'", v, "a whole number")
    for v in c.get("expect_wrong_rules", []):
        if not isinstance(v, str):
            return bad("each of 'expect_wrong_rules'", v, 'a string "function: input"')
    for k, v in c.get("expect_params", {}).items():
        if not (_numbers(v) or isinstance(v, str)):
            return bad(f"'expect_params.{k}'", v, value)
    if "grad_output" in c and not (_numbers(c["grad_output"]) or isinstance(c["grad_output"], str)):
        return bad("'grad_output'", c["grad_output"], value)
    return ""


def _toml_line(msg: str):
    import re

    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else None


def _kind(t) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a table"}
    return " or ".join(names[x] for x in t) if isinstance(t, tuple) else names[t]


def _path(p, arg: str) -> Path:
    """One path given by the caller: a str or os.PathLike, not empty (Path("") is the current
    directory, and scanning it, or /, recursively is never what was meant)."""
    import os

    if not isinstance(p, (str, os.PathLike)) or isinstance(p, bytes):
        raise AgradError(f"{arg} should be a path (str or os.PathLike), not {type(p).__name__}", kind="usage")
    if not os.fspath(p):
        raise AgradError("an empty path names no file or directory (use '.' for the current one)", kind="file")
    return Path(p)


def derivation_files(paths) -> list[Path]:
    """Files named, and *.toml files under directories named, in a stable order. `paths` is one
    path (str or os.PathLike) or a list of them."""
    import os

    if isinstance(paths, (str, os.PathLike)):  # one path, not the characters of a string
        paths = [paths]
    elif not isinstance(paths, (list, tuple)):
        raise AgradError(f"paths= should be a path or a list of paths, not {type(paths).__name__}", kind="usage")
    out = []
    for p in (_path(q, "each of paths=") for q in paths):
        if p.is_dir():
            found = sorted(p.rglob("*.toml"))
            if not found:
                raise AgradError(f"{p}: no .toml files in this directory", kind="file")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise AgradError(f"{p}: no such file or directory", kind="file")
    return out


def run_case(case: Case, *, sympy: bool = True, check_timeout: float = 10.0) -> CaseResult:
    """Every point of one case through agrad.grad: the SymPy check, the claims, the passes and
    the graph facts it states. A failed check or claim is FAIL; bad input in the case is error."""
    t0 = time.perf_counter()
    res = CaseResult(case, "pass")
    if case.error:
        res.status = "error"
        res.messages.append(case.error)
        return res
    try:
        if "descend" in case.fields:  # a descent, run and judged by core/descent.py
            from .descent import run_descend_case

            fields = {**case.fields, **{k: _at_file(case, v) for k, v in case.fields.items()
                                        if k in ("expect_params", "expect_loss")}}
            res.status, res.messages, res.points = run_descend_case(fields, _points(case), sympy=sympy,
                                                                    check_timeout=check_timeout,
                                                                    lib=_lib_paths(case))
        else:
            for point, values in zip(case.points, _points(case)):
                _run_point(case, point, res, sympy=sympy, check_timeout=check_timeout, values=values)
    except AgradError as exc:  # bad input met while judging (a claim, an expectation): this case's error
        res.status = "error"
        res.messages.append(f"error ({exc.kind}): {exc.message}")
    except Exception as exc:  # noqa: BLE001  a bug in agrad must not abandon the other cases of a CI run
        res.status = "error"
        res.messages.append(f"internal error ({type(exc).__name__}: {exc}); please report it with this case")
    res.seconds = time.perf_counter() - t0
    return res


def _run_point(case: Case, point: dict, res: CaseResult, *, sympy: bool, check_timeout: float, values: dict):
    f = case.fields
    where = f"at {_point_text(point)}"
    try:
        result = grad(case.expr, at={k: _value(v) for k, v in values.items()}, wrt=f.get("wrt"),
                      dtype=f.get("dtype", "float64"), grad_output=_value(_at_file(case, f.get("grad_output"))),
                      repeat=f.get("repeat", 1), backward=f.get("backward", 1),
                      retain_graph=f.get("retain_graph", False), zero_grad=f.get("zero_grad", False),
                      order=f.get("order", 1), jacobian=f.get("jacobian", False), fuse=f.get("fuse", False),
                      expect={k: _value(v) for k, v in f.get("expect", {}).items()} or None,
                      check=sympy, rtol=f.get("rtol"), atol=f.get("atol"), check_timeout=check_timeout,
                      lib=_lib_paths(case), seed=f.get("seed"))
    except AgradError as exc:
        if f.get("expect_error") and exc.kind == f["expect_error"]:
            res.points.append({"at": point, "error": {"type": exc.kind, "message": exc.message}})
            return
        res.status = "error"
        res.messages.append(f"{where}: error ({exc.kind}): {exc.message}")
        return
    if f.get("expect_error"):
        _fail(res, f"{where}: expected a '{f['expect_error']}' error, but it succeeded")
        return
    entry = {"at": point, "derivatives": result.derivatives, "check": result.check.status,
             "verdicts": {i.key: {"ad": i.ad, "sympy": i.sympy, "formula": i.formula, "fd": i.fd, "verdict": i.verdict}
                          for i in result.check.items}}
    wrong = [r for r in result.check.rules if r.verdict == "mismatch"]
    if "expect_wrong_rules" in f:  # a deliberately wrong rule: the case passes when exactly it is caught
        caught = sorted(f"{r.function}: {r.input}" for r in wrong)
        if caught != sorted(f["expect_wrong_rules"]):
            _fail(res, f"{where}: wrong rules caught: {caught or 'none'}, expected {sorted(f['expect_wrong_rules'])}")
    elif result.check.status == "failed":
        for r in wrong:
            _fail(res, f"{where}: {r.text}")
        for item in result.check.items:
            if item.verdict == "mismatch":
                _fail(res, f"{where}: d/{item.key}: AD {np.asarray(item.ad).tolist()} but SymPy "
                           f"{np.asarray(item.sympy).tolist()}")
    elif result.check.status == "skipped" and not result.expect and res.status == "pass":
        res.status = "skipped"
        res.messages.append(f"check skipped: {result.check.reason}")
    if result.expect:
        entry["claims"] = result.expect
        for key, claim in result.expect.items():
            if not claim.ok:
                _fail(res, f"{where}: d/{key}: {claim.detail}")
    _expect_passes(f.get("expect_passes", []), result, res)
    _expect_graph(f, result, where, res)
    res.points.append(entry)


def _lib_paths(case: Case):
    """The case's lib files, relative to its TOML file."""
    files = case.fields.get("lib", [])
    files = [files] if isinstance(files, str) else files
    return [str(Path(case.file).parent / p) for p in files] or None


def _at_file(case: Case, v):
    """A value's "@file" relative to the case's TOML file, as lib is: a file of derivations must
    not depend on the directory it is run from. Tables' values are resolved one by one."""
    if isinstance(v, dict):
        return {k: _at_file(case, x) for k, x in v.items()}
    if isinstance(v, str) and v.strip().startswith("@"):
        return "@" + str(Path(case.file).parent / v.strip()[1:])  # an absolute path stays as it is
    return v


def _points(case: Case) -> list:
    """The case's points with @files resolved; reports still show the values as written."""
    return [_at_file(case, p) for p in case.points]


def _fail(res: CaseResult, message: str):
    if res.status != "error":
        res.status = "FAIL"
    res.messages.append(message)


def _value(v):
    """A TOML value as agrad.grad takes it: lists become float arrays, strings stay values in the
    language (numbers, constant expressions, @files, formulas), numbers stay numbers."""
    if isinstance(v, list):
        try:
            return np.asarray(v, dtype=np.float64)
        except (ValueError, TypeError):
            raise AgradError(f"{v!r} is not a number or a rectangular list of numbers", kind="binding") from None
    return v


def _expect_passes(want: list, result, res: CaseResult):
    for i, wanted in enumerate(want):
        if i >= len(result.passes):
            _fail(res, f"expected {len(want)} passes, ran {len(result.passes)}")
            return
        got = result.passes[i].gradients
        for k, v in wanted.items():
            try:
                good = k in got and np.allclose(got[k], _value(v), rtol=1e-12, atol=0)
            except (ValueError, TypeError, AgradError):
                good = False
            if not good:
                _fail(res, f"pass {i + 1}: {k}: expected {v}, got {np.asarray(got.get(k)).tolist()}")


def _expect_graph(f: dict, result, where: str, res: CaseResult):
    """expect_grad_fn and expect_saved: graph facts as PyTorch would show them."""
    names = {n.name: n for n in result.nodes if n.name}
    names["output"] = result.output
    for name, want in f.get("expect_grad_fn", {}).items():
        node = names.get(name)
        got = None if node is None else str(node.grad_fn)
        if got != want:
            _fail(res, f"{where}: grad_fn of {name}: expected {want}, got {got}")
    for key, want in f.get("expect_saved", {}).items():
        if result.saved.get(key) != want:
            _fail(res, f"{where}: saved {key}: expected {want}, got {result.saved.get(key)}")


def _point_text(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "(no variables)"


def check_file(path, *, sympy: bool = True, check_timeout: float = 10.0, on_result=None) -> list:
    """Run every [[case]] of a derivation file (TOML), or of every *.toml below a directory; a
    list of CaseResult (status pass, FAIL, skipped or error, with messages). `sympy=False` judges
    the claims without the SymPy check, which gives up on a case after `check_timeout` seconds.
    `on_result(case_result)` is called as each case finishes. A file that is not TOML raises
    agrad.BindingError (kind "file").

    >>> import agrad, pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "square.toml"
    >>> _ = f.write_text('[[case]]\\nname = "square"\\nexpr = "x**2"\\nat = { x = 3 }\\nexpect = { x = 6 }\\n')
    >>> [(r.case.name, r.status) for r in agrad.check_file(f.parent)]  # a directory: every *.toml below it
    [('square', 'pass')]
    """
    from .problem import validate_timeout

    validate_timeout(check_timeout)  # before any case runs: a bad budget is the caller's error, not each case's
    out = []
    for file in derivation_files([_path(path, "path=")]):
        for case in load(file):
            res = run_case(case, sympy=sympy, check_timeout=check_timeout)
            out.append(res)
            if on_result is not None:
                on_result(res)
    return out

