"""agrad.pointwise / --pointwise: many points of an elementwise formula in one vectorized graph."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import agrad
from agrad.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_sin_x_times_x_on_10000_points():
    r = agrad.pointwise("sin(x)*x", x="linspace(0, 6.28, 10000)", order=2)
    x = np.linspace(0, 6.28, 10000)
    assert r.points == 10000 and np.array_equal(r.variables["x"], x)
    np.testing.assert_allclose(r.value, np.sin(x) * x, rtol=1e-15, atol=0)
    np.testing.assert_allclose(r.derivatives["x"], np.sin(x) + x * np.cos(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.derivatives["x,x"], 2 * np.cos(x) - x * np.sin(x), rtol=1e-12, atol=1e-14)
    assert r.check.status == "ok" and [i.key for i in r.check.items] == ["x", "x,x"]
    assert r.check.items[0].formula == "x*cos(x) + sin(x)" and r.varying == ["x"]


def test_broadcast_two_variables_and_mixed_second_derivative():
    r = agrad.pointwise("x**2 * y", x=[[1.0], [2.0]], y=[3.0, 4.0, 5.0], order=2)
    assert r.shape == (2, 3) and r.points == 6
    x, y = r.variables["x"], r.variables["y"]
    assert x.tolist() == [1, 1, 1, 2, 2, 2] and y.tolist() == [3, 4, 5, 3, 4, 5]
    assert r.derivatives["x"].tolist() == (2 * x * y).tolist()
    assert r.derivatives["y"].tolist() == (x ** 2).tolist()
    assert r.derivatives["x,y"].tolist() == (2 * x).tolist() == r.derivatives["y,x"].tolist()
    assert r.derivatives["y,y"].tolist() == [0.0] * 6 and sorted(r.varying) == ["x", "y"]


def test_kinks_are_marked_and_not_judged():
    r = agrad.pointwise("abs(x) + relu(x - 1)", x=[-1.0, 0.0, 0.5, 1.0, 2.0])
    assert r.kinks.tolist() == [False, True, False, True, False]
    assert r.derivatives["x"].tolist() == [-1.0, 0.0, 1.0, 1.0, 2.0]  # PyTorch: abs'(0) = 0, relu'(0) = 0
    assert r.check.status == "ok" and r.check.items[0].kinks == 2


def test_undefined_derivative_is_marked():
    r = agrad.pointwise("sqrt(x)", x=[0.0, 1.0, 4.0])
    assert r.kinks.tolist() == [True, False, False] and r.derivatives["x"][1:].tolist() == [0.5, 0.25]


@pytest.mark.parametrize("src, what", [("sum(x)", "sum (sum(x))"), ("x @ x", "@ (x @ x)"),
                                       ("x[0] * x", "indexing (x[0])"), ("mean(x) + x", "mean (mean(x))")])
def test_mixing_programs_are_refused(src, what):
    with pytest.raises(agrad.AgradError) as exc:
        agrad.pointwise(src, x=[1.0, 2.0])
    assert exc.value.message == (f"pointwise evaluation needs an elementwise formula, and {what} mixes elements "
                                 f"across points; evaluate it one point at a time without pointwise")


def test_cli_refusal_has_caret_and_exit_2():
    r = run("grad", "x + sum(x)", "--x", "[1, 2]", "--pointwise")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == ["error: pointwise evaluation needs an elementwise formula, and sum (sum(x)) "
                                     "mixes elements across points; evaluate it one point at a time without pointwise",
                                     "  x + sum(x)", "      ^^^^^^"]


def test_arrays_that_do_not_broadcast():
    with pytest.raises(agrad.AgradError, match=r"the bound arrays do not broadcast together into points: "
                                               r"x \(2,\), y \(3,\)"):
        agrad.pointwise("x*y", x=[1, 2], y=[1, 2, 3])


def test_order_3_refused():
    r = run("grad", "x**3", "--x", "[1, 2]", "--pointwise", "--order", "3")
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: pointwise evaluation gives first and second derivatives: --order must be 1 or 2, got 3"


def test_csv_is_one_clean_row_per_point():
    r = run("grad", "sin(x)*x", "--x", "linspace(0, 6.28, 10000)", "--pointwise", "--format", "csv")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "x,f,d/dx,kink" and len(lines) == 10001
    rows = np.array([[float(c) for c in line.split(",")] for line in lines[1:]])
    x = np.linspace(0, 6.28, 10000)
    assert np.array_equal(rows[:, 0], x)
    np.testing.assert_allclose(rows[:, 2], np.sin(x) + x * np.cos(x), rtol=1e-12, atol=1e-15)
    assert set(rows[:, 3]) == {0.0}


def test_points_file(tmp_path):
    f = tmp_path / "pts.csv"
    f.write_text("x,y\n1,2\n3,4\n-1,0.5\n")
    r = run("grad", "x*y + y**2", "--points", str(f), "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["variables"] == {"x": [1.0, 3.0, -1.0], "y": [2.0, 4.0, 0.5]}
    assert d["derivatives"] == {"x": [2.0, 4.0, 0.5], "y": [5.0, 11.0, 0.0]}
    assert d["value"] == [6.0, 28.0, -0.25] and d["check"]["status"] == "ok" and d["ok"] is True


def test_points_file_errors(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("x,y\n1,2\n3,oops\n")
    r = run("grad", "x*y", "--points", str(f))
    assert r.exit_code == 2 and r.stderr.strip() == f"error: {f}: line 3: 'oops' is not a number"
    f.write_text("x,1y\n1,2\n")
    r = run("grad", "x*y", "--points", str(f))
    assert r.stderr.strip() == f"error: {f}: the header must name variables, and '1y' is not a name (line 1)"


def test_table_shows_rows_and_check():
    r = run("grad", "x**2", "--x", "[1, 2, 3]", "--pointwise")
    assert r.exit_code == 0
    assert "∂f/∂x = 2*x  ✓ SymPy on 3 points, max |AD - SymPy| 0, worst at point #0" in r.stdout


def test_docstring_examples_run():
    import doctest

    from agrad import points

    failures, tried = doctest.testmod(points)
    assert tried > 0 and failures == 0


def test_a_tie_that_float_rounding_split_is_a_kink_point_by_point_too():
    r = agrad.pointwise("maximum(x, sin(pi))", x=[0.0, 1.0, -1.0])
    (item,) = r.check.items
    assert r.check.status == "ok" and (item.kinks, item.mismatches) == (1, 0)
    np.testing.assert_array_equal(r.derivatives["x"], [0.0, 1.0, 0.0])


@pytest.mark.parametrize("src, shown", [("detach(x)*x", "detach(x)"), ("no_grad(x*2) + x", "no_grad(x*2)")])
def test_detach_is_refused_for_what_it_does_not_for_mixing(src, shown):
    # detach is elementwise; it was refused as one that "mixes elements across points"
    with pytest.raises(agrad.AgradError) as exc:
        agrad.pointwise(src, x=[1.0, 2.0])
    assert exc.value.message == (f"pointwise evaluation checks one formula on every point, and {shown} freezes a "
                                 f"value per point (detach and no_grad); evaluate it one point at a time without "
                                 f"pointwise")
