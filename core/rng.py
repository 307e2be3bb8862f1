"""The random numbers behind rand(...) and randn(...): one numpy Generator per run, made from a
seed that is reported, so every run can be replayed with --seed.

One object is threaded through a run's compiles (lib files, then the bindings, then the
expression, each left to right), never a global, so two runs with one seed draw the same values.
"""
from __future__ import annotations

import numpy as np

MAX_SEED = 2**63 - 1


class Random:
    """numpy's default_rng(seed), made on the first draw. Without a seed one is picked then
    (and reported: `seed` and `draws` tell a renderer whether and what to print)."""

    __slots__ = ("_seed", "_generator", "draws")

    def __init__(self, seed: int | None = None):
        if isinstance(seed, np.integer):  # np.int64(3) is a whole number too
            seed = int(seed)
        if seed is not None and (isinstance(seed, bool) or not (isinstance(seed, int) and 0 <= seed <= MAX_SEED)):
            from .errors import AgradError

            raise AgradError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}", kind="usage")
        self._seed = seed
        self._generator = None
        self.draws = 0

    @property
    def seed(self) -> int:
        if self._seed is None:
            self._seed = int(np.random.SeedSequence().entropy % 2**32)  # short enough to retype
        return self._seed

    def generator(self) -> np.random.Generator:
        if self._generator is None:
            self._generator = np.random.default_rng(self.seed)
        self.draws += 1
        return self._generator
