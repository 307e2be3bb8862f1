"""The SymPy cross-check: formulas, tolerances, kinks, detach, bounds and the time budget."""
import sys

import numpy as np
import pytest

import agrad
from agrad.tolerance import tolerances


def job(src, wrt=None, **point):
    return agrad.grad(src, at={k: np.asarray(v, dtype=np.float64) for k, v in point.items()}, wrt=wrt)


def test_classic_example_formula_and_values():
    r = job("(x1**2 + 2*x2)**2", x1=2, x2=3)
    items = {i.key: i for i in r.check.items}
    assert r.check.status == "ok"
    assert items["x1"].formula == "4*x1*(x1**2 + 2*x2)"
    assert float(items["x1"].sympy) == 80.0 and float(items["x2"].sympy) == 40.0


def test_tensor_variables_become_element_symbols():
    r = job("sum(w*w + 2*w + 1)", w=[1, 2, 3])
    (item,) = r.check.items
    assert item.formula == ["2*w[0] + 2", "2*w[1] + 2", "2*w[2] + 2"]
    assert item.sympy.tolist() == [4.0, 6.0, 8.0]


def test_detached_subexpression_is_a_constant_for_sympy_too():
    r = job("u = detach(x*x); sum(u*x)", x=[0, 1, 2, 3])
    assert r.check.status == "ok"
    assert r.check.items[0].formula == ["0", "1", "4", "9"]


@pytest.mark.parametrize("src, point, sympy_agrees", [
    ("relu(x)", {"x": 0.0}, False),  # SymPy: Heaviside(0) = 1/2; PyTorch: 0
    ("abs(x) * 3", {"x": 0.0}, True),  # sign(0) = 0 on both sides
    ("maximum(x, 1)", {"x": 1.0}, True),  # a tie: both split 1/2
])
def test_kinks_are_reported_not_failed(src, point, sympy_agrees):
    r = job(src, **point)
    assert r.check.status == "ok" and r.ok
    (item,) = r.check.items
    assert item.verdict == "kink"
    assert "non-differentiable point" in item.note
    assert ("SymPy agrees" in item.note) == sympy_agrees


def test_a_zero_base_under_a_variable_exponent_is_a_kink():
    # 0**y is 0, 1 or inf as y crosses 0: SymPy's x**y*log(x) is undefined there, AD follows PyTorch
    r = job("x ** y", x=0.0, y=0.0)
    assert r.check.status == "ok"
    assert {i.key: i.verdict for i in r.check.items} == {"x": "kink", "y": "kink"}


def test_a_derivative_not_finite_at_a_kink_is_no_pass():
    # issue 16: a kink verdict needs a finite value; at the jump of 0**y (y = 0) the second
    # derivative along x is NaN, which no one-sided derivative is
    r = agrad.grad("x ** y", x=0.0, y=0.0, order=2)
    assert r.check.status == "failed"
    verdicts = {i.key: i.verdict for i in r.check.items}
    assert verdicts["x,x"] == "mismatch" and verdicts["y,y"] == "kink"


def test_along_the_base_a_variable_exponent_is_a_literal_one():
    # x**y at y = 0.5 is x**0.5 along x: d/dx at 0 is inf either way (PyTorch's too), no kink;
    # along y, 0**y is flat 0 for y > 0 (PyTorch's masked 0): a kink
    literal = job("x ** 0.5", x=0.0)
    r = job("x ** y", x=0.0, y=0.5)
    assert r.check.status == literal.check.status == "ok"
    assert {i.key: i.verdict for i in r.check.items} == {"x": literal.check.items[0].verdict, "y": "kink"}
    assert np.isinf(r.gradients["x"]) and r.gradients["y"] == 0
    # and at order 2: the mixed derivative goes through the infinite d/dx (NaN, as in PyTorch),
    # so it is not held to the kink's finite value; d2/dy2 is the kink's masked 0
    r2 = agrad.grad("x ** y", x=0.0, y=0.5, order=2)
    verdicts = {i.key: i.verdict for i in r2.check.items}
    assert r2.check.status == "ok" and verdicts["y,y"] == "kink" and verdicts["x,y"] != "kink"
    assert np.isnan(r2.derivatives["x,y"]) and r2.derivatives["y,y"] == 0


@pytest.mark.parametrize("c, dx", [(0.5, np.inf), (1.0, 1.0), (2.0, 0.0), (-1.0, -np.inf)])
def test_an_exponent_held_fixed_is_no_kink_of_the_base(c, dx):
    # x**c with c bound but not differentiated (the audit's `-v c=0.5 --wrt x`) passes as x**0.5
    # does; where the derivative is finite (c >= 1) SymPy's c*x**c/x is 0/0 and AD is held to it
    r = job("x ** c", x=0.0, c=c, wrt=["x"])
    assert r.check.status == "ok" and r.ok, [(i.key, i.verdict, i.note) for i in r.check.items]
    assert r.gradients["x"] == dx


def test_a_zero_base_under_a_constant_exponent_is_smooth():
    r = job("x ** 3 + x ** 0", x=0.0)
    assert [i.verdict for i in r.check.items] == ["ok"]


def test_only_derivatives_through_the_kink_are_flagged():
    r = job("abs(y) + x*x", x=2, y=0)
    assert {i.key: i.verdict for i in r.check.items} == {"x": "ok", "y": "kink"}


