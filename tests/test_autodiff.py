"""The engine's PyTorch semantics at the API level: accumulation, freeing, seeds, depth."""
import numpy as np
import pytest

from agrad import autodiff
import agrad
from agrad.errors import AgradError
from agrad.program import compile_source, evaluate
from agrad.tensor import Tensor
from helpers import every_node_gradient


def leaf(v, grad=True):
    a = np.asarray(v, dtype=np.float64)
    return Tensor(a[()] if a.ndim == 0 else a, requires_grad=grad)


def classic(x1, x2):
    return (x1 ** 2 + 2 * x2) ** 2


def test_backward_accumulates_into_leaves_across_graphs():
    x1, x2 = leaf(2.0), leaf(3.0)
    autodiff.backward(classic(x1, x2))
    assert (x1.grad.value, x2.grad.value) == (80.0, 40.0)
    autodiff.backward(classic(x1, x2))  # a fresh forward graph, the same leaves
    assert (x1.grad.value, x2.grad.value) == (160.0, 80.0)


def test_second_backward_without_retain_graph_fails_like_pytorch():
    x, A = leaf([1.0, 2.0]), leaf([2.0, 3.0], grad=False)
    y = A @ (x * x)
    autodiff.backward(y)
    with pytest.raises(AgradError) as info:
        autodiff.backward(y)
    assert info.value.kind == "backward"
    assert "second time" in info.value.message and "retain_graph=True" in info.value.message


def test_retain_graph_allows_repeated_backward_and_accumulates():
    x, A = leaf([1.0, 2.0]), leaf([2.0, 3.0], grad=False)
    y = A @ (x * x)
    seen = []
    for _ in range(3):
        autodiff.backward(y, retain_graph=True)
        seen.append(x.grad.value.tolist())
    assert seen == [[4.0, 12.0], [8.0, 24.0], [12.0, 36.0]]


def test_a_graph_that_saved_nothing_can_be_walked_twice():
    # PyTorch too: add saves no tensors, so a second backward through it works without retain_graph
    a, b = leaf(1.0), leaf(2.0)
    y = a + b
    autodiff.backward(y)
    autodiff.backward(y)
    assert a.grad.value == 2.0


def test_create_graph_gives_differentiable_gradients():
    x = leaf(5.0)
    (g,) = autodiff.grad(x ** 2, [x], create_graph=True)
    assert g.value == 10.0 and g.requires_grad
    (gg,) = autodiff.grad(g, [x])
    assert gg.value == 2.0


def test_non_scalar_output_needs_a_seed():
    w = leaf([1.0, 2.0, 3.0])
    y = w * w + 2 * w + 1
    with pytest.raises(AgradError) as info:
        autodiff.backward(y)
    assert "only for a scalar output" in info.value.message and "(3,)" in info.value.message
    autodiff.backward(y, np.ones(3))
    assert w.grad.value.tolist() == [4.0, 6.0, 8.0]


def test_seed_broadcasts_like_backward_gradient():
    w = leaf([[1.0, 2.0], [3.0, 4.0]])
    autodiff.backward(w * 3, 2.0)
    assert w.grad.value.tolist() == [[6.0, 6.0], [6.0, 6.0]]
    with pytest.raises(AgradError, match="does not broadcast"):
        autodiff.backward(w * 3, np.ones(3))


def test_broadcast_gradients_are_summed_to_the_input_shape():
    b, A = leaf([1.0, 2.0]), leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    s = leaf(2.0)
    prog = compile_source("sum((A + b) * s)")
    vals = evaluate(prog, {"A": A, "b": b, "s": s}, np.float64)
    autodiff.backward(vals[prog.output])
    assert b.grad.value.tolist() == [6.0, 6.0]
    assert s.grad.value == float(np.sum(A.value + b.value))
    assert A.grad.value.shape == (3, 2)


def test_forward_releases_what_no_rule_reads_and_gradients_stay_exact():
    x, y = leaf(np.linspace(-1, 1, 50)), leaf(np.linspace(0, 2, 50))
    prog = compile_source("a = x**2 + 2*y; sum(a**2 * sin(x))")
    vals = evaluate(prog, {"x": x, "y": y}, np.float64, keep=(prog.output,))
    released = {prog.label(i) for i, t in enumerate(vals) if t.value.ndim and t.value.strides == (0,)}
    # x**2 and 2*y are read by no rule (pow reads x, mul's rule for y reads the 2), nor is the
    # product (sum reads only its shape); a, a**2 and sin(x) are read by the rules of ** and *
    assert released == {"x**2", "2*y", "a**2 * sin(x)"}
    assert all(np.isnan(vals[i].value).all() for i, t in enumerate(vals) if prog.label(i) in released)
    autodiff.backward(vals[prog.output])
    a = x.value ** 2 + 2 * y.value
    np.testing.assert_allclose(x.grad.value, 4 * a * x.value * np.sin(x.value) + a ** 2 * np.cos(x.value), rtol=1e-14)
    np.testing.assert_allclose(y.grad.value, 4 * a * np.sin(x.value), rtol=1e-14)


