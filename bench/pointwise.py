"""agrad pointwise beside its floor: f = sin(x)*x and f' at 10,000 points.

    python bench/pointwise.py            # the table
    python bench/pointwise.py --quick    # fewer repeats

Side by side: hand-written numpy computing f and f' = sin(x) + x*cos(x); agrad.pointwise on a
program compiled once (one vectorized graph, one backward pass with a ones seed, no SymPy check;
start-up excluded); the same with the SymPy check (derived once, lambdified on every point); the
CLI as a person runs it (`agrad grad ... --pointwise --no-check --format csv`, start-up included);
and a shell loop of 20 one-point CLI calls, estimated from one call x 20. Each figure is the best
of several runs. Target: the library path within 1.3x numpy. Benchmarks are not tests.

The command line keeps freed memory in the process (cli/memory.py, a glibc setting) and
`import agrad` does not, so the library row is measured both ways: in this process as a library
user gets it, and in a child process with the CLI's setting (numpy measured there too).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N = 10_000
EXPR = "sin(x)*x"
TARGET = 1.3


def best(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--library-only", action="store_true", help=argparse.SUPPRESS)  # the child's part
    ap.add_argument("--keep-freed-memory", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    runs = 5 if a.quick else 30
    if a.keep_freed_memory:
        from agrad.cli.memory import keep_freed_memory

        keep_freed_memory()
    import agrad

    x = np.linspace(0, 6.28, N)

    def numpy_f():
        s = np.sin(x)
        return s * x, s + x * np.cos(x)

    prog = agrad.parse(EXPR)
    r = agrad.pointwise(prog, x=x, check=False)
    f, d = numpy_f()
    assert np.allclose(r.value, f, rtol=1e-14) and np.allclose(r.derivatives["x"], d, rtol=1e-12, atol=1e-15)
    t_np = best(numpy_f, runs * 10)
    t_ag = best(lambda: agrad.pointwise(prog, x=x, check=False), runs * 10)
    if a.library_only:
        print(t_np, t_ag)
        return
    child = subprocess.run([sys.executable, __file__, "--library-only", "--keep-freed-memory"]
                           + (["--quick"] if a.quick else []), check=True, capture_output=True, text=True)
    k_np, k_ag = map(float, child.stdout.split())
    t_check = best(lambda: agrad.pointwise(prog, x=x, check=True), max(3, runs // 5))
    agrad_cmd = str(Path(sys.executable).with_name("agrad"))
    cli = [agrad_cmd, "grad", EXPR, "--x", f"linspace(0, 6.28, {N})", "--pointwise", "--no-check", "--format", "csv"]
    t_cli = best(lambda: subprocess.run(cli, check=True, capture_output=True), max(3, runs // 5))
    one = [agrad_cmd, "grad", EXPR, "--x", "1.5", "--json"]
    t_one = best(lambda: subprocess.run(one, check=True, capture_output=True), max(3, runs // 5))
    rows = [("numpy by hand: f and f' (floor)", t_np),
            ("agrad.pointwise, no check (start-up excluded)", t_ag),
            ("  the same with the CLI's glibc setting (vs numpy there)", k_ag * t_np / k_np),
            ("agrad.pointwise with the SymPy check", t_check),
            (f"agrad grad --pointwise --no-check (CLI, {N:,} points)", t_cli),
            ("shell loop: 20 one-point CLI calls (1 call x 20)", 20 * t_one)]
    print(f"f = {EXPR} and f' at {N:,} points (best of several runs)")
    for label, t in rows:
        print(f"  {label:<58} {t * 1e3:10.2f} ms   {t / t_np:8.1f}x numpy")
    ratio = t_ag / t_np
    print(f"library path / numpy = {ratio:.2f} (target <= {TARGET}): {'met' if ratio <= TARGET else 'NOT met'}; "
          f"with the CLI's glibc setting (cli/memory.py) {k_ag / k_np:.2f} (numpy there {k_np * 1e3:.2f} ms)")


if __name__ == "__main__":
    main()
