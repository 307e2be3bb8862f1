"""Issue 16, the engine's part: bounded reads, literals that overflow, names that cannot break
the check, zero-base powers in Taylor mode, grad_fn numbering, one-element outputs, no_grad and
backward without anything to differentiate. Exact messages and exit codes."""
import io
import math
import os
import time

import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

from agrad import autodiff, higher, program
import agrad
from agrad.cli.main import cli
from agrad.errors import AgradError
from agrad.tensor import Tensor
from agrad.values import parse_value, read_source


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def _refused(value, name="w"):
    with pytest.raises(AgradError) as info:
        parse_value(value, name)
    return info.value


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- class 2 and 5: bounded reads, refused files ---------------------------------------------
def test_device_fifo_and_directory_are_refused_without_reading(here):
    os.mkfifo("pipe.npy")  # opening a FIFO for reading would block until a writer comes
    t0 = time.perf_counter()
    assert _refused("@/dev/zero").message == ("the value of 'w': '/dev/zero' is not a regular file (a pipe or a "
                                              "device cannot be read as a value)")
    assert _refused("@pipe.npy").message == ("the value of 'w': 'pipe.npy' is not a regular file (a pipe or a "
                                             "device cannot be read as a value)")
    here.joinpath("d.csv").mkdir()
    assert _refused("@d.csv").message == "the value of 'w': 'd.csv' is a directory, not a file"
    assert time.perf_counter() - t0 < 1


def test_a_500_mb_file_is_refused_by_its_size(here):
    with open("big.npy", "wb") as fh:
        fh.truncate(500_000_000)  # sparse: no 500 MB written, none read
    with open("big.csv", "wb") as fh:
        fh.truncate(500_000_000)
    t0 = time.perf_counter()
    e = _refused("@big.npy")
    assert (e.kind, e.message) == ("limit", "the value of 'w': 'big.npy' is 500,000,000 bytes, over the limit of "
                                            "80,065,536 bytes")
    assert _refused("@big.csv").message == ("the value of 'w': 'big.csv' is 500,000,000 bytes, over the limit of "
                                            "100,000,000 bytes")
    assert time.perf_counter() - t0 < 1


def _npy_header(shape, descr="<f8"):
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin-1")


def test_npy_declared_size_is_bounded_from_its_header(here):
    here.joinpath("huge.npy").write_bytes(_npy_header((400_000_000,)) + np.zeros(3).tobytes())
    e = _refused("@huge.npy")
    assert (e.kind, e.message) == ("limit", "the value of 'w': 'huge.npy' declares 400,000,000 elements (shape "
                                            "(400000000,)), over the limit of 10,000,000")
    here.joinpath("short.npy").write_bytes(_npy_header((5,)) + np.zeros(3).tobytes())
    assert _refused("@short.npy").message == ("the value of 'w': 'short.npy' is truncated: its header declares 40 "
                                              "bytes of data, the file holds 24")


def test_npz_complex_empty_and_garbage_npy(here):
    np.save("c.npy", np.array([1 + 2j, 3]))
    np.save("e.npy", np.zeros((0, 3)))
    np.savez("a.npz", a=np.ones(2))
    os.replace("a.npz", "renamed.npy")
    np.savez("b.npz", a=np.ones(2))
    here.joinpath("junk.npy").write_bytes(b"not an array at all")
    here.joinpath("s.npy").write_bytes(b"")
    assert _refused("@c.npy").message == ("the value of 'w': 'c.npy' holds complex numbers (complex128); agrad "
                                          "differentiates real values only, and dropping the imaginary part would "
                                          "lose data")
    assert _refused("@e.npy").message == "the value of 'w': 'e.npy' holds no numbers (shape (0, 3))"
    assert _refused("@renamed.npy").message == ("the value of 'w': 'renamed.npy' is a .npz archive (several named "
                                                "arrays), not a .npy file; save the one array with numpy.save")
    assert _refused("@b.npz").message == ("the value of 'w': 'b.npz' is a .npz archive (several named arrays); save "
                                          "the one array with numpy.save as a .npy file")
    assert _refused("@junk.npy").message.startswith("the value of 'w': 'junk.npy' is not a valid .npy file (")
    assert _refused("@s.npy").message.startswith("the value of 'w': 's.npy' is not a valid .npy file (")


