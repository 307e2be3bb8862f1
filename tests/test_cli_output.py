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
