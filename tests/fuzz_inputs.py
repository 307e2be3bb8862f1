"""Hostile inputs for agrad's command line, shared by tests/test_fuzz_hostile.py (a few seconds,
seeded) and bench/fuzz.py (minutes). Each generator takes a random.Random and returns a Case:
the argv of one CLI run and, optionally, bytes for stdin and files to write first.

Kept free of pytest so the bench script can import it by path.
"""
from __future__ import annotations

import os
import random
import signal
import tomllib
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["x", "y", "w", "A", "x1", "E", "exp", "I", "pi", "N", "S", "Max", "DiracDelta", "oo", "e", "zoo", "Symbol",
         "lambda", "_v0", "nan", "Float", "mpf", "w_0", "sin"]
FUNCS = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log", "log2", "log10", "sqrt",
         "abs", "sigmoid", "relu", "softplus", "pow", "maximum", "minimum", "dot", "sum", "mean", "max", "min",
         "detach", "no_grad", "ones", "zeros", "eye", "linspace"]
NUMBERS = ["0", "1", "2", "-1", "0.5", "2.5", "1e300", "1e-320", "1e99999", "9" * 400, "1" + "0" * 5000, "3.7",
           "1e309", ".5", "5.", "0e0", "1000", "1001", "64", "65"]
OPS = ["+", "-", "*", "/", "**", "^", "@", "(", ")", "[", "]", ",", ":", ";", "\n", "=", " ", "#", "\\\n"]
BAD = ["'", '"', "$", "√", "\x00", "\t", "\r", "é", "\ud800", "`", "{", "}", "!", "&", "|", "~", "<", ">", "?"]
VALUES = ["1", "-2.5", "0", "[1,2,3]", "[[1,2],[3,4]]", "ones(2,2)", "[1,", "pi/4", "@missing.npy", "x", "1e309",
          "nan", "-inf", "inf", "zeros(0)", "[]", "[" * 300 + "1" + "]" * 300, "9" * 5000, "1e-320", "[1e308, 1e308]",
          "ones(100000, 100000)", "eye(5000)", "linspace(0,1,1e300)", "[[1,2],[3]]", "@/dev/null", "@/dev/zero",
          "@" + "a" * 5000 + ".npy", "@.", "1" * 50 + "e" + "9" * 50, "[0, 0]", "[[0.0]]", "[1]", "sum(ones(3))",
          "2**2**2**2**2", "9**9**9**9", "@bad.npy", "@cplx.npy", "@empty.npy", "@arr.npz", "@big.npy", "@bin.csv"]
OPTIONS = [[], ["--json"], ["--order", "2"], ["--order", "3"], ["--order", "5"], ["--hessian"], ["--jacobian"],
           ["--grad-output", "ones"], ["--format", "plain"], ["--format", "csv"], ["--no-check"],
           ["--backward", "2", "--retain-graph"], ["--repeat", "3"], ["--fuse"], ["--dtype", "float32"],
           ["--dtype", "int64"], ["--wrt", "x"], ["--wrt", "nope"], ["--graph"], ["--expect", "x=1"],
           ["--expect", "x: 2*x"], ["--expect", "x,x=2"], ["--order", "0"], ["--order", "-1"], ["--precision", "17"]]


@dataclass
class Case:
    kind: str
    args: list
    stdin: bytes | None = None
    files: dict = field(default_factory=dict)  # name -> bytes, written into the run's directory

    def show(self) -> str:
        text = f"[{self.kind}] agrad " + " ".join(repr(a) if (not a or set(a) & set(" \n'\"\\")) else a for a in self.args)
        if self.stdin is not None:
            text += f"  <stdin {self.stdin[:200]!r}{'…' if len(self.stdin) > 200 else ''}>"
        for name, data in self.files.items():
            text += f"  <file {name}: {data[:300]!r}{'…' if len(data) > 300 else ''}>"
        return text


