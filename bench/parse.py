"""Where a long scalar program's time goes (issue 12's "scalar program of 100k ops" row): the
program `t = sin(t)*y + t*0.5` repeated (4 ops a statement), per op, stage by stage, beside the
whole CLI run.

    python bench/parse.py            # 100,000 ops, best of 3
    python bench/parse.py --quick    # 20,000 ops, best of 2

Every figure is the least CPU time of the repeats (on a shared machine wall time measures the
neighbours; the CLI's least wall time is printed beside it). In-process stages run with the
cyclic collector paused, as agrad.grad pauses it:
tokenize, parse (tokens -> syntax trees), compile (trees -> the flat node list), the passes
(forward + backward: the engine), and the report (saved counts, non-finite scan). Then the CLI
as a person runs it, a fresh process each time (start-up included), --format plain and json.
Benchmarks are not tests: nothing here fails a build.
"""
from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
_SCRIPT = Path(PY).with_name("agrad")
AGRAD = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "agrad.cli"]
TARGETS = {"parse": 2.0, "CLI --format plain": 5.0}  # us per op (issue 12)


def best(f, repeat: int) -> float:
    """The least CPU seconds of `repeat` calls: on a shared machine wall time measures the neighbours."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        f()
        times.append(time.process_time() - t)
    return min(times)


def best_process(cmd, repeat: int, stdin_text: str | None = None) -> tuple:
    """(least CPU seconds, least wall seconds) of a fresh process running cmd, start-up included."""
    cpu, wall = [], []
    for _ in range(repeat):
        with tempfile.TemporaryFile("w+") as fin:
            fin.write(stdin_text or "")
            fin.seek(0)
            t = time.perf_counter()
            p = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(p.pid, 0)
            wall.append(time.perf_counter() - t)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"exit {os.waitstatus_to_exitcode(status)}: {' '.join(cmd)}")
        cpu.append(usage.ru_utime + usage.ru_stime)
    return min(cpu), min(wall)


def stages(src: str, repeat: int) -> dict:
    from agrad import parser as P
    from agrad.differentiate import run_passes
    from agrad.problem import Options, make_problem
    from agrad.program import compile_source
    from agrad.report import non_finite, saved

    out = {}
    was = gc.isenabled()
    gc.disable()
    try:
        compile_source(src)  # warm up: the first run of a stage also pays for the memory it takes from the system
        batches = getattr(P, "_batches", None)  # tokens in batches, as the parser reads them
        if batches is not None:
            out["  of which tokenize"] = best(lambda: sum(len(b) for b in batches(src)), repeat)
        out["parse"] = best(lambda: sum(1 for _ in P.parse_statements(src)), repeat)
        both = best(lambda: compile_source(src), repeat)
        out["compile"] = both - out["parse"]
        problem = make_problem(src, {"t": 0.3, "y": 0.7}, Options(check=False))
        out["passes (engine)"] = best(lambda: run_passes(problem, intermediates=False), repeat)
        run = run_passes(problem, intermediates=False)
        out["report"] = best(lambda: (saved(problem.run_program, run.values),
                                      non_finite(problem.run_program, run.values, run.grads)), repeat)
    finally:
        if was:
            gc.enable()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n_ops = 20_000 if a.quick else 100_000
    repeat = 2 if a.quick else 3
    src = "\n".join(["t = sin(t)*y + t*0.5"] * (n_ops // 4))
    rows = list(stages(src, 2 * repeat).items())
    rows.insert(0, rows.pop(next(i for i, r in enumerate(rows) if r[0] == "parse")))
    walls = {}
    cpu, walls["CLI start-up (x: one op)"] = best_process(
        AGRAD + ["grad", "x", "--x", "1", "--no-check", "--format", "plain"], repeat)
    rows.append(("CLI start-up (x: one op)", cpu))
    for fmt in ("plain", "json"):
        name = f"CLI --format {fmt}"
        cpu, walls[name] = best_process(AGRAD + ["grad", "-", "--t", "0.3", "--y", "0.7", "--no-check", "--format", fmt],
                                        repeat, src)
        rows.append((name, cpu))
    print(f"scalar program, {n_ops:,} ops ({len(src):,} characters), best of {repeat}; "
          f"{os.cpu_count()} cores")
    print(f"{'stage':28s} {'CPU s':>9s} {'us/op':>8s}  target")
    for name, secs in rows:
        us = secs / n_ops * 1e6
        target = TARGETS.get(name)
        mark = "" if target is None else f"<= {target:g} us/op {'met' if us <= target else 'NOT met'}"
        wall = f" (wall {walls[name]:.3f} s)" if name in walls else ""
        print(f"{name:28s} {secs:9.3f} {us:8.2f}  {mark}{wall}" if "start-up" not in name else
              f"{name:28s} {secs:9.3f} {'':8s}  {wall}")


if __name__ == "__main__":
    main()