def test_a_wrong_rule_would_fail_the_check(monkeypatch):
    """The check can fail: break the sin rule and it must say so."""
    from agrad import ops

    row = ops.OPS["sin"]
    broken = type(row)(**{f: getattr(row, f) for f in row.__dataclass_fields__} | {"vjp": (lambda g, o, x: g * 2,)})
    monkeypatch.setitem(ops.OPS, "sin", broken)
    monkeypatch.setitem(ops.FUNCTIONS, "sin", broken)
    r = job("sin(x)", x=0.5)
    assert r.check.status == "failed" and not r.ok
    assert r.check.items[0].verdict == "mismatch"


def test_tolerances_scale_with_the_dtype():
    r64, a64 = tolerances(np.float64)
    r32, a32 = tolerances(np.float32)
    r16, _ = tolerances(np.float16)
    assert r64 < 1e-9 and 1e-5 < r32 < 1e-3 and 1e-3 < r16 < 5e-2 and a64 < a32


def test_float32_result_checked_with_float32_tolerance():
    r = agrad.grad("exp(sin(x)) * x**3", at={"x": np.float64(0.3)}, dtype="float32")
    assert r.check.status == "ok" and r.check.rtol == pytest.approx(tolerances(np.float32)[0])
    assert np.asarray(r.gradients["x"]).dtype == np.float32


def test_big_expressions_are_skipped_with_a_reason():
    src = "+".join(["x"] * 5000)
    r = job(src, x=1)
    assert r.check.status == "skipped" and "nodes" in r.check.reason
    assert r.ok


def test_time_budget_skips_instead_of_hanging():
    # mixed partials swell symbolically (one variable's high orders come from Taylor coefficients,
    # which are quick: test_high_order_of_one_variable_checks_through_taylor_coefficients)
    r = agrad.grad("exp(sin(x*y))*tanh(x + y)", at={"x": np.float64(0.7), "y": np.float64(0.3)}, order=8,
                   check_timeout=0.5)
    assert r.check.status == "skipped" and "time budget" in r.check.reason


def test_high_order_of_one_variable_checks_through_taylor_coefficients():
    import math

    import sympy as sp

    r = agrad.grad("exp(sin(x))*tanh(x)", at={"x": np.float64(0.7)}, order=20, check_timeout=10)
    assert r.check.status == "ok", r.check.reason
    items = {i.key: i for i in r.check.items}
    top = items[",".join(["x"] * 20)]
    assert "Taylor" in top.formula and top.verdict == "ok"
    assert items["x,x"].formula != top.formula  # low orders keep SymPy's closed form
    x = sp.Symbol("x")
    d = sp.exp(sp.sin(x)) * sp.tanh(x)
    for _ in range(6):
        d = d.diff(x)
    exact6 = float(d.subs(x, sp.Rational(7, 10)).evalf(30))  # 0.7 in decimal, close to float64's 0.7
    assert math.isclose(float(items[",".join(["x"] * 6)].sympy), exact6, rel_tol=1e-13)


def test_sympy_is_not_imported_without_a_check():
    import subprocess

    code = ("import sys, numpy as np\n"
            "import agrad\n"
            "agrad.grad('sin(x)', at={'x': np.float64(1)}, check=False)\n"
            "print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("src", ["no_grad(abs(x)) * x", "detach(relu(x)) * x + x", "no_grad(maximum(x, 0)) + x"])
def test_a_kink_no_gradient_passes_through_is_no_kink(src):
    # the kink sits inside no_grad/detach: the derivative is smooth there, and SymPy agrees exactly
    r = agrad.grad(src, x=0.0)
    assert r.check.status == "ok"
    assert [i.verdict for i in r.check.items] == ["ok"]


@pytest.mark.parametrize("src", ["cos(x) + relu(x)", "exp(x) * abs(x) + cos(3*x)", "maximum(x, 0) + x**2 * 50"])
def test_a_subgradient_between_curved_one_sided_slopes_is_a_kink_not_a_failure(src):
    # one-sided differences of a curved function are off by ~h f''/2 from the slopes: still a kink
    r = agrad.grad(src, x=0.0)
    assert r.check.status == "ok" and [i.verdict for i in r.check.items] == ["kink"]


def test_a_tie_that_float_rounding_split_is_a_kink_and_a_true_gap_is_not():
    # sin(pi) is 1.2e-16 in float64 and 0 to SymPy: maximum(x, sin(pi)) at x = 0 is a tie
    # within rounding, so AD's 0 is PyTorch's side of a kink, held to the one-sided derivatives
    r = agrad.grad("maximum(x, sin(pi))", x=0.0)
    (item,) = r.check.items
    assert r.check.status == "ok" and item.verdict == "kink" and float(item.ad) == 0.0
    assert "left derivative 0, right derivative 1" in item.note
    # a gap far past rounding is no tie: the ordinary derivative, checked as usual
    r = agrad.grad("maximum(x, 1e-6)", x=0.0)
    assert r.check.status == "ok" and r.check.items[0].verdict == "ok"
    r = agrad.grad("abs(x - sin(pi))", x=0.0)
    assert r.check.items[0].verdict == "kink"


def test_a_near_tie_does_not_excuse_a_rule_outside_the_one_sided_derivatives(monkeypatch):
    from agrad import ops

    monkeypatch.setattr(ops, "_wins", lambda a, b: np.where(a > b, 1.0, 3.0))  # a broken maximum rule
    r = agrad.grad("maximum(x, sin(pi))", x=0.0)
    assert r.check.status == "failed" and r.check.items[0].verdict == "mismatch"
