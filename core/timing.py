"""`agrad bench`: programs side by side, forward + backward timed as %timeit times them.

Each program is compiled once (the engine is timed, not the parser); every loop builds the
graph on fresh leaves and runs backward from the output (seeded with ones when it is not a
scalar, as the tutorial's y.backward(t.ones(x.size()))). The loop count grows as timeit's
autorange grows it (1, 2, 5, 10, 20, ...) until one run takes `min_time`; then `runs` runs
are timed. Beside the times: graph nodes, values saved for backward, and whether every
program's gradients agree with the first one's.
"""
from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass

import numpy as np

from . import autodiff
from .errors import AgradError
from .program import compile_source, evaluate, forward
from .tensor import Tensor

MAX_VARIANTS = 20
MAX_RUNS = 100
MAX_LOOPS = 1_000_000


@dataclass
class BenchRequest:
    sources: list
    bindings: dict  # name -> float64 array
    wrt: list | None = None  # None: every bound variable
    runs: int = 7  # %timeit's default
    min_time: float = 0.2  # seconds one run must take (timeit.autorange)
    lib: object = None  # functions.Library
    random: object = None  # rng.Random


def _saved(program, vals) -> tuple[int, int]:
    count, seen = 0, {}
    for i, node in enumerate(program.nodes):
        t = vals[i]
        if node.kind == "op" and t.requires_grad:
            for k in t.op.saved(t.parents):
                src = t if k is None else t.parents[k]
                count += 1
                seen[id(src)] = np.asarray(src.value).nbytes
    return count, int(sum(seen.values()))


def _autorange(loop, min_time: float) -> int:
    for n in (k * 10 ** e for e in range(7) for k in (1, 2, 5)):
        if n > MAX_LOOPS:
            break
        t0 = time.perf_counter()
        loop(n)
        if time.perf_counter() - t0 >= min_time:
            return n
    return MAX_LOOPS


def bench_job(req: BenchRequest) -> dict:
    if not 1 <= len(req.sources) <= MAX_VARIANTS:
        raise AgradError(f"bench takes 1 to {MAX_VARIANTS} expressions, got {len(req.sources)}", kind="usage")
    if not 1 <= req.runs <= MAX_RUNS:
        raise AgradError(f"--runs must be between 1 and {MAX_RUNS}, got {req.runs}", kind="usage")
    if not 0 < req.min_time <= 10:
        raise AgradError(f"--min-time must be above 0 and at most 10 seconds, got {req.min_time:g}", kind="usage")
    programs = [compile_source(s, lib=req.lib, rng=req.random) for s in req.sources]
    wrt = list(req.bindings) if req.wrt is None else list(req.wrt)
    for src, prog in zip(req.sources, programs):
        for name, idx in prog.variables.items():
            if name not in req.bindings:
                raise AgradError(f"no value for '{name}': bind it with --{name} VALUE (or -v {name}=VALUE)",
                                 kind="name", span=prog.nodes[idx].span, source=src)
    for name in wrt:
        if name not in req.bindings:
            raise AgradError(f"--wrt names '{name}', which has no value", kind="name")
    values = {n: (v[()] if v.ndim == 0 else v) for n, v in ((n, np.asarray(v, dtype=np.float64))
                                                            for n, v in req.bindings.items())}

    def leaves():
        return {n: Tensor(v, requires_grad=n in wrt, name=n) for n, v in values.items()}

    rows = []
    for src, prog in zip(req.sources, programs):
        def loop(n, prog=prog):
            for _ in range(n):
                lv = leaves()
                y = forward(prog, lv, np.float64)
                if y.requires_grad:
                    autodiff.backward(y, None if y.shape == () else np.ones(y.shape))

        lv = leaves()  # one traced run: the gradients, the nodes and what the graph saves
        vals = evaluate(prog, lv, np.float64)
        y = vals[prog.output]
        if y.requires_grad:
            autodiff.backward(y, None if y.shape == () else np.ones(y.shape))
        grads = {n: np.zeros(np.shape(values[n])) if lv[n].grad is None else np.asarray(lv[n].grad.value)
                 for n in wrt}
        saved, nbytes = _saved(prog, vals)
        was = gc.isenabled()
        gc.disable()  # as timeit does
        try:
            loops = _autorange(loop, req.min_time)
            times = []
            for _ in range(req.runs):
                t0 = time.perf_counter()
                loop(loops)
                times.append((time.perf_counter() - t0) / loops)
        finally:
            if was:
                gc.enable()
        rows.append({"expression": src, "median": statistics.median(times),
                     "spread": statistics.stdev(times) if len(times) > 1 else 0.0, "best": min(times),
                     "loops": loops, "runs": req.runs, "times": times,
                     "nodes": sum(1 for n in prog.nodes if n.kind == "op"), "saved_values": saved,
                     "saved_bytes": nbytes, "gradients": grads})
    fastest = min(r["median"] for r in rows)
    for r in rows:
        r["ratio"] = r["median"] / fastest
    from .check import close, tolerances

    rtol, atol = tolerances(np.float64)
    ref = rows[0]["gradients"]
    disagreements = []
    for k, r in enumerate(rows[1:], 2):
        for n in wrt:
            good = close(r["gradients"][n], ref[n], rtol, atol)
            r.setdefault("agrees", True)
            if not good.all():
                r["agrees"] = False
                diff = float(np.nanmax(np.abs(np.asarray(r["gradients"][n]) - ref[n])))
                disagreements.append(f"variant {k} ({r['expression']}): d/d{n} differs from variant 1's by up to "
                                     f"{diff:.3g}")
    rows[0]["agrees"] = True
    rnd = programs[0].random
    return {"variants": rows, "wrt": wrt, "agree": not disagreements, "disagreements": disagreements,
            "rtol": rtol, "atol": atol, "random_seed": rnd.seed if rnd is not None and rnd.draws else None,
            "ok": not disagreements}
