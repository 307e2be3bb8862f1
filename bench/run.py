"""agrad's speed and memory beside its floor, measured in one run.

    python bench/run.py            # the table
    python bench/run.py --json out.json
    python bench/run.py --quick    # smaller sizes, fewer repeats (a smoke run)

Each figure is the best of several runs (the least disturbed by other work on the machine).
Targets come from the speed issue; the last column says whether each is met. Benchmarks are
not tests: nothing here fails a build.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PY = sys.executable
# the console script, as a person runs it (python -m adds runpy's own start-up)
_SCRIPT = Path(PY).with_name("agrad")
AGRAD = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "agrad.cli"]
CLASSIC = ["grad", "(x1**2+2*x2)**2", "--x1", "2", "--x2", "3"]
# the reference figures the speed issue measured on this kind of machine, for when torch is absent
REFERENCE = {"torch_us_per_op": 17.0, "hips_us_per_op": 50.0, "micrograd_us_per_op": 3.0,
             "torch_1e6_ms": "30-60", "numpy_1e6_ms": 43.0}


def best_wall(cmd, repeat, stdin=None) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, stdin=stdin and open(stdin), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        times.append(time.perf_counter() - t)
    return min(times)


def best(fn, repeat) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def row(rows, what, value, unit, target=None, met=None, note=""):
    rows.append({"what": what, "value": value, "unit": unit, "target": target, "met": met, "note": note})


def startup(rows, repeat):
    # The floor is the modules the table needs: printing a rich table takes rich.console too
    # (the issue's reference line imports rich.table alone, which loads less of rich).
    issue_floor = best_wall([PY, "-c", "import numpy, click, rich.table"], repeat)
    floor = best_wall([PY, "-c", "import numpy, click, rich.table, rich.console"], repeat)
    run = best_wall(AGRAD + CLASSIC + ["--no-check"], repeat)
    row(rows, "start-up: import numpy, click, rich.table (the issue's line)", issue_floor * 1e3, "ms")
    row(rows, "start-up: import floor (numpy, click, rich.table, rich.console)", floor * 1e3, "ms")
    row(rows, "start-up: agrad grad classic --no-check", run * 1e3, "ms", "<= 1.3x floor", run <= 1.3 * floor,
        f"{run / floor:.2f}x floor, {run / issue_floor:.2f}x the issue's line")
    floor_s = best_wall([PY, "-c", "import numpy, click, rich.table, rich.console, sympy"], repeat)
    run_s = best_wall(AGRAD + CLASSIC, repeat)
    row(rows, "start-up: import floor + sympy", floor_s * 1e3, "ms")
    row(rows, "start-up: agrad grad classic (with check)", run_s * 1e3, "ms", "<= 1.3x floor",
        run_s <= 1.3 * floor_s, f"{run_s / floor_s:.2f}x floor")


def program(n_statements: int) -> str:
    return "\n".join(["t = sin(t)*y + t*0.5"] * n_statements)


def scalar_core(n_ops: int, repeat: int) -> tuple[float, float]:
    """Seconds for forward+backward of a scalar graph of n_ops ops through the core API,
    and the parse+build seconds."""
    from agrad import autodiff
    from agrad.program import compile_source, evaluate
    from agrad.tensor import Tensor

    t = time.perf_counter()
    prog = compile_source(program(n_ops // 4))
    parse = time.perf_counter() - t

    def once():
        leaves = {"t": Tensor(np.float64(0.3), True), "y": Tensor(np.float64(0.7), True)}
        vals = evaluate(prog, leaves, np.float64)
        autodiff.backward(vals[prog.output])

    return best(once, repeat), parse


def peak_mib(n_ops: int) -> float:
    """Peak resident memory of a child process that builds and differentiates the graph,
    less that of one that only imports agrad."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the (larger) parent
    code = ("import numpy as np\n"
            "from agrad import autodiff\nfrom agrad.program import compile_source, evaluate\n"
            "from agrad.tensor import Tensor\n"
            f"prog = compile_source({program(n_ops // 4)!r}) if {n_ops} else None\n"
            "if prog:\n"
            "    v = evaluate(prog, {'t': Tensor(np.float64(0.3), True), 'y': Tensor(np.float64(0.7), True)}, np.float64)\n"
            "    autodiff.backward(v[prog.output])\n"
            "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0])\n")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        out = subprocess.run([PY, f.name], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    return int(out.strip()) / 1024


def torch_scalar(n_ops: int, repeat: int):
    try:
        import torch
    except ImportError:
        return None

    def once():
        t = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        x = t
        for _ in range(n_ops // 4):
            x = torch.sin(x) * y + x * 0.5
        x.backward()

    return best(once, repeat)


def scalar_graphs(rows, sizes, repeat):
    per = {}
    for n in sizes:
        secs, parse = scalar_core(n, repeat)
        per[n] = secs / n * 1e6
        row(rows, f"scalar graph, core API: {n:,} ops forward+backward", per[n], "us/op", "<= 5 us/op",
            per[n] <= 5.0)
        tt = torch_scalar(n, max(1, repeat // 2))
        if tt is not None:
            row(rows, f"  PyTorch on the same graph ({n:,} ops)", tt / n * 1e6, "us/op", note=f"agrad is "
                f"{tt / secs:.1f}x faster" if tt > secs else f"PyTorch is {secs / tt:.1f}x faster")
    lo, hi = sizes[0], sizes[-1]
    row(rows, f"  linearity: us/op at {hi:,} / at {lo:,}", per[hi] / per[lo], "ratio", "about 1 (linear)",
        per[hi] / per[lo] < 1.5)
    if not any(r["what"].startswith("  PyTorch") for r in rows):
        row(rows, "  PyTorch (not installed; the issue's reference)", REFERENCE["torch_us_per_op"], "us/op",
            note="3x faster than PyTorch means <= 5.7 us/op")
    # the CLI on a statements file
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(program(hi // 4))
    try:
        wall = best_wall(AGRAD + ["grad", "-", "--t", "0.3", "--y", "0.7", "--no-check", "--format", "plain"],
                         max(1, repeat // 2), stdin=f.name)
    finally:
        os.unlink(f.name)
    row(rows, f"scalar graph, CLI: {hi // 4:,} statements ({hi:,} ops), whole run", wall, "s",
        note="parse, forward, backward, output")
    base = peak_mib(0)
    for n in sizes:
        mib = peak_mib(n) - base
        row(rows, f"peak memory, {n:,} ops", mib / n * 100_000, "MiB per 100k ops", "linear",
            note=f"{mib:.1f} MiB above the import baseline")


def hand_numpy(x, y):
    a = x ** 2 + 2 * y
    s = np.sin(x)
    f = np.sum(a ** 2 * s)
    ga = 2 * a * s
    return f, ga * 2 * x + a ** 2 * np.cos(x), ga * 2


def large_arrays(rows, n, repeat):
    from agrad import autodiff
    from agrad.program import compile_source, evaluate, forward
    from agrad.tensor import Tensor

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    prog = compile_source("sum((x**2 + 2*y)**2 * sin(x))")

    def agrad_once(keep_all=False):
        leaves = {"x": Tensor(x, True), "y": Tensor(y, True)}
        if keep_all:  # every value, as the CLI's table and --save need them
            out = evaluate(prog, leaves, np.float64)[prog.output]
        else:  # a library caller: intermediates no rule reads are released, as in PyTorch
            out = forward(prog, leaves, np.float64)
        autodiff.backward(out)
        return leaves

    f, gx, gy = hand_numpy(x, y)
    for keep_all in (False, True):
        leaves = agrad_once(keep_all)
        assert np.allclose(leaves["x"].grad.value, gx) and np.allclose(leaves["y"].grad.value, gy)
    th = best(lambda: hand_numpy(x, y), repeat)
    ta = best(agrad_once, repeat)
    tk = best(lambda: agrad_once(True), repeat)
    row(rows, f"arrays: hand-written numpy gradient, {n:,} elements", th * 1e3, "ms")
    row(rows, "arrays: agrad forward+backward, same expression", ta * 1e3, "ms", "<= 1.3x numpy", ta <= 1.3 * th,
        f"{ta / th:.2f}x numpy")
    row(rows, "arrays: the same, every intermediate value kept (the CLI)", tk * 1e3, "ms",
        note=f"{tk / th:.2f}x numpy")
    try:
        import torch

        xt = torch.tensor(x, requires_grad=True)
        yt = torch.tensor(y, requires_grad=True)

        def torch_once():
            xt.grad = yt.grad = None
            (((xt ** 2 + 2 * yt) ** 2) * torch.sin(xt)).sum().backward()

        tt = best(torch_once, repeat)
        row(rows, "arrays: PyTorch, same expression", tt * 1e3, "ms", note=f"agrad/PyTorch {ta / tt:.2f}")
    except ImportError:
        row(rows, "arrays: PyTorch (not installed; the issue's reference)", float("nan"), "ms",
            note=f"{REFERENCE['torch_1e6_ms']} ms on this kind of machine")


def parsing(rows, sizes, repeat):
    from agrad.program import compile_source

    per = {}
    for n in sizes:
        flat = "+".join(f"x{i % 3}" for i in range(n))
        t = best(lambda: compile_source(flat), repeat)
        per[("flat", n)] = t / n * 1e6
        row(rows, f"parse+build: flat sum of {n:,} terms", t, "s", note=f"{per[('flat', n)]:.2f} us/term")
        stmts = program(n // 4)
        t = best(lambda: compile_source(stmts), repeat)
        per[("prog", n)] = t / (n // 4) * 1e6
        row(rows, f"parse+build: {n // 4:,} statements", t, "s", note=f"{per[('prog', n)]:.2f} us/statement")
    lo, hi = sizes[0], sizes[-1]
    for kind in ("flat", "prog"):
        ratio = per[(kind, hi)] / per[(kind, lo)]
        row(rows, f"  linearity ({kind}): per-unit time at {hi:,} / at {lo:,}", ratio, "ratio", "about 1 (linear)",
            ratio < 1.5)


FUNCS = ["sin", "cos", "tanh", "exp", "sigmoid"]


def chain_terms(n_nodes: int) -> list[tuple[str, int, int]]:
    """Terms f(x*k + y)*m, about 8 nodes each, so that the sum has about n_nodes nodes."""
    return [(FUNCS[i % len(FUNCS)], (i % 7) + 1, (i % 3) + 1) for i in range(max(1, n_nodes // 8))]


def sympy_check(rows, sizes, repeat):
    import sympy as sp
    from sympy.core.cache import clear_cache

    import agrad
    from agrad.program import compile_source

    fns = {"sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh, "exp": sp.exp, "sigmoid": lambda a: 1 / (1 + sp.exp(-a))}
    bindings = {"x": np.float64(0.3), "y": np.float64(-0.7)}
    for n in sizes:
        terms = chain_terms(n)
        src = " + ".join(f"{f}(x*{k} + y)*{m}" for f, k, m in terms)
        nodes = len(compile_source(src).nodes)

        def bare():  # the bare SymPy work: build (from objects, not text), differentiate, evaluate
            clear_cache()  # SymPy caches results: a repeated run would measure a dictionary lookup
            # fresh symbols, as the check makes: a symbol keeps what it learnt about its assumptions
            x, y = sp.symbols("x y", real=True)
            point = {x: sp.Float(0.3), y: sp.Float(-0.7)}
            expr = sp.Add(*[fns[f](x * k + y) * m for f, k, m in terms])
            return [sp.diff(expr, v).evalf(30, subs=point) for v in (x, y)]

        def check():
            clear_cache()
            return agrad.grad(src, at=bindings).check

        t_bare = best(bare, repeat)
        checks = [check() for _ in range(repeat)]
        assert all(c.status == "ok" for c in checks), checks[0].reason
        t_check = min(c.seconds for c in checks)
        row(rows, f"SymPy check, {nodes:,} nodes: agrad's check", t_check * 1e3, "ms", "<= 2x bare SymPy",
            t_check <= 2 * t_bare, f"bare diff+evalf {t_bare * 1e3:.1f} ms, ratio {t_check / t_bare:.2f}")


def render(rows) -> str:
    w = max(len(r["what"]) for r in rows)
    lines = [f"{'measure'.ljust(w)}  {'value':>12}  {'unit':<17} {'target':<18} {'met':<4} note",
             "-" * (w + 70)]
    for r in rows:
        v = r["value"]
        vs = f"{v:12.3f}" if isinstance(v, float) else f"{v!s:>12}"
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        lines.append(f"{r['what'].ljust(w)}  {vs}  {r['unit']:<17} {r['target'] or '':<18} {met:<4} {r['note']}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    ap.add_argument("--only", help="comma-separated sections: startup,scalar,arrays,parse,sympy")
    args = ap.parse_args()
    repeat = 3 if args.quick else 7
    sections = set((args.only or "startup,scalar,arrays,parse,sympy").split(","))
    rows = []
    if "startup" in sections:
        startup(rows, repeat)
    if "scalar" in sections:
        scalar_graphs(rows, [10_000, 100_000] if not args.quick else [2_000, 20_000], repeat)
    if "arrays" in sections:
        large_arrays(rows, 1_000_000 if not args.quick else 100_000, repeat)
    if "parse" in sections:
        parsing(rows, [10_000, 100_000] if not args.quick else [2_000, 20_000], max(1, repeat // 2))
    if "sympy" in sections:
        sympy_check(rows, [10, 100, 1000] if not args.quick else [10, 100], max(1, repeat // 2))
    print(render(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"python": sys.version, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
