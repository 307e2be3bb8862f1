"""Every row of the op table: its derivative rule against finite differences, its derivative
of the derivative against finite differences of the gradient, and its Taylor rule against
nested reverse mode. Kinks follow PyTorch's documented conventions."""
import numpy as np
import pytest

from agrad import ops
import agrad
from agrad.program import compile_source
from helpers import assert_release_changes_nothing, fd_grad, grads

# a point inside every function's domain, away from kinks
UNARY = {name: 0.37 for name in ops.FUNCTIONS if ops.FUNCTIONS[name].nargs == 1 and ops.FUNCTIONS[name].elementwise}
UNARY.update({"log": 1.7, "log2": 1.7, "log10": 1.7, "sqrt": 2.3, "relu": 0.8, "abs": -0.6})
BINARY = ["x + y", "x - y", "x * y", "x / y", "x ** y", "pow(x, y)", "maximum(x, y)", "minimum(x, y)"]


def test_every_language_function_is_covered():
    covered = set(UNARY) | {"pow", "maximum", "minimum", "sum", "mean", "max", "min", "dot", "detach", "no_grad"}
    assert covered == set(ops.FUNCTIONS)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_rule_matches_finite_differences(name):
    src = f"{name}(x * 1.3) * x"
    g = grads(src, x=UNARY[name])["x"]
    np.testing.assert_allclose(g, fd_grad(src, {"x": UNARY[name]}, "x"), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("src", BINARY)
def test_binary_rules_match_finite_differences(src):
    point = {"x": 1.3, "y": 0.7}
    g = grads(src, **point)
    for v in point:
        np.testing.assert_allclose(g[v], fd_grad(src, point, v), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("src, point", [
    ("sum(A @ w)", {"A": [[1.0, 2.0], [3.0, -1.0], [0.5, 0.2]], "w": [0.3, -0.7]}),
    ("sum(A @ B)", {"A": [[1.0, 2.0], [3.0, -1.0]], "B": [[0.5, 0.2, 1.0], [0.1, 0.3, -2.0]]}),
    ("dot(u, w)", {"u": [1.0, 2.0, 3.0], "w": [0.5, -0.5, 2.0]}),
    ("sum(w @ A)", {"A": [[1.0, 2.0], [3.0, -1.0], [0.5, 0.2]], "w": [0.3, -0.7, 1.1]}),
    ("sum(sin(A) * w)", {"A": [[1.0, 2.0, 0.1], [3.0, -1.0, 0.2]], "w": [0.3, -0.7, 1.1]}),
    ("sum(sum(A, 0) * w) + mean(A, 1)[0]", {"A": [[1.0, 2.0, 0.1], [3.0, -1.0, 0.2]], "w": [0.3, -0.7, 1.1]}),
    ("max(A) + min(A, 1)[1] + max(A, 0)[2]", {"A": [[1.0, 2.0, 0.1], [3.0, -1.0, 0.2]]}),
    ("sum(w[1:] * w[:-1]) + A[1, 0] * sum(A[0])", {"w": [0.3, -0.7, 1.1, 2.0], "A": [[1.0, 2.0], [3.0, 4.0]]}),
    ("mean((x + 2)**2 * 3)", {"x": [[1.0, 1.5], [0.2, -1.0]]}),
])
def test_structural_rules_match_finite_differences(src, point):
    g = grads(src, **point)
    for v in point:
        np.testing.assert_allclose(g[v], fd_grad(src, point, v), rtol=1e-6, atol=1e-8)


# The op under test reads intermediates (v + 0 saves nothing) and feeds one (+ 0), so only its
# row's `saves` keeps its inputs' and its output's values alive.
RELEASE = ([f"{n}(v + 0)" for n in UNARY] + [
    "(v + 0) + (w + 0)", "(v + 0) - (w + 0)", "(v + 0) * (w + 0)", "(v + 0) / (w + 0)", "(v + 0) ** (w + 0)",
    "maximum(v + 0, w + 0)", "minimum(v + 0, w + 0)", "dot(v + 0, w + 0)", "(A + 0) @ (v + 0)",
    "(v + 0) @ (B + 0)", "(A + 0) @ (B + 0)", "sum(A + 0, 0)", "mean(A + 0, 1)", "max(A + 0, 0)", "min(A + 0, 1)",
    "max(A + 0)", "(v + 0)[1:]", "detach(v + 0) * (w + 0)"])


@pytest.mark.parametrize("op", RELEASE)
def test_each_row_saves_what_its_rules_read(op):
    point = {"v": [0.3, 0.5, 0.7], "w": [0.6, 0.2, 0.9], "A": [[0.3, 0.8, 0.1], [0.5, 0.4, 0.9]],
             "B": [[0.2, 0.7], [0.4, 0.1], [0.9, 0.6]]}
    names = list(compile_source(op).variables)
    point = {n: point[n] for n in names}
    for k in range(1, 2 ** len(names)):  # every choice of which inputs need a gradient
        assert_release_changes_nothing(f"sum(({op}) + 0)", point, [n for i, n in enumerate(names) if k >> i & 1])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_second_derivative_of_every_rule(name):
    """create_graph: each rule is differentiable in turn (the Hessian is the gradient's gradient)."""
    src = f"{name}(x * 1.3) * x + y * {name}(y)"
    point = {"x": UNARY[name], "y": UNARY[name] * 0.9}
    r = agrad.grad(src, at={k: np.float64(v) for k, v in point.items()}, order=2, wrt=["x", "y"],
                             check=False)
    for v in point:
        first = f"d_{v}"
        # finite differences of the AD gradient, one variable at a time
        h = 1e-6
        for w in point:
            bumped = []
            for sign in (1, -1):
                p = {**point, w: point[w] + sign * h}
                rr = agrad.grad(src, at={k: np.float64(val) for k, val in p.items()}, check=False)
                bumped.append(float(rr.gradients[v]))
            fd = (bumped[0] - bumped[1]) / (2 * h)
            np.testing.assert_allclose(r.derivatives[f"{v},{w}"], fd, rtol=1e-5, atol=1e-7, err_msg=first)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_taylor_rule_agrees_with_nested_reverse(name):
    src = f"{name}(x * 1.3 + 0.1) * x"
    x = np.float64(UNARY[name])
    taylor = agrad.grad(src, at={"x": x}, order=4, check=False)
    assert taylor.method == "taylor"
    # the same derivatives by nested reverse mode: a second (unused) variable forces that path
    rev = agrad.grad(src + " + 0*z", at={"x": x, "z": np.float64(1)}, order=4, wrt=["x", "z"], check=False)
    assert rev.method == "reverse"
    for k in range(1, 5):
        key = ",".join(["x"] * k)
        np.testing.assert_allclose(taylor.derivatives[key], rev.derivatives[key], rtol=1e-9, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("src, bound", [
    ("x / (x*x + 1)", {}), ("x ** 2.5", {}), ("x ** x", {}), ("pow(2, x) - x**3", {}), ("(x - 0.3) ** 2", {}),
    ("maximum(x, 1 - x) * minimum(x * x, 2)", {}), ("sum(w * x) * mean(w / x)", {"w": [1.0, 2.0, 3.0]}),
    ("max(w * x) + min(w[1:] - x)", {"w": [1.0, 2.0, 3.0]}), ("dot(w, w * x)", {"w": [1.0, 2.0, 3.0]}),
    ("sum(A @ (v * x))", {"A": [[1.0, 2.0], [0.5, -1.0]], "v": [0.3, 0.9]}),
    ("detach(x * x) * x + sin(x)", {}),
])
def test_taylor_agrees_with_nested_reverse_on_compositions(src, bound):
    x = np.float64(0.61)
    consts = {k: np.asarray(v) for k, v in bound.items()}
    taylor = agrad.grad(src, at={"x": x, **consts}, wrt=["x"], order=5, check=False)
    rev = agrad.grad(src + " + 0*z", at={"x": x, "z": np.float64(1), **consts}, order=5, wrt=["x", "z"],
                               check=False)
    assert (taylor.method, rev.method) == ("taylor", "reverse")
    for k in range(1, 6):
        key = ",".join(["x"] * k)
        np.testing.assert_allclose(taylor.derivatives[key], rev.derivatives[key], rtol=1e-9, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("src, point, expected", [
    ("abs(x)", {"x": 0.0}, {"x": 0.0}),
    ("relu(x)", {"x": 0.0}, {"x": 0.0}),
    ("maximum(x, y)", {"x": 1.0, "y": 1.0}, {"x": 0.5, "y": 0.5}),
    ("minimum(x, y)", {"x": 2.0, "y": 2.0}, {"x": 0.5, "y": 0.5}),
    ("max(w)", {"w": [1.0, 3.0, 3.0]}, {"w": [0.0, 0.5, 0.5]}),
    ("x ** 0", {"x": 0.0}, {"x": 0.0}),
    ("x ** y", {"x": 0.0, "y": 0.0}, {"x": 0.0, "y": 0.0}),  # x**0 is 1 along x; 0**y is 0 for y > 0
])
def test_kinks_follow_pytorch(src, point, expected):
    g = grads(src, **point)
    for k, v in expected.items():
        np.testing.assert_array_equal(g[k], v)


@pytest.mark.parametrize("point, key, expected", [
    ({"x": 0.5, "y": 0.0}, "x,y", 2.0),  # d/dy of y*x**(y-1) at y = 0 is 1/x (PyTorch and JAX: 0)
    ({"x": 0.0, "y": 1.0}, "x,x", 0.0),  # x**1 is x: no curvature, though 1*0*0**-1 is nan
    ({"x": 0.0, "y": 2.0}, "y,y", 0.0),  # 0**y is 0 for every y > 0
])
def test_pow_with_a_variable_exponent_at_zero(point, key, expected):
    r = agrad.grad("x ** y", at={k: np.float64(v) for k, v in point.items()}, order=2, check=False)
    assert r.derivatives[key] == expected


def test_kink_table_documents_each_convention():
    names = dict(ops.kinks())
    assert names["abs"] == "abs'(0) = 0"
    assert names["relu"] == "relu'(0) = 0"
    assert "0.5 / 0.5" in names["maximum"]


def test_sigmoid_and_softplus_are_stable_far_out():
    g = grads("sigmoid(x) + softplus(x)", x=-800.0)["x"]
    assert np.isfinite(g) and g == 0.0
    g = grads("softplus(x)", x=800.0)["x"]
    assert g == 1.0
