"""Files agrad reads (--points, --lib, a derivation file's lib) and the file names it writes to:
a device or a FIFO is refused before it is opened, a bad row is a one-line error, a value is
never bound twice without a word, and an empty output name is a usage error. Exit code 2 and
the message asserted; nothing escapes as a traceback."""
import json
import os
import resource
import subprocess
import sys

import pytest
from click.testing import CliRunner

import agrad
from agrad.cli.main import cli


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def _capped():  # in the child: an unbounded read fails fast instead of taking the machine's memory
    resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))


def shell(*args, cwd=None):
    """agrad in a child process with a memory cap and a time limit: a regression (a read of
    /dev/zero, an open of a FIFO with no writer) fails the test instead of hanging the suite."""
    cmd = [sys.executable, "-c", "from agrad.cli.main import main; main()", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=cwd, preexec_fn=_capped)
    except subprocess.TimeoutExpired:
        pytest.fail(f"agrad {' '.join(args)} did not finish in 20 s (it blocked on the file)")


# ---- 1, 3. --points: a device or a FIFO is refused before it is opened -----------------------------
def test_points_refuses_a_device_before_reading_it():
    r = shell("grad", "x*y", "--pointwise", "--points", "/dev/zero", "--format", "csv")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == ("error: the points file: '/dev/zero' is not a regular file (a pipe or a device cannot "
                        "be read as points)\n")


def test_points_refuses_a_fifo_with_no_writer(tmp_path):
    fifo = tmp_path / "pf.csv"
    os.mkfifo(fifo)
    r = shell("grad", "x*2", "--pointwise", "--points", str(fifo), "--json")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    err = json.loads(r.stdout)["error"]  # compact when piped: parsed, not matched as text
    assert err["type"] == "file" and "is not a regular file" in err["message"]


def test_points_api_refuses_a_directory_and_a_missing_file(tmp_path):
    with pytest.raises(agrad.BindingError, match="the points file: .* is a directory, not a file") as e:
        agrad.pointwise("x*2", points=tmp_path)
    assert e.value.kind == "file"
    with pytest.raises(agrad.BindingError, match="the points file: no file .*missing.csv") as e:
        agrad.pointwise("x*2", points=tmp_path / "missing.csv")
    assert e.value.kind == "file"


# ---- 2. a field over csv's limit -------------------------------------------------------------------
def test_points_field_over_the_csv_limit_is_a_one_line_error(tmp_path):
    f = tmp_path / "big.csv"
    f.write_text("x\n1\n" + "1" * 200_000 + "\n")
    r = run("grad", "x*2", "--pointwise", "--points", str(f), "--format", "csv")
    assert r.exit_code == 2, r.output
    assert r.stderr == f"error: {f}: line 3: not a readable CSV row (field larger than field limit (131072))\n"
    assert "Traceback" not in r.output and r.stdout == ""