def test_npy_still_loads_c_and_fortran_order(here):
    a = np.arange(6.0).reshape(2, 3)
    np.save("c.npy", a)
    np.save("f.npy", np.asfortranarray(a))
    np.save("i.npy", a.astype(np.int32))
    for f in ("c.npy", "f.npy", "i.npy"):
        v = parse_value(f"@{f}", "w")
        assert v.dtype == np.float64 and np.array_equal(v, a)


def test_text_files_empty_and_not_utf8(here):
    here.joinpath("e.csv").write_bytes(b"")
    here.joinpath("b.csv").write_bytes(b"1,2\n\xff,3\n")
    here.joinpath("ok.csv").write_bytes(b"1,2\n3,4\n")
    assert _refused("@e.csv").message == "the value of 'w': 'e.csv' holds no numbers (an empty array)"
    assert _refused("@b.csv").message == ("the value of 'w': 'b.csv' is not UTF-8 text: byte 0xff at offset 4 "
                                          "(line 2) cannot be decoded")
    assert parse_value("@ok.csv", "w").tolist() == [[1, 2], [3, 4]]


def test_path_longer_than_the_os_allows(here):
    e = _refused("@" + "a" * 5000 + ".npy")
    shown = "'" + "a" * 28 + "…" + "a" * 24 + ".npy'"  # shortened in the middle to 60 characters
    assert e.message == f"the value of 'w': cannot read {shown}: the file name is longer than the system allows"
    r = run("grad", "sum(w)", "--w", "@" + "a" * 5000 + ".npy")
    assert r.exit_code == 2 and r.stderr == f"error: {e.message}\n"


def test_stdin_is_read_bounded_and_as_utf8():
    assert read_source(io.BytesIO(b"x*x\n")) == "x*x\n"
    with pytest.raises(AgradError) as info:
        read_source(io.BytesIO(b"x" * 101), limit=100)
    assert (info.value.kind, info.value.message) == ("limit", "the input on stdin is over the limit of 100 bytes; "
                                                              "give a shorter program")

    class Endless(io.RawIOBase):  # /dev/zero: a read must stop at the limit
        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b"0" * len(b)
            return len(b)

    with pytest.raises(AgradError, match="over the limit of 1,000,000 bytes"):
        read_source(io.BufferedReader(Endless()))
    r = run("grad", "-", "--x", "1", input=b"x*\xff")
    assert r.exit_code == 2
    assert r.stderr == "error: the input on stdin is not UTF-8 text: byte 0xff at offset 2 (line 1) cannot be decoded\n"
    r = run("grad", "-", "--x", "3", "--format", "plain", input=b"x*x\n")
    assert r.exit_code == 0 and r.stdout == "value 9.0\nx 6.0\n"


# ---- class 5: literals that overflow an int ----------------------------------------------------
@pytest.mark.parametrize("expr, message, caret", [
    ("w[" + "1" * 5000 + "]", "an index of 5,000 digits is out of range for any array", (2, 5002)),
    ("w[1:" + "9" * 19 + "]", "an index of 19 digits is out of range for any array", (4, 23)),
    ("sum(w, 1e300)", "the axis of sum() is 1e300, out of range for any array (at most 64 dimensions)", (7, 12)),
    ("max(w, -" + "9" * 300 + ")", "the axis of max() is -" + "9" * 300 + ", out of range for any array (at most "
     "64 dimensions)", (7, 308)),
    ("min(w, " + "9" * 3000 + ")", "the axis of min() must be a whole number, as in min(A, 0)", (7, 3007)),
])
def test_huge_index_or_axis_is_a_caret_error(expr, message, caret):
    with pytest.raises(AgradError) as info:
        program.compile_source(expr)
    assert info.value.message == message and info.value.span == caret
    r = run("grad", expr, "--w", "[1, 2]")
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {message}\n")


def test_huge_constructor_size_message_is_short():
    r = run("grad", "sum(ones(1e300)*x)", "--x", "1")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "error: ones(): an array of 1e+300 elements is over the limit of 10,000,000"


