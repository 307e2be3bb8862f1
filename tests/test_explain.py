"""--explain: the chain rule edge by edge. The seed example's factors and formulas exactly, a
diamond's two paths, path counts in DAGs without enumeration, and on random programs the sum
over paths equal to the gradient."""
import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

import agrad
from agrad.cli.main import cli

SEED = "(x1**2 + 2*x2)**2"


def run(*args):
    return CliRunner().invoke(cli, list(args))


def chain(e, variable):
    """[(labels, factors, product)] of each listed path."""
    return [([e.edges[k].label for k in p.edges], p.factors, p.product) for p in e.paths_of(variable).paths]


def test_seed_example_factors_and_formulas():
    e = agrad.grad(SEED, x1=2, x2=3, explain=True).explanation
    # by hand: y = z6**2, z6 = z2 + z5, z2 = x1**2, z5 = 2*x2 at x1 = 2, x2 = 3 (z6 = 10)
    assert chain(e, "x1") == [(["∂y/∂z6", "∂z6/∂z2", "∂z2/∂x1"], (20.0, 1.0, 4.0), 80.0)]
    assert chain(e, "x2") == [(["∂y/∂z6", "∂z6/∂z5", "∂z5/∂x2"], (20.0, 1.0, 2.0), 40.0)]
    formulas = {x.label: (x.formula, x.value) for x in e.edges}
    assert formulas == {"∂y/∂z6": ("2*z6", 20.0), "∂z6/∂z2": ("1", 1.0), "∂z6/∂z5": ("1", 1.0),
                        "∂z2/∂x1": ("2*x1", 4.0), "∂z5/∂x2": ("2", 2.0)}
    assert [(v.count, v.total, v.agrees) for v in e.variables] == [(1, 80.0, True), (1, 40.0, True)]
    assert e.scalar and e.ok


def test_user_names_are_used():
    e = agrad.grad("z1 = x1**2; z3 = 2*x2; z2 = z1 + z3; y = z2**2", x1=2, x2=3, explain=True).explanation
    assert chain(e, "x1") == [(["∂y/∂z2", "∂z2/∂z1", "∂z1/∂x1"], (20.0, 1.0, 4.0), 80.0)]
    assert chain(e, "x2") == [(["∂y/∂z2", "∂z2/∂z3", "∂z3/∂x2"], (20.0, 1.0, 2.0), 40.0)]
    assert {x.label: x.formula for x in e.edges}["∂y/∂z2"] == "2*z2"


def test_seed_example_cli_text():
    r = run("grad", SEED, "--x1", "2", "--x2", "3", "--explain")
    assert r.exit_code == 0, r.output
    lines = [line.strip() for line in r.stdout.splitlines()]
    for text in ("∂y/∂z6  = 2*z6 = 20", "∂z2/∂x1 = 2*x1 = 4", "∂z5/∂x2 = 2", "z2 = x1**2 = 4",
                 "∂y/∂z6 · ∂z6/∂z2 · ∂z2/∂x1 = 20 · 1 · 4 = 80",
                 "∂y/∂z6 · ∂z6/∂z5 · ∂z5/∂x2 = 20 · 1 · 2 = 40",
                 "sum over all paths = 80 = ∂y/∂x1 ✓", "sum over all paths = 40 = ∂y/∂x2 ✓",
                 "paths from y to x1: 1 path"):
        assert text in lines, text


