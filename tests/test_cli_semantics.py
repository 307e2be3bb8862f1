"""PyTorch autograd semantics, visible from the command line (accumulation, retain_graph,
seeds, dtypes, detach, graph facts, saved memory and --fuse)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from agrad.cli.main import cli

A_X = ["A @ (x*x)", "--x", "[1,2]", "--A", "[2,3]", "--wrt", "x"]


def run(*args):
    return CliRunner().invoke(cli, ["grad", *args])


def js(*args):
    r = run(*args, "--json")
    return r, json.loads(r.stdout)


def test_repeat_accumulates_like_grad():
    r, d = js("(x1**2+2*x2)**2", "--x1", "2", "--x2", "3", "--repeat", "2")
    assert r.exit_code == 0
    assert d["gradients"] == {"x1": 160.0, "x2": 80.0}
    assert [p["gradients"] for p in d["passes"]] == [{"x1": 80.0, "x2": 40.0}, {"x1": 160.0, "x2": 80.0}]
    assert [p["forward"] for p in d["passes"]] == [1, 2]
    assert d["derivatives"] == {"x1": 80.0, "x2": 40.0}  # the derivative itself does not accumulate


def test_second_backward_needs_retain_graph():
    r = run(*A_X, "--backward", "2")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: trying to backward through the graph a second time")
    assert "--retain-graph" in r.stderr and "Traceback" not in r.output


def test_retain_graph_shows_accumulation_per_pass():
    r, d = js(*A_X, "--backward", "3", "--retain-graph")
    assert [p["gradients"]["x"] for p in d["passes"]] == [[4.0, 12.0], [8.0, 24.0], [12.0, 36.0]]
    assert d["gradients"]["x"] == [12.0, 36.0]
    # non-leaf gradients are shown per pass too: x*x receives A = [2, 3] every pass
    xx = [n["index"] for n in d["intermediates"] if n["expr"] == "(x*x)"][0]
    assert [p["intermediates"][str(xx)] for p in d["passes"]] == [[2.0, 3.0]] * 3
    table = run(*A_X, "--backward", "3", "--retain-graph").stdout
    assert "│    3 │       1 │ [12, 36] │           [2, 3] │                    1 │" in table
    assert "(x*x) (non-leaf)" in table


def test_zero_grad_clears_before_each_pass():
    r, d = js(*A_X, "--backward", "3", "--retain-graph", "--zero-grad")
    assert [p["gradients"]["x"] for p in d["passes"]] == [[4.0, 12.0]] * 3


def test_grad_output_seeds_a_vector_output():
    r, d = js("w*w + 2*w + 1", "--w", "[1,2,3]", "--grad-output", "ones")
    assert d["gradients"]["w"] == [4.0, 6.0, 8.0] and d["check"]["status"] == "ok"
    r, d = js("w*w + 2*w + 1", "--w", "[1,2,3]", "--grad-output", "[1, 0, 2]")
    assert d["gradients"]["w"] == [4.0, 0.0, 16.0] and d["check"]["status"] == "ok"
    r = run("w*w", "--w", "[1,2,3]", "--grad-output", "[1, 2]")
    assert r.exit_code == 2 and "does not broadcast" in r.stderr


def test_jacobian_of_a_vector_output_checked_against_sympy():
    r, d = js("w*w + 2*w[0]", "--w", "[1,2,3]", "--jacobian")
    assert r.exit_code == 0
    assert d["derivatives"]["w"] == [[4.0, 0.0, 0.0], [2.0, 4.0, 0.0], [2.0, 0.0, 6.0]]
    assert d["check"]["status"] == "ok" and d["check"]["derivatives"]["w"]["verdict"] == "ok"


@pytest.mark.parametrize("dtype, kind", [("float32", "f"), ("float16", "f")])
def test_lower_precision_dtypes_use_scaled_tolerances(dtype, kind):
    r, d = js("exp(sin(x))*x", "--x", "0.3", "--dtype", dtype)
    assert r.exit_code == 0 and d["dtype"] == dtype and d["check"]["status"] == "ok"
    eps = float(np.finfo(dtype).eps)
    assert d["check"]["rtol"] == pytest.approx(eps ** 0.6)
    table = run("exp(sin(x))*x", "--x", "0.3", "--dtype", dtype).stdout
    assert f"rtol {eps ** 0.6:.2g}" in table and dtype in table


def test_integer_dtype_cannot_require_gradients():
    r = run("(x1**2+2*x2)**2", "--x1", "2", "--x2", "3", "--dtype", "int64")
    assert r.exit_code == 2
    assert "only floating point values can require gradients" in r.stderr


def test_detach_in_table_and_json():
    r, d = js("u = detach(x*x); z = u*x; sum(z)", "--x", "[0,1,2,3]")
    assert d["gradients"]["x"] == [0.0, 1.0, 4.0, 9.0] and d["check"]["status"] == "ok"
    u = [n for n in d["intermediates"] if n["name"] == "u"][0]
    assert u["detached"] and not u["requires_grad"] and u["grad"] is None and u["grad_fn"] is None
    assert "detached" in run("u = detach(x*x); sum(u*x)", "--x", "[0,1,2,3]").stdout


def test_graph_facts_as_pytorch_shows_them():
    r, d = js("(x1**2+2*x2)**2", "--x1", "2", "--x2", "3")
    by_expr = {n["expr"]: n for n in d["intermediates"]}
    x1 = by_expr["x1"]
    assert (x1["is_leaf"], x1["requires_grad"], x1["grad_fn"]) == (True, True, None)
    top = by_expr["(x1**2+2*x2)**2"]
    assert (top["is_leaf"], top["grad_fn"]) == (False, "PowBackward0")
    assert [d["intermediates"][i]["expr"] for i in top["next"]] == ["(x1**2+2*x2)", "2"]


def test_graph_tree_and_dot(tmp_path):
    dot = tmp_path / "g.dot"
    r = run("(x1**2+2*x2)**2", "--x1", "2", "--x2", "3", "--graph", "--dot", str(dot), "--no-check")
    assert r.exit_code == 0
    assert "#8 PowBackward0: (x1**2+2*x2)**2 = 100, grad 1" in r.stdout
    assert "#0 leaf: x1 = 2, grad 80" in r.stdout
    text = dot.read_text()
    assert text.startswith("digraph agrad {") and text.rstrip().endswith("}")
    assert 'n0 [label="{x1 | leaf | value 2 | grad 80}"];' in text
    assert text.count("->") == 8  # every input edge of the 9-node graph


def test_saved_values_and_fuse():
    src = ["sum(exp(sin(x))*2 + 1)", "--x", "[0.1, 0.5, 2]"]
    r, plain = js(*src)
    r, fused = js(*src, "--fuse")
    assert fused["gradients"] == plain["gradients"] and fused["check"]["status"] == "ok"
    assert plain["saved"] == {"values": 3, "bytes": 56}
    assert fused["saved"] == {"values": 1, "bytes": 24, "unfused_values": 3, "unfused_bytes": 56}
    assert [n["op"] for n in fused["intermediates"]][3] == "FusedBackward0[sin→exp→mul→add]"
    assert "saved for backward: 1 values, 24 bytes (unfused: 3 values, 56 bytes)" in run(*src, "--fuse").stdout


def test_fused_graph_supports_higher_orders():
    r, a = js("t = tanh(sigmoid(x)*3); t*y", "--x", "0.3", "--y", "2", "--order", "2")
    r, b = js("t = tanh(sigmoid(x)*3); t*y", "--x", "0.3", "--y", "2", "--order", "2", "--fuse")
    assert b["check"]["status"] == "ok"
    for k in a["derivatives"]:
        assert b["derivatives"][k] == pytest.approx(a["derivatives"][k], rel=1e-14)


def test_a_long_run_of_passes_is_elided_in_the_table_and_the_json_unless_full():
    import json
    import re

    from click.testing import CliRunner

    from agrad.cli.main import cli

    args = ["grad", "x*x", "--x", "2", "--repeat", "300", "--backward", "4", "--retain-graph"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0 and "(1,050 more passes)" in r.stdout
    shown = re.findall(r"^│\s+(\d+)\s+│", r.stdout.split("passes:")[1], flags=re.M)
    assert shown[:2] == ["1", "2"] and shown[99] == "100" and shown[-1] == "1200" and len(shown) == 150
    d = json.loads(CliRunner().invoke(cli, args + ["--json"]).stdout)
    assert len(d["passes"]) == 1000 and d["passes_omitted"]["count"] == 200
    assert [p["pass"] for p in d["passes"][499:501]] == [500, 701]
    assert d["gradients"]["x"] == 4 * 1200  # every pass still ran and accumulated
    full = json.loads(CliRunner().invoke(cli, args + ["--json", "--full"]).stdout)
    assert len(full["passes"]) == 1200 and "passes_omitted" not in full
