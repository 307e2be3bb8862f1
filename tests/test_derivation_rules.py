"""Derivation files: keys that do not apply to a case, unknown error kinds and stops, paths, descend
options and malformed files are refused up front (exit 2 / AgradError), never judged or ignored."""
import pytest
from click.testing import CliRunner

import agrad
from agrad.cli.main import cli
from agrad.derivation import KEYS


def run(*args):
    return CliRunner().invoke(cli, list(args))


def write(tmp_path, body, name="d.toml"):
    path = tmp_path / name
    path.write_text('[[case]]\nname = "c"\nexpr = "x**2"\nat = { x = 3 }\n' + body)
    return path


@pytest.mark.parametrize("body, key, why", [
    ("expect_loss = 12345\n", "expect_loss", "descend"),
    ("expect_params = { x = 999 }\n", "expect_params", "descend"),
    ('expect_stop = "diverged"\n', "expect_stop", "descend"),
    ("descend = { lr = 0.1, steps = 5 }\nexpect = { x = 999 }\n", "expect", "descend case reads only"),
    ("descend = { lr = 0.1, steps = 5 }\nexpect_passes = [{ x = 999 }]\n", "expect_passes", "descend case"),
    ("descend = { lr = 0.1, steps = 5 }\norder = 5\n", "order", "descend case"),
    ("descend = { lr = 0.1, steps = 5 }\nrepeat = 3\n", "repeat", "descend case"),
    ('descend = { lr = 0.1, steps = 5 }\ndtype = "float16"\n', "dtype", "descend case"),
    ('expect_error = "backward"\nexpect = { x = 6 }\n', "expect", "expect_error"),
])
def test_a_key_that_does_not_apply_to_the_case_is_its_error(tmp_path, body, key, why):
    r = run("check", str(write(tmp_path, body)))
    assert r.exit_code == 2, r.output
    assert f"case 'c': '{key}'" in r.output and why in r.output
    assert "Traceback" not in r.output
    [res] = agrad.check_file(tmp_path / "d.toml")
    assert res.status == "error" and key in res.messages[0]


@pytest.mark.parametrize("body, word, known", [
    ('expect_error = "bogus"\n', "expect_error 'bogus' is not an error kind", "backward"),
    ('descend = { lr = 0.1, steps = 5 }\nexpect_stop = "bogus"\n', "expect_stop 'bogus' is not a way", "diverged"),
])
def test_an_unknown_error_kind_or_stop_is_refused_naming_the_known_ones(tmp_path, body, word, known):
    r = run("check", str(write(tmp_path, body)))
    assert r.exit_code == 2, r.output
    assert word in r.output and "known:" in r.output and known in r.output
    assert "Traceback" not in r.output


def test_the_unknown_key_message_lists_every_key(tmp_path):
    [res] = agrad.check_file(write(tmp_path, "zzzqqq = 1\n"))
    assert res.status == "error"
    known = res.messages[0].split("known: ")[1].split(", ")
    assert set(known) == set(KEYS) >= {"seed", "expect_wrong_rules", "descend", "expect_params", "expect_stop"}


def test_an_empty_path_is_refused_not_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "expect = { x = 6 }\n")  # would be found (and pass) if "" scanned the cwd
    r = run("check", "")
    assert r.exit_code == 2, r.output
    assert "empty path" in r.output and "Traceback" not in r.output
    for call in (lambda: agrad.check_file(""), lambda: agrad.derivation_files(""),
                 lambda: agrad.derivation_files([""])):
        with pytest.raises(agrad.BindingError, match="empty path") as e:
            call()
        assert e.value.kind == "file"


def test_one_str_or_pathlike_is_one_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative: a str iterated as characters would name "d", "i", ... (not "/")
    (tmp_path / "dir").mkdir()
    path = write(tmp_path / "dir", "expect = { x = 6 }\n")
    assert agrad.derivation_files("dir") == [path.relative_to(tmp_path)]
    assert agrad.derivation_files(tmp_path / "dir") == [path]


@pytest.mark.parametrize("bad", [None, 5, b"x"])
def test_derivation_files_refuses_what_is_not_a_path(bad):
    with pytest.raises(agrad.UsageError, match="paths= should be a path") as e:
        agrad.derivation_files(bad)
    assert e.value.kind == "usage"


