"""agrad at the scale users reach from the command line (issue 12), each row beside its reference
measured in the same run.

    python bench/scale.py                 # every row
    python bench/scale.py --quick         # smaller sizes, one repeat (under a minute)
    python bench/scale.py --torch-python /path/to/venv/bin/python   # torch rows from another venv

Every agrad figure is the CLI as a person runs it (a fresh process, start-up included), timed
wall-clock, with its peak resident memory (the child's ru_maxrss from wait4). References are
fresh processes too: numpy (+ json / np.savez) doing the same work by hand, and PyTorch when it
is importable (here or through --torch-python; it is not a dependency). The SymPy-check rows
read the check's verdict and seconds from --json; their targets are absolute. Benchmarks are
not tests: nothing here fails a build.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PY = sys.executable
_SCRIPT = Path(PY).with_name("agrad")
AGRAD = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "agrad.cli"]


TIME = "/usr/bin/time"  # GNU time reports the child's own peak RSS (ru_maxrss of a direct child
# of this process would carry this process's peak across exec)


def run(cmd, stdin_text=None, repeat=1):
    """(best wall seconds, peak RSS MiB of that run, stdout of the last run)."""
    best = None
    out = ""
    wrap = [TIME, "-f", "agrad-bench-rss %M"] if os.path.exists(TIME) else []
    for _ in range(repeat):
        with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as fin, \
                tempfile.TemporaryFile("w+") as ferr:
            if stdin_text is not None:
                fin.write(stdin_text)
                fin.seek(0)
            t = time.perf_counter()
            p = subprocess.Popen(wrap + cmd, stdin=fin, stdout=fout, stderr=ferr)
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t
            if os.waitstatus_to_exitcode(status) != 0:
                print(f"warning: exit {os.waitstatus_to_exitcode(status)}: {' '.join(cmd)[:120]}", file=sys.stderr)
            fout.seek(0)
            out = fout.read()
            ferr.seek(0)
            lines = [ln for ln in ferr.read().splitlines() if ln.startswith("agrad-bench-rss ")]
        rss = int(lines[-1].split()[1]) / 1024 if lines else usage.ru_maxrss / 1024
        if best is None or wall < best[0]:
            best = (wall, rss)
    return best[0], best[1], out


def py(code: str, python=PY):
    return [python, "-c", code]


# ---- random expression trees ------------------------------------------------------------------
UNARY = ("sin", "cos", "tanh", "exp", "sigmoid")
BINARY = ("+", "-", "*")


def tree(rng: random.Random, nodes: int, names=("x", "y", "z")) -> str:
    """A random scalar formula of about `nodes` nodes (ops and leaves) over `names`."""
    if nodes <= 1:
        return rng.choice(names + (f"{rng.uniform(0.5, 2):.3f}",))
    if rng.random() < 0.3:
        return f"{rng.choice(UNARY)}({tree(rng, nodes - 1, names)})"
    left = rng.randint(1, nodes - 2) if nodes > 2 else 1
    return f"({tree(rng, left, names)} {rng.choice(BINARY)} {tree(rng, nodes - 1 - left, names)})"


def check_row(rows, what, cmd, target_s, today, stdin_text=None):
    wall, rss, out = run(cmd, stdin_text)
    try:
        check = json.loads(out)["check"]
        status, secs = check["status"], check["seconds"]
    except (ValueError, KeyError):
        status, secs = "error", float("nan")
    met = status != "skipped" and status != "error" and wall <= target_s
    rows.append((what, f"{wall:6.2f} s wall, check {secs:5.2f} s, {status}", f"<= {target_s:g} s, not skipped",
                 met, today))
    return wall, status


def sympy_rows(rows, quick: bool):
    rng = random.Random(12)
    n_trees = 3 if quick else 30
    walls, checks, statuses = [], [], []
    for _ in range(n_trees):
        expr = tree(rng, 100)
        wall, _, out = run(AGRAD + ["grad", expr, "--x", "0.3", "--y", "-0.7", "--z", "1.1", "--json"])
        try:
            check = json.loads(out)["check"]
            statuses.append(check["status"])
            checks.append(check["seconds"])
        except (ValueError, KeyError):
            statuses.append("error")
            checks.append(float("nan"))
        walls.append(wall)
    skipped = sum(s in ("skipped", "error") for s in statuses)
    rows.append((f"SymPy check, {n_trees} random 100-node trees", f"check max {max(checks):.2f} s, median "
                 f"{sorted(checks)[len(checks) // 2]:.2f} s (SymPy's import included); wall max {max(walls):.2f} s; "
                 f"{skipped} skipped", "<= 1 s every tree (the check)",
                 max(checks) <= 1 and not skipped, "0.4-0.9 s, 1 in 6 skipped"))
    check_row(rows, "SymPy check, random 1,000-node tree",
              AGRAD + ["grad", tree(random.Random(1000), 1000), "--x", "0.3", "--y", "-0.7", "--z", "1.1",
                       "--json"], 3, "skipped after 10 s")
    n = 1000
    check_row(rows, f"SymPy check, sum(sin(x)*exp(y) + x**2), {n:,}-element x, y",
              AGRAD + ["grad", "sum(sin(x)*exp(y) + x**2)", "--x", f"linspace(0, 1, {n})", "--y",
                       f"linspace(-1, 1, {n})", "--json"], 1, "skipped after 10 s")
    check_row(rows, "SymPy check, sum((A @ x)**2), A 100x100, --wrt x",
              AGRAD + ["grad", "sum((A @ x)**2)", "--A", "randn(100, 100)", "--x", "randn(100)", "--wrt", "x",
                       "--seed", "1", "--json"], 2, "skipped after 10 s")
    floor, _, _ = run(py("import sympy, numpy, click"))
    wall, status = check_row(rows, "SymPy check of --order 20, exp(sin(x))*tanh(x)",
                             AGRAD + ["grad", "exp(sin(x))*tanh(x)", "--x", "0.7", "--order", "20", "--json"],
                             1 + floor, "skipped after 10 s")
    rows[-1] = rows[-1][:1] + (rows[-1][1] + f" (import floor {floor:.2f} s)",) + rows[-1][2:]


# ---- big arrays -------------------------------------------------------------------------------
GRAD_NP = ("import numpy as np{extra}\nx = np.load({x!r}); y = np.load({y!r})\n"
           "s = np.sin(x); e = np.exp(y)\n"
           "f = np.sum(s * e + x * x)\n"
           "gx = np.cos(x) * e + 2 * x; gy = s * e\n")
EXPR = "sum(sin(x)*exp(y) + x**2)"


def array_rows(rows, d: Path, n: int, n_save: int, repeat: int):
    rng = np.random.default_rng(0)
    x, y = d / "x.npy", d / "y.npy"
    np.save(x, rng.standard_normal(n))
    np.save(y, rng.standard_normal(n))
    base = AGRAD + ["grad", EXPR, "--x", f"@{x}", "--y", f"@{y}", "--no-check"]

    ref = GRAD_NP.format(extra=", json", x=str(x), y=str(y)) + (
        "import sys\nsys.stdout.write(json.dumps({'value': float(f), 'gradients': {'x': gx.tolist(), "
        "'y': gy.tolist()}}))\n")
    tr, mr, _ = run(py(ref), repeat=repeat)
    ta, ma, out = run(base + ["--json"], repeat=repeat)
    rows.append((f"--json, {n:,} elements vs numpy + json", f"{ta / tr:5.2f}x time, {ma / mr:5.2f}x memory "
                 f"({ta:.2f} s, {ma:.0f} MiB; numpy {tr:.2f} s, {mr:.0f} MiB; {len(out) / 2**20:.0f} MiB of text)",
                 "<= 1.5x, <= 1.5x", ta / tr <= 1.5 and ma / mr <= 1.5, "29.9x, 36.9x"))

    ref = GRAD_NP.format(extra="", x=str(x), y=str(y))
    tr, mr, _ = run(py(ref), repeat=repeat)
    ta, ma, _ = run(base, repeat=repeat)
    # the floor: importing what the table needs (numpy, click, rich), before any work
    tf, _, _ = run(py("import numpy, click, rich.console, rich.table"), repeat=repeat)
    rows.append((f"default table, {n:,} elements vs numpy (load + gradient)", f"{ta / tr:5.2f}x time, "
                 f"{ma / mr:5.2f}x memory ({ta:.2f} s, {ma:.0f} MiB; numpy {tr:.2f} s, {mr:.0f} MiB; importing "
                 f"numpy, click and rich alone {tf / tr:.2f}x)",
                 "<= 1.3x, <= 1.5x", ta / tr <= 1.3 and ma / mr <= 1.5, "2.15x, 1.83x"))

    x7, y7 = d / "x7.npy", d / "y7.npy"
    np.save(x7, rng.standard_normal(n_save))
    np.save(y7, rng.standard_normal(n_save))
    # --wrt x: two 1e7-element gradients are over agrad's limit of 1e7 recorded gradient entries
    ref = GRAD_NP.format(extra="", x=str(x7), y=str(y7)) + f"np.savez({str(d / 'ref.npz')!r}, x=gx)\n"
    tr, mr, _ = run(py(ref), repeat=repeat)
    out_npz = d / "out.npz"
    ta, ma, _ = run(AGRAD + ["grad", EXPR, "--x", f"@{x7}", "--y", f"@{y7}", "--wrt", "x", "--no-check", "--force", "--save",
                             str(out_npz), "--format", "plain"], repeat=repeat)
    size = out_npz.stat().st_size / 2**20 if out_npz.exists() else float("nan")
    # the floor: writing that many bytes to a file and syncing it, as --save does, with nothing else
    tw, _, _ = run(["dd", "if=/dev/zero", f"of={d / 'floor.bin'}", "bs=1M", f"count={max(1, round(size))}",
                    "conv=fsync", "status=none"], repeat=repeat)
    rows.append((f"--save out.npz --format plain --wrt x, {n_save:,} elements vs numpy + np.savez",
                 f"{ta / tr:5.2f}x time, {ma / mr:5.2f}x memory ({ta:.2f} s, {ma:.0f} MiB, {size:.0f} MiB .npz; "
                 f"numpy {tr:.2f} s, {mr:.0f} MiB; writing and syncing {size:.0f} MiB alone {tw / tr:.2f}x)",
                 "<= 1.3x, <= 1.5x", ta / tr <= 1.3 and ma / mr <= 1.5, "50.4x, 3.6x"))


# ---- scalar programs and the Hessian ---------------------------------------------------------------
def torch_python(arg):
    if arg:
        return arg
    try:
        import torch  # noqa: F401
        return PY
    except ImportError:
        return None


TORCH_SCALAR = """
import time, torch
t0 = time.perf_counter()
t = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
y = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
x = t
for _ in range({n}):
    x = torch.sin(x) * y + x * 0.5
