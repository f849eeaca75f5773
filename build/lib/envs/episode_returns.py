"""Per-env episode returns for a vector env, counting each env only until its first episode ends."""

from __future__ import annotations

import numpy as np


class EpisodeReturns:
    """Accumulate the first episode of each of ``num_envs`` envs.

    gymnasium 1.x vector envs autoreset on the *next* step by default: the step after ``terminated | truncated``
    returns the new episode's first observation with reward 0 and ignores the action. An evaluator that wants one
    episode per env calls :meth:`update` after every ``step`` and stops once :attr:`all_done`; later rewards
    of a finished env (its autoreset step and next episode) are not counted.
    """

    def __init__(self, num_envs: int):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.active = np.ones(num_envs, dtype=bool)

    def update(self, rewards, terminated, truncated) -> np.ndarray:
        """Add ``rewards`` of still-active envs; return the mask of envs still in their first episode."""
        rewards = np.asarray(rewards, dtype=np.float64)
        self.returns += np.where(self.active, rewards, 0.0)
        self.lengths += self.active
        self.active &= ~(np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool))
        return self.active.copy()

    @property
    def all_done(self) -> bool:
        """True once every env has finished its first episode."""
        return not bool(self.active.any())
