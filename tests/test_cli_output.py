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
