"""Pictures: the graph as Mermaid (exact text) and as SVG through Graphviz, LaTeX (exact text,
balanced braces), f and f' plotted in 80 columns and to a PNG file."""
import json
import shutil
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

import agrad
from agrad.cli.main import cli

SEED = ("(x1**2 + 2*x2)**2", "--x1", "2", "--x2", "3")


def run(*args):
    return CliRunner().invoke(cli, list(args))


MERMAID = """\
flowchart LR
  n0["x1<br/>value 2, grad 80"]
  n1["2<br/>value 2"]
  n2(("z2 = x1**2<br/>PowBackward0<br/>value 4, grad 20"))
  n3["2<br/>value 2"]
  n4["x2<br/>value 3, grad 40"]
  n5(("z5 = 2*x2<br/>MulBackward0<br/>value 6, grad 20"))
  n6(("z6 = (x1**2 + 2*x2)<br/>AddBackward0<br/>value 10, grad 20"))
  n7["2<br/>value 2"]
  n8(("y = (x1**2 + 2*x2)**2<br/>PowBackward0<br/>value 100, grad 1"))
  n0 -->|"∂z2/∂x1 = 2*x1 = 4"| n2
  n1 --> n2
  n3 --> n5
  n4 -->|"∂z5/∂x2 = 2"| n5
  n2 -->|"∂z6/∂z2 = 1"| n6
  n5 -->|"∂z6/∂z5 = 1"| n6
  n6 -->|"∂y/∂z6 = 2*z6 = 20"| n8
  n7 --> n8
"""


def test_mermaid_exact():
    r = run("grad", *SEED, "--explain", "--format", "mermaid")
    assert r.exit_code == 0 and r.stdout == MERMAID


def test_mermaid_escapes_quotes_and_angle_brackets():
    r = run("grad", "maximum(x, 1)", "--x", "2", "--format", "mermaid")
    assert r.exit_code == 0 and '"' not in r.stdout.replace('["', "").replace('"]', "").replace('(("', "").replace(
        '"))', "")


LATEX = r"""\begin{aligned}
y &= \left(x_{1}^{2} + 2 x_{2}\right)^{2} = 100 \\
\frac{\partial y}{\partial x_{1}} &= 4 x_{1} \left(x_{1}^{2} + 2 x_{2}\right) = 80 \\
\frac{\partial y}{\partial x_{2}} &= 4 x_{1}^{2} + 8 x_{2} = 40
\end{aligned}

\begin{aligned}
\frac{\partial z_{2}}{\partial x_{1}} &= 2 x_{1} = 4 \\
\frac{\partial z_{5}}{\partial x_{2}} &= 2 \\
\frac{\partial z_{6}}{\partial z_{2}} &= 1 \\
\frac{\partial z_{6}}{\partial z_{5}} &= 1 \\
\frac{\partial y}{\partial z_{6}} &= 2 z_{6} = 20 \\
\frac{\partial y}{\partial x_{1}} &= \frac{\partial y}{\partial z_{6}} \cdot \frac{\partial z_{6}}{\partial z_{2}} \cdot \frac{\partial z_{2}}{\partial x_{1}} = 20 \cdot 1 \cdot 4 = 80 \\
\frac{\partial y}{\partial x_{2}} &= \frac{\partial y}{\partial z_{6}} \cdot \frac{\partial z_{6}}{\partial z_{5}} \cdot \frac{\partial z_{5}}{\partial x_{2}} = 20 \cdot 1 \cdot 2 = 40
\end{aligned}
"""


def balanced(text: str) -> bool:
    depth = 0
    for ch in text.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0 and text.count(r"\begin{aligned}") == text.count(r"\end{aligned}")


def test_latex_exact_and_balanced():
    r = run("grad", *SEED, "--explain", "--format", "latex")
    assert r.exit_code == 0 and r.stdout == LATEX and balanced(r.stdout)
    plain = run("grad", *SEED, "--format", "latex").stdout
    assert plain == LATEX.split("\n\n")[0] + "\n" and balanced(plain)


def test_latex_of_vectors_and_small_numbers_balances():
    r = agrad.grad("sum(w*w)*1e-7", w=[1.0, 2.5], latex=True)
    assert balanced(r.latex) and r"\times 10^{-7}" in r.latex and r"\begin{pmatrix}" in r.latex
    assert not balanced(r.latex + "}") and not balanced("{" + r.latex)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed "
                                                       "(apt-get install graphviz; CI installs it)")
