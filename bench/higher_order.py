"""n-th derivatives: agrad's time and graph size beside SymPy's diff, in one run.

    python bench/higher_order.py [--expr "exp(sin(x))*tanh(x)"] [--x 0.7] [--orders 1,2,5,10,20]

For each order: agrad's Taylor mode (one scalar variable; what --order uses), agrad's nested
reverse mode (what --order uses for several variables; up to order 6, since its graph grows
with every order), and SymPy's diff(f, x, k) evaluated at the point with 30 digits; the
relative error of each agrad value against SymPy's. Best of three runs each.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def best(fn, repeat=3):
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--expr", default="exp(sin(x))*tanh(x)")
    ap.add_argument("--x", type=float, default=0.7)
    ap.add_argument("--orders", default="1,2,5,10,20")
    ap.add_argument("--reverse-up-to", type=int, default=6, help="highest order to run nested reverse mode")
    args = ap.parse_args()
    orders = [int(k) for k in args.orders.split(",")]

    import sympy as sp
    from sympy.core.cache import clear_cache

    from agrad import higher
    from agrad.program import compile_source, evaluate
    from agrad.tensor import Tensor

    program = compile_source(args.expr)
    x0 = np.float64(args.x)
    from agrad.symbolic import build, symbols_of

    syms = symbols_of({"x": ()})  # the check's own symbol for x (an internal name; it prints as x)
    xs = syms["x"][()]
    f = build(program, syms)[program.output][()]

    print(f"f(x) = {args.expr} at x = {args.x}")
    print(f"{'order':>5}  {'taylor ms':>10}  {'taylor nodes':>12}  {'taylor rel.err':>14}  "
          f"{'reverse ms':>10}  {'reverse nodes':>13}  {'reverse rel.err':>15}  {'sympy diff ms':>13}")
    for k in orders:
        t_tay, ks = best(lambda: higher.taylor_derivatives(program, {"x": x0}, "x", k))
        tay = float(ks[-1])
        tay_nodes = len(program.nodes) * (k + 1)

        def sympy_kth():
            clear_cache()
            return sp.diff(f, xs, k)

        t_sym, dk = best(sympy_kth, repeat=1 if k > 10 else 3)
        truth = float(dk.evalf(30, subs={xs: sp.Float(args.x, 30)}))
        rel = abs(tay - truth) / max(abs(truth), 1e-300)
        if k <= args.reverse_up_to:
            def reverse():
                leaf = Tensor(x0, requires_grad=True, name="x")
                y = evaluate(program, {"x": leaf}, np.float64)[program.output]
                canon, nodes = higher.reverse_derivatives(y, {"x": leaf}, ["x"], k)
                return float(canon[("x",) * k]), nodes

            t_rev, (rev, rev_nodes) = best(reverse)
            rev_cols = f"{t_rev * 1e3:10.2f}  {rev_nodes:13,}  {abs(rev - truth) / max(abs(truth), 1e-300):15.1e}"
        else:
            rev_cols = f"{'—':>10}  {'—':>13}  {'—':>15}"
        print(f"{k:5d}  {t_tay * 1e3:10.2f}  {tay_nodes:12,}  {rel:14.1e}  {rev_cols}  {t_sym * 1e3:13.1f}")


if __name__ == "__main__":
    main()
