"""agrad descend: convergence, divergence, every bad option, and each output format."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from agrad.cli.main import cli
from agrad import descend
from agrad.descent import MAX_STEPS
from agrad.errors import AgradError

LINREG = "mean((w*X + b - Y)**2)"


def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def regression(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 200)
    y = 2.5 * x - 1.0 + 0.05 * rng.normal(size=200)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    np.savetxt(tmp_path / "y.csv", y, delimiter=",")
    return tmp_path, x, y


def lstsq(x, y):
    return np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)[0]


# ---- convergence -----------------------------------------------------------------------------------
def test_linear_regression_reaches_the_closed_form_solution(regression):
    d, x, y = regression
    r = run("descend", LINREG, "--w", "0", "--b", "0", "--X", f"@{d}/x.csv", "--Y", f"@{d}/y.csv",
            "--optimizer", "adam", "--lr", "0.1", "--steps", "2000", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    w, b = lstsq(x, y)
    assert out["final"]["params"]["w"] == pytest.approx(w, rel=1e-9)
    assert out["final"]["params"]["b"] == pytest.approx(b, rel=1e-9)
    assert out["wrt"] == ["w", "b"] and out["data"] == ["X", "Y"]
    assert out["wrt_default"] == "the values given on the command line, not @file data"


def test_least_squares_with_a_vector_parameter_and_tol():
    rng = np.random.default_rng(5)
    A, c = rng.normal(size=(30, 3)), rng.normal(size=30)
    r = descend("sum((A @ w - c)**2)", w=np.zeros(3), A=A, c=c, wrt="w", optimizer="sgd", lr=0.005,
                steps=100_000, tol=1e-10, options={"momentum": 0.9}, check=False)
    assert r.stop == "tol" and r.grad_norm <= 1e-10 and r.updates < 100_000
    np.testing.assert_allclose(r.params["w"], np.linalg.lstsq(A, c, rcond=None)[0], rtol=1e-10)


def test_rosenbrock_with_adam_reaches_one_one():
    r = descend("(1 - x)**2 + 100*(y - x**2)**2", x=-1.5, y=2.0, optimizer="adam", lr=0.02, steps=5000, check=False)
    assert r.params["x"] == pytest.approx(1.0, abs=1e-6) and r.params["y"] == pytest.approx(1.0, abs=1e-6)


def test_steps_count_like_a_training_loop():
    # step k shows the loss at the parameters before update k; the final loss is at the final parameters
    r = descend("x**2", x=1.0, optimizer="sgd", lr=0.25, steps=3, every=1, check=False)
    assert [(s.step, s.params["x"], s.loss) for s in r.rows] == [(1, 1.0, 1.0), (2, 0.5, 0.25), (3, 0.25, 0.0625)]
    assert r.params["x"] == 0.125 and r.loss == 0.015625 and r.updates == 3
    np.testing.assert_array_equal(r.losses, [1.0, 0.25, 0.0625])


def test_rows_are_the_first_every_kth_and_the_last():
    r = descend("x**2", x=1.0, lr=0.1, steps=23, every=5, check=False)
    assert [s.step for s in r.rows] == [1, 5, 10, 15, 20, 23]


def test_maximize_climbs():
    r = descend("-(x - 3)**2", x=0.0, optimizer="adam", lr=0.1, steps=500, options={"maximize": True}, check=False)
    assert r.params["x"] == pytest.approx(3.0, abs=1e-3)


# ---- divergence ----------------------------------------------------------------------------------
def test_divergence_stops_with_exit_1_at_the_right_step():
    # x <- x - 1.5 * 2x = -2x, so step k's loss is at x = (-2)**(k-1): 4**(k-1) = 2**(2k-2), which
    # overflows to inf first at k = 513 (2**1024); the last finite loss is 2**1022 at step 512
    with np.errstate(over="ignore"):
        assert np.isinf(np.float64(2.0 ** 512) ** 2) and np.isfinite(np.float64(2.0 ** 511) ** 2)
    r = run("descend", "x**2", "--x", "1", "--lr", "1.5", "--steps", "1000", "--no-check")
    assert r.exit_code == 1, r.output
    assert ("✗ diverged: the loss is inf at step 513; the last finite loss was "
            f"{2.0 ** 1022:.6g} at step 512. Try a smaller --lr (now 1.5; for example --lr 0.15)" in r.stdout)
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in r.stdout.splitlines() if ln.startswith("│")]
    assert rows[-1][:3] == ["513", "inf", "inf"]  # the step that diverged is the table's last row


def test_divergence_keeps_the_trajectory(tmp_path):
    r = run("descend", "x**2", "--x", "1", "--lr", "1.5", "--steps", "1000", "--no-check", "--save",
            str(tmp_path / "t.npz"), "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["stop"] == "diverged" and out["diverged_at"] == 513 and out["ok"] is False
    assert out["last_finite"] == {"step": 512, "loss": 2.0 ** 1022}
    assert "error: ✗ diverged: the loss is inf at step 513" in r.stderr
    z = np.load(tmp_path / "t.npz")
    assert z["loss"].shape == (513,) and z["loss"][-1] == np.inf and np.isfinite(z["loss"][:-1]).all()
    assert z["param_x"].shape == (513,) and z["param_x"][3] == -8.0 and z["param_x"][-1] == 2.0 ** 512


def test_nan_at_the_start_is_divergence_at_step_1():
    r = descend("log(x)", x=-1.0, check=False)
    assert r.stop == "diverged" and r.diverged_at == 1 and r.last_finite is None and not r.ok


# ---- bad input: exit 2, exact messages --------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["sum(w*w) + x", "--w", "[1,2]"], "error: no value for 'x': bind it with --x VALUE (or -v x=VALUE)"),
    (["w*w", "--w", "[1,2]"], "error: the loss must be a scalar, but the expression has shape (2,): reduce it with "
                              "sum(...) or mean(...)"),
    (["w*A", "--w", "1", "--A", "[[1,2],[3,4]]", "--wrt", "w"],
     "error: the loss must be a scalar, but the expression has shape (2, 2): reduce it with sum(...) or mean(...)"),
    (["w*A", "--w", "1", "--A", "2", "--wrt", "w,z"], "error: --wrt names 'z', which has no value; bound: w, A"),
    (["x*x", "--x", "1", "--optimizer", "adam", "--momentum", "0.9"],
     "error: --momentum is not an option of --optimizer adam (its options: --weight-decay, --betas, --eps, "
     "--amsgrad, --maximize)"),
    (["x*x", "--x", "1", "--betas", "0.9,0.99"],
     "error: --betas is not an option of --optimizer sgd (its options: --momentum, --dampening, --nesterov, "
     "--weight-decay, --maximize)"),
    (["x*x", "--x", "1", "--optimizer", "rmsprop", "--amsgrad"],
     "error: --amsgrad is not an option of --optimizer rmsprop (its options: --momentum, --weight-decay, --eps, "
     "--alpha, --centered, --maximize)"),
    (["x*x", "--x", "1", "--lr", "0"], "error: --lr must be > 0, got 0.0"),
    (["x*x", "--x", "1", "--lr", "-0.1"], "error: --lr must be > 0, got -0.1"),
    (["x*x", "--x", "1", "--steps", "2000000"], "error: --steps must be at most 1,000,000, got 2,000,000"),
    (["x*x", "--x", "1", "--steps", "0"], "error: --steps must be a whole number >= 1, got 0"),
    (["x*x", "--x", "1", "--every", "0"], "error: --every must be a whole number >= 1, got 0"),
    (["x*x", "--x", "1", "--tol", "-1"], "error: --tol must be a number >= 0, got -1.0"),
    (["x*x", "--x", "1", "--nesterov"],
     "error: --nesterov needs --momentum > 0 and --dampening 0 (got --momentum 0, --dampening 0)"),
    (["x*x", "--x", "1", "--nesterov", "--momentum", "0.9", "--dampening", "0.5"],
     "error: --nesterov needs --momentum > 0 and --dampening 0 (got --momentum 0.9, --dampening 0.5)"),
    (["x*x", "--x", "1", "--optimizer", "adam", "--betas", "0.9,1.0"], "error: the second of --betas must be in [0, 1), got 1.0"),
    (["x*x", "--x", "1", "--optimizer", "adam", "--eps", "-1"], "error: --eps must be >= 0, got -1.0"),
    (["x*x", "--x", "1", "--optimizer", "adagrad", "--lr-decay", "-1"], "error: --lr-decay must be >= 0, got -1.0"),
])
def test_bad_input_exits_2_with_a_clear_message(args, message):
    r = run("descend", *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0] == message


def test_bad_betas_text():
    r = run("descend", "x*x", "--x", "1", "--optimizer", "adam", "--betas", "0.9")
    assert r.exit_code == 2
    assert "Invalid value for --betas: takes two numbers, as in 0.9,0.999; got '0.9'" in r.stderr


def test_every_variable_from_files_needs_wrt(regression):
    d, _, _ = regression
    r = run("descend", "mean(X*Y)", "--X", f"@{d}/x.csv", "--Y", f"@{d}/y.csv")
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: no parameters: every bound variable is data read from a file; name the "
                                "parameters with --wrt")


def test_library_errors_name_arguments():
    with pytest.raises(AgradError, match=r"^lr= must be > 0, got -1$"):
        descend("x*x", x=1, lr=-1)
    with pytest.raises(AgradError, match=r"^steps= must be at most 1,000,000, got 1,000,001$"):
        descend("x*x", x=1, steps=MAX_STEPS + 1)
    with pytest.raises(AgradError, match=r"^wrt= names 'y', which has no value; bound: x$"):
        descend("x*x", x=1, wrt=["y"])
    with pytest.raises(AgradError, match=r"the trajectory of 1,000,000 steps over 20 parameter entries"):
        descend("sum(w*w)", w=np.ones(20), steps=1_000_000, every=1_000_000, trajectory=True)


# ---- the start-point check --------------------------------------------------------------------------
def test_start_point_check_passes_and_is_reported():
    r = descend("(1 - x)**2 + 100*(y - x**2)**2", x=-1.5, y=2.0, optimizer="adam", lr=0.01, steps=5)
    assert r.check.status == "ok" and r.ok
    r = run("descend", "(1 - x)**2 + 100*(y - x**2)**2", "--x", "-1.5", "--y", "2", "--steps", "5")
    assert r.exit_code == 0 and "✓ the gradient at the start agrees with SymPy" in r.stdout


def test_start_point_check_skipped_for_large_data(regression):
    d, _, _ = regression
    r = run("descend", LINREG, "--w", "0", "--b", "0", "--X", f"@{d}/x.csv", "--Y", f"@{d}/y.csv", "--steps", "3")
    assert r.exit_code == 0
    assert ("start-point check skipped: the bindings hold 402 entries; the start-point check rebuilds each in SymPy "
            "and is tried for at most 128") in r.stdout


def test_a_failed_start_point_check_still_runs_and_exits_1(monkeypatch):
    from agrad import descent as D
    from agrad.results import Check, CheckItem

    failed = Check("failed", "", items=[CheckItem("x", np.float64(2.0), np.float64(3.0), verdict="mismatch")])
    monkeypatch.setattr(D, "start_point_check", lambda *a: failed)
    r = run("descend", "x*x", "--x", "1", "--lr", "0.1", "--steps", "4")
    assert r.exit_code == 1
    assert "✗ the gradient at the start disagrees with SymPy: d/x" in r.stdout
    assert "final parameters (full precision):" in r.stdout  # the descent ran and printed


# ---- outputs ---------------------------------------------------------------------------------------
def test_table_shows_steps_final_parameters_and_reason():
    r = run("descend", "x**2", "--x", "1", "--lr", "0.25", "--steps", "3", "--every", "1", "--no-check")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "sgd lr=0.25 momentum=0 dampening=0 weight-decay=0 nesterov=false maximize=false" in out
    assert "parameters: x (default: the values given on the command line)" in out
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    assert rows == [["1", "1", "2", "1"], ["2", "0.25", "1", "0.5"], ["3", "0.0625", "0.5", "0.25"],
                    ["final", "0.015625", "0.25", "0.125"]]
    assert "  x = 0.125" in out and "ran all 3 steps (--steps)" in out
    assert "start-point check: off (--no-check)" in out
    assert "loss (log scale)" not in out  # piped: no plot unless asked


def test_arrays_are_summarized_in_the_table_and_full_below():
    r = run("descend", "sum((w - t)**2)", "--w", "zeros(6)", "--t", "linspace(0, 1, 6)", "--wrt", "w",
            "--lr", "0.1", "--steps", "2", "--no-check")
    assert r.exit_code == 0, r.output
    assert "[0, 0, ..., 0, 0] (6,)" in r.stdout
    # below the table, every entry in full: two SGD steps give w = 0.36 t, and the digits read back exactly
    text = r.stdout.split("  w = [", 1)[1].split("]", 1)[0]
    printed = [float(v) for v in text.replace("\n", " ").split(",")]
    lib = descend("sum((w - t)**2)", w=np.zeros(6), t=np.linspace(0, 1, 6), wrt="w", lr=0.1, steps=2, check=False)
    assert printed == lib.params["w"].tolist()
    np.testing.assert_allclose(printed, 0.36 * np.linspace(0, 1, 6), rtol=1e-15)


def test_json_keys():
    r = run("descend", "sum(w*w)", "--w", "[1, -2]", "--optimizer", "adam", "--lr", "0.1", "--steps", "20",
            "--every", "5", "--json", "--no-check")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert list(d) == ["expression", "settings", "wrt", "wrt_default", "data", "steps", "final", "stop", "reason",
                       "diverged_at", "last_finite", "check", "seconds", "warnings", "ok"]
    assert d["settings"] == {"optimizer": "adam", "lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
                             "amsgrad": False, "maximize": False, "steps": 20, "tol": None, "every": 5}
    assert [s["step"] for s in d["steps"]] == [1, 5, 10, 15, 20]
    assert d["steps"][0] == {"step": 1, "loss": 5.0, "grad_norm": float(np.hypot(2, 4)), "params": {"w": [1.0, -2.0]}}
    lib = descend("sum(w*w)", w=[1, -2], optimizer="adam", lr=0.1, steps=20, check=False)
    assert d["final"] == {"params": {"w": lib.params["w"].tolist()}, "loss": lib.loss, "grad_norm": lib.grad_norm,
                          "updates": 20}
    assert d["stop"] == "steps" and d["ok"] is True and d["check"] == {"status": "off", "ok": None}


def test_csv_has_one_row_per_step():
    r = run("descend", "sum(W*W)", "--W", "[[1, 2], [3, 4]]", "--lr", "0.25", "--steps", "2", "--format", "csv",
            "--no-check")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        "step,loss,grad_norm,W[0][0],W[0][1],W[1][0],W[1][1]",
        f"1,30.0,{float(np.sqrt(120.0))!r},1.0,2.0,3.0,4.0",
        f"2,7.5,{float(np.sqrt(30.0))!r},0.5,1.0,1.5,2.0",
        f"final,1.875,{float(np.sqrt(7.5))!r},0.25,0.5,0.75,1.0",
    ]


def test_npz_holds_the_full_trajectory(tmp_path):
    path = tmp_path / "traj.npz"
    r = run("descend", "sum(w*w) + b*b", "--w", "[1, 2]", "--b", "3", "--lr", "0.25", "--steps", "4", "--save",
            str(path), "--no-check")
    assert r.exit_code == 0
    z = np.load(path)
    assert sorted(z.files) == ["final_loss", "grad_norm", "loss", "param_b", "param_w", "step"]
    np.testing.assert_array_equal(z["param_w"], [[1, 2], [0.5, 1], [0.25, 0.5], [0.125, 0.25], [0.0625, 0.125]])
    np.testing.assert_array_equal(z["param_b"], [3, 1.5, 0.75, 0.375, 0.1875])
    np.testing.assert_array_equal(z["step"], [1, 2, 3, 4])
    assert z["loss"][0] == 14.0 and z["final_loss"] == 0.0625 ** 2 + 0.125 ** 2 + 0.1875 ** 2


def test_terminal_plot_fits_80_columns():
    r = run("descend", "(1 - x)**2 + 100*(y - x**2)**2", "--x", "-1.5", "--y", "2", "--optimizer", "adam",
            "--lr", "0.02", "--steps", "3000", "--plot", "--no-check")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "loss (log scale)" in line)
    plot = lines[start:]
    assert len(plot) >= 15 and max(len(line) for line in plot) <= 80
    assert "\x1b[" not in r.stdout  # no colour codes when not a terminal
    assert any("1e-" in line for line in plot)  # decade ticks on the log axis


def test_terminal_plot_helper_respects_width():
    from agrad.cli.plot import spans_decades, terminal_plot

    x = np.arange(1, 101)
    for width in (40, 60, 80):
        text = terminal_plot([("a", x, np.sin(x / 10)), ("b", x, np.cos(x / 10))], title="t", xlabel="x",
                             width=width, height=12)
        assert max(len(line) for line in text.splitlines()) <= width
    assert spans_decades([1, 1e-3]) and not spans_decades([1, 0.5]) and not spans_decades([1, -1e-3])


def test_plot_file_writes_a_png(tmp_path):
    path = tmp_path / "loss.png"
    r = run("descend", "x**2", "--x", "3", "--lr", "0.1", "--steps", "50", "--plot-file", str(path), "--no-check")
    assert r.exit_code == 0, r.output
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (800, 500)


def test_plot_file_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    r = run("descend", "x**2", "--x", "3", "--steps", "2", "--plot-file", str(tmp_path / "l.png"), "--no-check")
    assert r.exit_code == 2
    assert r.stderr.strip() == ('error: writing a plot file needs matplotlib, the optional extra: '
                                'pip install "agrad[plot]"')


def test_help_has_examples_and_exit_codes():
    r = run("descend", "--help")
    assert r.exit_code == 0
    for text in ("Examples:", "Exit codes:", "--optimizer", "--plot-file", "--betas"):
        assert text in r.stdout


# ---- derivation files ------------------------------------------------------------------------------
def test_a_descend_case_that_misses_its_expectation_fails(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[[case]]\nname = "bowl"\nexpr = "(x - 3)**2"\nat = { x = 0 }\n'
                    'descend = { optimizer = "sgd", lr = 0.1, steps = 200 }\nexpect_params = { x = 2 }\n'
                    'expect_stop = "tol"\n')
    r = run("check", str(path), "--json")
    assert r.exit_code == 1
    case = json.loads(r.stdout)["cases"][0]
    assert case["status"] == "FAIL"
    x = descend("(x - 3)**2", x=0, lr=0.1, steps=200, check=False).params["x"]
    assert case["messages"] == [f"from x=0: x: expected 2.0, got {x!r} (rtol 1e-06, atol 1e-09)",
                                "from x=0: expected the run to stop by 'tol', but it stopped by 'steps': "
                                "ran all 200 steps"]
    assert case["points"][0]["stop"] == "steps" and case["points"][0]["check"] == "ok"


def test_a_loss_not_finite_at_the_start_blames_the_start_not_the_learning_rate():
    r = descend("x*x", x=1e308, lr=0.1, check=False)
    assert r.stop == "diverged" and r.updates == 0
    assert r.reason == ("diverged: the loss is inf at the starting point, before any step; start from values where "
                        "the loss is finite")
