"""Throw hostile inputs at agrad's command line for minutes: the generators of
tests/test_fuzz_hostile.py (random bytes, token soups, mutated samples, hostile values and
files, mutated derivation files), run longer.

    python bench/fuzz.py --minutes 5 [--seed N] [--limit 20]

Every run must end with exit 0, 1 or 2, without a traceback, within --limit seconds. Prints how
many inputs it tried and every failing input (minimized by deleting pieces while it still fails
the same way), with the last lines of its traceback. Exit 1 when anything failed.
"""
from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import fuzz_inputs as F  # noqa: E402


def _signature(problem: str) -> str:
    """The kind of failure: an exception's type and the line that raised it, or a hang."""
    return problem.split(": ")[0] if problem.startswith("exception") else problem.split(" within")[0]


def minimize(case: F.Case, problem: str, workdir: Path, budget: float = 20.0) -> F.Case:
    """Delete chunks of the expression (args[1]) while the same kind of failure remains."""
    if len(case.args) < 2 or case.args[0] != "grad" or case.args[1] == "-":
        return case
    want, deadline = _signature(problem), time.monotonic() + budget
    best = case
    chunk = max(1, len(case.args[1]) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        expr, i, shrunk = best.args[1], 0, False
        while i < len(expr) and time.monotonic() < deadline:
            trial = F.Case(best.kind, [best.args[0], expr[:i] + expr[i + chunk:], *best.args[2:]], best.stdin,
                           best.files)
            p, _, _ = F.run_case(trial, workdir, limit=30)
            if p is not None and _signature(p) == want:
                best, expr, shrunk = trial, trial.args[1], True
            else:
                i += chunk
        if not shrunk:
            chunk //= 2
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--limit", type=float, default=20.0, help="seconds one input may take")
    ap.add_argument("--no-minimize", action="store_true")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed} (replay with --seed {seed})", flush=True)
    rng = random.Random(seed)
    exprs = F.sample_exprs()
    end = time.monotonic() + args.minutes * 60
    tried, slowest, failures = 0, (0.0, None), []
    seen = collections.Counter()
    kinds = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        while time.monotonic() < end:
            gen = rng.choice(F.GENERATORS)
            case = gen(rng, exprs) if gen in (F.mutated_sample, F.hostile_values, F.derivation_file) else gen(rng)
            problem, seconds, out = F.run_case(case, work, limit=args.limit)
            tried += 1
            kinds[case.kind] += 1
            if seconds > slowest[0]:
                slowest = (seconds, case)
            if problem is None:
                continue
            last = "\n".join(out.strip().splitlines()[-4:])
            key = _signature(problem)
            seen[key] += 1
            if seen[key] > 1:
                continue  # the same cause again: one example is enough
            if not args.no_minimize:
                case = minimize(case, problem, work)
            failures.append((problem, case, last))
            print(f"\nFAIL {problem}\n  {case.show()}\n" + "\n".join("    " + ln for ln in last.splitlines()),
                  flush=True)
    print(f"\ntried {tried:,} inputs in {args.minutes:g} min ({', '.join(f'{k} {n}' for k, n in kinds.items())}); "
          f"{len(failures)} distinct failures, {sum(seen.values())} failing inputs")
    if slowest[1] is not None:
        print(f"slowest input: {slowest[0]:.2f} s  {slowest[1].show()[:300]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
