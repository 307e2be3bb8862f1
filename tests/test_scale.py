"""Scale work (issue 12): the fast JSON writer keeps the contract, huge intermediates are
summarized unless --full, and the engine's shortcuts (an all-ones seed multiplies nothing,
pointwise results are not copied) never alias an input or change a number."""
import json

import numpy as np
from click.testing import CliRunner

import agrad
from agrad.cli.main import cli
from agrad.cli.render import jsonable
from agrad.cli.render_json import SUMMARY_OVER, dumps


def run_json(*args):
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


def test_big_json_has_every_gradient_and_summarized_intermediates():
    n = SUMMARY_OVER + 5
    x = np.linspace(0, 1, n)
    d = run_json("grad", "sum(sin(x)*x)", "--x", f"linspace(0, 1, {n})", "--no-check")
    assert np.array_equal(np.array(d["gradients"]["x"]), np.sin(x) + x * np.cos(x))
    inter = {i["expr"]: i for i in d["intermediates"]}
    s = inter["sin(x)"]["value"]["summary"]
    assert s["shape"] == [n] and s["dtype"] == "float64" and s["finite"] == n
    assert s["min"] == float(np.sin(x).min()) and s["max"] == float(np.sin(x).max())
    assert abs(s["mean"] - np.sin(x).mean()) < 1e-15 and abs(s["norm"] - np.linalg.norm(np.sin(x))) < 1e-12
    assert isinstance(inter["sum(sin(x)*x)"]["value"], float)  # a scalar is never summarized


def test_full_flag_writes_every_intermediate():
    n = SUMMARY_OVER + 1
    d = run_json("grad", "sum(sin(x)*x)", "--x", f"linspace(0, 1, {n})", "--no-check", "--full")
    inter = {i["expr"]: i for i in d["intermediates"]}
    assert inter["sin(x)"]["value"] == np.sin(np.linspace(0, 1, n)).tolist()


def test_small_arrays_are_never_summarized():
    d = run_json("grad", "sum(x*x)", "--x", "[1, 2, 3]")
    assert {i["expr"]: i for i in d["intermediates"]}["x*x"]["value"] == [1.0, 4.0, 9.0]


def test_non_finite_entries_of_arrays_are_strings():
    d = run_json("grad", "sum(log(x))", "--x", "[0, 1, -1]", "--no-check")
    assert d["gradients"]["x"] == ["Infinity", 1.0, -1.0]
    assert d["value"] == "NaN"


def test_fast_writer_reads_back_as_the_standard_library_does():
    rng = np.random.default_rng(3)
    data = {"a": rng.standard_normal(50) * 10.0 ** rng.integers(-300, 300, 50), "b": np.float32(0.1),
            "c": np.array([1.5, np.nan, -np.inf], dtype=np.float32), "d": [np.int64(3), None, True, "é"],
            "e": np.arange(6).reshape(2, 3), "f": np.array(2.5), "g": -0.0, "h": float("inf")}
    want = json.loads(json.dumps(jsonable(data)))
    for indent in (True, False):
        assert json.loads(dumps(data, indent=indent)) == want


def test_unit_seed_results_do_not_alias_inputs():
    x, y = np.linspace(0, 1, 7), np.linspace(1, 2, 7)
    r = agrad.pointwise("x*y", x=x, y=y)
    assert np.array_equal(r.derivatives["x"], y) and np.array_equal(r.derivatives["y"], x)
    r.derivatives["x"][:] = 0  # results are the caller's to change
    assert np.array_equal(y, np.linspace(1, 2, 7))
    r2 = agrad.pointwise("x + y", x=x, y=y)
    assert r2.derivatives["x"] is not r2.derivatives["y"]


def test_unit_seed_gives_the_same_numbers_as_an_explicit_product():
    x = np.linspace(-2, 2, 9)
    seeded = agrad.grad("exp(x)*sin(x)", x=x, grad_output="ones", check=False).gradients["x"]
    twice = agrad.grad("exp(x)*sin(x)", x=x, grad_output=2.0, check=False).gradients["x"]
    assert np.array_equal(twice, 2 * seeded)
    assert np.array_equal(seeded, np.exp(x) * np.cos(x) + np.sin(x) * np.exp(x))


def test_sum_entries_differentiated_by_term_shape_give_sympys_formulas():
    import sympy as sp

    from agrad import symbolic as S
    from agrad.program import compile_source

    prog = compile_source("sum(sin(x)*exp(y) + x**2) + sum(x*x*y) + x[0]*y[2]")
    syms = S.symbols_of({"x": (4,), "y": (4,)})
    base = S.build(prog, syms)[prog.output]
    for name in ("x", "y"):
        got = S.jacobian(base, syms[name])
        for j in range(4):
            want = sp.diff(base[()], syms[name][j])
            assert sp.simplify(got[j] - want) == 0 and str(got[j]) == str(want)


def test_a_sums_spread_of_the_seed_multiplies_nothing():
    # sum(...)'s gradient is ones: the product rule's g * exp(y) is exp(y) itself (a read-only
    # view of the forward value), not a new array, and the numbers are the explicit product's
    from agrad import autodiff
    from agrad.ops import OPS
    from agrad.tensor import Tensor, apply

    x = Tensor(np.linspace(-1, 1, 5), requires_grad=True)
    y = Tensor(np.linspace(0, 2, 5), requires_grad=True)
    s, e = apply(OPS["sin"], (x,)), apply(OPS["exp"], (y,))
    loss = apply(OPS["sum"], (apply(OPS["mul"], (s, e)),))
    grads = autodiff.run_backward([loss], [None], retain_graph=True, create_graph=False, retain_grads=True)
    assert np.shares_memory(grads[s].value, e.value) and not grads[s].value.flags.writeable
    assert np.array_equal(grads[x].value, np.cos(x.value) * np.exp(y.value))
    # with a seed of 2 nothing is ones: the products are made
    grads2 = autodiff.run_backward([loss], [np.float64(2.0)], retain_graph=True, create_graph=False, retain_grads=True)
    assert not np.shares_memory(grads2[s].value, e.value)
    assert np.array_equal(grads2[s].value, 2 * e.value)


def test_streamed_compact_json_is_byte_for_byte_the_whole_document():
    import io

    from agrad.cli.render import result_dict
    from agrad.cli.render_json import dumps_bytes, write

    cases = [agrad.grad("sum(log(x)*y) + x[0]", x=[0.0, 1.0, -1.0, 2.0], y=[1.0, 2.0, 3.0, 4.0]),
             agrad.grad("(x1**2 + 2*x2)**2", x1=2, x2=3, order=2),
             agrad.grad("sum(A @ v)", A=np.arange(6.0).reshape(2, 3), v=[1.0, -1.0, 0.5], check=False)]
    for r in cases:
        for full in (False, True):
            data = result_dict(r, full=full)
            out = io.BytesIO()
            write(data, out, indent=False)
            assert out.getvalue() == dumps_bytes(data, indent=False)
            assert json.loads(out.getvalue()) == json.loads(dumps(data))