@pytest.mark.parametrize("src", [
    "sum(sin(v) * (v + w))",  # add passes its gradient on to v and w; v gets more later
    "a = sin(v); b = a * w; sum(b + (a + w) * v)",  # a gets the add's own gradient, then more
    "u = v * w; sum(exp(u) * (u + u))",
    "sum((v - w) * (v + w)) + sum(v)",
])
def test_in_place_accumulation_never_writes_into_a_shared_gradient(src):
    # create_graph sums out of place: every node's gradient must be the same without it
    point = {"v": [1.0, 2.0, 3.0], "w": [0.5, 0.6, 0.7]}
    plain, reference = every_node_gradient(src, point, False), every_node_gradient(src, point, True)
    assert plain.keys() == reference.keys()
    for label in plain:
        np.testing.assert_array_equal(plain[label], reference[label], err_msg=label)


def test_detach_stops_gradient_and_keeps_value():
    r = agrad.grad("u = detach(x*x); sum(u*x)", at={"x": np.array([0.0, 1.0, 2.0, 3.0])}, check=False)
    assert r.gradients["x"].tolist() == [0.0, 1.0, 4.0, 9.0]
    detached = [n for n in r.nodes if n.detached]
    assert len(detached) == 1 and not detached[0].requires_grad and detached[0].grad is None


def test_deep_chain_of_100000_ops_has_no_recursion_limit():
    src = "\n".join(["t = sin(t)*y + t*0.5"] * 25_000)
    r = agrad.grad(src, at={"t": np.float64(0.3), "y": np.float64(0.7)}, check=False)
    assert len(r.nodes) > 100_000
    # the same recurrence unrolled by hand, with its derivative by the chain rule
    t, dt_dt0, dt_dy = 0.3, 1.0, 0.0
    for _ in range(25_000):
        t, dt_dt0, dt_dy = (np.sin(t) * 0.7 + t * 0.5, (np.cos(t) * 0.7 + 0.5) * dt_dt0,
                            (np.cos(t) * 0.7 + 0.5) * dt_dy + np.sin(t))
    assert r.value == pytest.approx(t, rel=1e-12)
    assert r.gradients["y"] == pytest.approx(dt_dy, rel=1e-9)
    assert r.gradients["t"] == pytest.approx(dt_dt0, abs=1e-300)


def test_flat_sum_of_100000_terms():
    src = "+".join(f"x{i % 3}" for i in range(100_000))
    r = agrad.grad(src, at={f"x{i}": np.float64(i) for i in range(3)}, check=False)
    assert [float(r.gradients[f"x{i}"]) for i in range(3)] == [33334.0, 33333.0, 33333.0]


def test_unused_variable_gets_zero_and_a_warning():
    r = agrad.grad("x*x", at={"x": np.float64(3), "y": np.float64(1)}, check=False)
    assert r.gradients["y"] == 0.0
    assert any("'y' is bound but the expression does not use it" in w for w in r.warnings)


def test_wrt_makes_the_others_constants():
    r = agrad.grad("A @ (x*x)", at={"x": np.array([1.0, 2.0]), "A": np.array([2.0, 3.0])}, wrt=["x"],
                             check=False)
    assert list(r.gradients) == ["x"]
    a = [n for n in r.nodes if n.name == "A"][0]
    assert not a.requires_grad and a.grad is None


def test_integer_dtype_cannot_require_grad():
    with pytest.raises(AgradError, match="only floating point values can require gradients"):
        agrad.grad("x*x", at={"x": np.float64(3)}, dtype="int64")
    r = agrad.grad("x*x", at={"x": np.float64(3)}, dtype="int64", wrt=[])
    assert r.value == 9 and r.dtype == "int64"


def test_nan_is_traced_to_the_node_that_made_it():
    r = agrad.grad("y = log(x - 2) * 3; y + 1", at={"x": np.float64(1.0)}, check=False)
    (p,) = [p for p in r.problems if p.what == "value"]
    assert (p.kind, p.expr) == ("nan", "log(x - 2)")
