"""Higher-order derivatives: --order, --hessian, symmetric partials, Taylor mode."""
import json

import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

from agrad.cli.main import cli
from agrad import higher
import agrad


def run(*args):
    return CliRunner().invoke(cli, ["grad", *args])


def test_second_derivative_of_x_squared():
    r = run("x**2", "--x", "5", "--order", "2", "--json")
    d = json.loads(r.stdout)
    assert r.exit_code == 0 and d["derivatives"] == {"x": 10.0, "x,x": 2.0}
    table = run("x**2", "--x", "5", "--order", "2").stdout
    assert "│ ∂y/∂x      │ 10 │ 2*x " in table and "│ ∂²y/∂x²    │  2 │ 2 " in table


def test_hessian_matrix_symmetry_and_eigenvalues():
    r = run("(x1**2+2*x2)**2", "--x1", "2", "--x2", "3", "--hessian", "--json")
    d = json.loads(r.stdout)
    h = d["hessian"]
    assert h["matrix"] == [[72.0, 16.0], [16.0, 8.0]] and h["symmetric"] is True
    expected = np.linalg.eigvalsh(np.array([[72.0, 16.0], [16.0, 8.0]]))
    # the gradient at (2, 3) is (80, 40): positive eigenvalues there do not make it a minimum
    assert h["eigenvalues"] == pytest.approx(expected.tolist(), rel=1e-14)
    assert h["kind"].startswith("not a stationary point")
    table = run("(x1**2+2*x2)**2", "--x1", "2", "--x2", "3", "--hessian").stdout
    assert "Hessian" in table and "not a stationary point" in table and "eigenvalues: [4.2229124, 75.777088]" in table


@pytest.mark.parametrize("src, point, kind", [
    ("x**2 + 3*y**2 - x*y", {"x": 0, "y": 0}, "minimum"),
    ("-(x - 1)**2 - y**2", {"x": 1, "y": 0}, "maximum"),
    ("(1 - x)**2 + 100*(y - x**2)**2", {"x": 1, "y": 1}, "minimum"),
    ("x**4 + y**2", {"x": 0, "y": 0}, "degenerate (a zero eigenvalue: the second-order test cannot decide)"),
    ("(1 - x)**2 + 100*(y - x**2)**2", {"x": 0, "y": 0}, "not a stationary point"),
])
def test_the_second_order_test_speaks_only_at_stationary_points(src, point, kind):
    assert agrad.hessian(src, **point).kind.startswith(kind)


def test_saddle_point_is_named():
    d = json.loads(run("x*y", "--x", "0", "--y", "0", "--hessian", "--json").stdout)
    assert d["hessian"]["kind"] == "saddle"


def test_symmetric_partials_once_in_the_table_every_order_in_json():
    r = run("sin(x)*y**3", "--x", "0.5", "--y", "2", "--order", "3", "--json")
    d = json.loads(r.stdout)
    assert len(d["derivatives"]) == 2 + 4 + 8
    assert d["derivatives"]["x,y,y"] == d["derivatives"]["y,x,y"] == d["derivatives"]["y,y,x"]
    assert len(d["check"]["derivatives"]) == 2 + 3 + 4  # one per symmetric class
    table = run("sin(x)*y**3", "--x", "0.5", "--y", "2", "--order", "3").stdout
    assert table.count("∂³y/∂x∂y²") == 1 and "mixed partials are symmetric" in table


def test_tensor_hessian_blocks_have_concatenated_shapes():
    r = agrad.grad("sum(w*w) * s + A[0, 1] * s**2", at={"w": np.array([1.0, 2.0]), "s": np.float64(3.0),
                                                               "A": np.array([[1.0, 2.0], [3.0, 4.0]])},
                             order=2)
    assert r.check.status == "ok"
    assert np.shape(r.derivatives["w,A"]) == (2, 2, 2) and np.shape(r.derivatives["A,w"]) == (2, 2, 2)
    assert np.asarray(r.derivatives["w,s"]).tolist() == [2.0, 4.0]
    assert np.asarray(r.derivatives["A,s"]).tolist() == [[0.0, 6.0], [0.0, 0.0]]


