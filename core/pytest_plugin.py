"""Derivation files as pytest tests: each [[case]] of a derivation TOML file is one test item.

Installed with agrad (entry point `pytest11`), so a project's suite collects its derivations
beside its other tests, and pytest-xdist (`pytest -n 4`) spreads them over cores and machines.

- `pytest --agrad DIR_OR_FILE ...` collects every *.toml file under the paths given;
- without the flag, files matching the `agrad_files` ini patterns are collected (default
  `*.agrad.toml` and `derivations/*.toml`), so `pytest` alone runs them once configured.

A case fails with a report that puts the claim, AD, SymPy and finite differences side by side.
agrad itself is imported only when a derivation file is collected.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

DEFAULT_PATTERNS = ["*.agrad.toml", "derivations/*.toml"]


def pytest_addoption(parser):
    group = parser.getgroup("agrad", "agrad derivation files")
    group.addoption("--agrad", action="store_true", default=False,
                    help="collect every *.toml under the given paths as agrad derivation files")
    group.addoption("--agrad-no-sympy", action="store_true", default=False,
                    help="judge claims without the SymPy check of every derivative")
    parser.addini("agrad_files", type="linelist", default=DEFAULT_PATTERNS,
                  help="glob patterns of agrad derivation files (a pattern with '/' matches the path's tail)")


def _matches(path: Path, patterns) -> bool:
    text = path.as_posix()
    return any(fnmatch.fnmatch(text, "*/" + p) or fnmatch.fnmatch(text, p) if "/" in p else fnmatch.fnmatch(path.name, p)
               for p in patterns)


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix != ".toml":
        return None
    config = parent.config
    if config.getoption("agrad") or _matches(file_path, config.getini("agrad_files")):
        return DerivationFile.from_parent(parent, path=file_path)
    return None


class DerivationFile(pytest.File):
    def collect(self):
        from agrad import AgradError
        from agrad.derivation import load

        try:
            cases = load(self.path)
        except AgradError as exc:  # a collection error would stop the whole session: one failing item instead
            yield MalformedFile.from_parent(self, name=self.path.name, message=exc.message)
            return
        for case in cases:
            yield DerivationCase.from_parent(self, name=case.name, case=case)


class MalformedFile(pytest.Item):
    """A derivation file that cannot be read (not TOML, no cases): it fails; the other files run."""

    def __init__(self, *, message, **kwargs):
        super().__init__(**kwargs)
        self.message = message

    def runtest(self):
        raise CaseFailed()

    def repr_failure(self, excinfo):
        if not isinstance(excinfo.value, CaseFailed):
            return super().repr_failure(excinfo)
        return f"agrad derivation file is malformed: {self.message}"

    def reportinfo(self):
        return self.path, None, f"agrad file: {self.path.name}"


class CaseFailed(Exception):
    """A derivation case that failed (or is broken); the report is built in repr_failure."""


class DerivationCase(pytest.Item):
    def __init__(self, *, case, **kwargs):
        super().__init__(**kwargs)
        self.case = case
        self.result = None

    def runtest(self):
        from agrad.derivation import run_case

        self.result = run_case(self.case, sympy=not self.config.getoption("agrad_no_sympy"))
        if self.result.status == "skipped":
            pytest.skip("; ".join(self.result.messages))
        if self.result.status != "pass":
            raise CaseFailed()

    def repr_failure(self, excinfo):
        if not isinstance(excinfo.value, CaseFailed):
            return super().repr_failure(excinfo)
        return failure_report(self.result)

    def reportinfo(self):
        return self.path, self.case.line - 1 if self.case.line else None, f"agrad case: {self.case.name}"


def failure_report(res) -> str:
    """What differs, claim by claim: the claimed value, AD, SymPy and finite differences."""
    lines = [f"agrad derivation {res.status}: {res.case.name} ({res.case.file}:{res.case.line})",
             f"  expr: {res.case.expr}"]
    for point in res.points:
        verdicts = point.get("verdicts", {})
        for key, claim in point.get("claims", {}).items():
            if claim.ok:
                continue
            v = verdicts.get(key, {})
            lines += [f"  at {point['at']}: d/{key}",
                      f"    claimed       {claim.claimed!r} = {_brief(claim.claimed_value)}",
                      f"    AD            {_brief(claim.actual)}",
                      f"    SymPy         {_brief(v.get('sympy'))}" + (f"  ({v['formula']})" if v.get("formula") else ""),
                      f"    finite diff.  {_brief(v.get('fd'))}"]
    lines += [f"  {m}" for m in res.messages]
    return "\n".join(lines)


def _brief(v) -> str:
    if v is None:
        return "—"
    import numpy as np

    a = np.asarray(v, dtype=np.float64)
    return f"{float(a):.17g}" if a.ndim == 0 else np.array2string(a, precision=12, threshold=8, separator=", ")
