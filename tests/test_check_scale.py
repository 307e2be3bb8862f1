"""The SymPy check at the scale of a matrix expression (issue 12): sum((A @ x)**2) with A 100x100 is
checked, not skipped; its shared subexpressions are evaluated once (fastsym.values30 through cse)
to the same values as entry by entry; formulas past symbolic.MAX_FORMULA_NODES are summarized on
either engine; and a wrong gradient still fails."""
import json

import numpy as np
import pytest
import symengine as se  # a dependency: missing, these tests fail rather than skip
from click.testing import CliRunner

import agrad
import agrad.check as C
import agrad.fastsym as F
import agrad.symbolic as S
from agrad.cli.main import cli



def _ax(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)), rng.standard_normal(n)


def test_a_100x100_matrix_expression_is_checked_and_agrees_with_numpy():
    A, x = _ax(100)
    r = agrad.grad("sum((A @ x)**2)", A=A, x=x, wrt="x")
    assert r.check.status == "ok" and [i.verdict for i in r.check.items] == ["ok"]
    item = r.check.items[0]
    # d/dx |A x|^2 = 2 A^T A x, from numpy alone (not from agrad)
    assert np.allclose(item.sympy, 2 * A.T @ (A @ x), rtol=1e-12, atol=0)
    assert item.formula == [S.formula_summary()] * 100  # 100 rationals of 40 digits each: summarized


def test_a_wrong_entry_of_the_matrix_gradient_still_fails(monkeypatch):
    A, x = _ax(100)
    g = np.asarray(agrad.grad("sum((A @ x)**2)", A=A, x=x, wrt="x", check=False).gradients["x"])
    wrong = g.copy()
    wrong[37] *= 1 + 1e-8  # 25x the tolerance (rtol ~4e-10) on one entry of 100
    real = C.against_sympy
    monkeypatch.setattr(C, "against_sympy", lambda *a, **k: real(*a[:4], {("x",): wrong}, **k))
    r = agrad.grad("sum((A @ x)**2)", A=A, x=x, wrt="x")
    assert r.check.status == "failed" and r.check.items[0].verdict == "mismatch"
    assert r.check.items[0].error == pytest.approx(abs(g[37]) * 1e-8, rel=1e-3)


def test_cli_json_checks_the_matrix_expression():
    res = CliRunner().invoke(cli, ["grad", "sum((A @ x)**2)", "--A", "randn(100, 100)", "--x", "randn(100)",
                                   "--wrt", "x", "--seed", "1", "--json"])
    assert res.exit_code == 0, res.output
    check = json.loads(res.stdout)["check"]
    assert check["status"] == "ok" and check["derivatives"]["x"]["verdict"] == "ok"


def test_symengine_and_sympy_alone_agree_on_a_matrix_expression(monkeypatch):
    A, x = _ax(10)  # 10x10: past FAST_FROM, small enough for SymPy alone
    fast = agrad.grad("sum((A @ x)**2)", A=A, x=x, wrt="x")
    monkeypatch.setattr(F, "_symengine", lambda: None)
    slow = agrad.grad("sum((A @ x)**2)", A=A, x=x, wrt="x")
    (f,), (s,) = fast.check.items, slow.check.items
    assert (f.verdict, f.formula) == (s.verdict, s.formula) == ("ok", f.formula)
    assert S.formula_summary() not in f.formula and np.allclose(f.sympy, s.sympy, rtol=1e-14, atol=0)


def _values(exprs, syms, point, monkeypatch, cse: bool):
    monkeypatch.setattr(F, "CSE_FROM", -1 if cse else 10 ** 12)
    shared = F.shared_parts(exprs)
    assert (shared is not None) == cse  # the shared path is taken exactly when asked for
    if cse:
        assert shared[0]  # and there is a part to share
    return F.values30(syms, exprs, point, shared)


def test_shared_subexpressions_give_the_same_values_as_entry_by_entry(monkeypatch):
    F._symengine()
    x, y = se.Symbol("x__0"), se.Symbol("y__1")
    row = se.sin(x) * se.exp(y) + se.Rational(1, 3) * x
    exprs = [row ** 2 * y, se.cos(row) + row, se.log(row) * x, se.Integer(7)]
    point = [0.3, -0.7]
    by_entry = _values(exprs, [x, y], point, monkeypatch, cse=False)
    shared = _values(exprs, [x, y], point, monkeypatch, cse=True)
    assert shared == by_entry
    assert np.isfinite(shared).all()


def test_a_shared_division_by_zero_spoils_only_the_entries_that_hold_it(monkeypatch):
    F._symengine()
    x, y = se.Symbol("x__0"), se.Symbol("y__1")
    bad = 1 / (x - y)  # infinite at x == y, and shared by the first two
    exprs = [bad * se.sin(bad), bad + se.cos(bad), x * y, se.exp(x) + x * y]
    point = [0.5, 0.5]
    by_entry = _values(exprs, [x, y], point, monkeypatch, cse=False)
    shared = _values(exprs, [x, y], point, monkeypatch, cse=True)
    assert np.array_equal(shared, by_entry, equal_nan=True)
    assert not np.isfinite(shared[:2]).any() and shared[2:] == [0.25, float(np.exp(0.5) + 0.25)]