# ---- class 2: exponent towers and huge literals in the SymPy check -----------------------------
def test_exponent_tower_is_not_computed_exactly():
    t0 = time.perf_counter()
    r = agrad.grad("9**9**9**9 * x", at={"x": np.float64(2)}, check_timeout=30)
    assert time.perf_counter() - t0 < 5  # 10.8 s before, the whole budget on a 370-million-digit integer
    assert r.check.status == "ok" and r.gradients["x"] == math.inf


def test_literal_past_float_range_does_not_crash_the_check():
    r = run("grad", "1e99999*sum(w)", "--w", "[1, 2]", "--json")
    assert r.exit_code == 0, r.output
    r = agrad.grad("1e99999*sum(w) + 1e-99999*x + " + "9" * 5000 + "*x", at={"w": np.array([1.0, 2]),
                                                                                      "x": np.float64(1)})
    assert r.check.status == "ok"
    assert [i.verdict for i in r.check.items] == ["ok", "ok"]


def test_many_big_literals_do_not_build_a_huge_exact_number():
    # each literal is exact, their product would have 6,000 digits: str() alone refuses 4,300
    r = agrad.grad("*".join(["1e300"] * 20) + "*x", at={"x": np.float64(1)})
    assert r.check.status == "ok" and r.gradients["x"] == math.inf


# ---- class 6: names cannot break the check -----------------------------------------------------
NAMES = ["E", "I", "N", "S", "Max", "DiracDelta", "oo", "zoo", "nan", "Symbol", "Float", "mpf", "Integer", "_v0",
         "lambda_", "x0", "x1", "Abs", "Heaviside", "sympy", "np", "numpy", "mpmath"]


@pytest.mark.parametrize("name", NAMES)
def test_variable_named_like_sympy_is_checked(name):
    r = run("grad", f"sin({name})*{name}**2 + q*{name}", "-v", f"{name}=0.7", "--q", "1.5", "--json")
    assert r.exit_code == 0, r.output
    import json

    d = json.loads(r.stdout)
    assert d["check"]["status"] == "ok"
    a = 0.7
    want = math.cos(a) * a * a + 2 * a * math.sin(a) + 1.5
    assert d["derivatives"][name] == pytest.approx(want, rel=1e-12)
    assert d["derivatives"]["q"] == pytest.approx(0.7, rel=1e-15)
    # a wrong claim about it still fails
    r = run("grad", f"sin({name})*{name}**2", "-v", f"{name}=0.7", "--expect", f"{name}: 2*{name}*sin({name})")
    assert r.exit_code == 1, r.output


def test_formula_shows_the_users_names():
    r = agrad.grad("E*exp(E) + DiracDelta**2", at={"E": np.float64(1.5), "DiracDelta": np.float64(2)})
    formulas = {i.key: i.formula for i in r.check.items}
    assert formulas == {"E": "E*exp(E) + exp(E)", "DiracDelta": "2*DiracDelta"}
    assert [i.verdict for i in r.check.items] == ["ok", "ok"]


def test_element_like_name_beside_a_tensor(tmp_path):
    toml = tmp_path / "w0.toml"
    toml.write_text('[[case]]\nname = "w[0] beside w"\nexpr = "sum(w*w) + 3*x"\n'
                    'at = { w = [1, 2], x = 5, "w[0]" = 5 }\nwrt = ["w"]\nexpect = { w = [2, 4] }\n\n'
                    '[[case]]\nname = "a wrong claim still fails"\nexpr = "sum(w*w)"\n'
                    'at = { w = [1, 2], "w[0]" = 5 }\nexpect = { w = [2, 5] }\n')
    r = run("check", str(toml), "--json")
    import json

    # no expression can name 'w[0]', so binding it is refused (it was once bound, unused, beside w)
    cases = json.loads(r.stdout)["cases"]
    assert [c["status"] for c in cases] == ["error", "error"], r.stdout
    assert all("'w[0]' cannot be bound" in c["messages"][0] for c in cases)
    assert r.exit_code == 2


