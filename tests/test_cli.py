"""The command line as a person and a script use it: exact outputs, errors and exit codes."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from agrad.cli.main import cli, main


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def run_json(*args):
    r = run(*args, "--json")
    return r, json.loads(r.stdout)


def test_classic_example_table():
    r = run("grad", "(x1**2 + 2*x2)**2", "--x1", "2", "--x2", "3")
    assert r.exit_code == 0, r.output
    out = r.stdout
    for text in ("PowBackward0", "MulBackward0", "AddBackward0", "4*x1*(x1**2 + 2*x2)", "✓"):
        assert text in out
    rows = {line.split("│")[3].strip(): [c.strip() for c in line.split("│")[4:7]]
            for line in out.splitlines() if line.count("│") >= 7 and line.split("│")[1].strip().isdigit()}
    assert rows["x1**2"] == ["PowBackward0", "4", "20"]
    assert rows["2*x2"] == ["MulBackward0", "6", "20"]
    assert rows["(x1**2 + 2*x2)"] == ["AddBackward0", "10", "20"]
    assert rows["(x1**2 + 2*x2)**2"] == ["PowBackward0", "100", "1"]
    assert rows["x1"] == ["None", "2", "80"] and rows["x2"] == ["None", "3", "40"]


def test_classic_example_json_contract():
    r, d = run_json("grad", "(x1**2 + 2*x2)**2", "--x1", "2", "--x2", "3")
    assert r.exit_code == 0
    for key in ("expression", "value", "gradients", "derivatives", "intermediates", "passes", "check", "ok"):
        assert key in d
    assert d["value"] == 100.0 and d["gradients"] == {"x1": 80.0, "x2": 40.0} and d["ok"] is True
    assert d["check"]["derivatives"]["x1"]["formula"] == "4*x1*(x1**2 + 2*x2)"
    inter = {n["expr"]: n for n in d["intermediates"]}
    assert inter["x1"]["is_leaf"] and inter["x1"]["grad"] == 80.0
    assert inter["(x1**2 + 2*x2)"]["grad"] == 20.0 and not inter["(x1**2 + 2*x2)"]["is_leaf"]


def test_plain_format_has_full_precision():
    r = run("grad", "sin(x)", "--x", "1", "--format", "plain")
    assert r.stdout == f"value {float(np.sin(1.0))!r}\nx {float(np.cos(1.0))!r}\n"


def test_csv_format():
    r = run("grad", "sum(w*w)", "--w", "[1,2]", "--format", "csv")
    assert r.stdout == "derivative,index,value\nvalue,,5.0\nw,0,2.0\nw,1,4.0\n"


@pytest.mark.parametrize("value, expected", [
    ("-1.5", -3.0), ("pi/4", 2 * np.pi / 4), ("-2e-3", -4e-3), ("--1", 2.0), ("1 2", None),
])
def test_values_negative_and_constant(value, expected):
    r = run("grad", "x*x", "--x", value, "--format", "plain")
    if expected is None:
        assert r.exit_code == 2
    else:
        assert r.exit_code == 0, r.output
        assert float(r.stdout.splitlines()[1].split()[1]) == pytest.approx(expected, rel=1e-15)


def test_var_option_binds_names_that_clash_with_options():
    r = run("grad", "json * order", "-v", "json=2", "--var", "order=-3", "--format", "plain")
    assert r.exit_code == 0, r.output
    assert r.stdout == "value -6.0\njson -3.0\norder 2.0\n"


def test_expression_starting_with_minus():
    r = run("grad", "-x**2", "--x", "3", "--format", "plain")
    assert r.exit_code == 0, r.output
    assert r.stdout == "value -9.0\nx -6.0\n"


def test_stdin_program_with_named_intermediates():
    r = run("grad", "-", "--x1", "2", "--x2", "3", input="z1 = x1**2\nz2 = z1 + 2*x2\ny = z2**2\n")
    assert r.exit_code == 0, r.output
    for name in ("z1", "z2", "y"):
        assert f"│ {name} " in r.stdout


def test_values_from_files(tmp_path):
    np.save(tmp_path / "w.npy", np.array([1.0, 2.0, 3.0]))
    (tmp_path / "A.csv").write_text("1,2\n3,4\n")
    r = run("grad", "sum(A @ w[:2])", "--w", f"@{tmp_path / 'w.npy'}", "--A", f"@{tmp_path / 'A.csv'}",
            "--format", "plain")
    assert r.exit_code == 0, r.output
    # issue 16: plain prints an array's entries space-separated (row-major), after f's value
    assert r.stdout == "value 16.0\nw 4.0 6.0 0.0\nA 1.0 2.0 1.0 2.0\n"


def test_constructors_as_values():
    r, d = run_json("grad", "mean((x + 2)**2 * 3)", "--x", "ones(2,2)")
    assert d["gradients"]["x"] == [[4.5, 4.5], [4.5, 4.5]] and d["check"]["status"] == "ok"


def test_wrt_selects_variables():
    r, d = run_json("grad", "A @ (x*x)", "--x", "[1,2]", "--A", "[2,3]", "--wrt", "x")
    assert d["gradients"] == {"x": [4.0, 12.0]}


@pytest.mark.parametrize("args, message", [
    (["sine(x)", "--x", "1"], "error: unknown function 'sine'; did you mean 'sin'?\n  sine(x)\n  ^^^^\n"),
    (["x +* 2", "--x", "1"], "error: unexpected '*'\n  x +* 2\n     ^\n"),
    (["x + y", "--x", "1"], "error: no value for 'y': bind it with --y VALUE (or -v y=VALUE)\n  x + y\n      ^\n"),
    (["x", "--x", "[1,2"], "error: the value of 'x' is not a number, list or constant expression: expected ']' "
                           "to close the list, found the end of the expression\n  [1,2\n      ^\n"),
    (["x", "--x", "@nope.npy"], "error: the value of 'x': no file 'nope.npy'\n"),
    (["x", "--x", "1", "--wrt", "z"], "error: --wrt names 'z', which has no value; bound: x\n"),
    (["w + v", "--w", "[1,2,3]", "--v", "[1,2]", "--no-check"],
     "error: cannot compute w + v: the shapes (3,) (2,) do not broadcast together\n  w + v\n  ^^^^^\n"),
    (["y = 1\nz = (x +* 2)", "--x", "1"], "error: unexpected '*'\n  line 2: z = (x +* 2)\n                  ^\n"),
])
def test_bad_input_is_a_clear_error_with_exit_2(args, message):
    r = run("grad", *args)
    assert r.exit_code == 2
    assert r.stderr == message
    assert "Traceback" not in r.output


def test_huge_broadcast_is_refused_before_it_is_computed():
    r = run("grad", "sum(a * b)", "--a", "ones(5000000, 1)", "--b", "ones(1, 5000000)")
    assert r.exit_code == 2
    assert "a * b would have 25,000,000,000,000 elements, over the limit of 10,000,000" in r.stderr


def test_errors_are_json_with_json():
    r = run("grad", "x +* 2", "--x", "1", "--json")
    assert r.exit_code == 2
    assert json.loads(r.stdout) == {"error": {"type": "parse", "message": "unexpected '*'", "column": 3, "line": 1},
                                    "ok": False}


def test_non_scalar_output_names_both_fixes():
    r = run("grad", "w*w + 2*w + 1", "--w", "[1,2,3]")
    assert r.exit_code == 2
    assert "only for a scalar output" in r.stderr and "(3,)" in r.stderr
    assert "sum(...)" in r.stderr and "--grad-output" in r.stderr


def test_unused_binding_warns_on_stderr():
    r = run("grad", "x*x", "--x", "3", "--y", "1", "--format", "plain")
    assert r.exit_code == 0
    assert r.stdout == "value 9.0\nx 6.0\ny 0.0\n"
    assert r.stderr == "warning: 'y' is bound but the expression does not use it; its gradient is 0\n"


def test_help_and_version():
    r = run("--help")
    assert r.exit_code == 0 and "agrad grad" in r.stdout
    r = run("grad", "--help")
    assert r.exit_code == 0 and "Examples:" in r.stdout and "Exit codes:" in r.stdout
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.startswith("agrad ")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["grad", "x", "--x", "1", "--format", "yaml"])
    assert info.value.code == 2
    assert "Invalid value for '--format'" in capsys.readouterr().err


def test_no_color_and_no_terminal_means_no_escape_codes():
    r = CliRunner().invoke(cli, ["grad", "x*x", "--x", "2"], env={"NO_COLOR": "1"}, color=False)
    assert "\x1b[" not in r.stdout


def test_nan_is_reported_with_its_node():
    r = run("grad", "log(x) + 1", "--x", "-1", "--no-check")
    assert "nan value first produced at node 1: log(x)" in r.stdout


def test_the_output_is_the_last_statement_in_every_view(tmp_path):
    # the last node created is sin(x), but the output is y: every view must root at y
    src = "y = x*x; z = sin(x); y"
    r, d = run_json("grad", src, "--x", "2")
    assert d["value"] == 4.0 and d["gradients"] == {"x": 4.0}
    assert d["output"] == 1 and d["intermediates"][1]["name"] == "y"
    tree = run("grad", src, "--x", "2", "--graph").stdout.splitlines()
    assert next(line for line in tree if line.startswith("#")) == "#1 MulBackward0: y = x*x = 4, grad 1"
    table = CliRunner().invoke(cli, ["grad", src, "--x", "2"], color=True, env={"FORCE_COLOR": "1"}).stdout
    bold_rows = [line for line in table.splitlines() if "\x1b[1m" in line and "│" in line]
    assert len(bold_rows) == 1 and "x*x" in bold_rows[0] and "sin" not in bold_rows[0]
    dot = tmp_path / "g.dot"
    run("grad", src, "--x", "2", "--dot", str(dot))
    assert [line for line in dot.read_text().splitlines() if "penwidth" in line] == [
        '  n1 [label="{y = x*x | MulBackward0 | value 4 | grad 1}", penwidth=2];']


def test_a_matrix_in_the_table_is_shown_row_by_row_not_escaped():
    out = run("grad", "sum(W*W)", "--W", "[[1,2],[3,4]]", "--no-check").stdout
    assert "\\x0a" not in out
    assert "│  [[1, 2], │ [[2, 4], │" in out and "│   [3, 4]] │  [6, 8]] │" in out


def test_the_run_pauses_the_cyclic_collector_and_gives_it_back(monkeypatch, capsys):
    import gc

    import agrad

    seen = []
    real = agrad.grad
    monkeypatch.setattr(agrad, "grad", lambda *a, **k: (seen.append(gc.isenabled()), real(*a, **k))[1])
    assert gc.isenabled()
    with pytest.raises(SystemExit) as info:
        main(["grad", "x*x", "--x", "3", "--format", "plain"])
    assert info.value.code == 0 and seen == [False]  # paused during the run
    assert gc.isenabled()  # and on again for the host (a test process, an embedding program)
    with pytest.raises(SystemExit):
        main(["grad", "x*", "--x", "3"])  # an error on the way out gives it back too
    assert gc.isenabled()
    capsys.readouterr()


def test_plain_and_csv_print_the_accumulated_grad_as_the_readme_says():
    # --repeat 2 of x*x at 3: x.grad is 6 + 6 (PyTorch accumulates); the derivative stays 6
    plain = run("grad", "x*x", "--x", "3", "--repeat", "2", "--format", "plain")
    assert plain.exit_code == 0 and plain.output.splitlines() == ["value 9.0", "x 12.0"]
    csv = run("grad", "x*x", "--x", "3", "--repeat", "2", "--format", "csv")
    assert csv.output.splitlines()[-1] == "x,,12.0"
    _, data = run_json("grad", "x*x", "--x", "3", "--repeat", "2")
    assert data["gradients"]["x"] == 12.0 and data["derivatives"]["x"] == 6.0


@pytest.mark.parametrize("typed, message", [
    ("--jacobain", "--jacobain is not an option (did you mean --jacobian?), and as a variable it needs a value, "
                   "not the option --format"),
    ("--y", "--y is not an option, and as a variable it needs a value, not the option --format"),
])
def test_an_unknown_flag_before_an_option_is_named_not_bound_to_it(typed, message):
    # `--jacobain --format plain` bound a variable jacobain to "--format", and click then said
    # "unexpected extra argument (plain)"
    r = run("grad", "x*y", "--x", "1", typed, "--format", "plain")
    assert r.exit_code == 2 and r.output.splitlines()[-1] == f"Error: {message}"
    short = run("grad", "x*y", "--x", "1", typed, "-v", "y=2")  # a short option too (-v NAME=VALUE)
    assert short.exit_code == 2 and short.output.splitlines()[-1] == f"Error: {message[:-len('--format')]}-v"
