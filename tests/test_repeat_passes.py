"""A program evaluated and differentiated many times: what is learnt once (the release plan
without the saved nodes, the backward order) must give what working it out every pass gives."""
import gc
import warnings

import numpy as np
import pytest

from agrad import autodiff
from agrad.graph import ReleasePlan, evaluate, program_order, release_plan
from agrad.kernels import spread
from agrad.program import compile_source
from agrad.tensor import Tensor, _state, gc_paused, quiet_numpy

SOURCES = [
    "a = x**2 + 2*y; sum(a**2 * sin(x))",
    "mean((w*x + b - y)**2)",
    "sum(abs(x - y) * relu(w*x) + maximum(x, y) * b)",
    "u = x * y; sum(exp(u) * (u + u)) + sum(detach(x) * w)",
]
POINT = {"x": np.linspace(-1, 1, 7), "y": np.linspace(0, 2, 7), "w": np.float64(0.7), "b": np.float64(-0.3)}


def leaves(wrt):
    return {n: Tensor(np.array(v) if np.ndim(v) else v, requires_grad=n in wrt, name=n) for n, v in POINT.items()}


def gradients(prog, wrt, release=None, order=False):
    ls = leaves(wrt)
    vals = evaluate(prog, ls, np.float64, keep=None if release is not None else (prog.output,), release=release)
    out = vals[prog.output]
    used = [ls[n] for n in wrt]
    kw = {"order": program_order(vals, ls.values())} if order else {}
    return out.value, [g.value for g in autodiff.grad(out, used, **kw)], vals


@pytest.mark.parametrize("src", SOURCES)
def test_a_learnt_plan_releases_what_the_per_node_bookkeeping_releases(src):
    prog = compile_source(src)
    plan = release_plan(prog, (prog.output,))
    assert isinstance(plan, ReleasePlan)
    # several patterns of which leaves require a gradient, each learnt then reused, in turns
    for wrt in (["x", "y", "w", "b"], ["w", "b"], ["x"], ["w", "b"], ["x", "y", "w", "b"], ["x"]):
        v0, g0, vals0 = gradients(prog, wrt)  # keep=: the plan worked out node by node
        v1, g1, vals1 = gradients(prog, wrt, release=plan)
        released0 = [i for i, t in enumerate(vals0) if np.ndim(t.value) and not any(t.value.strides)]
        released1 = [i for i, t in enumerate(vals1) if np.ndim(t.value) and not any(t.value.strides)]
        assert released1 == released0, wrt
        assert v1 == v0
        for a, b in zip(g0, g1):
            np.testing.assert_array_equal(a, b)
    assert len(plan.pruned) == 3  # one per pattern


@pytest.mark.parametrize("src", SOURCES)
def test_the_program_order_gives_toposorts_gradients(src):
    prog = compile_source(src)
    for wrt in (["x", "y", "w", "b"], ["w"], ["y", "b"]):
        _, g_topo, _ = gradients(prog, wrt)
        _, g_prog, _ = gradients(prog, wrt, order=True)
        for a, b in zip(g_topo, g_prog):
            np.testing.assert_array_equal(a, b)


def test_no_program_order_for_a_leaf_with_a_history():
    x = Tensor(np.float64(2.0), requires_grad=True)
    y = x * x  # bound as a variable, it is a computed node whose inputs the program never lists
    prog = compile_source("y * 3")
    vals = evaluate(prog, {"y": y}, np.float64)
    assert program_order(vals, [y]) is None
    (g,) = autodiff.grad(vals[prog.output], [x])
    assert g.value == 12.0


def test_a_program_changed_in_place_gets_a_new_plan():
    prog = compile_source("sum(x * y)")  # the plan: release x * y (node 2) after the sum
    ls = leaves(["x"])
    keep = (0,)  # the same keep both times (an output is never released: nothing reads it)
    evaluate(prog, ls, np.float64, keep=keep)
    prog2 = compile_source("a = x * y; sum(a) + sum(a * a)")  # node 2 is read again after the sum
    prog.nodes[:] = prog2.nodes
    prog.output = prog2.output
    ls = leaves(["x"])
    vals = evaluate(prog, ls, np.float64, keep=keep)
    x, y = POINT["x"], POINT["y"]
    assert vals[prog.output].value == np.sum(x * y) + np.sum((x * y) ** 2)


def test_a_ones_seed_spread_without_memory_is_a_unit_seed():
    x = Tensor(np.linspace(0, 1, 5), requires_grad=True)
    y = x * x
    (g,) = autodiff.grad(y, [x], spread(np.float64(1.0), (5,)))
    np.testing.assert_array_equal(g.value, 2 * x.value)
    (g,) = autodiff.grad(x * x, [x], spread(np.float64(2.0), (5,)))  # not ones: multiplied
    np.testing.assert_array_equal(g.value, 4 * x.value)


@pytest.mark.parametrize("value, shape", [(np.float64(1.5), (3, 2)), (np.float32(2), (4,)), (np.array(3.0), (2,)),
                                          (np.float64(1.0), ()), (np.ones(3), (2, 3))])
def test_spread_is_broadcast_to(value, shape):
    got, want = spread(value, shape), np.broadcast_to(value, shape)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    assert not got.flags.writeable
    with pytest.raises(ValueError):
        got[...] = 0


def test_quiet_numpy_and_gc_paused_restore_what_they_found():
    before = np.geterr()
    with quiet_numpy():
        assert _state.quiet and np.geterr()["invalid"] == "ignore"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with quiet_numpy():  # nested: nothing changes, nothing is restored early
                pass
            assert _state.quiet
        np.log(np.array([-1.0]))
    assert not _state.quiet and np.geterr() == before
    with pytest.raises(ZeroDivisionError):
        with quiet_numpy():
            1 / 0
    assert not _state.quiet and np.geterr() == before
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
