"""Derivation files as pytest tests (agrad/pytest_plugin.py, loaded through the pytest11 entry point)."""
from pathlib import Path

from test_derivation import WRONG

SAMPLES = Path(__file__).parent.parent / "samples"

CASES = WRONG  # one right claim, a wrong number, a wrong formula: the cases agrad check is tested on


def test_each_case_is_a_test_and_a_wrong_claim_reports_claim_ad_sympy_and_differences(pytester):
    pytester.makefile(".agrad.toml", claims=CASES)  # matched by the default agrad_files pattern
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*agrad derivation FAIL: wrong formula*",
        "*claimed       '2*sin(x)' = 0.95885107720840601",
        "*AD            0.8414709848078965",
        "*SymPy         0.8414709848078965  (2*sin(x)*cos(x))",
        "*finite diff.  0.84147098*",
        "*claim - derivative simplifies to 2*(1 - cos(x))*sin(x)",
    ])


def test_plain_toml_files_are_collected_only_with_the_flag_or_a_pattern(pytester):
    pytester.makefile(".toml", claims=CASES)
    pytester.runpytest_subprocess().assert_outcomes()  # not a derivation file by name: nothing collected
    pytester.runpytest_subprocess("--agrad", ".").assert_outcomes(passed=1, failed=2)
    pytester.makeini("[pytest]\nagrad_files = claims.toml\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1, failed=2)


def test_every_sample_case_is_its_own_passing_test_also_spread_over_two_workers(pytester):
    cases = sum(p.read_text().count("[[case]]") for p in SAMPLES.glob("*.toml"))
    result = pytester.runpytest_subprocess("--agrad", str(SAMPLES), "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=cases)
    result.stdout.fnmatch_lines(["*2 workers*"])