def test_order_10_and_20_exact():
    import mpmath

    x = sp.Symbol("x")
    f = sp.exp(sp.sin(x)) * sp.tanh(x)
    tenth = float(sp.diff(f, x, 10).evalf(30, subs={x: sp.Rational(7, 10)}))
    with mpmath.workdps(60):  # SymPy's 20th derivative takes minutes; mpmath differentiates at 60 digits
        twentieth = float(mpmath.diff(lambda t: mpmath.exp(mpmath.sin(t)) * mpmath.tanh(t), mpmath.mpf("0.7"), 20))
    for k, truth in ((10, tenth), (20, twentieth)):
        r = agrad.grad("exp(sin(x))*tanh(x)", at={"x": np.float64(0.7)}, order=k, check=False)
        assert r.method == "taylor"
        assert float(r.derivatives[",".join(["x"] * k)]) == pytest.approx(truth, rel=1e-10)


def test_taylor_graph_size_is_reported():
    r = run("exp(sin(x))*tanh(x)", "--x", "0.7", "--order", "10", "--graph", "--no-check")
    assert "order 10 by Taylor-mode series; derivative graph: 55 nodes" in r.stdout
    assert "derivative graph for --order 10: 55 nodes" in r.stdout


def test_expand_symmetric_transposes_blocks():
    canon = {("a", "b"): np.arange(6.0).reshape(2, 3)}
    out = higher.expand_symmetric(canon | {("a", "a"): np.zeros((2, 2)), ("b", "b"): np.zeros((3, 3))},
                                  ["a", "b"], {"a": (2,), "b": (3,)})
    assert np.array_equal(out[("b", "a")], np.arange(6.0).reshape(2, 3).T)


def test_order_limit_is_a_clear_error():
    r = run("x*y*z", "--x", "1", "--y", "1", "--z", "1", "--order", "9")
    assert r.exit_code == 2 and "partial derivatives" in r.stderr


def test_save_writes_every_array(tmp_path):
    path = tmp_path / "out.npz"
    r = run("sum(sin(x)*x)", "--x", "linspace(0, 1, 1000)", "--save", str(path), "--no-check")
    assert r.exit_code == 0
    data = np.load(path)
    x = np.linspace(0, 1, 1000)
    np.testing.assert_allclose(data["grad/x"], np.cos(x) * x + np.sin(x), rtol=1e-15)
    assert data["node/0/value"].shape == (1000,)
    assert "shape (1000,)" in r.stdout  # the table summarizes, the file has it all


def test_large_hessians_and_jacobians_are_bounded():
    r = run("sum(w*w)", "--w", "zeros(2000)", "--hessian")
    assert r.exit_code == 2 and "4,000,000 derivative entries" in r.stderr
    r = run("w*2", "--w", "zeros(20000)", "--jacobian")
    assert r.exit_code == 2 and "--jacobian of an output with 20,000 elements" in r.stderr
    d = json.loads(run("sum(w*w*w)", "--w", "[1, 2]", "--hessian", "--json").stdout)
    assert d["hessian"]["matrix"] == [[6.0, 0.0], [0.0, 12.0]]


def test_a_hessian_by_no_variable_is_a_usage_error_not_a_traceback():
    for args in (("1", "--hessian", "--wrt", ""), ("x*x", "--x", "1", "--hessian", "--wrt", "")):
        r = run(*args)
        assert r.exit_code == 2 and "Traceback" not in r.output
        assert "--hessian needs a variable to differentiate by, and --wrt names none" in r.stderr
    with pytest.raises(agrad.UsageError, match="hessian=True needs a variable"):
        agrad.hessian("x*x", x=1.0, wrt=[])


def test_high_orders_of_two_variables_are_checked_each_against_its_own_series():
    # d^5/dx^5 and d^5/dy^5 both go through Taylor coefficients: each from its own variable's
    # expansion (one expansion for both failed one of them, which one set by string hashing)
    r = agrad.grad("x**5*y**5", x=1.0, y=2.0, order=5)
    assert r.check.status == "ok", [(i.key, i.ad, i.sympy) for i in r.check.items if i.verdict != "ok"]
    d = r.derivatives
    assert (d["x,x,x,x,x"], d["y,y,y,y,y"]) == (120.0 * 2.0 ** 5, 120.0)
    r = agrad.grad("sin(x)*exp(y)", x=0.3, y=0.2, order=6)
    assert r.check.status == "ok"
    assert abs(r.derivatives["x,x,x,x,x,x"] - (-np.sin(0.3) * np.exp(0.2))) < 1e-12
