"""A descent's recorded and replayed pass (core/replay.py) gives the engine's numbers bit for
bit, and is used exactly where no derivative rule decides anything from a changing value."""
import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agrad import descent, replay
from agrad.optim import make
from agrad.program import compile_source, evaluate
from agrad.tensor import Tensor, quiet_numpy
from test_properties import SETTINGS, VECTOR, expressions

DATA = {"A": np.array([[1.0, -2.0, 0.5], [0.3, 0.0, 2.0]]), "c": np.array([0.5, -1.0, 2.0])}
# pow with a changing exponent: its rules branch on where the exponent (and the base) is 0
LOOKS = ("pow(", ") ** (")


def _runs(src, values, wrt, optimizer="adam", steps=6):
    """The same descent run twice: replaying the recorded pass, and on the engine every step."""
    out = []
    for use_replay in (True, False):
        program = compile_source(src)
        loop = descent._Loop(program, {n: np.asarray(v, dtype=np.float64) for n, v in values.items()}, wrt)
        loop.recorded = not use_replay  # an engine-only loop never records
        opt, _ = make(optimizer, loop.theta.size, 0.05, None)
        out.append((loop, loop.run(opt, steps=steps, tol=None, every=1, trajectory=True, progress=None)))
    return out


def _assert_same(a, b, src):
    for key in ("losses", "grad_norms"):
        assert np.array_equal(a[key], b[key], equal_nan=True), (src, key, a[key], b[key])
    for name in a["trajectory"]:
        assert np.array_equal(a["trajectory"][name], b["trajectory"][name], equal_nan=True), (src, name)


@settings(**SETTINGS)
@given(expressions(st.sampled_from(["v", "w", "x", "2", "c"])), st.sampled_from(VECTOR),
       st.lists(st.floats(-2, 2).map(lambda f: round(f, 2)), min_size=3, max_size=3),
       st.sampled_from([["v"], ["v", "w"], ["v", "w", "x"], ["x"]]))
def test_replay_gives_the_engines_bits_and_is_used_where_nothing_looks_at_values(src, reduce, v, wrt):
    full = reduce.format(v=f"(({src}) + 0*v)")
    values = {"v": v, "w": [0.3, -1.2, 0.8], "x": 0.4, **DATA}
    (fast, a), (_, b) = _runs(full, values, wrt)
    _assert_same(a, b, full)
    if not any(s in full for s in LOOKS):
        assert fast.replay is not None, full


def test_the_regression_of_the_benchmark_replays_and_keeps_its_numbers():
    rng = np.random.default_rng(3)
    x = rng.normal(size=500)
    values = {"w": 0.0, "b": 0.0, "X": x, "Y": 3 * x - 2 + 0.1 * rng.normal(size=500)}
    for optimizer in ("sgd", "adam", "rmsprop", "adagrad"):
        (fast, a), (slow, b) = _runs("mean((w*X + b - Y)**2)", values, ["w", "b"], optimizer, steps=50)
        assert fast.replay is not None and slow.replay is None
        _assert_same(a, b, optimizer)


@pytest.mark.parametrize("src", [
    "sum(v*v)",  # two contributions to one gradient: the second is added in place
    "sum(sin(v)*cos(v) + v)", "mean((A @ v - 1)**2)", "sum(v**3 / (2 + sin(v))) + x*sum(w*v)",
    "sum(exp(-v**2) * w) + sum(v * 0)", "sum(log(1 + v**2)) ** 0.5", "sum(v[0:2] * c[1:3]) + v[2]**2",
])
def test_these_replay_and_keep_the_engines_numbers(src):
    (fast, a), (_, b) = _runs(src, {"v": [0.5, 2.0, -1.0], "w": [1.0, 2.0, 3.0], "x": 0.7, **DATA}, ["v", "x", "w"])
    assert fast.replay is not None
    _assert_same(a, b, src)


@pytest.mark.parametrize("src", ["sum(v**x)", "sum(2**v + v**x)", "sum(pow(1 + v**2, sigmoid(x)))"])
def test_a_rule_that_looks_at_a_changing_value_keeps_the_engine(src):
    # a changing exponent: pow's rules branch on where it is 0, which a replay would not redo
    (fast, a), (_, b) = _runs(src, {"v": [0.5, 2.0, 1.5], "x": 2.0}, ["v", "x"])
    assert fast.replay is None
    _assert_same(a, b, src)


@pytest.mark.parametrize("src, start, mask", [
    ("sum((relu(v - 1) - 2)**2) + sum((v - 3)**2)", [0.9, 0.95, 0.99], lambda v: v > 1),  # relu's turns on
    ("sum((v*abs(v) - 2)**2)", [-0.2, -0.1, 0.05], lambda v: v > 0),  # abs's sign flips
    ("sum((maximum(v, c) - 4)**2) + sum((v - 3)**2)", [0.2, -1.5, 1.9], lambda v: v > DATA["c"]),  # the winner
])
def test_a_mask_that_changes_during_the_run_is_computed_again_each_step(src, start, mask):
    # a replay that kept step 1's mask would stop following the loss where the mask changes
    (fast, a), (_, b) = _runs(src, {"v": start, **DATA}, ["v"], optimizer="adam", steps=200)
    assert fast.replay is not None
    v = a["trajectory"]["v"]
    assert (mask(v[0]) != mask(v[-1])).any()
    _assert_same(a, b, src)


