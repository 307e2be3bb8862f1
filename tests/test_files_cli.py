"""Files the commands write: never replaced silently, written whole or not at all, errors as one line."""
import numpy as np
import pytest
from click.testing import CliRunner

from agrad.cli.main import cli


def _refused(stderr, path) -> str:
    """The reason in "error: cannot write 'PATH': REASON" (a long PATH is shortened with … in the middle)."""
    assert stderr.startswith("error: cannot write '") and stderr.endswith("\n") and stderr.count("\n") == 1
    shown, reason = stderr[len("error: cannot write '"):-1].split("': ", 1)
    assert shown == str(path) or (shown.split("…")[0] in str(path) and str(path).endswith(shown.split("…")[1]))
    return reason


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("option", ["--save", "--dot"])
def test_an_existing_file_is_kept_without_force_and_replaced_with_it(tmp_path, option):
    path = tmp_path / ("out.npz" if option == "--save" else "g.dot")
    path.write_bytes(b"precious")
    r = run("grad", "x*x", "--x", "3", option, path)
    assert r.exit_code == 2
    assert _refused(r.stderr, path) == "the file exists; pass --force to replace it"
    assert r.stdout == "" and path.read_bytes() == b"precious"  # refused before anything was printed
    r = run("grad", "x*x", "--x", "3", option, path, "--force")
    assert r.exit_code == 0
    if option == "--save":
        assert float(np.load(path)["grad/x"]) == 6.0
    else:
        assert path.read_text().startswith("digraph agrad {")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left behind


def test_junit_refuses_an_existing_report_before_the_run(tmp_path):
    toml = tmp_path / "d.toml"
    toml.write_text('[[case]]\nname = "a"\nexpr = "x*x"\nat = { x = 3 }\nexpect = { x = 6 }\n')
    report = tmp_path / "report.xml"
    report.write_text("old")
    r = run("check", toml, "--junit", report)
    assert r.exit_code == 2 and "pass" not in r.stdout
    assert _refused(r.stderr, report) == "the file exists; pass --force to replace it"
    r = run("check", toml, "--junit", report, "--force")
    assert r.exit_code == 0 and report.read_text().startswith('<?xml version="1.0" encoding="utf-8"?>')


def test_descend_save_and_a_missing_directory(tmp_path):
    path = tmp_path / "traj.npz"
    r = run("descend", "x*x", "--x", "1", "--lr", "0.1", "--steps", "3", "--no-check", "--save", path)
    losses, x = [], 1.0
    for _ in range(3):  # SGD as torch writes it: p.add_(grad, alpha=-lr)
        losses.append(x * x)
        x = x + (-0.1) * (2 * x)
    assert r.exit_code == 0 and np.load(path)["loss"].tolist() == losses
    r = run("descend", "x*x", "--x", "1", "--lr", "0.1", "--steps", "3", "--no-check", "--save", path)
    assert r.exit_code == 2 and "the file exists; pass --force to replace it" in r.stderr
    missing = tmp_path / "nope" / "traj.npz"
    r = run("grad", "x*x", "--x", "3", "--save", missing)
    assert r.exit_code == 2 and _refused(r.stderr, missing)
    assert "Traceback" not in r.output
