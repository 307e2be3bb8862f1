"""What a value, a bound name and a claim may be, the same on every route (CLI, API, derivation
files): one expression (never statements, whose last one would silently win), at least one
number, a name the language can write; a derivative claimed once."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import agrad
from agrad import AgradError, BindingError, UsageError
from agrad.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def refused(*args) -> str:
    """The one-line error (and caret) of a run that must exit 2 without a traceback."""
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert r.stderr.startswith("error: ")
    return r.stderr


def case_messages(tmp_path, toml: str) -> list:
    p = tmp_path / "cases.toml"
    p.write_text(toml)
    results = agrad.check_file(p, sympy=False)
    assert [r.status for r in results] == ["error"] * len(results)
    return [m for r in results for m in r.messages]


# ---- 1. a derivative claimed twice ------------------------------------------------------------
@pytest.mark.parametrize("claims", [["--expect", "x=7, x=6"], ["--expect", "x=7", "--expect", "x=6"],
                                    ["--expect", "x=6", "--expect", "x: 2*x"]])
def test_cli_a_derivative_claimed_twice_is_an_error(claims):
    assert refused("grad", "x*x", "--x", "3", *claims) == "error: 'x' is claimed twice\n"


@pytest.mark.parametrize("expect", ["x=7, x=6", ["x=7", "x=6"], "x,y=1, x, y=2", {"x,y": 1, "x, y": 2}])
def test_api_a_derivative_claimed_twice_is_an_error(expect):
    with pytest.raises(BindingError) as info:
        agrad.grad("x*x*y", x=3, y=1, order=2, expect=expect, check=False)
    assert info.value.kind == "claim"
    assert info.value.message in ("'x' is claimed twice", "'x,y' is claimed twice")


def test_a_claims_dict_key_is_spelled_as_the_claim_language_spells_it():
    # "x, y" in a dict (a derivation file's expect table) is the mixed partial "x,y", as in --expect "x, y=..."
    r = agrad.grad("x*x*y", x=3, y=2, expect={"x, y": 6}, check=False)
    assert list(r.expect) == ["x,y"] and r.expect["x,y"].ok


def test_derivation_file_claim_keys_that_collide_once_normalised(tmp_path):
    messages = case_messages(tmp_path, '[[case]]\nexpr = "x*y"\nat = { x = 3, y = 1 }\n'
                                       'expect = { "x,y" = 1, "x, y" = 2 }\n')
    assert messages == ["at x=3, y=1: error (claim): 'x,y' is claimed twice"]


# ---- 2. a value is one expression --------------------------------------------------------------
SECOND = "must be one expression, not several statements (the second starts here)"


@pytest.mark.parametrize("args, message", [
    (["x", "--x", "1;2"], f"error: the value of 'x' {SECOND}\n  1;2\n    ^\n"),
    (["x", "--x", "y=3; y*2"], "error: the value of 'x' must be one expression, not an assignment to 'y'\n"
                               "  y=3; y*2\n  ^\n"),
    (["x", "--x", "def f(a)=a*a; f(3)"], "error: the value of 'x' must be one expression, not a def statement\n"
                                         "  def f(a)=a*a; f(3)\n  ^^^^^\n"),
    (["x", "--x", "backward f = 1"], "error: the value of 'x' must be one expression, not a backward statement\n"
                                     "  backward f = 1\n  ^^^^^^^^^^\n"),
    (["x", "-v", "x=1;7"], f"error: the value of 'x' {SECOND}\n  1;7\n    ^\n"),
    (["x", "--x", "1\n2"], f"error: the value of 'x' {SECOND}\n  line 2: 2\n          ^\n"),
    (["x*[1,1]", "--x", "1", "--grad-output", "1;5"], f"error: the value of --grad-output {SECOND}\n  1;5\n    ^\n"),
    (["x*x", "--x", "3", "--expect", "x=6;x=7"], f"error: the claim for x {SECOND}\n  6;x=7\n    ^\n"),
    (["x*x", "--x", "3", "--expect", "x: 2*x; 7"], f"error: the claim for x {SECOND}\n  2*x; 7\n       ^\n"),
])
def test_cli_statements_in_a_value_are_an_error_with_a_caret(args, message):
    assert refused("grad", *args) == message


def test_cli_statements_in_a_value_are_kind_value_in_json():
    r = run("grad", "x", "--x", "1;2", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["type"] == "value"  # compact when piped


@pytest.mark.parametrize("value, at", [("1;2", 2), ("y=3; y*2", 0), ("def f(a)=a*a; f(3)", 0)])
def test_api_statements_in_a_value_are_an_error(value, at):
    with pytest.raises(BindingError) as info:
        agrad.grad("x", x=value, check=False)
    assert info.value.kind == "value" and info.value.message.startswith("the value of 'x' must be one expression")
    assert info.value.source == value and info.value.span[0] == at


def test_api_statements_in_a_claim_or_a_seed_are_an_error():
    with pytest.raises(BindingError, match=r"^the claim for x must be one expression, not several statements"):
        agrad.grad("x*x", x=3, expect={"x": "6;7"}, check=False)
    with pytest.raises(BindingError, match=r"^the value of 'grad_output' must be one expression"):
        agrad.grad("x*[1,1]", x=1, grad_output="1;5", check=False)


def test_derivation_file_values_and_claims_are_one_expression(tmp_path):
    messages = case_messages(tmp_path, '[[case]]\nexpr = "x*x"\nat = { x = "1;3" }\n\n'
                                       '[[case]]\nexpr = "x*x"\nat = { x = 3 }\nexpect = { x = "6;7" }\n')
    assert messages == [f"at x=1;3: error (value): the value of 'x' {SECOND}",
                        f"at x=3: error (value): the claim for x {SECOND}"]


@pytest.mark.parametrize("value, expected", [("[1,\n2]", [1.0, 2.0]), ("2 # a=1; b", 2.0), ("(1 +\n2)", 3.0),
                                             ("sum(ones(3))", 3.0)])
def test_one_expression_over_lines_or_with_a_comment_is_still_a_value(value, expected):
    r = agrad.grad("x", x=value, grad_output="ones", check=False)
    assert np.array_equal(r.value, expected)


# ---- 3. a bound name is a name of the language ---------------------------------------------------
def test_cli_a_name_the_language_cannot_write_is_refused():
    assert refused("grad", "x", "--x", "1", "-v", "ℌ=3") == (
        "error: 'ℌ' cannot be bound: a name is ASCII letters, digits and '_', and does not start with a digit\n")


@pytest.mark.parametrize("name", ["ℌ", "é", "x y", "1x", ""])
def test_api_a_name_the_language_cannot_write_is_refused(name):
    with pytest.raises(BindingError, match=r"cannot be bound: a name is ASCII letters"):
        agrad.grad("x", x=1, at={name: 3}, check=False)


def test_a_claim_key_follows_the_same_name_rule():
    assert refused("grad", "x", "--x", "1", "--expect", "ℌ=3") == (
        "error: --expect takes NAME=VALUE or NAME: FORMULA pairs separated by commas, got 'ℌ=3'\n")
    with pytest.raises(UsageError):
        agrad.grad("x", x=1, expect="ℌ=3", check=False)


# ---- 4. a malformed .npy header -----------------------------------------------------------------
def _npy_with_header(path, header: bytes):
    np.save(path, np.arange(3.0))
    data = path.read_bytes()
    size = int.from_bytes(data[8:10], "little")  # version 1.0: a 2-byte header length after the magic
    path.write_bytes(data[:10] + header.ljust(size - 1) + b"\n" + data[10 + size:])


@pytest.mark.parametrize("header", [b"{'descr': foo, 'fortran_order': False, 'shape': (3,), }",
                                    b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), "])
def test_a_malformed_npy_header_is_said_so_without_a_python_repr(tmp_path, header):
    path = tmp_path / "bad.npy"
    _npy_with_header(path, header)
    message = refused("grad", "sum(x)", "--x", f"@{path}")
    assert "is not a valid .npy file (its header is malformed" in message
    assert "object at" not in message and "<" not in message and message.count("\n") == 1


def test_a_npy_header_with_readable_reason_keeps_it(tmp_path):
    path = tmp_path / "keys.npy"
    _npy_with_header(path, b"{'descr': '<f8', 'shape': (3,), }")
    with pytest.raises(BindingError, match=r"its header is malformed: Header does not contain the correct keys"):
        agrad.grad("sum(x)", x=f"@{path}", check=False)


# ---- 5. a bound value holds at least one number -------------------------------------------------
@pytest.mark.parametrize("value, shape", [("ones(0)", "(0,)"), ("eye(0)", "(0, 0)"), ("randn(3,4,0)", "(3, 4, 0)"),
                                          ("zeros(2, 0)", "(2, 0)")])
def test_cli_an_empty_value_is_refused_as_an_empty_file_is(value, shape):
    assert refused("grad", "sum(x)", "--x", value) == f"error: the value of 'x' holds no numbers (shape {shape})\n"


@pytest.mark.parametrize("value", [np.zeros(0), np.ones((2, 0)), [], [[]]])
def test_api_an_empty_array_is_refused(value):
    with pytest.raises(BindingError, match=r"^the value of 'x' holds no numbers \(shape \("):
        agrad.grad("sum(x)", x=value, check=False)
    with pytest.raises(BindingError, match=r"^the value of 'x' holds no numbers"):
        agrad.gradcheck("sum(x)", x=value)


def test_derivation_file_empty_list_is_refused(tmp_path):
    messages = case_messages(tmp_path, '[[case]]\nexpr = "sum(x)"\nat = { x = [] }\n')
    assert messages == ["at x=[]: error (binding): the value of 'x' holds no numbers (shape (0,))"]


def test_an_empty_list_literal_is_still_the_parser_s_error():
    with pytest.raises(AgradError, match=r"an empty list has no value"):
        agrad.grad("sum(x)", x="[]", check=False)