def sample_exprs() -> list[str]:
    out = []
    for path in sorted((ROOT / "samples").glob("*.toml")):
        with open(path, "rb") as fh:
            for case in tomllib.load(fh).get("case", []):
                if isinstance(case.get("expr"), str):
                    out.append(case["expr"])
    return out or ["(x1**2 + 2*x2)**2"]


def _token(rng: random.Random) -> str:
    pool = rng.choice([NAMES, FUNCS, NUMBERS, OPS, OPS, [f + "(" for f in FUNCS], BAD if rng.random() < 0.2 else OPS])
    return rng.choice(pool)


def _bindings(rng: random.Random, expr: str) -> list:
    args = []
    names = [n for n in NAMES if n in expr] or ["x"]
    for name in rng.sample(names, k=min(len(names), rng.randint(1, 4))):
        value = rng.choice(VALUES) if rng.random() < 0.35 else rng.choice(["1.5", "-0.7", "[1,2,3]", "2", "0",
                                                                            "[[1,2],[3,4]]", "[0.5, -1]"])
        if rng.random() < 0.5 and name.isidentifier():
            args += [f"--{name}", value]
        else:
            args += ["-v", f"{name}={value}"]
    if rng.random() < 0.15:
        args += ["-v", f"{rng.choice(['w[0]', 'x[1]', 'A[0, 1]', '1x', ''])}={rng.choice(VALUES)}"]
    return args


def _options(rng: random.Random) -> list:
    out = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        if rng.random() < 0.25:  # an option with a hostile value of its own
            soup = "".join(_token(rng) for _ in range(rng.randint(0, 8)))
            out += rng.choice([["--grad-output", rng.choice(VALUES)], ["--expect", soup], ["--expect", f"x: {soup}"],
                               ["--expect", f"x={rng.choice(VALUES)}"], ["--wrt", soup], ["--wrt", "x,x"],
                               ["--rtol", rng.choice(["nan", "-1", "inf", "0"])], ["--atol", "nan"],
                               ["--check-timeout", rng.choice(["0", "-1", "nan", "1e-9"])],
                               ["--dtype", "float16"], ["--order", rng.choice(["4", "6", "10"])],
                               ["--precision", rng.choice(["1", "17"])], ["--backward", "3"], ["--zero-grad"]])
        else:
            out += rng.choice(OPTIONS)
    return out


def _grad(kind, rng, expr) -> Case:
    return Case(kind, ["grad", expr, *_bindings(rng, expr), *_options(rng), "--check-timeout", "2"])


def token_soup(rng: random.Random) -> Case:
    expr = "".join(_token(rng) for _ in range(rng.randint(0, 25)))
    return _grad("soup", rng, expr)


def _mutate(rng: random.Random, s: str) -> str:
    for _ in range(rng.randint(1, 4)):
        i = rng.randint(0, len(s))
        j = min(len(s), i + rng.randint(0, 6))
        what = rng.random()
        if what < 0.3:
            s = s[:i] + s[j:]  # delete
        elif what < 0.6:
            s = s[:i] + _token(rng) + s[i:]  # insert
        elif what < 0.75:
            s = s[:i] + rng.choice(NUMBERS) + s[j:]  # replace by a number
        elif what < 0.85:
            s = s[:i] + rng.choice(NAMES) + s[j:]  # replace by a name
        elif what < 0.95:
            s = s[:i] + s[i:j] * rng.randint(2, 5) + s[j:]  # repeat
        else:
            s = f"{rng.choice(FUNCS)}({s})"
    return s


def mutated_sample(rng: random.Random, exprs=None) -> Case:
    exprs = exprs or sample_exprs()
    return _grad("mutation", rng, _mutate(rng, rng.choice(exprs)))


