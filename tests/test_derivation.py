"""agrad check and --expect: claims, failures that name what differs, malformed files, JUnit."""
import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from agrad.cli.main import cli
from agrad.claims import parse_claims


def run(*args):
    return CliRunner().invoke(cli, list(args))


def write(tmp_path, text, name="d.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = '''
[[case]]
name = "classic"
expr = "(x1**2 + 2*x2)**2"
at = { x1 = 2, x2 = 3 }
expect = { x1 = 80, x2 = "4*(x1**2 + 2*x2)" }
'''

WRONG = '''
[[case]]
name = "right"
expr = "x**3"
at = { x = 2 }
expect = { x = 12 }

[[case]]
name = "wrong number"
expr = "x**3"
at = { x = 2 }
expect = { x = 13 }

[[case]]
name = "wrong formula"
expr = "sin(x)**2"
at = { x = 0.5 }
expect = { x = "2*sin(x)" }
'''


def test_a_good_file_passes(tmp_path):
    r = run("check", str(write(tmp_path, GOOD)))
    assert r.exit_code == 0
    assert "pass" in r.stdout and "classic" in r.stdout


def test_wrong_claims_fail_with_exit_1_and_say_where(tmp_path):
    r = run("check", str(write(tmp_path, WRONG)))
    assert r.exit_code == 1
    out = r.stdout
    assert "FAIL    wrong number" in out and "FAIL    wrong formula" in out and "pass    right" in out
    assert "d/x: claimed 13.0, but the derivative is 12.0" in out
    # a formula claim is explained by SymPy: claim - derivative, simplified
    assert "claim - derivative simplifies to 2*(1 - cos(x))*sin(x)" in out


def test_check_keeps_going_and_reports_all_in_json(tmp_path):
    r = run("check", str(write(tmp_path, WRONG)), "--json")
    d = json.loads(r.stdout)
    assert [c["status"] for c in d["cases"]] == ["pass", "FAIL", "FAIL"]
    claim = d["cases"][1]["points"][0]["claims"]["x"]
    assert claim["claimed_value"] == 13.0 and claim["actual"] == 12.0 and claim["ok"] is False
    assert d["summary"] == {"cases": 3, "passed": 1, "failed": 2, "skipped": 0, "errors": 0, "file_errors": [],
                            "seconds": d["summary"]["seconds"], "ok": False}


@pytest.mark.parametrize("text, message", [
    ('[[case]]\nname = "a"\nexpr = "x"\nat = { x = 1 \n', "d.toml:4: not valid TOML"),
    ('title = "x"\n', "no [[case]] tables"),
])
def test_malformed_files_exit_2_and_name_the_line(tmp_path, text, message):
    r = run("check", str(write(tmp_path, text)))
    assert r.exit_code == 2
    assert message in r.stderr


GOOD_CASE = '[[case]]\nname = "fine"\nexpr = "x*x"\nat = { x = 3 }\nexpect = { x = 6 }\n\n'


@pytest.mark.parametrize("broken, message", [
    ('[[case]]\nname = "b"\nexr = "x"\n', "unknown key 'exr' in case 'b' (did you mean 'expr'?)"),
    ('[[case]]\nname = "b"\nat = { x = 1 }\n', "case 'b': missing 'expr'"),
    ('[[case]]\nname = "b"\nexpr = "x"\norder = "2"\n', "case 'b': 'order' should be an integer, not str"),
    ('[[case]]\nname = "b"\nexpr = "x"\nat = { x = 1 }\norder = -5\n',
     "at x=1: error (usage): order= must be between 1 and 30, got -5"),
    ('[[case]]\nname = "b"\nexpr = "x"\nat = { x = 1 }\nwrt = ["y"]\n',
     "at x=1: error (name): wrt= names 'y', which has no value; bound: x"),
    ('[[case]]\nname = "b"\nexpr = "x"\nat = { x = 1 }\nexpect = { x = "1 +* 2" }\n',
     "at x=1: error (claim): the claim for x is not a number, list or formula: unexpected '*'"),
    ('[[case]]\nname = "b"\nexpr = "x"\nat = { x = [1, [2]] }\n',
     "at x=[1, [2]]: error (binding): [1, [2]] is not a number or a rectangular list of numbers"),
    ('[[case]]\nname = "b"\nexpr = "x"\nat = { x = 1 }\ndtype = "complex"\n',
     "at x=1: error (usage): unknown dtype 'complex'"),
])
def test_a_broken_case_is_an_error_and_every_other_case_still_runs(tmp_path, broken, message):
    path = write(tmp_path, GOOD_CASE + broken + "\n" + GOOD_CASE.replace("fine", "also fine"))
    r = run("check", str(path), "--json")
    assert r.exit_code == 2
    d = json.loads(r.stdout)
    assert [c["status"] for c in d["cases"]] == ["pass", "error", "pass"]
    assert message in d["cases"][1]["messages"][0]
    assert d["summary"]["errors"] == 1 and d["ok"] is False
    table = run("check", str(path))
    assert table.exit_code == 2 and "error   b" in table.stdout and message in table.stdout


def test_a_directory_without_toml_files_is_an_error(tmp_path):
    r = run("check", str(tmp_path))
    assert r.exit_code == 2
    assert r.stderr == f"error: {tmp_path}: no .toml files in this directory\n"


def test_junit_report_has_one_testcase_per_case(tmp_path):
    report = tmp_path / "report.xml"
    r = run("check", str(write(tmp_path, WRONG)), "--junit", str(report))
    assert r.exit_code == 1
    root = ET.parse(report).getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["right", "wrong number", "wrong formula"]
    assert [c.find("failure") is not None for c in cases] == [False, True, True]
    assert root.find("testsuite").get("failures") == "2"


def test_directories_are_searched_for_toml(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", GOOD, "a.toml")
    write(tmp_path, GOOD, "b.toml")
    d = json.loads(run("check", str(tmp_path), "--json").stdout)
    assert len(d["cases"]) == 2 and d["ok"] is True


@pytest.mark.parametrize("text, claims", [
    ("x1=80,x2=40", {"x1": "80", "x2": "40"}),
    ("x1: 4*x1*(x1**2 + 2*x2)", {"x1": "4*x1*(x1**2 + 2*x2)"}),
    ("x1,x2=16, w=[4, 6, 8]", {"x1,x2": "16", "w": "[4, 6, 8]"}),
    ("w: pow(w, 2)[1:]", {"w": "pow(w, 2)[1:]"}),
])
def test_expect_syntax(text, claims):
    assert parse_claims(text) == claims


def grad(*args):
    return CliRunner().invoke(cli, ["grad", *args])


def test_expect_right_and_wrong_claims():
    r = grad("(x1**2 + 2*x2)**2", "--x1", "2", "--x2", "3", "--expect", "x2=40",
             "--expect", "x1: 4*x1*(x1**2 + 2*x2)", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True
    r = grad("(x1**2 + 2*x2)**2", "--x1", "2", "--x2", "3", "--expect", "x1=80,x2=41")
    assert r.exit_code == 1
    assert "∂y/∂x2: claimed 41.0, but the derivative is 40.0" in r.stdout


def test_expect_formula_that_fails_is_explained():
    r = grad("sin(x)**2", "--x", "0.5", "--expect", "x: 2*sin(x)", "--json")
    d = json.loads(r.stdout)
    assert r.exit_code == 1 and d["ok"] is False
    assert d["expect"]["x"]["detail"].endswith("claim - derivative simplifies to 2*(1 - cos(x))*sin(x)")


def test_expect_a_mixed_partial_raises_the_order():
    r = grad("(x1**2 + 2*x2)**2", "--x1", "2", "--x2", "3", "--expect", "x1,x2=16", "--json")
    d = json.loads(r.stdout)
    assert r.exit_code == 0 and d["order"] == 2 and d["expect"]["x1,x2"]["ok"]


def test_three_way_verdict_names_who_agrees():
    r = grad("x**3 + y", "--x", "2", "--y", "1", "--json")
    items = json.loads(r.stdout)["check"]["derivatives"]
    assert items["x"]["note"] == "AD, SymPy and finite differences agree"
    assert items["x"]["fd"] == pytest.approx(12.0, rel=1e-8)


def test_kink_shows_left_and_right_derivatives():
    r = grad("relu(x)", "--x", "0", "--json")
    item = json.loads(r.stdout)["check"]["derivatives"]["x"]
    assert r.exit_code == 0 and item["verdict"] == "kink"
    assert "left derivative 0, right derivative 1" in item["note"]


def test_point_ill_conditioned_for_differences_is_named():
    # AD and SymPy agree; central differences with gradcheck's step cannot follow sin(1e4 x)
    r = grad("sin(1e4 * x)", "--x", "0.3", "--json")
    item = json.loads(r.stdout)["check"]["derivatives"]["x"]
    assert r.exit_code == 0 and item["verdict"] == "ok"
    assert item["note"].startswith("AD and SymPy agree, finite differences do not: the point is likely ill-conditioned")


def test_point_ill_conditioned_for_float64_is_not_a_failure():
    # 1e8 * 0.3 rounds in float64, and cos amplifies it: AD (like PyTorch) differs from the exact
    # derivative at the float point by 4e-9 relative, but matches the formula evaluated in float64
    r = grad("sin(1e8 * x)", "--x", "0.3", "--json")
    item = json.loads(r.stdout)["check"]["derivatives"]["x"]
    assert r.exit_code == 0 and item["verdict"] == "ok"
    assert item["note"].startswith("ill-conditioned point: AD agrees with SymPy's formula evaluated in float64")


def test_when_sympy_is_skipped_differences_still_verify():
    src = "+".join(["x*y"] * 4000)
    r = grad(src, "--x", "2", "--y", "3", "--json")
    d = json.loads(r.stdout)
    assert d["check"]["status"] == "skipped" and "nodes" in d["check"]["reason"]
    assert d["check"]["derivatives"]["x"]["note"] == "AD and finite differences agree (SymPy skipped)"


def gc(*args):
    return CliRunner().invoke(cli, ["gradcheck", *args])


def test_gradcheck_passes_with_pytorch_defaults():
    r = gc("sigmoid(x)", "--x", "[[0.1, -2], [3, 0.5]]", "--json")
    d = json.loads(r.stdout)
    assert r.exit_code == 0 and d["ok"] and (d["eps"], d["atol"], d["rtol"]) == (1e-6, 1e-5, 1e-3)
    (block,) = d["blocks"]
    assert len(block["analytical"]) == 2 and len(block["analytical"][0][0]) == 2  # a (2,2,2,2) Jacobian


def test_gradcheck_failure_prints_both_jacobians_marking_the_difference():
    r = gc("x**3", "--x", "2", "--eps", "0.1", "--rtol", "1e-6", "--atol", "1e-6")
    assert r.exit_code == 1
    assert "│ ()    │     12.01 │         12 │      1.0e-02 │ ✗ │" in r.stdout
    assert "gradcheck failed: 1 entries differ" in r.stdout


def test_gradgradcheck_order_2():
    r = gc("sum(x**3 * y)", "--x", "[1, 2]", "--y", "0.5", "--order", "2", "--json")
    d = json.loads(r.stdout)
    assert r.exit_code == 0 and d["ok"] and d["order"] == 2
    blocks = {(b["of"], b["wrt"]): b for b in d["blocks"]}
    assert blocks[("d/dx", "x")]["analytical"] == [[3.0, 0.0], [0.0, 6.0]]
    assert blocks[("d/dx", "y")]["analytical"] == [3.0, 12.0]


def test_graph_expectations_can_fail(tmp_path):
    text = '''
[[case]]
name = "graph facts"
expr = "z = x * 2; sum(exp(sin(z)))"
at = { x = [0.1, 0.2] }
fuse = true
expect_grad_fn = { z = "AddBackward0", output = "SumBackward0" }
expect_saved = { values = 7 }
'''
    d = json.loads(run("check", str(write(tmp_path, text)), "--json").stdout)
    (case,) = d["cases"]
    assert case["status"] == "FAIL"
    assert case["messages"] == ["at x=[0.1, 0.2]: grad_fn of z: expected AddBackward0, got MulBackward0",
                                "at x=[0.1, 0.2]: saved values: expected 7, got 2"]


@pytest.mark.parametrize("case, message", [
    ('expr = "cos(x)"\nat = { x = 1 }\nexpect = { x = "cos(" }', "error (claim): the claim for x is not a number, list or formula"),
    ('expr = "cos(x)"\nat = { x = 1 }\nexpect = { x = "cosx" }', "error (claim): the claim for x uses 'cosx', which has no value"),
    ('expr = "x*x"\nat = { x = 1 }\nexpect = { xx = 4 }', "error (claim): the claim names the derivative 'xx', which was not computed"),
    ('expr = "sum(w*w)"\nat = { w = "ones(2, 2)" }\nexpect = { w = [[4.5], [4.5, 4.5]] }',
     "error (binding): [[4.5], [4.5, 4.5]] is not a number or a rectangular list of numbers"),
    ('expr = "(x1**2 + 2*x2)**2"\nat = { x1 = 2, x2 = 3 }\nrepeat = 2\nexpect_passes = [{ x1 = [1, 2, 3], x2 = 40 }]',
     "pass 1: x1: expected [1, 2, 3], got 80.0"),
])
def test_what_the_fuzzer_found_in_a_case_stays_in_that_case(tmp_path, case, message):
    path = write(tmp_path, GOOD_CASE + '[[case]]\nname = "b"\n' + case + "\n")
    for extra in ([], ["--no-sympy"]):
        d = json.loads(run("check", str(path), "--json", *extra).stdout)
        assert [c["status"] for c in d["cases"]][0] == "pass"
        assert any(message in m for m in d["cases"][1]["messages"]), d["cases"][1]["messages"]


def test_a_toml_integer_too_long_to_read_is_a_file_error(tmp_path):
    path = write(tmp_path, '[[case]]\nname = "a"\nexpr = "x"\nat = { x = ' + "1" * 5000 + " }\n")
    r = run("check", str(path))
    assert r.exit_code == 2
    assert "not readable as TOML: Exceeds the limit (4300 digits) for integer string conversion" in r.stderr