def test_a_constant_part_is_computed_once_and_a_changing_one_every_pass():
    program = compile_source("sum((X - w*mean(X))**2)")
    x = np.array([1.0, 2.0, 6.0])
    w, X = Tensor(None, requires_grad=True), Tensor(x)
    with quiet_numpy(), replay.recording([w]) as rec:
        w.value = np.float64(0.0)
        vals = evaluate(program, {"w": w, "X": X}, np.float64)
    again = rec.finish([vals[program.output]])
    # mean(X) ran once, while recording; each pass computes w*m, X - that, its square and the sum
    assert [fn.__name__ for fn, *_ in again.steps] == ["mul", "sub", "pow", "<lambda>"]
    for at in (1.0, -0.5):
        assert again([np.float64(at)])[0] == np.sum((x - at * x.mean()) ** 2)


def test_rules_read_values_only_through_peek():
    """A rule that read a changing value directly would be replayed with the first pass's
    reading: ops.py reads a Tensor's value only for its shape, ndim, dtype or size, or in peek."""
    tree = ast.parse(Path(__file__).parents[1].joinpath("core", "ops.py").read_text())
    structural = {"shape", "ndim", "dtype", "size"}
    parents = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "value":
            up = parents.get(id(node))
            if not (isinstance(up, ast.Attribute) and up.attr in structural):
                bad.append(node.lineno)
    assert bad == []


def test_a_users_function_keeps_the_engine_with_the_same_numbers():
    # a def/backward is not a row of the op table: its rule is the user's, and runs on the engine
    src = "def sq(u) = u*u; backward sq = 2*g*u; sum(sq(v - c))"
    (fast, a), (_, b) = _runs(src, {"v": [0.5, 2.0, -1.0], **DATA}, ["v"])
    assert fast.replay is None
    _assert_same(a, b, src)
    assert np.array_equal(a["trajectory"]["v"], descend_plain(src)["v"])  # agrad.descend's own loop


def descend_plain(src):
    import agrad

    return agrad.descend(src, v=[0.5, 2.0, -1.0], c=DATA["c"], A=DATA["A"], wrt=["v"], optimizer="adam", lr=0.05,
                         steps=6, check=False, trajectory=True).trajectory


def test_another_threads_ops_are_not_part_of_the_recorded_pass():
    import threading

    from agrad.ops import OPS
    from agrad.tensor import apply

    w = Tensor(np.float64(2.0), requires_grad=True)
    with replay.recording([w]) as rec:
        worker = threading.Thread(target=lambda: apply(OPS["mul"], (w, w)))
        worker.start()
        worker.join()
        assert rec.steps == []
        apply(OPS["mul"], (w, w))  # this thread's: recorded
    assert [fn.__name__ for fn, *_ in rec.steps] == ["mul"]


def test_a_recording_inside_a_recording_records_nothing_and_says_why():
    from agrad.ops import OPS
    from agrad.tensor import apply

    w = Tensor(np.float64(2.0), requires_grad=True)
    with replay.recording([w]) as outer:
        with replay.recording([w]) as inner:
            apply(OPS["mul"], (w, w))
        assert inner.finish([]) is None and inner.why
        apply(OPS["sin"], (w,))
    assert [fn.__name__ for fn, *_ in outer.steps] == ["mul", "sin"]  # the outer one saw both


def test_descents_in_threads_at_once_give_each_its_own_numbers():
    # grad mode, the unit seed and the recorder are per thread: one thread's backward pass
    # (grad mode off) must not stop another's forward pass from recording its graph
    import sys
    import threading

    import agrad

    problems = [("mean((w*X + b - Y)**2)", {"w": 0.0, "b": 0.0}), ("sum((relu(v - 1) - 2)**2)", {"v": [0.5, 1.5, 3.0]}),
                ("sum(sin(v)*w) + w**2", {"v": [0.1, 0.2, 0.3], "w": 1.0}), ("(1 - a)**2 + 10*(c - a**2)**2", {"a": -1.0, "c": 1.0})]
    x = np.linspace(-1, 1, 200)
    data = {"X": x, "Y": 3 * x - 2}

    def run(src, start):
        at = {**start, **{k: v for k, v in data.items() if k in src}}
        return agrad.descend(src, at=at, wrt=list(start), optimizer="adam", lr=0.01, steps=150, check=False).losses

    alone = [run(*p) for p in problems]
    got = [[] for _ in problems]
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns every few bytecodes
    try:
        threads = [threading.Thread(target=lambda k=k: [got[k].append(run(*problems[k])) for _ in range(3)])
                   for k in range(len(problems))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(before)
    for k in range(len(problems)):
        assert len(got[k]) == 3 and all(np.array_equal(g, alone[k]) for g in got[k]), problems[k][0]
