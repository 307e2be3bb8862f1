"""--format plain writes numbers in C (cli/render_plain.py), byte for byte as repr writes them."""
import numpy as np
import pytest

from agrad.cli import render
from agrad.cli.render_plain import CHUNK, number_chunks, plain_numbers


def _repr_join(v):
    return " ".join(map(repr, np.asarray(v, dtype=np.float64).ravel().tolist()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_magnitude_as_repr(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(CHUNK + 5000) * 10.0 ** rng.integers(-320, 300, CHUNK + 5000)
    x[::997] = 0.0
    x[1::991] = -0.0
    assert plain_numbers(x) == _repr_join(x)


def test_the_edges_of_repr_notation():
    edges = [1e16, np.nextafter(1e16, 0), 1e-4, np.nextafter(1e-4, 0), 1e-5, 5e-324, 1.7976931348623157e308,
             0.1, 0.30000000000000004, 1e15, 123456789.125, np.nan, np.inf, -np.inf, -1e16, -1e-4]
    x = np.array(edges * 10).reshape(10, -1)  # a matrix: row-major, as before
    assert plain_numbers(x) == _repr_join(x)
    assert "nan inf -inf" in plain_numbers(x)


def test_small_and_narrow_values():
    assert plain_numbers(np.float64(2.5)) == "2.5"
    assert plain_numbers(np.array([])) == ""
    f32 = np.linspace(0, 1, 200, dtype=np.float32)
    assert plain_numbers(f32) == _repr_join(f32)  # float32 read as float64, as before


def test_chunks_join_to_one_line_without_a_list_of_every_number():
    x = np.arange(3 * CHUNK, dtype=np.float64) / 7
    pieces = list(number_chunks(x))
    assert len(pieces) == 5 and "".join(pieces) == _repr_join(x)


def test_to_plain_is_the_chunks_joined():
    import agrad

    r = agrad.grad("sum(x**2)", x=np.linspace(-1e-5, 1e17, 1000), check=False)
    assert render.to_plain(r) == "".join(render.plain_chunks(r))
    assert render.to_plain(r).splitlines()[1] == "x " + _repr_join(2 * np.linspace(-1e-5, 1e17, 1000))


def test_odd_entries_at_the_edges_of_runs():
    # repr's notation (and nan/inf) at a chunk's first and last entry, side by side, and alone
    x = np.linspace(1, 2, 2 * CHUNK + 7)
    for i in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK + 6):
        x[i] = 1e-5 * (i + 1)
    x[100:103] = [np.nan, -np.inf, 1e20]
    assert plain_numbers(x) == _repr_join(x)
    every = np.full(CHUNK + 3, 3e-7)  # nothing but odd entries: every one by repr
    assert plain_numbers(every) == _repr_join(every)


def test_dense_odd_entries_take_the_split_path_with_the_same_text():
    from agrad.cli import render_plain

    x = np.tile([1e-5, 0.5, np.nan, 2.0], CHUNK // 2)  # half the entries odd: over FEW_ODD a chunk
    assert np.count_nonzero((np.abs(x) < 1e-4) | np.isnan(x)) // 2 > render_plain.FEW_ODD
    assert plain_numbers(x) == _repr_join(x)
