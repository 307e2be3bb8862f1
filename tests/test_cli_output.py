"""Output paths of the command line: a closed pipe, output files that collide, error JSON when
piped, flag names in messages, plots of tiny values."""
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from agrad.cli.main import cli

BIG = "[" + ", ".join(str(i) for i in range(20000)) + "]"  # output far larger than a pipe's buffer


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def run_closed_pipe(*args):
    """agrad with stdout a pipe whose reader is already gone: the first write fails (EPIPE),
    deterministically, whatever the timing."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "agrad.cli", *args], stdout=w, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    finally:
        os.close(w)
    return p


@pytest.mark.parametrize("args", [
    ("descend", "x**2", "--x", "3", "--steps", "1000", "--json"),
    ("grad", "sum(x**2)", "--x", BIG, "--json"),
    ("grad", "sum(x**2)", "--x", BIG, "--format", "plain"),
    ("grad", "sum(x**2)", "--x", BIG, "--format", "csv"),
    ("grad", "sum(x**2)", "--x", BIG),
    ("gradcheck", "x**2", "--x", "2"),
    ("check", "samples/", "--json"),
], ids=["descend-json", "grad-json", "grad-plain", "grad-csv", "grad-table", "gradcheck", "check-json"])
def test_closed_pipe_exits_141_quietly(args):
    p = run_closed_pipe(*args)
    assert p.returncode == 141, p.stderr
    assert p.stderr == ""  # no traceback, no "error:" line: the reader left, nothing went wrong


def agrad_proc(*args, **kw):
    return subprocess.run([sys.executable, "-m", "agrad.cli", *args], capture_output=True, text=True,
                          timeout=120, **kw)


@pytest.mark.parametrize("args", [
    ("descend", "x +* 2", "--x", "1", "--json"),  # an AgradError (report_error)
    ("grad", "x", "--x", "1", "--json", "--no-such-option"),  # click's own usage error
], ids=["parse-error", "usage-error"])
def test_error_json_is_compact_when_piped(args):
    p = agrad_proc(*args)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stdout.count("\n") == 1 and p.stdout.endswith("}\n")  # one line, as emit_json writes to a pipe
    err = json.loads(p.stdout)
    assert err["ok"] is False and err["error"]["type"] in ("parse", "usage")


def test_error_json_is_indented_at_a_terminal():
    import pty

    master, slave = pty.openpty()
    try:
        p = subprocess.run([sys.executable, "-m", "agrad.cli", "descend", "x +* 2", "--x", "1", "--json"],
                           stdout=slave, stderr=subprocess.PIPE, timeout=120)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    assert p.returncode == 2
    text = out.decode().replace("\r\n", "\n")
    assert text.count("\n") > 3  # indented, like every other --json at a terminal
    assert json.loads(text)["error"] == {"type": "parse", "message": "unexpected '*'", "column": 3, "line": 1}


@pytest.mark.parametrize("args, first, second", [
    (("descend", "x**2", "--x", "3", "--plot-file", "same.png", "--save", "same.png"), "--plot-file", "--save"),
    (("descend", "x**2", "--x", "3", "--plot-file", "same.png", "--save", "./same.png", "--force"),
     "--plot-file", "--save"),
    (("grad", "x**2", "--x", "3", "--save", "same.png", "--dot", "sub/../same.png"), "--save", "--dot"),
    (("grad", "x**2", "--x", "3", "--dot", "same.png", "--graph-file", "same.png"), "--dot", "--graph-file"),
    (("grad", "x**2", "--x", "[1, 2]", "--pointwise", "--plot-file", "same.png", "--save", "same.png"),
     "--plot-file", "--save"),
], ids=["descend", "descend-force", "grad-save-dot", "grad-dot-graph", "grad-pointwise"])
def test_two_outputs_naming_one_file_are_refused_before_any_work(tmp_path, monkeypatch, args, first, second):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert f"Error: {first} and {second} name the same file" in r.stderr  # in the order given
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "same.png").exists()  # refused up front: nothing was written


def test_check_junit_cannot_overwrite_a_checked_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = tmp_path / "d.toml"
    text = '[[case]]\nname = "sq"\nexpr = "x**2"\nat = { x = 3 }\nexpect = { x = 6 }\n'
    case.write_text(text)
    r = run("check", ".", "--junit", "d.toml", "--force")
    assert r.exit_code == 2, r.output
    assert "error: --junit names the derivation file 'd.toml' that is being checked" in r.stderr
    assert case.read_text() == text


@pytest.mark.parametrize("args, line", [
    (("grad", "x", "--x", "1"), "check skipped: SymPy took longer than the time budget of 1e-09 s (--check-timeout)"),
    (("grad", "x", "--x", "1", "--json"), "SymPy took longer than the time budget of 1e-09 s (--check-timeout)"),
    (("grad", "x", "--x", "[1, 2]", "--pointwise"), "SymPy check skipped: SymPy took longer than 1e-09 s (--check-timeout)"),
    (("grad", "x", "--x", "[1, 2]", "--pointwise", "--json"), "SymPy took longer than 1e-09 s (--check-timeout)"),
    (("descend", "x**2", "--x", "1", "--steps", "2"),
     "start-point check skipped: SymPy took longer than the time budget of 1e-09 s (--check-timeout)"),
    (("descend", "x**2", "--x", "1", "--steps", "2", "--json"),
     "SymPy took longer than the time budget of 1e-09 s (--check-timeout)"),
    (("check", "CASE"), "check skipped: SymPy took longer than the time budget of 1e-09 s (--check-timeout)"),
    (("check", "CASE", "--json"), "SymPy took longer than the time budget of 1e-09 s (--check-timeout)"),
], ids=["grad", "grad-json", "pointwise", "pointwise-json", "descend", "descend-json", "check", "check-json"])
def test_a_skipped_check_names_the_flag_not_the_python_argument(tmp_path, monkeypatch, args, line):
    monkeypatch.setenv("COLUMNS", "300")  # the table's line unfolded
    case = tmp_path / "d.toml"  # no claims: the case is skipped when SymPy is
    case.write_text('[[case]]\nname = "sq"\nexpr = "x**2"\nat = { x = 3 }\n')
    args = [str(case) if a == "CASE" else a for a in args]
    r = run(*args, "--check-timeout", "1e-9")  # SymPy cannot answer in a nanosecond: always skipped
    assert r.exit_code == 0, r.output
    assert line in r.output
    assert "check_timeout" not in r.output


@pytest.mark.parametrize("args, label", [
    (("grad", "x", "--x", "[0, 1e-310]", "--pointwise", "--plot"), "x (×1e-310)"),  # a subnormal x axis
    (("descend", "x**2", "--x", "1e-160", "--steps", "5", "--plot"), "(×1e-321)"),  # a subnormal loss
], ids=["pointwise", "descend"])
def test_a_plot_of_tiny_values_is_drawn_scaled(args, label):
    r = run(*args)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception  # plotext raised OverflowError
    assert r.exit_code == 0, r.output
    assert label in r.output
    assert "┤" in r.output  # the plot itself: tick marks on the y axis
