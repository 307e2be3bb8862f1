"""agrad check and --expect: claims, failures that name what differs, malformed files, JUnit."""
import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from agrad.cli.main import cli
from agrad.core.claims import parse_claims


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
    assert d["summary"] == {"cases": 3, "passed": 1, "failed": 2, "skipped": 0, "file_errors": [],
                            "seconds": d["summary"]["seconds"]}


@pytest.mark.parametrize("text, message", [
    ('[[case]]\nname = "a"\nexpr = "x"\nat = { x = 1 \n', "d.toml:4: not valid TOML"),
    ('[[case]]\nname = "a"\nexpr = "x"\n\n[[case]]\nname = "b"\nexr = "x"\n', "d.toml:5: case 'b': unknown key 'exr'"),
    ('[[case]]\nname = "a"\nat = { x = 1 }\n', "d.toml:1: case 'a': missing 'expr'"),
    ('[[case]]\nname = "a"\nexpr = "x"\norder = "2"\n', "d.toml:1: case 'a': 'order' should be an integer, not str"),
    ('title = "x"\n', "no [[case]] tables"),
])
def test_malformed_files_exit_2_and_name_the_line(tmp_path, text, message):
    r = run("check", str(write(tmp_path, text)))
    assert r.exit_code == 2
    assert message in r.stderr


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