def test_formulas_up_to_the_limit_are_written_out_and_past_it_summarized(monkeypatch):
    import sympy as sp

    F._symengine()
    x, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    expr = sp.sin(x * y) * sp.cos(x) + x ** 3 / (y + 2)  # no exp: symengine writes exp(x) as E**x, a node more
    nodes = sum(1 for _ in sp.preorder_traversal(expr))

    def walk(e):
        return 1 + sum(walk(a) for a in e.args)

    assert walk(se.sympify(expr)) == nodes == 17
    back = {"x": S.Var("x", "x", real=True), "y": S.Var("y", "y", real=True)}
    fast = np.asarray(se.sympify(expr), dtype=object)
    for limit, want in ((nodes, str(expr)), (nodes - 1, None)):
        monkeypatch.setattr(S, "MAX_FORMULA_NODES", limit)
        want = want or f"(not written out: a formula of more than {limit:,} nodes)"
        assert S.texts(np.asarray(expr, dtype=object))[()] == want
        assert F.formulas(fast, back)[()] == want


def test_held_tensors_are_the_same_exact_numbers_in_symengine():
    F._symengine()
    rng = np.random.default_rng(0)
    vals = list(rng.standard_normal(300) * 10.0 ** rng.integers(-320, 300, 300))
    vals += [0.0, -0.0, 1.0, -3.0, 0.1, 2.5, 1e22, 1e23, 5e-324, 1.7976931348623157e308, np.inf, -np.inf]
    for v in vals:
        assert F.exact(v) == se.sympify(S.exact(v)), v


def test_float64_values_through_shared_parts_match_lambdify(monkeypatch):
    F._symengine()
    x, y = se.Symbol("x__0"), se.Symbol("y__1")
    rows = [se.Add(*[se.Rational(k + 1, 7 + i) * (x if k % 2 else y) ** (k % 3 + 1) for k in range(40)])
            for i in range(30)]
    exprs = [se.Add(*[se.Rational(2 * i + 1, 3) * r for i, r in enumerate(rows)]) * se.sin(rows[j]) for j in range(30)]
    shared = se.cse(exprs)
    point = [0.3, -0.7]
    want = F.values64([x, y], exprs, point)  # Lambdify, as before
    got = F.values64([x, y], exprs, point, shared)
    assert np.allclose(got, want, rtol=1e-13, atol=0)  # both float64: the order of additions may differ
    assert np.allclose(F.values30([x, y], exprs, point, shared), want, rtol=1e-12, atol=0)


def test_float64_values_fall_back_to_lambdify_where_a_shared_part_divides_by_zero():
    F._symengine()
    x, y = se.Symbol("x__0"), se.Symbol("y__1")
    bad = 1 / (x - y)
    exprs = [bad * se.sin(bad), bad + se.cos(bad), x * y]
    point = [0.5, 0.5]
    got = F.values64([x, y], exprs, point, se.cse(exprs))
    assert np.array_equal(got, F.values64([x, y], exprs, point), equal_nan=True)


def test_a_held_matrix_with_inf_or_nan_is_checked_not_skipped():
    # symengine could not convert SymPy's oo: the check of a held tensor holding inf was skipped
    rng = np.random.default_rng(0)
    for bad in (np.inf, -np.inf, np.nan):
        A, x = rng.normal(size=(12, 12)), rng.normal(size=12)
        A[3, 4] = bad
        r = agrad.grad("sum((A @ x)**2)", A=A, x=x, wrt="x")
        assert r.check.status != "skipped", (bad, r.check.reason)
        assert "AttributeError" not in r.check.reason
        want = "nan" if np.isnan(bad) else ("oo" if bad > 0 else "-oo")
        assert str(F.exact(bad)) == want == str(S.exact(bad))  # symbolic.exact's number, made in symengine


def test_a_wide_sum_is_evaluated_entry_by_entry_not_through_cse():
    # symengine's cse compares a sum's terms pairwise: on the 10,000 terms of a mean over data it
    # ran 23 s (the check then skipped); entry by entry the same check takes well under a second
    F._symengine()
    x, y = se.Symbol("x__0"), se.Symbol("y__1")
    wide = se.Integer(2) * se.Add(*[se.sin(k * x) * y for k in range(1, 1202)])
    narrow = [se.Add(*[se.sin(x + k) for k in range(50)]) * y ** j for j in range(40)]
    assert F._has_wide_sum([wide, x], F.CSE_WIDEST) and not F._has_wide_sum(narrow, F.CSE_WIDEST)
    assert F.shared_parts([wide * x, wide * y] * 30) is None
    data = np.linspace(0, 1, 10_000)
    r = agrad.grad("mean((w*X + b - Y)**2)", w=0.0, b=0.0, X=data, Y=3 * data - 2, wrt=["w", "b"])
    assert r.check.status == "ok" and all(i.verdict == "ok" for i in r.check.items)