x.backward()
print(time.perf_counter() - t0)
"""

TORCH_HESSIAN = """
import time, torch
def f(x):
    return torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
x = torch.linspace(-1, 1, {n}, dtype=torch.float64)
best = 1e9
for _ in range({repeat}):
    t0 = time.perf_counter(); H = torch.autograd.functional.hessian(f, x); torch.linalg.eigvalsh(H)
    best = min(best, time.perf_counter() - t0)
print(best)
"""

AGRAD_HESSIAN = """
import time, numpy as np, agrad
x = np.linspace(-1, 1, {n})
best = 1e9
for _ in range({repeat}):
    t0 = time.perf_counter(); agrad.hessian("sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)", x=x)
    best = min(best, time.perf_counter() - t0)
print(best)
"""


def scalar_rows(rows, n_ops: int, tpy, repeat: int):
    prog = "\n".join(["t = sin(t)*y + t*0.5"] * (n_ops // 4))
    torch_us = None
    if tpy:
        _, _, out = run(py(TORCH_SCALAR.format(n=n_ops // 4), tpy))
        torch_us = float(out) / n_ops * 1e6
    for fmt, target in (("plain", 5.0), ("json", None)):
        wall, rss, _ = run(AGRAD + ["grad", "-", "--t", "0.3", "--y", "0.7", "--no-check", "--format", fmt],
                           stdin_text=prog, repeat=repeat)
        us = wall / n_ops * 1e6
        limit = target if target is not None else torch_us
        ref = f"PyTorch {torch_us:.1f} us/op" if torch_us else "PyTorch not importable"
        rows.append((f"scalar program, {n_ops:,} ops, --format {fmt}", f"{us:5.1f} us/op ({wall:.2f} s, {rss:.0f} MiB; "
                     f"{ref})", f"<= {target} us/op" if target else "<= PyTorch",
                     None if limit is None else us <= limit, "30 us/op" if fmt == "plain" else "61 us/op"))


def hessian_row(rows, n: int, tpy, repeat: int):
    _, _, out = run(py(AGRAD_HESSIAN.format(n=n, repeat=repeat)))
    ta = float(out)
    if not tpy:
        rows.append((f"Hessian, Rosenbrock n = {n}", f"{ta * 1e3:.0f} ms (PyTorch not importable)", "<= 2x torch",
                     None, "3.8x (1.1-22x)"))
        return
    _, _, out = run(py(TORCH_HESSIAN.format(n=n, repeat=repeat), tpy))
    tt = float(out)
    rows.append((f"Hessian, Rosenbrock n = {n} vs torch.autograd.functional.hessian",
                 f"{ta / tt:5.2f}x ({ta * 1e3:.0f} ms; torch {tt * 1e3:.0f} ms)", "<= 2x, stable", ta / tt <= 2,
                 "3.8x (1.1-22x)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    ap.add_argument("--torch-python", help="a Python with torch installed, for the PyTorch rows")
    ap.add_argument("--only", choices=["sympy", "arrays", "scalar", "hessian"], action="append")
    a = ap.parse_args()
    only = set(a.only or ["sympy", "arrays", "scalar", "hessian"])
    tpy = torch_python(a.torch_python)
    repeat = 1 if a.quick else 3
    rows = []
    with tempfile.TemporaryDirectory() as d:
        if "sympy" in only:
            sympy_rows(rows, a.quick)
        if "arrays" in only:
            array_rows(rows, Path(d), 100_000 if a.quick else 1_000_000, 1_000_000 if a.quick else 10_000_000,
                       repeat)
        if "scalar" in only:
            scalar_rows(rows, 20_000 if a.quick else 100_000, tpy, repeat)
        if "hessian" in only:
            hessian_row(rows, 400, tpy, repeat if a.quick else 5)
    for what, figure, target, met, today in rows:
        verdict = "—" if met is None else ("met" if met else "NOT met")
        print(f"{what}\n    {figure}\n    target {target}: {verdict}   (issue measured: {today})")


if __name__ == "__main__":
    main()
