"""agrad against PyTorch on random expressions: an independent engine, for developers.

    python bench/compare_torch.py [--examples 2000] [--order 1|2|3] [--kinks] [--seed N]
    python bench/compare_torch.py --edges [--order 1|2]   # functions at the edges of their domains

Needs torch (not a dependency of agrad) and hypothesis. Each generated expression is parsed
by agrad once; the same graph is then run by agrad and, node by node through a table of
torch functions, by PyTorch. Every gradient (or, with --order, every partial) must agree to
rtol 1e-10. Where they differ, the SymPy check says which side holds: PyTorch masks
d/da a**b at b == 0 exactly, which also drops the exponent's part of higher derivatives.
"""
from __future__ import annotations

import argparse
import itertools
import random

import numpy as np
import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import agrad
from agrad.errors import AgradError
from agrad.program import compile_source

F = torch.nn.functional
TORCH = {  # agrad op name -> the same operation in PyTorch
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "neg": lambda a: -a, "pow": torch.pow, "matmul": torch.matmul, "exp": torch.exp, "log": torch.log,
    "log2": torch.log2, "log10": torch.log10, "sqrt": torch.sqrt, "sin": torch.sin, "cos": torch.cos,
    "tan": torch.tan, "asin": torch.asin, "acos": torch.acos, "atan": torch.atan, "sinh": torch.sinh,
    "cosh": torch.cosh, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus, "abs": torch.abs,
    "relu": torch.relu, "maximum": torch.maximum, "minimum": torch.minimum,
    "sum": lambda a, axis=None: a.sum() if axis is None else a.sum(axis),
    "mean": lambda a, axis=None: a.mean() if axis is None else a.mean(axis),
    "max": lambda a, axis=None: a.max() if axis is None else a.amax(axis),
    "min": lambda a, axis=None: a.min() if axis is None else a.amin(axis),
    "index": lambda a, key: a[key], "detach": lambda a: a.detach(),
}


def torch_forward(program, leaves: dict):
    vals = []
    for node in program.nodes:
        if node.kind == "var":
            vals.append(leaves[node.name])
        elif node.kind == "const":
            vals.append(torch.tensor(node.value, dtype=torch.float64))
        else:
            vals.append(TORCH[node.op.name](*[vals[j] for j in node.args], **node.params))
    return vals[program.output]


UNARY = ["sin", "cos", "tanh", "sigmoid", "softplus", "atan", "abs", "relu",
         "sqrt(1 + ({})**2)", "log(2 + ({})**2)", "asin(0.8*tanh({}))", "acos(0.8*tanh({}))", "exp(tanh({}))",
         "tan(tanh({}))", "sinh(tanh({}))", "cosh(tanh({}))", "log2(1 + ({})**2)", "log10(3 + ({})**2)"]


def expressions(leaves):
    def extend(k):
        unary = st.builds(lambda f, a: f.format(a) if "{}" in f else f"{f}({a})", st.sampled_from(UNARY), k)
        binary = st.builds(lambda a, op, b: f"({a}) {op} ({b})", k, st.sampled_from(["+", "-", "*"]), k)
        special = st.builds(lambda t, a, b: t.format(a, b), st.sampled_from(
            ["({}) / (2 + sin({}))", "maximum({}, {})", "minimum({}, {})", "pow(1.5 + tanh({}), {})"]), k, k)
        return unary | binary | special

    return st.recursive(leaves, extend, max_leaves=7)


def partials(out, xs: dict, order: int) -> dict:
    level, found = {(): out}, {}
    for _ in range(order):
        nxt = {}
        for key, t in level.items():
            for name, x in xs.items():
                g = torch.autograd.grad(t, [x], create_graph=True, allow_unused=True)[0] if t.requires_grad else None
                nxt[key + (name,)] = torch.zeros_like(x) if g is None else g
        found.update(nxt)
        level = {k: v for k, v in nxt.items() if v.dim() == 0}
    return found


# Functions at the edges of their domains (0, 1, negative), where rules mask or divide by zero
EDGES = ["sqrt(x)", "log(x)", "x**0.5", "1/x", "x**-1", "asin(x)", "acos(x)", "x**x", "x**y", "y**x", "x**0",
         "abs(x)*x", "relu(x)**2", "sqrt(x*x)", "log(abs(x))", "x/y", "x**3", "(x*0)**y", "maximum(x, y)",
         "minimum(x, x)", "max(x*ones(3))", "atan(1/x)", "x**1.5", "x**(-0.5)", "log2(x)", "sqrt(x)*x", "abs(x)**0.5"]


