"""Episode seeds: shared by the whole population within a generation, new each generation, reproducible."""

from __future__ import annotations

import numpy as np


def generation_seeds(base_seed: int, generation: int, count: int) -> list[int]:
    """``count`` episode seeds for ``generation`` of a run seeded with ``base_seed``."""
    sequence = np.random.SeedSequence([int(base_seed), int(generation), 0xE5])
    return [int(s) for s in sequence.generate_state(count, dtype=np.uint32) % (2**31 - 1)]


def evaluation_seeds(base_seed: int, count: int) -> list[int]:
    """Seeds for re-evaluating a genome, disjoint from any generation's seeds (different stream)."""
    sequence = np.random.SeedSequence([int(base_seed), 0xEEA1])
    return [int(s) for s in sequence.generate_state(count, dtype=np.uint32) % (2**31 - 1)]
