"""Node rows built when read, and intermediates=False for callers (plain, csv) that print none."""
import numpy as np
from click.testing import CliRunner

import agrad
from agrad.cli import render
from agrad.cli.main import cli

SRC = "z = sin(x)*y; w = z*z + x; sum(w)"


def test_node_rows_read_like_a_list():
    r = agrad.grad(SRC, x=[0.5, 1.0], y=2.0, check=False)
    rows = r.nodes
    assert len(rows) == len(list(rows)) == 7
    assert rows[0].name == "x" and rows[0].op == "leaf" and rows[-1].op == "SumBackward0"
    assert [n.index for n in rows[2:5]] == [2, 3, 4] and isinstance(rows[2:5], list)
    assert rows[-1] is rows[len(rows) - 1] and rows == list(rows)
    assert r.output is rows[-1] and r.output.grad == 1.0
    np.testing.assert_allclose(rows[0].grad, 2 * np.cos([0.5, 1.0]) * 2 * np.sin([0.5, 1.0]) * 2 + 1)
    try:
        rows[7]
    except IndexError:
        pass
    else:
        raise AssertionError("row 7 of 7 rows exists")


def test_intermediates_off_keeps_every_derivative():
    full = agrad.grad(SRC, x=[0.5, 1.0], y=2.0, check=False, repeat=2)
    bare = agrad.grad(SRC, x=[0.5, 1.0], y=2.0, check=False, repeat=2, intermediates=False)
    assert len(bare.nodes) == 0 and all(p.intermediates == {} for p in bare.passes)
    assert len(full.nodes) == 7 and full.passes[0].intermediates
    for k in full.gradients:
        np.testing.assert_array_equal(bare.gradients[k], full.gradients[k])
        np.testing.assert_array_equal(bare.passes[1].gradients[k], full.passes[1].gradients[k])
    assert bare.value == full.value and render.to_plain(bare) == render.to_plain(full)
    second = agrad.grad("x**3", x=2, order=2, check=False, intermediates=False)
    assert second.derivatives == {"x": 12.0, "x,x": 12.0}


def test_intermediates_off_still_checks_hand_written_rules():
    src = "def muladd(w, x, b) = w*x + b; backward muladd = g*x, g*w, g*w; muladd(w, x, b)"
    r = agrad.grad(src, w=2.0, x=3.0, b=1.0, intermediates=False)
    assert r.check.status == "failed" and any(i.verdict == "mismatch" for i in r.check.rules)


def test_cli_plain_and_csv_print_what_the_full_result_prints():
    full = agrad.grad(SRC, x=[0.5, 1.0], y=2.0, check=False)
    out = CliRunner().invoke(cli, ["grad", SRC, "--x", "[0.5, 1.0]", "--y", "2", "--no-check", "--format", "plain"])
    assert out.exit_code == 0 and out.stdout == render.to_plain(full)
    out = CliRunner().invoke(cli, ["grad", SRC, "--x", "[0.5, 1.0]", "--y", "2", "--no-check", "--format", "csv"])
    assert out.exit_code == 0 and out.stdout == render.to_csv(full)


def test_cli_plain_with_save_still_saves_every_node(tmp_path):
    path = tmp_path / "out.npz"
    out = CliRunner().invoke(cli, ["grad", SRC, "--x", "[0.5, 1.0]", "--y", "2", "--no-check", "--format", "plain",
                                   "--save", str(path)])
    assert out.exit_code == 0
    with np.load(path) as z:
        assert "node/3/grad" in z.files and "node/6/value" in z.files
