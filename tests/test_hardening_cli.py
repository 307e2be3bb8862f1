"""Issue 16, the command line and the verdict: no traceback, bounded work, nothing lost, on
anything a user or a CI job can type. Each test asserts the exit code and the exact message."""
import json
import math
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

import agrad
from agrad.check import add_finite_differences
from agrad.cli.main import cli
from agrad.results import Check, CheckItem


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def agrad_process(*args, env=None, **kw):
    """agrad as a shell runs it: the real entry point, real streams."""
    return [sys.executable, "-c", "from agrad.cli.main import main; main()", *args], {
        "env": {**os.environ, **(env or {})}, **kw}


def shell(*args, env=None, input=None):
    cmd, kw = agrad_process(*args, env=env)
    return subprocess.run(cmd, input=input, capture_output=True, timeout=120, **kw)


# ---- 1. agrad check never gives up on the run ----------------------------------------------------
def write(tmp_path, text, name="cases.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_junit_is_valid_xml_whatever_the_text(tmp_path):
    name = 'evil \\u0000\\u0001\\u001b[31m \\ufffe [/bold] [red] ]]> & <x> \\"q\\"'
    f = write(tmp_path, f'[[case]]\nname = "{name}"\nexpr = "x**2 # [/bold] \\u001b]0;t\\u0007"\n'
                        f'at = {{ x = 3 }}\nexpect = {{ x = 7 }}\n')
    report = tmp_path / "r.xml"
    r = run("check", str(f), "--junit", str(report))
    assert r.exit_code == 1, r.output
    case = ET.parse(report).find(".//testcase")  # parses: every character is one XML 1.0 allows
    assert case.get("name") == 'evil \\x00\\x01\\x1b[31m \\ufffe [/bold] [red] ]]> & <x> "q"'
    assert case.find("failure").text == "at x=3: d/x: claimed 7.0, but the derivative is 6.0"
    # the terminal sees the same text literally: no escape sequence, markup not interpreted
    assert "\x1b" not in r.stdout and "FAIL    evil \\x00\\x01\\x1b[31m ￾ [/bold] [red] ]]> & <x>" in r.stdout


@pytest.mark.parametrize("field, message", [
    ('expect_grad_fn = { output = 5 }',
     "case 'c': 'expect_grad_fn.output' should be a grad_fn name string like \"MulBackward0\" or \"None\", "
     "not int (5)"),
    ('expect_saved = { values = "one" }', "case 'c': 'expect_saved.values' should be a whole number, not str ('one')"),
    ('expect_saved = { value = 1 }', "case 'c': unknown key 'value' in 'expect_saved' (did you mean 'values'?)"),
    ('expect_passes = [{ x = "six" }]',
     "case 'c': 'expect_passes' entry 1, 'x', should be a number or a list of numbers, not str ('six')"),
    ('expect = { x = true }',
     "case 'c': the claim 'expect.x' should be a number, a list of numbers or a formula string, not bool (True)"),
    ('order = -5', "at x=3: error (usage): order= must be between 1 and 30, got -5"),
    ('rtol = nan', "at x=3: error (usage): rtol= must be a finite number >= 0, got nan"),
])
def test_a_bad_expectation_is_that_cases_error_and_the_others_run(tmp_path, field, message):
    f = write(tmp_path, f'[[case]]\nname = "c"\nexpr = "x**2"\nat = {{ x = 3 }}\n{field}\n\n'
                        '[[case]]\nname = "after"\nexpr = "x**2"\nat = { x = 3 }\nexpect = { x = 6 }\n')
    r = run("check", str(f), "--json")
    assert r.exit_code == 2, r.output
    cases = {c["name"]: c for c in json.loads(r.stdout)["cases"]}
    assert cases["c"]["status"] == "error" and cases["c"]["messages"] == [message]
    assert cases["after"]["status"] == "pass"


def test_a_value_of_the_wrong_type_is_an_error_not_a_pass(tmp_path):
    f = write(tmp_path, '[[case]]\nname = "c"\nexpr = "x**2"\nat = { x = true }\n')
    r = run("check", str(f), "--json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["cases"][0]["messages"] == [
        "case 'c': the value of 'x' should be a number, a list of numbers or a string, not bool (True)"]


def test_an_error_while_judging_a_case_does_not_abandon_the_file(tmp_path):
    # expect_loss "abc" used to raise out of the case and drop every later case of the file
    f = write(tmp_path, '[[case]]\nname = "d"\nexpr = "(x-1)**2"\nat = { x = 0 }\ndescend = { steps = 5 }\n'
                        'expect_loss = "abc"\n\n[[case]]\nname = "after"\nexpr = "x"\nat = { x = 1 }\n')
    r = run("check", str(f), "--json")
    assert r.exit_code == 2
    cases = {c["name"]: c for c in json.loads(r.stdout)["cases"]}
    assert cases["d"]["status"] == "error"
    assert cases["d"]["messages"] == ["error (binding): the value of 'expect_loss' must be constant, but it names 'abc'"]
    assert cases["after"]["status"] == "pass"


# ---- 7. options are validated ---------------------------------------------------------------------
@pytest.mark.parametrize("value, shown", [("nan", "nan"), ("0", "0.0"), ("-inf", "-inf"), ("-1", "-1.0"),
                                          ("1e300", "1e+300")])
def test_check_timeout_must_be_a_positive_number(value, shown):
    r = run("grad", "x", "--x", "1", "--check-timeout", value)
    assert r.exit_code == 2
    assert r.stderr == f"error: --check-timeout must be a number of seconds above 0 and at most 86,400, got {shown}\n"


def test_check_timeout_of_agrad_check_is_one_error(tmp_path):
    f = write(tmp_path, '[[case]]\nexpr = "x"\nat = { x = 1 }\n')
    r = run("check", str(f), str(f), "--check-timeout", "nan")
    assert r.exit_code == 2
    assert r.stderr == "error: --check-timeout must be a number of seconds above 0 and at most 86,400, got nan\n"


@pytest.mark.parametrize("flag, value, shown", [("--rtol", "inf", "inf"), ("--rtol", "nan", "nan"),
                                                ("--atol", "-1", "-1.0")])
def test_tolerances_must_be_finite_and_not_negative(flag, value, shown):
    # --rtol inf accepted a wrong claim before
    r = run("grad", "x**2", "--x", "1", flag, value, "--expect", "x=5")
    assert r.exit_code == 2
    assert r.stderr == f"error: {flag} must be a finite number >= 0, got {shown}\n"


def test_the_python_api_validates_the_same():
    with pytest.raises(agrad.AgradError) as e:
        agrad.grad("x", x=1.0, check_timeout=float("nan"))
    assert e.value.message == "check_timeout= must be a number of seconds above 0 and at most 86,400, got nan"
    with pytest.raises(agrad.AgradError) as e:
        agrad.grad("x", x=1.0, rtol=math.inf)
    assert e.value.message == "rtol= must be a finite number >= 0, got inf"
    with pytest.raises(agrad.AgradError) as e:
        agrad.check_file("unused.toml", check_timeout=0)
    assert e.value.kind == "usage"


@pytest.mark.parametrize("typo, option", [("--ordr", "--order"), ("--retain_graph", "--retain-graph"),
                                          ("--hesian", "--hessian")])
def test_a_mistyped_option_is_an_error(typo, option):
    r = run("grad", "x**2", "--x", "1", typo, "2")
    assert r.exit_code == 2
    name = typo[2:]
    assert r.stderr == (f"error: no such option {typo} (did you mean {option}?); the expression has no variable "
                        f"'{name}' to bind (-v '{name}=VALUE' binds one anyway)\n")


def test_a_name_close_to_an_option_that_the_expression_uses_is_a_variable():
    r = run("grad", "ordr**2", "--ordr", "3", "--format", "plain")
    assert r.exit_code == 0 and r.stdout == "value 9.0\nordr 6.0\n"


def test_a_typo_is_found_in_a_program_read_from_stdin():
    r = run("grad", "-", "--x", "1", "--ordr", "2", input="x**2\n")
    assert r.exit_code == 2 and r.stderr.startswith("error: no such option --ordr (did you mean --order?)")


# ---- 4. text is text --------------------------------------------------------------------------------
def test_markup_in_an_expression_is_printed_literally():
    r = run("grad", "x # [/bold] [red]", "--x", "1")  # a rich MarkupError traceback before
    assert r.exit_code == 0, r.output
    assert "agrad: y = x # [/bold] [red]" in r.stdout


def test_terminal_escapes_are_shown_not_sent():
    r = run("grad", "x*2 # \x1b[31m\x1b]0;title\x07", "--x", "1")
    assert r.exit_code == 0
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "agrad: y = x*2 # \\x1b[31m\\x1b]0;title\\x07" in r.stdout


def test_markup_in_a_claim_and_a_case_name_is_literal(tmp_path):
    r = run("grad", "x**2", "--x", "1", "--expect", "x: 3*x # [red]oops[/red]")
    assert r.exit_code == 1
    assert "3*x # [red]oops[/red]" in r.stdout
    f = write(tmp_path, '[[case]]\nname = "[bold red]:smile:"\nexpr = "x"\nat = { x = 1 }\n')
    r = run("check", str(f))
    assert r.exit_code == 0 and "pass    [bold red]:smile:  (" in r.stdout


def test_an_array_starting_with_inf_is_not_a_style_tag():
    r = run("grad", "-log(x)", "--x", "[0, 1]", "--grad-output", "ones", "--no-check")
    assert r.exit_code == 0
    assert "[inf, -0]" in r.stdout  # rich read "[inf, -0]" as a style and printed nothing


def test_an_ascii_terminal_gets_ascii_stand_ins():
    r = shell("grad", "x**2", "--x", "3", env={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
                                                "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""})
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = r.stdout.decode("ascii")  # every byte is ASCII
    assert "| dy/dx      |  6 | 2*x" in out
    assert "ok every derivative agrees with SymPy" in out


def test_an_argument_that_is_not_utf8_is_a_clear_error():
    r = shell("grad", os.fsdecode(b"x\xff"), "--x", "1")
    assert r.returncode == 2
    assert r.stderr.decode() == ("error: argument 2 is not UTF-8 text (byte 0xff at position 1); agrad reads "
                                 "expressions and values as UTF-8\n")


def test_stdin_that_is_not_utf8_is_a_clear_error():
    r = shell("grad", "-", "--x", "1", input=b"x\xff\n")
    assert r.returncode == 2
    assert r.stderr.decode() == ("error: the input on stdin is not UTF-8 text: byte 0xff at offset 1 (line 1) "
                                 "cannot be decoded\n")


def test_a_full_stdout_is_one_line_and_exit_2():
    with open("/dev/full", "w") as full:
        cmd, kw = agrad_process("grad", "x**2", "--x", "1", stdout=full, stderr=subprocess.PIPE)
        r = subprocess.run(cmd, timeout=120, **kw)
    assert r.returncode == 2
    assert r.stderr.decode() == "error: cannot write the output: No space left on device\n"


def test_a_closed_pipe_ends_quietly():
    read, write_end = os.pipe()
    os.close(read)  # the reader is gone before agrad writes, as after `| head -c 10`
    try:
        cmd, kw = agrad_process("grad", "x**2", "--x", "1", stdout=write_end, stderr=subprocess.PIPE)
        r = subprocess.run(cmd, timeout=120, **kw)
    finally:
        os.close(write_end)
    assert r.returncode == 141 and r.stderr == b""


def test_ctrl_c_exits_130_with_one_line():
    cmd, kw = agrad_process("grad", "-", "--x", "1", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    p = subprocess.Popen(cmd, **kw)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:  # until agrad waits for its standard input
            try:
                with open(f"/proc/{p.pid}/wchan") as fh:
                    if "pipe" in fh.read() or "wait" in fh.read():
                        break
            except OSError:
                pass
            time.sleep(0.2)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130
    assert err.decode().strip() == "interrupted (Ctrl-C)"


# ---- 2. bounded output --------------------------------------------------------------------------------
def test_json_lists_1000_nodes_unless_full():
    src = "+".join(["x"] * 1600)  # 1,600 nodes: a leaf and 1,599 additions
    r = run("grad", src, "--x", "1", "--json", "--no-check")
    d = json.loads(r.stdout)
    assert r.exit_code == 0 and len(d["intermediates"]) == 1000
    assert d["intermediates_omitted"] == {"count": 600, "first": 500, "last": 1099,
                                          "why": "over 1,000 nodes; --full lists every one"}
    assert [n["index"] for n in d["intermediates"]][499:501] == [499, 1100]
    d = json.loads(run("grad", src, "--x", "1", "--json", "--no-check", "--full").stdout)
    assert len(d["intermediates"]) == 1600 and "intermediates_omitted" not in d


def test_a_jacobian_is_bounded_before_it_is_built():
    r = run("grad", "x*2", "--x", "zeros(1001)", "--jacobian")
    assert r.exit_code == 2
    assert r.stderr == ("error: --jacobian of an output with 1,001 elements over 1,001 input entries is 1,002,001 "
                        "numbers; the limit is 1,000,000 (differentiate fewer variables with --wrt, or seed a "
                        "vector-Jacobian product with --grad-output)\n")


def test_a_high_order_table_is_summarized_unless_full():
    args = ("grad", "sin(x*y*z)", "--x", "1", "--y", "2", "--z", "0.5", "--order", "4")  # 34 partials
    r = run(*args)
    assert r.exit_code == 0
    assert "4 more derivatives, each agreeing with SymPy (--full lists them)" in r.stdout
    assert "∂⁴y/∂z⁴" not in r.stdout
    r = run(*args, "--full")
    assert "more derivatives" not in r.stdout and "∂⁴y/∂z⁴" in r.stdout


def test_finite_differences_are_bounded():
    r = agrad.grad("sum(" + "+".join(["x"] * 3200) + ")", x=np.ones(400))  # 3,201 nodes x 800 passes
    assert r.check.status == "skipped"
    assert r.check.reason == ("the expression has 3,201 nodes; SymPy is asked for at most 3,000; finite differences "
                              "skipped: 2,560,800 node evaluations (3,201 nodes x 800 forward passes); the limit is "
                              "2,000,000")
    assert {i.verdict for i in r.check.items} == {"unverified"} and r.check.items[0].fd is None


# ---- 8. semantics ----------------------------------------------------------------------------------------
def test_plain_layout_value_first_nonfinite_as_awk_reads_it():
    r = run("grad", "log(x)", "--x", "[0, 1]", "--grad-output", "ones", "--format", "plain")
    assert r.exit_code == 0
    assert r.stdout == "value -inf 0.0\nx inf 1.0\n"
    assert [float(t) for t in r.stdout.split()[1:3]] == [-math.inf, 0.0]


def test_csv_layout_value_rows_first():
    r = run("grad", "w*w", "--w", "[1, 2]", "--grad-output", "ones", "--format", "csv")
    assert r.stdout == "derivative,index,value\nvalue,0,1.0\nvalue,1,4.0\nw,0,2.0\nw,1,4.0\n"


@pytest.mark.parametrize("fmt", ["plain", "csv"])
def test_a_failed_claim_in_plain_says_which_on_stderr(fmt):
    r = run("grad", "(x1**2 + 2*x2)**2", "--x1", "2", "--x2", "3", "--format", fmt, "--expect", "x1=5,x2=40")
    assert r.exit_code == 1
    assert r.stderr == "claim failed: d/x1: claimed 5.0, but the derivative is 80.0\n"


def test_the_table_shows_grad_fn_as_pytorch_does():
    r = run("grad", "z = detach(x)*2; z + x", "--x", "1", "--graph")
    rows = {line.split("│")[3].strip(): line.split("│")[4].strip()
            for line in r.stdout.splitlines() if line.count("│") >= 7 and line.split("│")[1].strip().isdigit()}
    d = json.loads(run("grad", "z = detach(x)*2; z + x", "--x", "1", "--json").stdout)
    assert rows["detach(x)*2"] == "None" == str(next(n["grad_fn"] for n in d["intermediates"]
                                                    if n["expr"] == "detach(x)*2"))
    assert rows["detach(x)"] == "None" and rows["z + x"] == "AddBackward0"
    assert "#1 None: detach(x) = 1 [detached]" in r.stdout and "#3 None: z = detach(x)*2 = 2" in r.stdout


def test_detach_is_named_as_the_reason_differences_differ():
    r = agrad.grad("x*detach(x)", x=3.0)
    (item,) = r.check.items
    assert item.verdict == "ok" and item.note == (
        "AD and SymPy agree; finite differences do not because detach(x) detaches x by design: differences see "
        "the dependence that AD cuts")
    out = run("grad", "x*detach(x)", "--x", "3").stdout
    assert "∂y/∂x: AD and SymPy agree; finite differences do not because detach(x) detaches x" in out
    assert "ill-conditioned" not in out


def test_a_nan_at_a_kink_is_a_failure_not_a_pass():
    r = run("grad", "sqrt(abs(x))", "--x", "0")
    assert r.exit_code == 1
    res = agrad.grad("sqrt(abs(x))", x=0.0)
    (item,) = res.check.items
    assert item.verdict == "mismatch" and item.note.startswith(
        "not finite at the non-differentiable point at abs(x): a derivative there must be a finite value between "
        "the one-sided derivatives")


def test_the_issues_pow_example_never_passes_with_nan():
    r = agrad.grad("pow(x, y)", x=0.0, y=2.0, wrt=["y"], order=2)
    assert not (r.ok and not np.isfinite(r.derivatives["y,y"]))


def test_a_kink_value_outside_the_one_sided_derivatives_fails():
    kink = CheckItem("x", np.float64(2.0), verdict="kink", note="non-differentiable point at abs(x)")
    check = Check("ok", "", 1e-10, 1e-12, (kink,))
    fd = {("x",): np.float64(0.0)}
    sides = ({("x",): np.float64(-1.0)}, {("x",): np.float64(1.0)})
    out = add_finite_differences(check, fd, sides, rtol=1e-5, atol=1e-6)
    assert out.status == "failed" and out.items[0].verdict == "mismatch"
    assert out.items[0].note.endswith("; AD's value is not between them, so it is no subgradient")
    inside = add_finite_differences(Check("ok", "", 1e-10, 1e-12, (kink.__class__("x", np.float64(0.5),
                                                                                   verdict="kink"),)),
                                    fd, sides, rtol=1e-5, atol=1e-6)
    assert inside.status == "ok" and inside.items[0].verdict == "kink"


def test_an_option_of_another_command_is_named_as_such():
    r = CliRunner().invoke(cli, ["gradcheck", "x**2", "--x", "1", "--dtype", "float32"])
    assert r.exit_code == 2
    assert r.stderr == ("error: no such option --dtype (it is an option of agrad grad, not of agrad gradcheck); "
                        "the expression has no variable 'dtype' to bind (-v 'dtype=VALUE' binds one anyway)\n")


def test_the_seed_is_named_by_its_flag():
    r = CliRunner().invoke(cli, ["grad", "x*y", "--x", "[3,4]", "--y", "2", "--grad-output", "x"])
    assert r.exit_code == 2 and r.stderr.startswith("error: the value of --grad-output must be constant")


def test_the_source_line_under_an_error_shows_control_characters_as_escapes():
    # an ESC or BEL typed into an expression is echoed under the error: as text, never as a
    # terminal command (color=True: click strips nothing, as on a terminal)
    r = CliRunner().invoke(cli, ["grad", "x*\x1b]0;pwned\x07x", "--x", "2"], color=True)
    assert r.exit_code == 2
    assert "\x1b" not in r.output and "\x07" not in r.output
    lines = r.output.splitlines()
    assert lines == ["error: unexpected character '\\x1b'", "  x*\\x1b]0;pwned\\x07x", "    ^^^^"]


def test_gradcheck_of_overflowing_differences_warns_nothing():
    # f(x+h) - f(x-h) = inf - inf at x = 1e200: a NaN entry the table reports, not a numpy
    # RuntimeWarning with a source line on stderr
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = agrad.gradcheck("x*x", x=1e200)
    assert not res.ok and np.isnan(res.blocks[0].numerical).all()


@pytest.mark.parametrize("spelling", [["--format", "json"], ["--format=json"], ["--json"]])
def test_a_usage_error_is_json_however_json_was_asked_for(spelling):
    p = shell("grad", "x", "--x", "1", *spelling, "--precision", "0")
    assert p.returncode == 2
    err = json.loads(p.stdout)["error"]
    assert set(err) == {"type", "message", "line", "column"}  # the README's keys, as for other errors
    assert err["type"] == "usage" and "--precision" in err["message"]