def random_bytes(rng: random.Random) -> Case:
    data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    if rng.random() < 0.5:  # mostly printable, a few bytes invalid as UTF-8
        data = "".join(_token(rng) for _ in range(rng.randint(0, 20))).encode("utf-8", "surrogatepass") + data[:3]
    return Case("bytes", ["grad", "-", *_bindings(rng, data.decode("latin-1")), *_options(rng),
                          "--check-timeout", "2"], stdin=data)


def hostile_values(rng: random.Random, exprs=None) -> Case:
    expr = rng.choice((exprs or sample_exprs()) + ["sum(w*w)", "x*y", "E*exp(x) + I", "DiracDelta*2 + sin(N)",
                                                   "9**9**9**9*x", "1e99999*sum(w)", "w[0]*sum(w)", "x**2.5"])
    names = [n for n in NAMES if n in expr] or ["x"]
    args = ["grad", expr]
    for n in names:
        args += ["-v", f"{n}={rng.choice(VALUES)}"]
    return Case("values", args + _options(rng) + ["--check-timeout", "2"], files=_files(rng))


def derivation_file(rng: random.Random, exprs=None) -> Case:
    """A sample TOML, mutated as text: agrad check must report, never crash."""
    paths = sorted((ROOT / "samples").glob("*.toml"))
    text = rng.choice(paths).read_text(encoding="utf-8")
    if rng.random() < 0.5:
        text = _mutate(rng, text)
    else:  # mutate one expression only, so the file still parses
        exprs = exprs or sample_exprs()
        old = rng.choice(exprs)
        if old in text:
            new = _mutate(rng, old).replace("\\", "").replace('"', "").replace("\n", " ")
            text = text.replace(f'"{old}"', f'"{new}"', 1)
    return Case("check", ["check", "case.toml", *rng.choice([[], ["--json"], ["--no-sympy"]]),
                          "--check-timeout", "2"], files={"case.toml": text.encode("utf-8", "surrogatepass")})


def _files(rng: random.Random) -> dict:
    import io

    import numpy as np

    def npy(a):
        buf = io.BytesIO()
        np.save(buf, a)
        return buf.getvalue()

    def npz(a):
        buf = io.BytesIO()
        np.savez(buf, a=a)
        return buf.getvalue()

    return {"bad.npy": bytes(rng.randrange(256) for _ in range(64)), "cplx.npy": npy(np.array([1 + 2j, 3])),
            "empty.npy": npy(np.zeros((0,))), "arr.npz": npz(np.ones(3)), "big.npy": _declared_huge_npy(),
            "bin.csv": b"1,2\n\xff\xfe,3\n"}


def _declared_huge_npy() -> bytes:
    """A header that declares 400,000,000 elements over three: refused from the header alone."""
    import numpy as np

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (400000000,), }"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin-1") + np.zeros(3).tobytes()


GENERATORS = [token_soup, token_soup, mutated_sample, mutated_sample, random_bytes, hostile_values, derivation_file]


class Overtime(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` inside agrad swallows it."""


def run_case(case: Case, workdir: Path, limit: float = 20.0):
    """Run one case through click's CliRunner in `workdir`. Returns (problem or None, seconds, output)."""
    from click.testing import CliRunner

    from agrad.cli.main import cli

    for name, data in case.files.items():
        (workdir / name).write_bytes(data)
    old_cwd = os.getcwd()
    os.chdir(workdir)

    def fire(signum, frame):
        raise Overtime()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    t0 = time.perf_counter()
    try:
        result = CliRunner().invoke(cli, case.args, input=case.stdin, catch_exceptions=True)
    except Overtime:
        return f"no answer within {limit:g} s", time.perf_counter() - t0, ""
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(old_cwd)
    seconds = time.perf_counter() - t0
    out = result.output
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return f"exception {type(exc).__name__} at {where}: {exc}"[:300], seconds, tb
    if result.exit_code not in (0, 1, 2):
        return f"exit code {result.exit_code}", seconds, out
    if "Traceback" in out:
        return "a traceback in the output", seconds, out
    return None, seconds, out