@pytest.mark.parametrize("bad", [None, 5, b"x", ["x"]])
def test_check_file_refuses_what_is_not_a_path(bad):
    with pytest.raises(agrad.UsageError, match="path= should be a path") as e:
        agrad.check_file(bad)
    assert e.value.kind == "usage"


def test_an_at_file_is_relative_to_the_toml_file_as_lib_is(tmp_path, monkeypatch):
    import numpy as np

    (tmp_path / "rel").mkdir()
    np.save(tmp_path / "rel" / "d.npy", np.array([1.0, 2.0]))
    np.save(tmp_path / "rel" / "w.npy", np.array([0.0, 0.0]))
    (tmp_path / "rel" / "r.toml").write_text(
        '[[case]]\nname = "r"\nexpr = "sum(x*x)"\nat = { x = "@d.npy" }\nexpect = { x = [2, 4] }\n'
        '[[case]]\nname = "fit"\nexpr = "sum((w - y)**2)"\nat = { w = [5, 5], y = "@d.npy" }\nwrt = ["w"]\n'
        'descend = { lr = 0.25, steps = 50 }\nexpect_params = { w = " @d.npy" }\n'
        f'[[case]]\nname = "abs"\nexpr = "sum(x*x)"\nat = {{ x = "@{tmp_path / "rel" / "d.npy"}" }}\n'
        'expect = { x = [2, 4] }\n')
    monkeypatch.chdir(tmp_path)
    r = run("check", "rel")
    assert r.exit_code == 0, r.output
    assert [line.split()[:2] for line in r.output.splitlines()[:3]] == [["pass", "r"], ["pass", "fit"],
                                                                        ["pass", "abs"]]
    assert [res.status for res in agrad.check_file("rel")] == ["pass", "pass", "pass"]


@pytest.mark.parametrize("optimizer, options, word", [
    ("sgd", {"momentum": "a"}, "momentum= must be a number, got 'a'"),
    ("sgd", {"momentum": None}, "momentum= must be a number, got None"),
    ("sgd", {"momentum": True}, "momentum= must be a number, got True"),
    ("sgd", {"momentum": 0.5, "nesterov": "yes"}, "nesterov= must be True or False"),
    ("sgd", 5, "options= should be a dict"),
    ("adam", {"betas": "0.9,0.99"}, "betas= must be two numbers, got '0.9,0.99'"),
    ("adam", {"betas": (0.9, "x")}, "betas= must be two numbers"),
])
def test_descend_refuses_option_values_that_are_not_numbers(optimizer, options, word):
    with pytest.raises(agrad.UsageError) as e:
        agrad.descend("x**2", x=3.0, optimizer=optimizer, lr=0.1, steps=3, options=options, check=False)
    assert e.value.kind == "usage" and word in e.value.message


@pytest.mark.parametrize("setting, word", [
    ('momentum = "a"', "momentum= must be a number, got 'a'"),
    ('rtol = "a"', "descend.rtol must be a number >= 0"),
    ('optimizer = "adam", betas = "0.9,0.99"', "betas= must be two numbers, got '0.9,0.99'"),
])
def test_a_bad_descend_option_in_a_file_is_the_cases_error_not_an_internal_one(tmp_path, setting, word):
    r = run("check", str(write(tmp_path, f"descend = {{ lr = 0.1, steps = 5, {setting} }}\n")))
    assert r.exit_code == 2, r.output
    assert word in r.output and "internal error" not in r.output and "Traceback" not in r.output


def test_good_descend_options_still_run():
    r = agrad.descend("(x - 3)**2", x=0.0, optimizer="adam", lr=0.1, steps=5, check=False,
                      options={"betas": [0.8, 0.9], "eps": 1e-8, "amsgrad": True})
    assert r.settings["betas"] == (0.8, 0.9) and r.settings["amsgrad"] is True and r.updates == 5


def test_a_malformed_toml_is_one_failing_test_and_the_other_files_still_run(pytester):
    pytester.makefile(".toml", bad="[[case]\nexpr =\n", good='[[case]]\nname = "ok"\nexpr = "x**2"\n'
                      'at = { x = 3 }\nexpect = { x = 6 }\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--agrad", ".")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*agrad derivation file is malformed: *bad.toml:1: not valid TOML*"])
    assert "Interrupted" not in result.stdout.str() and "Traceback" not in result.stdout.str()