def test_points_file_that_is_not_utf8_is_a_one_line_error(tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes(b"x\n1\n\xe9\n")
    r = run("grad", "x*2", "--pointwise", "--points", str(f))
    assert r.exit_code == 2, r.output
    assert r.stderr == (f"error: the points file {f} is not UTF-8 text: byte 0xe9 at offset 4 (line 3) "
                        f"cannot be decoded\n")


# ---- 3. --lib and a derivation file's lib ----------------------------------------------------------
def test_lib_refuses_a_fifo_before_opening_it(tmp_path):
    fifo = tmp_path / "lf.agrad"
    os.mkfifo(fifo)
    r = shell("grad", "x", "--x", "1", "--lib", str(fifo))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == f"error: --lib {fifo}: cannot read it (a pipe or a device, not a regular file)\n"


def test_lib_refuses_a_device():
    r = run("grad", "x", "--x", "1", "--lib", "/dev/zero")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr == "error: --lib /dev/zero: cannot read it (a pipe or a device, not a regular file)\n"


def test_derivation_file_lib_refuses_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "lf.agrad")
    (tmp_path / "d.toml").write_text('[[case]]\nname = "a"\nexpr = "x"\nat = { x = 1 }\nlib = "lf.agrad"\n')
    r = shell("check", "d.toml", "--json", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "lib=" in r.stdout and "lf.agrad: cannot read it (a pipe or a device, not a regular file)" in r.stdout


# ---- 4. a name in the points file's header and bound as a value ------------------------------------
def test_a_value_bound_twice_by_the_points_file_and_an_option_is_an_error(tmp_path):
    f = tmp_path / "p1.csv"
    f.write_text("x,y\n1,2\n3,4\n")
    r = run("grad", "x*y", "--pointwise", "--points", str(f), "--x", "10", "--format", "csv")
    assert r.exit_code == 2, r.output
    assert r.stderr == "error: 'x' is bound twice: in the points file's header and as a value; drop one of them\n"
    assert r.stdout == "" and "Traceback" not in r.output
    r = run("grad", "x*y*z", "--pointwise", "--points", str(f), "--z", "10", "--format", "csv")
    assert r.exit_code == 0 and r.stdout.splitlines()[1].startswith("1.0,2.0,10.0,20.0")  # another name: fine


def test_a_value_bound_twice_through_the_api_is_an_error(tmp_path):
    f = tmp_path / "p1.csv"
    f.write_text("x,y\n1,2\n3,4\n")
    for kwargs in ({"x": 1}, {"at": {"y": 1}}):
        with pytest.raises(agrad.BindingError, match="is bound twice: in the points file's header") as e:
            agrad.pointwise("x*y", points=f, **kwargs)
        assert e.value.kind == "binding"


# ---- 5. an empty output file name ------------------------------------------------------------------
@pytest.mark.parametrize("args, option", [
    (["grad", "x", "--x", "1", "--save", ""], "--save"),
    (["grad", "x", "--x", "1", "--dot", ""], "--dot"),
    (["grad", "x", "--x", "1", "--graph-file", ""], "--graph-file"),
    (["grad", "x", "--x", "[1, 2]", "--pointwise", "--plot-file", ""], "--plot-file"),
    (["descend", "x**2", "--x", "1", "--wrt", "x", "--save", ""], "--save"),
    (["descend", "x**2", "--x", "1", "--wrt", "x", "--plot-file", ""], "--plot-file"),
])
def test_an_empty_output_file_name_is_a_usage_error(args, option):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[-1] == f"Error: Invalid value for '{option}': the file name is empty; give a file to write"
    assert r.stdout == "" and "Traceback" not in r.output


def test_an_empty_junit_file_name_is_a_usage_error(tmp_path):
    f = tmp_path / "ok.toml"
    f.write_text('[[case]]\nname = "a"\nexpr = "x"\nat = { x = 1 }\n')
    r = run("check", str(f), "--junit", "")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[-1] == "Error: Invalid value for '--junit': the file name is empty; give a file to write"
    assert r.stdout == ""


# ---- 6. a directory that exists but takes no new file ----------------------------------------------
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_directory_that_takes_no_new_file_is_not_called_missing(tmp_path):
    r = run("grad", "x", "--x", "1", "--save", "/proc/x")
    assert r.exit_code == 2, r.output
    assert r.stderr == "error: cannot write '/proc/x': no file can be created in '/proc' (no such file or directory)\n"
    r = run("grad", "x", "--x", "1", "--save", "/proc/self/status", "--force")
    assert r.exit_code == 2, r.output
    assert r.stderr == ("error: cannot write '/proc/self/status': no file can be created in '/proc/self' "
                        "(no such file or directory)\n")
    r = run("grad", "x", "--x", "1", "--save", str(tmp_path / "missing" / "x.npz"))  # a missing one still is
    assert r.exit_code == 2 and r.stderr.endswith(": its directory does not exist\n")


def test_points_header_names_follow_the_language(tmp_path):
    # 'ℌ' is a Python identifier, but no expression can use it (parser.is_name, as for bound names)
    p = tmp_path / "p.csv"
    p.write_text("ℌ,y\n1,2\n", encoding="utf-8")
    r = run("grad", "y*2", "--pointwise", "--points", str(p), "--format", "csv")
    assert r.exit_code == 2
    assert r.stderr == f"error: {p}: the header must name variables, and 'ℌ' is not a name (line 1)\n"
