"""agrad descend beside its floor: 1,000 steps of Adam on a linear regression with 10,000 points.

    python bench/descend.py            # the table
    python bench/descend.py --quick    # fewer repeats

Side by side, in one run: a hand-written numpy loop (the gradient derived by hand, Adam in numpy),
agrad's library path (agrad.descend, no SymPy check), the CLI as a person runs it
(`agrad descend ... --no-check --no-plot`, start-up included), and a torch.optim loop when PyTorch
is installed (it is not a dependency). Each figure is the best of several runs. Target: the library
path within 1.5x the numpy loop. Benchmarks are not tests: nothing here fails a build.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N, STEPS, LR = 10_000, 1_000, 0.05
EXPR = "mean((w*X + b - Y)**2)"
TARGET = 1.5


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    return x, 3.0 * x - 2.0 + 0.1 * rng.normal(size=N)


def numpy_loop(x, y):
    """What a person writes by hand: the gradient derived on paper, Adam as in the paper."""
    theta = np.zeros(2)
    m, v = np.zeros(2), np.zeros(2)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, STEPS + 1):
        r = theta[0] * x + theta[1] - y
        loss = np.mean(r * r)
        g = np.array([2 * np.mean(r * x), 2 * np.mean(r)])
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta -= LR * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return theta, loss


def agrad_loop(x, y):
    from agrad import descend

    r = descend(EXPR, w=0.0, b=0.0, X=x, Y=y, wrt=["w", "b"], optimizer="adam", lr=LR, steps=STEPS, check=False)
    return np.array([r.params["w"], r.params["b"]]), r.loss


def torch_loop(x, y):
    import torch

    X, Y = torch.tensor(x), torch.tensor(y)
    w = torch.zeros((), dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=LR)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch.mean((w * X + b - Y) ** 2)
        loss.backward()
        opt.step()
    return np.array([w.item(), b.item()]), loss.item()


def best(fn, repeat, *args):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t)
    return min(times), out


def best_of_each(fns, repeat, *args):
    """[(best seconds, last result)] per function, the functions taking turns each round."""
    times, outs = [[] for _ in fns], [None] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            outs[k] = fn(*args)
            times[k].append(time.perf_counter() - t)
    return [(min(t), out) for t, out in zip(times, outs)]


def cli_time(x, y, repeat):
    exe = Path(sys.executable).with_name("agrad")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "agrad.cli"]
    with tempfile.TemporaryDirectory() as d:
        np.save(Path(d) / "x.npy", x)
        np.save(Path(d) / "y.npy", y)
        args = cmd + ["descend", EXPR, "--w", "0", "--b", "0", "--X", f"@{d}/x.npy", "--Y", f"@{d}/y.npy",
                      "--optimizer", "adam", "--lr", str(LR), "--steps", str(STEPS), "--no-check", "--no-plot"]
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t)
        start = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run(cmd + ["--version"], stdout=subprocess.DEVNULL, check=True)
            start.append(time.perf_counter() - t)
    return min(times), min(start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    args = ap.parse_args()
    repeat = 2 if args.quick else 5
    x, y = data()
    rows = []
    # interleaved, so that both see the same load on a shared machine
    (t_np, (th_np, _)), (t_ag, (th_ag, _)) = best_of_each((numpy_loop, agrad_loop), repeat, x, y)
    rows.append(("hand-written numpy loop", t_np, ""))
    rows.append(("agrad library (agrad.descend)", t_ag, f"target <= {TARGET}x: "
                 + ("met" if t_ag <= TARGET * t_np else "NOT met")))
    t_cli, t_start = cli_time(x, y, max(2, repeat // 2))
    rows.append(("agrad CLI (agrad descend, start-up included)", t_cli, f"start-up alone {t_start * 1e3:.0f} ms"))
    try:
        import torch  # noqa: F401

        t_to, (th_to, _) = best(torch_loop, repeat, x, y)
        rows.append((f"torch.optim.Adam loop (torch {torch.__version__})", t_to, ""))
        agree = np.max(np.abs(th_ag - th_to) / np.abs(th_to))
    except ImportError:
        agree = None
        rows.append(("torch.optim.Adam loop", None, "PyTorch not installed (it is not a dependency)"))
    print(f"{STEPS:,} steps of Adam (lr {LR}) on mean((w*X + b - Y)**2), {N:,} points, float64")
    print(f"{'':48s} {'total':>9s} {'per step':>10s} {'vs numpy':>9s}")
    for what, t, note in rows:
        if t is None:
            print(f"{what:48s} {'—':>9s} {'—':>10s} {'—':>9s}  {note}")
        else:
            print(f"{what:48s} {t * 1e3:7.1f} ms {t / STEPS * 1e6:7.1f} us {t / t_np:8.2f}x  {note}")
    print(f"fitted (w, b): agrad {th_ag.tolist()}, numpy {th_np.tolist()}")
    if agree is not None:
        print(f"agrad vs torch.optim parameters after {STEPS:,} steps: max relative difference {agree:.1e}")


if __name__ == "__main__":
    main()