def test_lambdify_never_resolves_user_names():
    from agrad import symbolic as S

    syms = S.symbols_of({"exp": (), "DiracDelta": (), "w": (2,), "w[0]": ()})
    e, d, w, w0 = syms["exp"][()], syms["DiracDelta"][()], syms["w"], syms["w[0]"][()]
    assert w[0] != w0 and str(w[0]) == str(w0) == "w[0]"
    exprs = [sp.exp(e) * d, sp.DiracDelta(d - 1) + w[0] * 2 + w0 * 3]
    flat = [e, d, w[0], w[1], w0]
    point = [1.0, 2.0, 10.0, 20.0, 100.0]
    many = exprs * 5  # past FEW: the lambdified path
    for digits in (30, None):
        vals = S.evaluator(flat, many, digits)(point)
        assert vals[:2] == pytest.approx([math.e * 2, 320.0], rel=1e-14)


# ---- class 9: Taylor mode at a zero base ------------------------------------------------------
def _taylor(src, x0, order):
    prog = program.compile_source(src)
    return [float(v) for v in higher.taylor_derivatives(prog, {"x": np.float64(x0)}, "x", order)]


def _nested(src, x0, order):
    prog = program.compile_source(src)
    leaves = {"x": Tensor(np.float64(x0), requires_grad=True)}
    with np.errstate(all="ignore"):
        y = program.evaluate(prog, leaves, np.float64)[prog.output]
        res, _ = higher.reverse_derivatives(y, leaves, ["x"], order)
    return [float(res[("x",) * k]) for k in range(1, order + 1)]


X = sp.Symbol("x", positive=True)


@pytest.mark.parametrize("r", ["0.5", "1.5", "2.5", "3", "3.7", "-0.5", "-2", "70"])
@pytest.mark.parametrize("x0", ["0", "0.7", "2"])
def test_power_series_against_sympy(r, x0):
    f = X ** sp.Rational(r)
    want = []
    for k in range(1, 6):
        dk = sp.diff(f, X, k)
        v = sp.limit(dk, X, 0, "+") if x0 == "0" else dk.subs(X, sp.Rational(x0))
        want.append(float(v))
    got = _taylor(f"x**{r}", float(x0), 5)
    assert np.allclose(got, want, rtol=1e-10, atol=0, equal_nan=True), (got, want)
    assert np.allclose(got, _nested(f"x**{r}", float(x0), 5), rtol=1e-10, equal_nan=True)


def test_cli_power_at_zero_is_zero_then_inf():
    r = run("grad", "x**2.5", "--x", "0", "--order", "3", "--format", "plain")
    assert r.exit_code == 0, r.output
    assert r.stdout == "value 0.0\nx 0.0\nx,x 0.0\nx,x,x inf\n"


@pytest.mark.parametrize("src, x0", [("sin(x)**1.5", 0.3), ("(x + x**2)**2.5", 0.0), ("(x*x)**2.5", 0.0),
                                     ("sin(x)**2.5", 0.0), ("x**(x + 2.5)", 0.4)])
def test_composite_powers_against_sympy(src, x0):
    sx = sp.Symbol("x", positive=True)
    f = sp.sympify(src, locals={"x": sx})  # the test's own text, not user input
    want = []
    for k in range(1, 5):
        dk = sp.diff(f, sx, k)
        want.append(float(sp.limit(dk, sx, 0, "+") if x0 == 0 else dk.subs(sx, sp.Float(x0, 30))))
    got = _taylor(src, x0, 4)
    for g, w in zip(got, want):
        if math.isfinite(w):
            assert g == pytest.approx(w, rel=1e-9, abs=1e-12), (got, want)
        else:  # an infinite derivative: the same infinity, or NaN where infinities of both signs meet
            assert math.isnan(g) or g == w, (got, want)


def test_variable_exponent_at_zero_base():
    # (2x)**(x + 3) = 8 x**3 (1 + x log(2x) + ...): 0, 0, 48, then log(x) makes the 4th undefined
    assert _taylor("(2*x)**(x + 3)", 0.0, 4)[:3] == [0.0, 0.0, 48.0]
    assert math.isnan(_taylor("(2*x)**(x + 3)", 0.0, 4)[3])
    # x**(x + 2.5) = x**2.5 (1 + x log x + ...): 0, 0, inf, as x**2.5 alone
    assert _taylor("x**(x + 2.5)", 0.0, 3) == [0.0, 0.0, math.inf]
    # away from 0 the variable exponent goes through exp(b log a) as before
    got = _taylor("x**(x + 2.5)", 0.8, 4)
    f = X ** (X + sp.Rational(5, 2))
    want = [float(sp.diff(f, X, k).subs(X, sp.Rational(4, 5))) for k in range(1, 5)]
    assert np.allclose(got, want, rtol=1e-10)


