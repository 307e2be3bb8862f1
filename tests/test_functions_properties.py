"""Property: random bodies with backward rules derived by SymPy pass the per-rule check; the
same rules with one factor perturbed are caught, naming the right function and input."""
import numpy as np
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import agrad

A, B = sp.symbols("a b", real=True)
UNARY = ["sin", "cos", "exp", "tanh"]


def tree(name):
    """A random expression whose every leaf is `name`, with constants mixed in by the operators."""
    def extend(inner):
        return st.one_of(
            st.tuples(st.sampled_from(["+", "-", "*"]), inner, inner).map(lambda t: f"({t[1]} {t[0]} {t[2]})"),
            st.tuples(st.sampled_from(["+", "*"]), inner, st.sampled_from(["2", "3"])).map(
                lambda t: f"({t[1]} {t[0]} {t[2]})"),
            st.tuples(st.sampled_from(UNARY), inner).map(lambda t: f"{t[0]}({t[1]})"))

    return st.recursive(st.just(name), extend, max_leaves=4)


def bodies():
    return st.tuples(tree("a"), st.sampled_from(["+", "-", "*"]), tree("b")).map(lambda t: f"{t[0]} {t[1]} {t[2]}")


def sympy_of(text):
    # the body is generated above (never user input): names a, b and the four functions only
    return sp.parse_expr(text, local_dict={"a": A, "b": B, **{f: getattr(sp, f) for f in UNARY}})


def rules_for(body):
    e = sympy_of(body)
    return [sp.diff(e, v) for v in (A, B)], e


def run(body, rules, point):
    src = f"def f(a, b) = {body}; backward f = {', '.join(rules)}; f(x, y)"
    return agrad.grad(src, at={"x": np.array(point[0]), "y": np.array(point[1])}, check_timeout=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.integers(0, 1))
def test_sympy_rules_pass_and_a_perturbed_factor_is_caught(body, x, y, which):
    derivs, _ = rules_for(body)
    rules = [f"g*({d})" for d in derivs]
    res = run(body, rules, (x, y))
    assert [(r.function, r.input, r.verdict) for r in res.check.rules] == [("f", "a", "ok"), ("f", "b", "ok")]
    assert res.check.status == "ok"
    value = float(derivs[which].subs({A: x, B: y}))
    assume(abs(value) > 1e-3)
    bad = list(rules)
    bad[which] = f"g*1.25*({derivs[which]})"
    res = run(body, bad, (x, y))
    verdicts = {r.input: r.verdict for r in res.check.rules}
    wrong = "ab"[which]
    assert verdicts == {wrong: "mismatch", "ab"[1 - which]: "ok"}
    item = next(r for r in res.check.rules if r.input == wrong)
    assert item.text.startswith(f"backward of f, input {wrong}: your rule gives ")
    assert float(item.ours) == __import__("pytest").approx(1.25 * value, rel=1e-9, abs=1e-12)
    assert res.check.status == "failed"