def test_seed_example_json():
    r = run("grad", SEED, "--x1", "2", "--x2", "3", "--explain", "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)["explain"]
    edges = {(x["from"], x["to"]): (x["formula"], x["value"]) for x in d["edges"]}
    assert edges == {("z6", "y"): ("2*z6", 20.0), ("z2", "z6"): ("1", 1.0), ("z5", "z6"): ("1", 1.0),
                     ("x1", "z2"): ("2*x1", 4.0), ("x2", "z5"): ("2", 2.0)}
    assert d["paths"]["x1"]["paths"] == [{"nodes": ["y", "z6", "z2", "x1"], "edges": [4, 2, 0],
                                          "factors": [20.0, 1.0, 4.0], "product": 80.0}]
    assert d["paths"]["x2"]["paths"][0]["factors"] == [20.0, 1.0, 2.0]
    assert (d["paths"]["x2"]["count"], d["paths"]["x2"]["sum"], d["paths"]["x2"]["agrees"]) == (1, 40.0, True)


def test_diamond_lists_both_paths_and_sums_them():
    # a is used twice: y = sin(a) + a*a... here y = a*3 + exp(a), a = x*2 at x = 0.5
    e = agrad.grad("a = 2*x; y = 3*a + exp(a)", x=0.5, explain=True).explanation
    paths = chain(e, "x")
    assert len(paths) == 2 and e.paths_of("x").count == 2
    assert paths[0] == (["∂y/∂z4", "∂z4/∂a", "∂a/∂x"], (1.0, 3.0, 2.0), 6.0)
    assert paths[1][0] == ["∂y/∂z5", "∂z5/∂a", "∂a/∂x"]
    assert paths[1][1] == pytest.approx((1.0, math.e, 2.0), rel=1e-15)
    assert e.paths_of("x").total == pytest.approx(6 + 2 * math.e, rel=1e-15)
    r = run("grad", "a = 2*x; y = 3*a + exp(a)", "--x", "0.5", "--explain")
    assert "paths from y to x: 2 paths" in r.stdout and "sum over all paths = 11.436564 = ∂y/∂x ✓" in r.stdout


def test_one_input_used_twice_is_two_edges():
    e = agrad.grad("x*x", x=3, explain=True).explanation
    assert [(x.arg, x.formula, x.value) for x in e.edges] == [(0, "x", 3.0), (1, "x", 3.0)]
    assert e.paths_of("x").count == 2 and e.paths_of("x").total == 6.0


def test_paths_are_counted_not_enumerated():
    # each level squares the previous one: 2**40 paths from the output to x
    src = "a0 = x; " + "; ".join(f"a{k + 1} = a{k}*a{k}" for k in range(40))
    e = agrad.grad(src, x=1, explain=True, paths=3, check=False).explanation
    vp = e.paths_of("x")
    assert vp.count == 2 ** 40 and vp.listed == 3 and vp.agrees
    assert vp.total == 2.0 ** 40  # d/dx x**(2**40) at 1


def test_listed_paths_limit_and_bad_value():
    src = "a = x*x; b = a*a; c = b*b"
    assert agrad.grad(src, x=1.1, explain=True, paths=0).explanation.paths_of("x").listed == 0
    with pytest.raises(agrad.AgradError, match="paths= must be between 0 and 1,000, got -1"):
        agrad.grad(src, x=1, explain=True, paths=-1)
    r = run("grad", src, "--x", "1", "--explain", "--paths", "-1")
    assert r.exit_code == 2 and r.stderr.strip() == "error: --paths must be between 0 and 1,000, got -1"


def test_constant_and_detached_inputs_have_no_edges():
    e = agrad.grad("detach(x)*y + 2*y", x=2, y=3, explain=True).explanation
    assert all(x.source_name not in ("x",) for x in e.edges)
    assert e.paths_of("x").count == 0 and e.paths_of("x").total == 0.0 and e.paths_of("x").agrees
    assert e.paths_of("y").total == 4.0


def test_tensor_edges_are_vector_jacobian_products():
    e = agrad.grad("sum(w*w) + w[0]", w=[1.0, 2.0], explain=True).explanation
    assert not e.scalar
    by = {(x.source_name, x.target_name, x.arg): x for x in e.edges}
    assert by[("z1", "z2", 0)].formula == "g broadcast back to (2,)" and by[("z1", "z2", 0)].shape == "() -> (2,)"
    assert by[("w", "z1", 0)].formula == "g ⊙ (w)"
    assert by[("w", "z3", 0)].value.tolist() == [1.0, 0.0]
    vp = e.paths_of("w")
    assert vp.count == 3 and vp.total.tolist() == [3.0, 4.0] and vp.agrees


def test_jacobian_is_refused():
    with pytest.raises(agrad.AgradError, match="explain=True follows one backward pass"):
        agrad.grad("x*2", x=[1.0, 2.0], jacobian=True, explain=True)


# ---- property: on random scalar programs, the sum over paths is the gradient --------------------
_UNARY = ("sin", "cos", "exp", "tanh", "sigmoid", "softplus", "atan")
_BINARY = ("+", "-", "*")


@st.composite
def programs(draw):
    """Statements t0..tn over x, y and earlier statements: reuse makes DAGs with many paths."""
    names = ["x", "y"]
    lines = []
    for k in range(draw(st.integers(1, 7))):
        if draw(st.booleans()):
            expr = f"{draw(st.sampled_from(_UNARY))}({draw(st.sampled_from(names))})"
        else:
            a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
            expr = f"{a} {draw(st.sampled_from(_BINARY))} {b}"
        lines.append(f"t{k} = {expr}")
        names.append(f"t{k}")
    return "; ".join(lines) + f"; {names[-1]} + 0.5*x*y"


@settings(max_examples=60, deadline=None)
@given(programs(), st.floats(-1.5, 1.5), st.floats(-1.5, 1.5))
def test_path_sum_equals_gradient(src, x, y):
    r = agrad.grad(src, x=x, y=y, explain=True, paths=1000, check=False)
    e = r.explanation
    for v in ("x", "y"):
        vp = e.paths_of(v)
        assert vp.agrees
        assert vp.total == pytest.approx(r.gradients[v], rel=1e-9, abs=1e-12)
        if vp.listed == vp.count:  # every path listed: their products, summed independently of the DP
            assert math.fsum(p.product for p in vp.paths) == pytest.approx(r.gradients[v], rel=1e-9, abs=1e-12)
            for p in vp.paths:
                assert p.product == pytest.approx(math.prod(p.factors), rel=1e-15)