# ---- class 9: grad_fn numbering ----------------------------------------------------------------
def test_reduction_grad_fn_names_follow_pytorch():
    r = agrad.grad("a = max(w); b = max(A, 0); c = min(w); d = min(A, 1); k = sum(w); f = sum(A, 0); "
                             "g = mean(w); h = mean(A, 1); a + sum(b) + c + sum(d) + k + sum(f) + g + sum(h)", at={"w": np.array([1.0, 2]), "A": np.array([[1.0, 2], [3, 5]])}, check=False)
    names = {n.name: n.op for n in r.nodes if n.name in tuple("abcdkfgh")}
    assert names == {"a": "MaxBackward1", "b": "MaxBackward0", "c": "MinBackward1", "d": "MinBackward0",
                     "k": "SumBackward0", "f": "SumBackward1", "g": "MeanBackward0", "h": "MeanBackward1"}


# ---- class 8: one-element outputs, no_grad, nothing to differentiate --------------------------
@pytest.mark.parametrize("expr, shape", [("w[1:]", (1,)), ("A[0:1, 1:]", (1, 1)), ("w[1:] * x", (1,))])
def test_one_element_output_needs_no_seed(expr, shape):
    r = agrad.grad(expr, at={"w": np.array([1.0, 2.0]), "A": np.array([[1.0, 2], [3, 4]]),
                                    "x": np.float64(3)})
    assert r.output_shape == shape and r.check.status == "ok"
    r = run("grad", expr, "--w", "[1, 2]", "--A", "[[1, 2], [3, 4]]", "--x", "3", "--format", "plain")
    assert r.exit_code == 0, r.output


def test_one_element_seed_is_one():
    w = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    from agrad.ops import OPS
    from agrad.tensor import apply

    y = apply(OPS["index"], (w * w,), {"key": (slice(1, None),)})
    autodiff.backward(y)
    assert w.grad.value.tolist() == [0.0, 6.0]
    z = w * w
    with pytest.raises(AgradError, match=r"only for a scalar output, and the output has shape \(2,\)"):
        autodiff.backward(z)


def test_no_grad_records_nothing_inside():
    r = agrad.grad("y = x*x; z = no_grad(y*2 + sin(x)); sum(z*x + y)", at={"x": np.array([1.0, 2.0])})
    rows = {n.expr: n for n in r.nodes}
    for inner in ("y*2", "sin(x)", "y*2 + sin(x)", "no_grad(y*2 + sin(x))"):
        assert (rows[inner].op, rows[inner].requires_grad) != (None, True)
        assert not rows[inner].requires_grad and rows[inner].grad is None
    assert rows["x*x"].op == "MulBackward0" and rows["x*x"].requires_grad  # computed outside, used inside
    x = np.array([1.0, 2.0])
    assert np.allclose(r.gradients["x"], 2 * x * x + np.sin(x) + 2 * x)
    assert r.check.status == "ok"
    fused = agrad.grad("sum(no_grad(exp(sin(x)) * 2) * x)", at={"x": np.array([1.0, 2.0])}, fuse=True)
    assert np.allclose(fused.gradients["x"], np.exp(np.sin(x)) * 2)


def test_backward_without_a_grad_fn_raises_pytorchs_error():
    x = Tensor(np.float64(2.0), requires_grad=True)
    from agrad.ops import OPS
    from agrad.tensor import apply

    d = apply(OPS["detach"], (x,))
    y = d * 3
    with pytest.raises(AgradError) as info:
        autodiff.backward(y)
    assert (info.value.kind, info.value.message) == (
        "nograd", "element 0 of tensors does not require grad and does not have a grad_fn")
    assert x.grad is None
    # grad() (nested reverse mode) keeps materialized zeros, as torch.autograd.grad(materialize_grads=True)
    assert autodiff.grad(y, [x])[0].value == 0
