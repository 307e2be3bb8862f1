"""The SymPy check of big programs through symengine (core/fastsym.py), its fallback to SymPy alone,
and the early refusal of formulas too long to write out."""
import numpy as np
import pytest

import agrad
import agrad.check as C
import agrad.fastsym as F

BIG = "sum(sin(x)*exp(y) + x**2)"
N = 100  # 100 elements: a formula of ~1,000 nodes, past FAST_FROM


def _big():
    return agrad.grad(BIG, x=np.linspace(0, 1, N), y=np.linspace(-1, 1, N))


def test_big_program_goes_through_symengine_and_agrees(monkeypatch):
    calls = []
    real = F.check
    monkeypatch.setattr(F, "check", lambda *a, **k: calls.append(1) or real(*a, **k))
    r = _big()
    assert calls == [1] and r.check.status == "ok"
    items = {i.key: i for i in r.check.items}
    x, y = np.linspace(0, 1, N), np.linspace(-1, 1, N)
    assert np.allclose(items["x"].sympy, np.cos(x) * np.exp(y) + 2 * x, rtol=1e-13, atol=0)
    assert items["x"].formula[3] == "2*x[3] + exp(y[3])*cos(x[3])"
    assert items["y"].formula[0] == "exp(y[0])*sin(x[0])"


def test_without_symengine_sympy_gives_the_same_verdict_and_formulas(monkeypatch):
    fast = _big()
    monkeypatch.setattr(F, "_symengine", lambda: None)  # as where symengine is not installed
    slow = _big()
    assert [(i.key, i.verdict, i.formula) for i in fast.check.items] == \
           [(i.key, i.verdict, i.formula) for i in slow.check.items]
    for a, b in zip(fast.check.items, slow.check.items):
        assert np.allclose(a.sympy, b.sympy, rtol=1e-14, atol=0)


def test_a_wrong_value_still_fails_on_the_symengine_path(monkeypatch):
    r = _big()
    wrong = {("x",): np.asarray(r.gradients["x"]) + 1e-6, ("y",): np.asarray(r.gradients["y"])}
    real = C.against_sympy
    monkeypatch.setattr(C, "against_sympy", lambda *a, **k: real(*a[:4], wrong, **k))
    r2 = agrad.grad(BIG, x=np.linspace(0, 1, N), y=np.linspace(-1, 1, N))
    verdicts = {i.key: i.verdict for i in r2.check.items}
    assert r2.check.status == "failed" and verdicts == {"x": "mismatch", "y": "ok"}


def test_held_tensor_is_its_numbers():
    r = agrad.grad("sum(A @ x)", A=np.array([[1.0, 2.0], [3.0, 0.5]]), x=np.array([1.0, 2.0]), wrt=["x"])
    assert r.check.status == "ok" and r.check.items[0].formula == ["4", "5/2"]


def test_an_astronomically_long_formula_is_refused_at_once():
    src = "\n".join(["t = sin(t)*y + t*0.5"] * 40)
    r = agrad.grad(src, t=0.3, y=0.7)
    assert r.check.status == "skipped" and r.check.seconds < 0.5
    assert r.check.reason.startswith("the derivative's formula written out would have about ")
    assert r.check.reason.endswith("SymPy is asked for at most 400,000")


def test_the_converters_take_numbers_and_expressions_and_refuse_everything_else():
    import symengine as se
    import sympy as sp

    from agrad import fastsym as F
    from agrad import symbolic as S

    F._symengine()

    class Sneaky:  # an object a converter might turn into text and parse
        def __str__(self):
            return "__import__('os').getcwd()"

    for bad in ("x + 1", b"x", Sneaky(), [1, 2], None):
        with pytest.raises(TypeError, match="numbers and expressions only"):
            S.to_sympy(bad)
        with pytest.raises(TypeError, match="numbers and expressions only"):
            F._se_number(bad)
    x = sp.Symbol("x")
    for good in (3, 2.5, np.float64(0.1), np.int64(-4), x + 1, se.Symbol("y") * 2):
        assert S.to_sympy(good) == sp.sympify(good, strict=True)
        assert F._se_number(good) == se.sympify(good)
