"""The public API: its docstring examples run, __all__ is what it exports, results are frozen."""
import dataclasses
import doctest

import numpy as np
import pytest

import agrad
from agrad import derivation, descent, fdcheck, gradient, program, timing


@pytest.mark.parametrize("module", [agrad, gradient, fdcheck, program, descent, timing, derivation],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_all_names_exist_and_help_shows_an_example():
    for name in agrad.__all__:
        assert hasattr(agrad, name), name
    for f in (agrad.grad, agrad.hessian, agrad.gradcheck, agrad.parse, agrad.check_file):
        assert ">>> " in f.__doc__


def test_results_are_frozen_and_arrays_come_back_as_numpy():
    r = agrad.grad("sum(w*w)", w=np.array([1.0, 2.0]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.value = 0
    assert isinstance(r.gradients["w"], np.ndarray) and r.gradients["w"].tolist() == [2.0, 4.0]
    assert isinstance(r.value, float) and r.value == 5.0


def test_errors_are_subclasses_by_kind_and_speak_of_arguments():
    with pytest.raises(agrad.ParseError):
        agrad.grad("x +* 2", x=1)
    with pytest.raises(agrad.BindingError, match=r"no value for 'y': bind it with y=VALUE"):
        agrad.grad("x + y", x=1)
    with pytest.raises(agrad.UsageError, match="Pass retain_graph=True to keep them"):
        agrad.grad("A @ (x*x)", x=[1, 2], A=[2, 3], wrt=["x"], backward=2)
    with pytest.raises(agrad.UsageError, match=r"give a seed with grad_output= \(for example grad_output=ones\)"):
        agrad.grad("w*w", w=[1, 2])
    with pytest.raises(agrad.LimitError):
        agrad.grad("x", x=1, expect={",".join(["x"] * 40): 0})
    assert issubclass(agrad.LimitError, agrad.AgradError)


def test_gradcheck_returns_the_failing_entries():
    r = agrad.gradcheck("relu(x)", x=[0.0, 1.0, -1.0])
    assert not r.ok
    assert r.failures == [("y", "x", (0, 0), 0.0, 0.5)]  # the output has shape (3,): entry (output 0, input 0)


def test_check_file_returns_a_result_per_case(tmp_path):
    p = tmp_path / "d.toml"
    p.write_text('[[case]]\nname = "a"\nexpr = "x*x"\nat = { x = 3 }\nexpect = { x = 6 }\n\n'
                 '[[case]]\nname = "b"\nexpr = "x*x"\nat = { x = 3 }\nexpect = { x = 7 }\n')
    results = agrad.check_file(p)
    assert [(r.case.name, r.status) for r in results] == [("a", "pass"), ("b", "FAIL")]
    assert isinstance(results[0], derivation.CaseResult)


def test_a_program_is_compiled_once_and_evaluated_anywhere():
    f = agrad.parse("x**2 + y")
    assert f(x=3, y=1) == 10.0 and f(x=[1, 2], y=0).tolist() == [1.0, 4.0]
    assert agrad.grad(f, x=3, y=1).gradients == {"x": 6.0, "y": 1.0}
    with pytest.raises(agrad.BindingError, match="no value for 'y'"):
        f(x=1)


def test_check_file_takes_a_directory_as_agrad_check_does():
    from pathlib import Path

    samples = Path(__file__).parents[1] / "samples"
    whole = agrad.check_file(samples / "calculus.toml", sympy=False)
    walked = agrad.check_file(samples, sympy=False)
    files = agrad.derivation_files([samples])
    assert files == sorted(samples.rglob("*.toml")) and samples / "calculus.toml" in files
    assert len(walked) == sum(len(agrad.check_file(f, sympy=False)) for f in files)
    assert [r.case.name for r in whole] == [r.case.name for r in walked if Path(r.case.file) == samples / "calculus.toml"]
    with pytest.raises(agrad.BindingError, match="no such file or directory"):
        agrad.check_file(samples / "missing")