def test_graph_file_svg_holds_values_and_gradients(tmp_path):
    path = tmp_path / "graph.svg"
    r = run("grad", *SEED, "--explain", "--graph-file", str(path), "--format", "plain")
    assert r.exit_code == 0, r.output
    texts = [e.text for e in ET.parse(path).iter("{http://www.w3.org/2000/svg}text")]
    for t in ("x1**2", "value 100", "value 10", "value 4", "grad 80", "grad 40", "grad 20",
              "∂y/∂z6 = 2*z6 = 20", "∂z2/∂x1 = 2*x1 = 4"):
        assert t in texts, t


def test_graph_file_without_dot(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    r = run("grad", *SEED, "--graph-file", str(tmp_path / "g.svg"))
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: drawing the graph needs Graphviz's dot program, which is not installed: "
                                "apt-get install graphviz (Debian/Ubuntu) or brew install graphviz (macOS) "
                                "(or write the DOT text with --dot)")


def test_graph_file_bad_suffix(tmp_path):
    r = run("grad", *SEED, "--graph-file", str(tmp_path / "g.gif"))
    assert r.exit_code == 2 and "the graph file must end in .svg or .png" in r.stderr


def test_terminal_plot_fits_80_columns():
    r = run("grad", "abs(x)*x + sin(x)", "--x", "linspace(-3, 3, 201)", "--pointwise", "--plot", "--order", "2")
    assert r.exit_code == 0, r.output
    plot = r.stdout[r.stdout.rindex("f = abs(x)*x"):]
    lines = plot.splitlines()
    assert len(lines) >= 15 and max(len(line) for line in lines) <= 80
    assert "∂f/∂x" in plot and "∂²f/∂x∂x" in plot and "kink / undefined" in plot


def test_plot_needs_one_varying_variable():
    r = run("grad", "x*y", "--x", "[1, 2]", "--y", "[3, 4]", "--pointwise", "--plot")
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: a plot draws f over one varying variable; varying: x, y"


def test_plot_file_png(tmp_path):
    import matplotlib  # noqa: F401  in the test extra: a broken install fails here, not skips
    path = tmp_path / "f.png"
    r = run("grad", "sin(x)*x", "--x", "linspace(0, 6.28, 500)", "--pointwise", "--plot-file", str(path),
            "--format", "csv")
    assert r.exit_code == 0, r.output
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (800, 500)


def test_options_pointwise_cannot_honour_are_refused_and_the_others_pass_through():
    r = CliRunner().invoke(cli, ["grad", "sin(x)", "--x", "[1,2]", "--pointwise", "--expect", "x=1"])
    assert r.exit_code == 2
    assert r.stderr == ("error: --pointwise does not take --expect: it gives f and its first or second derivatives "
                        "at every point\n")
    a = CliRunner().invoke(cli, ["grad", "sin(x)", "--x", "rand(3)", "--seed", "1", "--pointwise", "--json"])
    b = CliRunner().invoke(cli, ["grad", "sin(x)", "--x", "rand(3)", "--seed", "1", "--pointwise", "--json"])
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert da["variables"] == db["variables"] and da["value"] == db["value"] and da["random_seed"] == 1
    assert da["variables"]["x"] == np.random.default_rng(1).random(3).tolist()


def test_a_graph_file_that_cannot_be_written_stops_the_run_before_printing(tmp_path):
    target = tmp_path / "g.svg"
    target.write_text("old")
    r = CliRunner().invoke(cli, ["grad", "x*x", "--x", "2", "--graph-file", str(target), "--json"])
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error"]["type"] == "file"  # one JSON object: the error, nothing before it
    assert target.read_text() == "old"


@pytest.mark.parametrize("args, message", [
    (["--paths", "3"], "error: --paths goes with --explain\n"),
    (["--plot"], "error: --plot goes with --pointwise\n"),
])
def test_an_option_that_needs_another_says_so(args, message):
    r = CliRunner().invoke(cli, ["grad", "x*x", "--x", "1", *args])
    assert r.exit_code == 2 and r.stderr == message
