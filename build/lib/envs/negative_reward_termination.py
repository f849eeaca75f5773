"""End an episode after N consecutive negative-reward steps (CarRacing: the car left the track or stalled).

The rule is written once, in :class:`NegativeRewardPatience` (counters for any number of envs); the gymnasium
wrapper :class:`NegativeRewardTermination` applies it to one env, the EnvPool CarRacing backend to a whole pool.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

INFO_KEY = "negative_reward_termination"


class NegativeRewardPatience:
    """Per-env counters: fire on the ``patience``-th consecutive reward < 0, counting only after ``grace_steps``.

    CarRacing pays -0.1 per frame and +1000/len(track) per new tile, so a run of negative rewards means no new tile
    was reached. Its first 50 frames are a zoom-in (t < 1 s at 50 FPS) in which a policy that does not yet
    accelerate earns -0.1 every frame; with ``grace_steps=50`` those frames never count, so patience 20 ends a
    stalled car at frame 70 at the earliest rather than at frame 20.
    """

    def __init__(self, num_envs: int, patience: int = 20, grace_steps: int = 50):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an int >= 1 (consecutive negative steps), got {patience!r}")
        if isinstance(grace_steps, bool) or not isinstance(grace_steps, int) or grace_steps < 0:
            raise ValueError(f"grace_steps must be an int >= 0, got {grace_steps!r}")
        self.patience = patience
        self.grace_steps = grace_steps
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._negative_run = np.zeros(num_envs, dtype=np.int64)

    def reset(self, env_ids: np.ndarray | slice = slice(None)) -> None:
        """Start new episodes in ``env_ids`` (all envs by default)."""
        self._steps[env_ids] = 0
        self._negative_run[env_ids] = 0

    def update(self, rewards, env_ids: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Count one step of ``env_ids`` with ``rewards``; return where the patience ran out at this step."""
        self._steps[env_ids] += 1
        counting = self._steps[env_ids] > self.grace_steps
        negative = np.asarray(rewards, dtype=np.float64) < 0
        self._negative_run[env_ids] = np.where(counting & negative, self._negative_run[env_ids] + 1, 0)
        return counting & (self._negative_run[env_ids] >= self.patience)


class NegativeRewardTermination(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Terminate one env on the ``patience``-th consecutive step with reward < 0 after ``grace_steps`` steps.

    See :class:`NegativeRewardPatience` for the rule. A step that ends the episode this way returns
    ``terminated=True`` and ``info["negative_reward_termination"] = True``. Counts are in steps of the wrapped env.
    """

    def __init__(self, env: gym.Env, patience: int = 20, grace_steps: int = 50):
        self._rule = NegativeRewardPatience(1, patience=patience, grace_steps=grace_steps)
        gym.utils.RecordConstructorArgs.__init__(self, patience=patience, grace_steps=grace_steps)
        gym.Wrapper.__init__(self, env)
        self.patience = patience
        self.grace_steps = grace_steps

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._rule.reset()
        return self.env.reset(seed=seed, options=options)

    def step(self, action) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if self._rule.update([float(reward)])[0] and not terminated:
            terminated = True
            info = {**info, INFO_KEY: True}
        return observation, reward, terminated, truncated, info
