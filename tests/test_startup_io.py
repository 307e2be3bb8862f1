"""Start-up and large-array I/O (issue 12): a table run loads only what it uses, and the cheaper
code paths give the same text, files and messages as before."""
import subprocess
import sys

import pytest

from agrad.cli.safe import xml_text

RUN_AND_LIST = """
import sys
sys.argv = ["agrad"] + {args!r}
from agrad.cli.main import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write(" ".join(sorted(m for m in {mods!r} if m in sys.modules)))
"""


def loaded(args, mods):
    code = RUN_AND_LIST.format(args=args, mods=mods)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return r.stderr.split()


def test_a_table_run_imports_no_file_writer_json_csv_or_difflib():
    mods = ["tempfile", "difflib", "json", "csv", "sympy"]
    assert loaded(["grad", "x**2", "--x", "3", "--no-check"], mods) == []
    assert loaded(["grad", "x1*x2", "--x1", "3", "--x2", "2", "--no-check"], mods) == []


def test_the_formats_that_need_them_still_load_them(tmp_path):
    assert loaded(["grad", "x**2", "--x", "3", "--no-check", "--json"], ["json"]) == ["json"]
    assert loaded(["grad", "x**2", "--x", "3", "--no-check", "--format", "csv"], ["csv"]) == ["csv"]
    out = tmp_path / "o.npz"
    assert loaded(["grad", "x**2", "--x", "3", "--no-check", "--save", str(out)], ["tempfile"]) == ["tempfile"]
    assert out.exists()


def _xml_allowed(c: int) -> bool:  # XML 1.0's Char production, as the spec writes it
    return c in (0x9, 0xA, 0xD) or 0x20 <= c <= 0xD7FF or 0xE000 <= c <= 0xFFFD or 0x10000 <= c <= 0x10FFFF


def test_xml_text_escapes_exactly_what_xml_forbids():
    bad = [c for c in range(0x110000) if not _xml_allowed(c)]
    assert len(bad) == 29 + 2048 + 2  # C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF
    for c in bad:
        assert xml_text(chr(c)) == (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}")
    allowed = "".join(chr(c) for c in range(0x110000) if _xml_allowed(c))
    assert xml_text(allowed) == allowed


@pytest.mark.parametrize("name, message", [
    ("ordr", "did you mean --order?"), ("hesian", "did you mean --hessian?"), ("sed", "did you mean --seed?"),
    ("dtyp", "did you mean --dtype?"), ("momentum", "it is an option of agrad descend, not of agrad grad"),
])
def test_a_typo_is_still_caught_without_difflib_for_plain_names(name, message):
    from click.testing import CliRunner

    from agrad.cli.main import cli

    r = CliRunner().invoke(cli, ["grad", "x**2", "--x", "1", f"--{name}", "2"])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: no such option --{name} ({message})")


@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<f4", "<i4", ">i8", "u1"])
@pytest.mark.parametrize("fortran", [False, True])
def test_npy_files_read_as_numpy_reads_them(tmp_path, dtype, fortran):
    import numpy as np

    from agrad.values import parse_value

    a = (np.arange(24, dtype=dtype) * 3).reshape(2, 3, 4)
    a = np.asfortranarray(a) if fortran else a
    np.save(tmp_path / "a.npy", a)
    v = parse_value(f"@{tmp_path / 'a.npy'}", "x")
    assert v.dtype == np.float64 and v.shape == a.shape and np.array_equal(v, np.load(tmp_path / "a.npy"))
    assert v.flags.writeable


