"""Your own functions: def/backward statements, --lib files, the per-rule check, gradcheck
through a rule, rand/randn with --seed, and agrad bench. Exact messages and exit codes."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import agrad
from agrad.cli.main import cli
from agrad.program import load_library
from agrad.program import compile_source
from agrad.rng import Random

SAMPLES = Path(__file__).parent.parent / "samples"
SIG = str(SAMPLES / "sigmoid.agrad")
MULADD = "def muladd(w, x, b) = w*x + b; backward muladd = g*x, g*w, g; "


def run(*args):
    return CliRunner().invoke(cli, list(args))


def run_json(*args):
    r = run(*args, "--json")
    return r, json.loads(r.stdout)


# ---- the tutorial's examples ---------------------------------------------------------------------
def test_muladd_in_one_line_with_x_constant():
    r, d = run_json("grad", MULADD + "muladd(w, x, b)", "--w", "0.5", "--x", "1", "--b", "0.2", "--wrt", "w,b")
    assert r.exit_code == 0, r.output
    assert d["gradients"] == {"w": 1.0, "b": 1.0}
    node = d["intermediates"][-1]
    assert node["grad_fn"] == "MuladdBackward" and node["expr"] == "muladd(w, x, b)" and node["value"] == 0.7
    assert d["saved"] == {"values": 1, "bytes": 8}  # w's rule reads x, b's rule reads nothing
    assert [(i["function"], i["input"], i["verdict"]) for i in d["check"]["rules"]] == [
        ("muladd", "w", "ok"), ("muladd", "x", "ok"), ("muladd", "b", "ok")]


def test_muladd_gradients_scale_with_x():
    r, d = run_json("grad", MULADD + "muladd(w, x, b)", "--w", "0.5", "--x", "3", "--b", "0.2")
    assert d["gradients"] == {"w": 3.0, "x": 0.5, "b": 1.0}


def test_wrong_rule_is_named_with_function_input_and_both_values():
    r = run("grad", "def muladd(w, x, b) = w*x + b; backward muladd = g*x, g*w, g*w; muladd(w, x, b)",
            "--w", "0.5", "--x", "1", "--b", "0.2", "--wrt", "w,b")
    assert r.exit_code == 1
    assert ("✗ backward of muladd, input b: your rule gives 0.5, SymPy says d/db(w*x + b) = 1; "
            "finite differences give 1\n") in r.stdout
    assert "✓ backward of muladd, input w: your rule g*x agrees with SymPy: d/dw(w*x + b) = x\n" in r.stdout


def test_wrong_sigmoid_rule_on_an_array_names_the_worst_entry():
    r, d = run_json("grad", "sum(wrongsig(x))", "--lib", SIG, "--x", "[[0.5, -1], [2, 0]]")
    assert r.exit_code == 1
    (item,) = d["check"]["rules"]
    assert (item["function"], item["input"], item["verdict"]) == ("wrongsig", "x", "mismatch")
    x = np.array([[0.5, -1], [2, 0]])
    s = 1 / (1 + np.exp(-x))
    assert np.allclose(item["ours"], s) and np.allclose(item["sympy"], s * (1 - s), rtol=1e-14)
    assert item["text"].startswith("backward of wrongsig, input x[1, 0]: your rule gives 0.880797078, SymPy says "
                                   "d/dx(1/(1 + exp(-x))) = exp(-x)/(1 + exp(-x))**2 = 0.1049935854")
    assert item["text"].endswith("(4 of 4 entries differ)")
    assert d["check"]["derivatives"]["x"]["verdict"] == "mismatch"  # the end-to-end verdict as before


def test_rule_check_uses_the_gradient_the_node_received():
    r, d = run_json("grad", "def sq(x) = x*x; backward sq = 2*x; 3*sq(x)", "--x", "2")
    assert r.exit_code == 1  # the rule forgot g: right only where g = 1
    (item,) = d["check"]["rules"]
    assert item["ours"] == 4.0 and item["sympy"] == 12.0
    assert item["text"] == ("backward of sq, input x: your rule gives 4, SymPy says g*d/dx(x*x) = 3*(2*x) = 12; "
                            "finite differences give 12")


def test_sigmoid_gradcheck_passes_at_eps_1e_3():
    r, d = run_json("gradcheck", "sig(x)", "--lib", SIG, "--x", "randn(3,4)", "--eps", "1e-3", "--seed", "7")
    assert r.exit_code == 0 and d["ok"] is True and d["random_seed"] == 7
    assert np.shape(d["blocks"][0]["analytical"]) == (3, 4, 3, 4)


def test_wrong_sigmoid_rule_fails_gradcheck_naming_the_input():
    r = run("gradcheck", "wrongsig(x)", "--lib", SIG, "--x", "[[0.5, -1], [2, 0]]", "--eps", "1e-3")
    assert r.exit_code == 1
    assert "✗ d(y)/dx: 4 of 16 entries differ; worst [1, 0, 1, 0]: analytical 0.88079708, numerical 0.10499" in r.stdout
    assert "✗ gradcheck failed: 4 entries differ" in r.stdout


def test_gradgradcheck_through_the_rule():
    r, d = run_json("gradcheck", "sum(sig(x))", "--lib", SIG, "--x", "[0.3, -2]", "--order", "2")
    assert r.exit_code == 0 and d["ok"]
    x = np.array([0.3, -2])
    s = 1 / (1 + np.exp(-x))
    assert np.allclose(np.diag(d["blocks"][0]["analytical"]), s * (1 - s) * (1 - 2 * s), rtol=1e-9)


def test_second_derivatives_flow_through_the_users_rule():
    # a rule that is right to first order but differs from the body in what it reads: the
    # second derivative must come from differentiating the rule (out*(1 - out)), not the body
    r, d = run_json("grad", "sig(x)", "--lib", SIG, "--x", "0.3", "--order", "3")
    assert r.exit_code == 0 and d["method"] == "reverse"  # Taylor mode would bypass the rule
    s = 1 / (1 + np.exp(-0.3))
    assert d["derivatives"]["x,x"] == pytest.approx(s * (1 - s) * (1 - 2 * s), rel=1e-13)
    # a wrong rule's second derivative is the wrong rule's: d/dx (out) = out*(1 - out) (via sig's rule again)
    r, d = run_json("grad", "wrongsig(x)", "--lib", SIG, "--x", "0.3", "--order", "2", "--no-check")
    assert d["derivatives"]["x,x"] == pytest.approx(s, rel=1e-13)


def test_coarse_function_is_one_node_that_saves_its_inputs():
    r, d = run_json("grad", "sum(coarsesig(x))", "--lib", SIG, "--x", "[0.5, -1, 2]")
    assert r.exit_code == 0
    assert [n["grad_fn"] for n in d["intermediates"]] == [None, "CoarsesigBackward", "SumBackward0"]
    assert d["saved"]["values"] == 1
    r2, inline = run_json("grad", "sum(1/(1 + exp(-x)))", "--x", "[0.5, -1, 2]")
    assert inline["saved"]["values"] == 3
    assert np.array_equal(d["gradients"]["x"], inline["gradients"]["x"])


def test_coarse_function_with_an_argument_passed_twice():
    r, d = run_json("grad", "def f(a, b) = a*sin(b); f(x, x)", "--x", "0.3", "--order", "2")
    assert r.exit_code == 0
    assert d["derivatives"]["x"] == pytest.approx(0.3 * np.cos(0.3) + np.sin(0.3), rel=1e-14)
    r, d = run_json("grad", "def f(a, b) = a*sin(b); f(x, x*y)", "--x", "0.3", "--y", "2", "--order", "2")
    assert r.exit_code == 0 and d["method"] == "reverse"
    assert d["derivatives"]["x,y"] == pytest.approx(-0.09 * 2 * np.sin(0.6) + 0.6 * np.cos(0.6), rel=1e-13)


def test_functions_call_earlier_functions():
    src = "def sq(x) = x*x; backward sq = 2*x*g; def f(a, b) = sq(a) + sq(b); f(u, v)"
    r, d = run_json("grad", src, "--u", "3", "--v", "-1")
    assert r.exit_code == 0 and d["gradients"] == {"u": 6.0, "v": -2.0}


# ---- errors: exact message, caret, exit 2 -------------------------------------------------------
@pytest.mark.parametrize("src, message", [
    ("def f(x, y) = x*y; backward f = g*y; f(a, a)",
     "error: backward for f gives 1 expression, but f has 2 parameters (x, y): give one per parameter, in order\n"
     "  def f(x, y) = x*y; backward f = g*y; f(a, a)\n"
     "                     ^^^^^^^^^^^^^^^^\n"),
    ("def f(x) = x*x; backward f = g*z; f(a)",
     "error: the backward rule of f names 'z'; it may name g (the incoming gradient), out (the output) and the "
     "parameters of f (x)\n"
     "  def f(x) = x*x; backward f = g*z; f(a)\n"
     "                                 ^\n"),
    ("def f(x) = x*x; backward f = sum(g*x); sum(f(a))",
     "error: the backward rule of f returned an invalid gradient for input x: got shape () but expected a shape "
     "compatible with (2,)\n"
     "  def f(x) = x*x; backward f = sum(g*x); sum(f(a))\n"
     "                               ^^^^^^^^\n"),
    ("def f(x) = x; backward f = sum(g)*ones(3); sum(f(a))",
     "error: the backward rule of f returned an invalid gradient for input x: got shape (3,) but expected a shape "
     "compatible with (2,)\n"
     "  def f(x) = x; backward f = sum(g)*ones(3); sum(f(a))\n"
     "                             ^^^^^^^^^^^^^^\n"),
    ("def sin(x) = x; sin(a)",
     "error: 'sin' is a built-in function; a def cannot redefine it\n"
     "  def sin(x) = x; sin(a)\n"
     "      ^^^\n"),
    ("def f(x, y) = x*y; sum(f(a))",
     "error: f() takes 2 arguments (x, y), got 1\n"
     "  def f(x, y) = x*y; sum(f(a))\n"
     "                         ^^^^\n"),
    ("def f(x) = f(x)*2; sum(f(a))",
     "error: f calls itself: a function may call only functions defined before it (no recursion)\n"
     "  def f(x) = f(x)*2; sum(f(a))\n"
     "             ^\n"),
    ("backward h = g; h(a)",
     "error: backward for 'h', which is not defined: define it first (def h(...) = ...)\n"
     "  backward h = g; h(a)\n"
     "           ^\n"),
    ("def f(x) = x*a; sum(f(a))",
     "error: the body of f uses 'a', which is not one of its parameters (x); pass it as an argument\n"
     "  def f(x) = x*a; sum(f(a))\n"
     "               ^\n"),
    ("def f(x) = x; backward f = g; backward f = g; sum(f(a))",
     "error: 'f' already has a backward rule\n"
     "  def f(x) = x; backward f = g; backward f = g; sum(f(a))\n"
     "                                         ^\n"),
    ("def f(x) = x; def f(y) = y; sum(f(a))",
     "error: 'f' is already defined; each function is defined once\n"
     "  def f(x) = x; def f(y) = y; sum(f(a))\n"
     "                    ^\n"),
    ("def f(x) = x; f(a); backward f = g",
     "error: backward for 'f' comes after f is called; give the rule before the first call\n"
     "  def f(x) = x; f(a); backward f = g\n"
     "                               ^\n"),
    ("def f(x) = x",
     "error: the program defines functions but computes nothing: end it with an expression, as in f(x)\n"
     "  def f(x) = x\n"
     "  ^^^^^^^^^^^^\n"),
])
def test_bad_definitions_are_clear_errors_with_exit_2(src, message):
    r = run("grad", src, "--a", "[1, 2]")
    assert r.exit_code == 2
    assert r.stderr == message
    assert "Traceback" not in r.output


def test_lib_file_errors_name_the_file(tmp_path):
    lib = tmp_path / "bad.agrad"
    lib.write_text("# a comment\ndef f(x) = x*x\ndef h(x) = h(x) + 1\n")
    r = run("grad", "f(a)", "--lib", str(lib), "--a", "1")
    assert r.exit_code == 2
    assert r.stderr == (f"error: in {lib}: h calls itself: a function may call only functions defined before it "
                        f"(no recursion)\n  line 3: def h(x) = h(x) + 1\n                     ^\n")
    lib.write_text("def f(x) = x*x\nf(2)\n")
    r = run("grad", "f(a)", "--lib", str(lib), "--a", "1")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: {lib} is a lib file: it holds def and backward statements only\n")
    r = run("grad", "f(a)", "--lib", str(tmp_path / "missing.agrad"), "--a", "1")
    assert r.exit_code == 2 and r.stderr.startswith(f"error: --lib {tmp_path / 'missing.agrad'}: cannot read it")


def test_a_lib_serves_many_calls_and_program_definitions_do_not_leak():
    lib = load_library([SIG])
    compile_source("def extra(x) = x; extra(y)", lib=lib)
    assert "extra" not in lib and "sig" in lib
    assert compile_source("sig(y) + muladd(y, y, y)", lib=lib).nodes[-1].op.torch == "AddBackward0"


# ---- rand / randn and --seed -------------------------------------------------------------------
def test_seed_replays_and_draw_order_is_bindings_then_expression():
    rng = np.random.default_rng(3)
    x_expected = rng.standard_normal((2,))
    y_expected = rng.random((2,))
    r, d = run_json("grad", "sum(x * rand(2))", "--x", "randn(2)", "--seed", "3")
    assert r.exit_code == 0 and d["random_seed"] == 3
    assert np.array_equal(d["intermediates"][0]["value"], x_expected)
    assert np.array_equal(d["gradients"]["x"], y_expected)


def test_without_seed_one_is_picked_and_printed():
    r, d = run_json("grad", "sum(x*x)", "--x", "rand(3)")
    seed = d["random_seed"]
    r2, d2 = run_json("grad", "sum(x*x)", "--x", "rand(3)", "--seed", str(seed))
    assert d2["gradients"] == d["gradients"]
    r3 = run("grad", "sum(x*x)", "--x", "rand(3)", "--seed", str(seed))
    assert f"random values drawn with --seed {seed}\n" in r3.stdout
    r4, d4 = run_json("grad", "x*x", "--x", "2")
    assert "random_seed" not in d4  # nothing drawn, nothing to replay


def test_a_variable_named_seed_is_bound_with_v():
    r, d = run_json("grad", "seed*x", "-v", "seed=2", "--x", "3")
    assert d["gradients"] == {"seed": 3.0, "x": 2.0}


def test_random_in_a_program_is_per_compile():
    assert Random(5).generator().random() == np.random.default_rng(5).random()
    a = compile_source("randn(3)", rng=Random(1)).nodes[0].value
    b = compile_source("randn(3)", rng=Random(1)).nodes[0].value
    assert np.array_equal(a, b) and np.array_equal(a, np.random.default_rng(1).standard_normal(3))


# ---- bench ------------------------------------------------------------------------------------------
def test_bench_three_sigmoids():
    r, d = run_json("bench", "sig(x)", "1/(1 + exp(-x))", "sigmoid(x)", "--lib", SIG, "--x", "randn(100,100)",
                    "--runs", "2", "--min-time", "0.01", "--seed", "0")
    assert r.exit_code == 0, r.output
    rows = d["variants"]
    assert [v["expression"] for v in rows] == ["sig(x)", "1/(1 + exp(-x))", "sigmoid(x)"]
    assert [v["saved_values"] for v in rows] == [1, 3, 1]
    assert [v["saved_bytes"] for v in rows] == [80_000, 240_000, 80_000]
    assert [v["nodes"] for v in rows] == [1, 4, 1]
    assert d["agree"] is True and all(v["agrees"] for v in rows) and d["random_seed"] == 0
    assert min(v["ratio"] for v in rows) == 1.0 and all(len(v["times"]) == 2 for v in rows)


def test_bench_exits_1_when_gradients_disagree():
    r = run("bench", "sig(x)", "wrongsig(x)", "--lib", SIG, "--x", "[0.5, 1]", "--runs", "1", "--min-time", "0.001")
    assert r.exit_code == 1
    assert "✗ variant 2 (wrongsig(x)): d/dx differs from variant 1's by up to" in r.stdout


def test_bench_unbound_variable_is_exit_2():
    r = run("bench", "x*y", "--x", "1")
    assert r.exit_code == 2 and r.stderr.startswith("error: no value for 'y'")


def test_bench_longer_than_ten_minutes_is_refused_before_timing():
    r = run("bench", "x*x", "x**2", "--x", "1", "--runs", "31", "--min-time", "10")
    assert r.exit_code == 2
    assert "2 program(s) x --runs 31 x --min-time 10 s is at least 620 s of timing; the limit is 600 s" in r.stderr
    with pytest.raises(agrad.LimitError, match="the limit is 600 s"):
        agrad.bench(["x*x"], x=1.0, runs=61, min_time=10)


def test_a_lib_file_is_held_to_a_programs_length(tmp_path):
    lib = tmp_path / "big.agrad"
    lib.write_text("def sq(u) = u*u\n" + "#" * 1_000_000)
    r = run("grad", "sq(x)", "--lib", str(lib), "--x", "2")
    assert r.exit_code == 2 and "the file is 1,000,016 characters long; the limit is 1,000,000" in r.stderr
    lib.write_text("def sq(u) = u*u\n" + "#" * 990_000)  # under it: a comment is fine
    assert run("grad", "sq(x)", "--lib", str(lib), "--x", "2", "--format", "plain").exit_code == 0


# ---- the API --------------------------------------------------------------------------------------
def test_grad_request_takes_a_library():
    res = agrad.grad("muladd(w, x, b)", at={"w": np.array(2.0), "x": np.array(3.0), "b": np.array(1.0)},
               lib=SIG)
    assert {k: float(v) for k, v in res.gradients.items()} == {"w": 3.0, "x": 2.0, "b": 1.0}
    assert res.check.status == "ok" and len(res.check.rules) == 3


def test_released_intermediates_are_never_read_by_a_rule():
    from helpers import assert_release_changes_nothing

    src = ("def muladd(w, x, b) = w*x + b; backward muladd = g*x, g*w, g; "
           "def sig(x) = 1/(1 + exp(-x)); backward sig = out*(1 - out)*g; def c(x) = sin(x)*x; "
           "sum(c(sig(muladd(exp(u), sin(v), u*v))))")
    assert_release_changes_nothing(src, {"u": np.array([0.3, -0.2]), "v": np.array([1.5, 0.1])}, ["u", "v"])
