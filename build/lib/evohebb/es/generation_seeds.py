"""Episode seeds (CarRacing tracks, classification episodes) from three disjoint ranges.

* training: ``[0, 2**30)`` — each generation draws its own ``count`` seeds, shared by the whole population;
* validation: ``[2**30, 2**30 + count)`` — a fixed set the search centre is measured on, never used for selection;
* test: from ``2**30 + 2**29`` on — what ``evohebb evaluate`` plays by default (``--first-seed`` picks any others).
"""

from __future__ import annotations

import numpy as np

TRAINING_SEEDS = 2**30
VALIDATION_FIRST_SEED = 2**30
TEST_FIRST_SEED = 2**30 + 2**29
_VALIDATION_SIZE = 2**29


def generation_seeds(base_seed: int, generation: int, count: int) -> list[int]:
    """``count`` training seeds for ``generation`` of a run seeded with ``base_seed``."""
    sequence = np.random.SeedSequence([int(base_seed), int(generation), 0xE5])
    return [int(s) for s in sequence.generate_state(count, dtype=np.uint32) % TRAINING_SEEDS]


def validation_seeds(count: int) -> list[int]:
    """The fixed validation seeds (disjoint from every training seed)."""
    if count > _VALIDATION_SIZE:
        raise ValueError(f"at most {_VALIDATION_SIZE} validation seeds, got {count}")
    return list(range(VALIDATION_FIRST_SEED, VALIDATION_FIRST_SEED + count))


def evaluation_seeds(count: int, first_seed: int = TEST_FIRST_SEED) -> list[int]:
    """``count`` consecutive seeds from ``first_seed`` (by default unseen test seeds, outside the training and
    validation ranges)."""
    return list(range(int(first_seed), int(first_seed) + count))