def test_a_float64_npy_is_read_into_one_array_without_a_copy(tmp_path):
    import tracemalloc

    import numpy as np

    from agrad.values import parse_value

    n = 500_000
    np.save(tmp_path / "big.npy", np.linspace(0, 1, n))
    tracemalloc.start()
    try:
        v = parse_value(f"@{tmp_path / 'big.npy'}", "x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert v.nbytes == 8 * n
    assert peak < 1.2 * v.nbytes  # was 2x: the file's bytes, then astype's copy of them


@pytest.mark.parametrize("shape", ["(-1,)", "(-1, -2)", "(True, 2)"])
def test_an_npy_header_with_a_shape_that_is_no_shape_is_refused_with_exit_2(tmp_path, shape):
    import numpy as np
    from click.testing import CliRunner

    from agrad.cli.main import cli

    np.save(tmp_path / "h.npy", np.arange(2.0))
    data = (tmp_path / "h.npy").read_bytes()
    head = data[10:data.index(b"\n") + 1]
    new = head.replace(b"(2,)", shape.encode())
    new = new[:-1].ljust(len(head) - 1) + b"\n"  # the header keeps its length: the data follows at 64
    (tmp_path / "h.npy").write_bytes(data[:10] + new + data[10 + len(head):])
    r = CliRunner().invoke(cli, ["grad", "sum(x)", "--x", f"@{tmp_path / 'h.npy'}", "--no-check"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "is not a valid .npy file (its header's shape" in r.output


def test_a_truncated_npy_is_still_refused(tmp_path):
    import numpy as np

    from agrad import AgradError
    from agrad.values import parse_value

    np.save(tmp_path / "t.npy", np.arange(100.0))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-8])
    with pytest.raises(AgradError, match="is truncated"):
        parse_value(f"@{tmp_path / 't.npy'}", "x")


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_finiteness_of_large_arrays_is_exact(dtype):
    import numpy as np

    from agrad.report import _finite

    big = np.finfo(dtype).max
    a = np.full(10_000, big, dtype=dtype)  # every entry finite, their sum overflows
    assert _finite(a) and _finite(a.reshape(100, 100).T) and _finite(a[::3])
    for bad in (np.nan, np.inf, -np.inf):
        b = np.ones(10_000, dtype=dtype)
        b[7_777] = bad
        assert not _finite(b) and not _finite(b.reshape(100, 100).T) and not _finite(b[1::3])
    c = np.ones(10_000, dtype=dtype)
    c[0], c[1] = np.inf, -np.inf  # the sum is nan, not inf: still not finite
    assert not _finite(c)
    assert _finite(np.broadcast_to(np.array(2, dtype=dtype), (5_000,)))
    assert not _finite(np.broadcast_to(np.array(np.nan, dtype=dtype), (5_000,)))


def test_the_first_non_finite_node_is_still_named_on_large_arrays():
    import numpy as np

    import agrad

    x = np.ones(10_000)
    x[5] = 1e300  # x*x overflows at one entry
    cases = {"sum(log(x*x - x*x) + x)": [("value", "inf", "x*x"), ("gradient", "nan", "x*x - x*x")],
             "sum(sqrt(x - 1) + x)": [("gradient", "inf", "x - 1")],
             "sum(x*1e300 - x*1e300)": [("value", "inf", "x*1e300")]}
    for src, want in cases.items():
        assert [(p.what, p.kind, p.expr) for p in agrad.grad(src, x=x, check=False).problems] == want
    # every entry finite, only their sum overflows: the sum is the first non-finite node
    r = agrad.grad("sum(x*1)", x=np.full(10_000, 1e305), check=False)
    assert [(p.what, p.kind, p.expr) for p in r.problems] == [("value", "inf", "sum(x*1)")]


def _arrays():
    import numpy as np

    base = np.arange(24, dtype=np.float64).reshape(4, 6) / 7
    return {"c": base, "f": np.asfortranarray(base), "t": base.T, "strided": base[::2, 1::3],
            "ones": np.broadcast_to(np.array(1.0), (1000, 3)), "row": np.broadcast_to(base[0], (5, 6)),
            "big_bcast": np.broadcast_to(np.array(-2.5), (300_001,)), "scalar": np.array(3.25),
            "empty": np.zeros((0, 2)),
            "f32": base.astype(np.float32), "i64": np.arange(7), "nan": np.array([np.nan, np.inf, -0.0]),
            "node/3/grad": base[1]}


def test_write_npz_makes_the_archive_np_savez_makes(tmp_path):
    import zipfile

    import numpy as np

    from agrad.cli.npz import write_npz

    arrays = _arrays()
    with open(tmp_path / "ours.npz", "wb") as fh:
        write_npz(fh, arrays)
    with open(tmp_path / "numpy.npz", "wb") as fh:
        np.savez(fh, **arrays)
    ours, theirs = np.load(tmp_path / "ours.npz"), np.load(tmp_path / "numpy.npz")
    assert list(ours.keys()) == list(theirs.keys()) == list(arrays)
    for k, a in arrays.items():
        got = ours[k]
        assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a, equal_nan=True), k
        assert np.signbit(got).tolist() == np.signbit(a).tolist()
    # member by member the same bytes (headers included): only the zip's timestamps may differ
    with zipfile.ZipFile(tmp_path / "ours.npz") as zo, zipfile.ZipFile(tmp_path / "numpy.npz") as zn:
        assert zo.namelist() == zn.namelist()
        for name in zo.namelist():
            assert zo.read(name) == zn.read(name), name
            assert zo.getinfo(name).compress_type == zipfile.ZIP_STORED


def test_write_npz_refuses_object_arrays(tmp_path):
    # np.savez would pickle them; agrad never saves one, and its files load without allow_pickle
    import numpy as np

    from agrad.cli.npz import write_npz

    with open(tmp_path / "o.npz", "wb") as fh, pytest.raises(ValueError):
        write_npz(fh, {"o": np.array([object()])})


def test_save_writes_broadcast_gradients_in_full_and_holds_no_chunk_copies(tmp_path):
    import tracemalloc

    import numpy as np

    import agrad
    from agrad.cli import render

    n = 400_000
    r = agrad.grad("sum(x*x + x)", x=np.linspace(-1, 1, n), check=False)
    tracemalloc.start()
    try:
        render.save_npz(r, tmp_path / "s.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20  # np.savez held a 16 MiB buffer and its tobytes copy
    d = np.load(tmp_path / "s.npz")
    x = np.linspace(-1, 1, n)
    assert np.array_equal(d["grad/x"], 2 * x + 1) and np.array_equal(d["derivative/x"], 2 * x + 1)
    by_expr = {nd.expr: nd.index for nd in r.nodes}
    assert np.array_equal(d[f"node/{by_expr['x*x']}/grad"], np.ones(n))
    assert np.array_equal(d[f"node/{by_expr['x*x']}/value"], x * x)
    assert float(d["value"]) == r.value
