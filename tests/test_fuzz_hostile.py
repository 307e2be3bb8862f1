"""Hostile input, seeded: random bytes on stdin, token soups from the language's alphabet, mutated
sample expressions and derivation files, hostile binding values and files. Every run must end
with exit 0, 1 or 2, print no traceback, let no exception escape, and answer within a bound.
bench/fuzz.py runs the same generators for minutes."""
import random
import time

import pytest

import fuzz_inputs as F

SECONDS_PER_INPUT = 15  # generous for a shared CI machine; a hang is what this catches
CASES = 100  # per generator (derivation files, slower to run: a third of it): a few seconds in all


@pytest.fixture(scope="module")
def exprs():
    return F.sample_exprs()


def _generators():
    return [F.token_soup, F.mutated_sample, F.random_bytes, F.hostile_values, F.derivation_file]


@pytest.mark.parametrize("gen", _generators(), ids=["token_soup", "mutated_sample", "random_bytes", "hostile_values",
                                                     "derivation_file"])
def test_hostile_inputs_end_cleanly(gen, exprs, tmp_path):
    rng = random.Random(f"agrad-16-{gen.__name__}")  # the same inputs on every run
    failures = []
    for _ in range(CASES if gen is not F.derivation_file else CASES // 3):
        case = gen(rng, exprs) if gen in (F.mutated_sample, F.hostile_values, F.derivation_file) else gen(rng)
        problem, seconds, out = F.run_case(case, tmp_path, limit=SECONDS_PER_INPUT)
        if problem is not None:
            failures.append(f"{problem}\n  {case.show()[:500]}\n  {out.strip().splitlines()[-1:] if out else ''}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("args, stdin", [
    (["grad", "-", "--x", "1"], b"\xff\xfe\x00x"),
    (["grad", "-", "--x", "1"], b""),
    (["grad", "x*" * 2, "--x", "1"], None),
    (["grad", "w[" + "9" * 5000 + "]", "--w", "[1]"], None),
    (["grad", "sum(w, 1e300)", "--w", "[1]"], None),
    (["grad", "9**9**9**9 * x", "--x", "2"], None),
    (["grad", "1e99999*sum(w)", "--w", "[1, 2]"], None),
    (["grad", "sum(w)", "--w", "@/dev/zero"], None),
    (["grad", "sum(w)", "--w", "@" + "a" * 5000 + ".npy"], None),
    (["grad", "x**2.5", "--x", "0", "--order", "4"], None),
    (["grad", "sin(DiracDelta)*E", "--DiracDelta", "1", "--E", "2"], None),
])
def test_known_hostile_inputs(args, stdin, tmp_path):
    t0 = time.perf_counter()
    problem, _, out = F.run_case(F.Case("known", args, stdin), tmp_path, limit=SECONDS_PER_INPUT)
    assert problem is None, f"{problem}\n{out}"
    assert time.perf_counter() - t0 < SECONDS_PER_INPUT