def compare(stats, src, point, wrt, order):
    """agrad's derivatives of src against PyTorch's; a difference gets SymPy's verdict on agrad."""
    try:
        ours = agrad.grad(src, at=point, wrt=wrt, order=order, check=False)
    except AgradError as exc:
        assert exc.kind == "shape", exc  # the generator can mix shapes that do not broadcast
        return
    leaves_t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in wrt) for k, v in point.items()}
    out = torch_forward(compile_source(src), leaves_t)
    theirs = partials(out, {k: leaves_t[k] for k in wrt}, order)
    for key, t in theirs.items():
        a = np.asarray(ours.derivatives[",".join(key)], dtype=np.float64)
        b = t.detach().numpy(force=True)  # PyTorch may hand back a lazy ZeroTensor
        stats["compared"] += 1
        if np.allclose(a, b, rtol=1e-10, atol=1e-12, equal_nan=True):
            stats["agree"] += 1
        else:
            verdict = agrad.grad(src, at=point, wrt=wrt, order=order).check.status
            stats["differ"].append((src, key, point, a.tolist(), b.tolist(), verdict))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--order", type=int, default=1, choices=[1, 2, 3])
    ap.add_argument("--kinks", action="store_true", help="draw points from {-1, 0, 0.5, 1} to hit ties and zeros")
    ap.add_argument("--seed", type=int, help="replay a run (every run prints its seed)")
    ap.add_argument("--edges", action="store_true",
                    help="instead: each EDGES function at every (x, y) in {-1, 0, 0.5, 1, 2}, at --order")
    args = ap.parse_args()
    if args.edges:
        stats = {"compared": 0, "agree": 0, "differ": []}
        grid = [-1.0, 0.0, 0.5, 1.0, 2.0]
        for e, x, y in itertools.product(EDGES, grid, grid):
            point = {"x": np.float64(x), "y": np.float64(y)}
            compare(stats, f"({e}) + 0*x + 0*y", point, ["x", "y"], args.order)
        return report(stats, f"{len(EDGES)} functions at {len(grid) ** 2} points", args.order)
    numbers = st.sampled_from([0.0, 1.0, -1.0, 0.5]) if args.kinks else st.floats(-2, 2)
    if args.order == 1:
        leaves = st.sampled_from(["x", "y", "w", "A @ w", "w[1:]*w[:-1]", "2.5", "x*w", "sum(A, 0)*y"])
        reduce = st.sampled_from(["sum({})", "mean({})", "max({})", "min({})", "dot({}, w)", "({})[0]", "max({}, 0)"])
    else:
        leaves = st.sampled_from(["x", "y", "x*y", "2.5", "x - y"])
        reduce = st.just("{}")
    A = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [0.2, 0.1, 1.0]])
    stats = {"compared": 0, "agree": 0, "differ": []}

    @settings(max_examples=args.examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(expressions(leaves), reduce, st.lists(numbers, min_size=3, max_size=3), numbers, numbers)
    def one(expr, red, w, x, y):
        src = red.format(f"(({expr}) + 0*w)") if args.order == 1 else f"({expr}) + 0*x + 0*y"
        point = {"x": np.float64(x), "y": np.float64(y), "w": np.array(w), "A": A}
        if args.order > 1:
            point = {"x": point["x"], "y": point["y"]}
        compare(stats, src, point, [k for k in point if k != "A"], args.order)

    run_seed = random.randrange(2 ** 32) if args.seed is None else args.seed
    seed(run_seed)(one)()
    report(stats, f"{args.examples} expressions, seed {run_seed}", args.order)


def report(stats, what, order):
    print(f"compared {stats['compared']} derivatives of {what} (order {order}): "
          f"{stats['agree']} agree to rtol 1e-10")
    for src, key, point, a, b, verdict in itertools.islice(stats["differ"], 20):
        print(f"  differ: d/{','.join(key)} of {src} at {point}: agrad {a}, PyTorch {b}; "
              f"agrad against SymPy: {verdict}")
    print(f"{len(stats['differ'])} differ; agrad's SymPy check passed on "
          f"{sum(d[-1] == 'ok' for d in stats['differ'])} of them")


if __name__ == "__main__":
    main()
