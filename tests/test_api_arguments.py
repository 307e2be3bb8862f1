"""The Python API refuses arguments of the wrong kind with its own AgradError, and reads the
right kinds as they are meant (audit): never a TypeError from deep inside, never a silent NaN."""
import numpy as np
import pytest

import agrad


def test_hessian_keywords_bind_variables_even_with_grads_option_names():
    # they were passed on to agrad.grad as its options: rtol=2.0 was a tolerance, not a variable
    h = agrad.hessian("rtol*rtol*x", rtol=2.0, x=3.0)
    assert h.matrix.tolist() == [[6.0, 4.0], [4.0, 0.0]]  # d2/drtol2 = 2x, d2/drtol dx = 2 rtol
    assert agrad.hessian("order*x**2", order=2.0, x=3.0).matrix.tolist() == [[0.0, 6.0], [6.0, 4.0]]
    h = agrad.hessian("sum(x**3)", x=[1.0, 2.0], grad_output=None)
    assert h.matrix.tolist() == [[6.0, 0.0], [0.0, 12.0]]


@pytest.mark.parametrize("call", [
    lambda: agrad.grad("x*x", at={"x": 1.0}, x=2.0),
    lambda: agrad.gradcheck("x*x", at={"x": 1.0}, x=2.0),
    lambda: agrad.descend("x*x", at={"x": 1.0}, x=2.0),
    lambda: agrad.parse("x*x")(at={"x": 1.0}, x=2.0),
])
def test_a_name_in_at_and_as_a_keyword_is_bound_twice(call):
    with pytest.raises(agrad.BindingError, match="'x' is bound twice: in at= and as a keyword"):
        call()


def test_gradcheck_of_no_variable_is_refused_not_passed():
    with pytest.raises(agrad.UsageError, match="gradcheck needs a variable to check, and wrt= names none"):
        agrad.gradcheck("x**2", x=3.0, wrt=[])


@pytest.mark.parametrize("call, message", [
    (lambda: agrad.grad("x*x", x=1.0, order="2"), "order= must be a whole number from 1 to 30, got '2'"),
    (lambda: agrad.grad("x*x", x=1.0, order=2.5), "order= must be a whole number from 1 to 30, got 2.5"),
    (lambda: agrad.grad("x*x", x=1.0, repeat=None), "repeat= must be a whole number from 1 to 1,000, got None"),
    (lambda: agrad.grad("x*x", x=1.0, backward=True), "backward= must be a whole number"),
    (lambda: agrad.grad("x*x", x=1.0, explain=True, paths="3"), "paths= must be a whole number from 0 to 1,000"),
    (lambda: agrad.gradcheck("x*x", x=1.0, eps="a"), "eps= must be a finite number > 0, got a"),
    (lambda: agrad.gradcheck("x*x", x=1.0, atol=None), "atol= must be a finite number >= 0, got None"),
    (lambda: agrad.bench(["x*x"], x=1.0, runs="3"), "runs= must be a whole number from 1 to 100, got '3'"),
    (lambda: agrad.bench(["x*x"], x=1.0, min_time=None), "min_time= must be above 0 and at most 10 seconds"),
    (lambda: agrad.descend("x*x", x=1.0, tol="a"), "tol= must be a number >= 0, got 'a'"),
])
def test_arguments_of_the_wrong_kind_are_usage_errors(call, message):
    with pytest.raises(agrad.UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_numpy_integers_count_as_whole_numbers():
    assert agrad.grad("x**3", x=2.0, order=np.int64(2), check=False).derivatives["x,x"] == 12.0
    assert agrad.grad("x", x=1.0, seed=np.int64(3), check=False).value == 1.0
    r = agrad.descend("x*x", x=1.0, lr=0.25, steps=np.int64(2))
    assert r.params["x"] == 0.25  # x <- x - 0.25 * 2x, twice: 1 -> 0.5 -> 0.25


@pytest.mark.parametrize("value, message", [
    (None, "the value of 'x' is not a number, a rectangular list or an array (it is None)"),
    (10 ** 400, "the value of 'x' is too large for float64"),
    ([1.0, 10 ** 400], "the value of 'x' is too large for float64"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "the value of 'x' holds datetime64[D] values, not real numbers"),
    (np.array([1 + 2j]), "the value of 'x' holds complex128 values, not real numbers"),
])
def test_values_that_are_no_real_numbers_are_refused(value, message):
    # None was NaN everywhere, a datetime the days since 1970, 10**400 an OverflowError
    for call in (lambda: agrad.grad("sum(x*x)", x=value), lambda: agrad.parse("sum(x*2)")(x=value)):
        with pytest.raises(agrad.BindingError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            call()


@pytest.mark.parametrize("expr", [None, 5, b"x*x"])
@pytest.mark.parametrize("fn", [agrad.grad, agrad.gradcheck, agrad.descend, agrad.hessian])
def test_an_expression_must_be_text_or_a_program(fn, expr):
    # str(None) was compiled: "no value for 'None'"
    with pytest.raises(agrad.UsageError, match="the expression must be text \\(a str\\) or a Program"):
        fn(expr, x=1.0)


def test_one_program_and_compiled_programs_where_a_list_is_taken():
    assert [r.expression for r in agrad.bench("x*x", x=3.0, runs=1, min_time=0.001).rows] == ["x*x"]
    r = agrad.bench([agrad.parse("x*x"), "x**2"], x=3.0, runs=1, min_time=0.001)
    assert [row.expression for row in r.rows] == ["x*x", "x**2"] and r.ok
    d = agrad.descend(agrad.parse("x*x"), x=1.0, lr=0.25, steps=1)
    assert d.params["x"] == 0.5


def test_bench_names_a_non_finite_disagreement_without_a_warning():
    # x*log(x) at 0 has a NaN gradient, x*x a 0: nanmax over all-NaN warned and said "up to nan"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = agrad.bench(["x*log(x)", "x*x"], x=0.0, runs=1, min_time=0.001)
    assert r.disagreements == ["variant 2 (x*x): d/dx differs from variant 1's where one of them is not finite"]


def test_descend_optimizer_of_the_wrong_kind_is_a_usage_error():
    with pytest.raises(agrad.UsageError, match="optimizer= must be one of"):
        agrad.descend("x*x", x=1.0, optimizer=["sgd"])
