"""End an episode after N consecutive negative-reward steps (CarRacing: the car left the track or stalled)."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym


class NegativeRewardTermination(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Terminate on the ``patience``-th consecutive step with reward < 0, counting only after ``grace_steps``.

    CarRacing pays -0.1 per frame and +1000/len(track) per new tile, so a run of negative rewards means no new tile
    was reached. Its first 50 frames are a zoom-in (t < 1 s at 50 FPS) in which a policy that does not yet
    accelerate earns -0.1 every frame; with ``grace_steps=50`` those frames never count, so patience 20 ends a
    stalled car at frame 70 at the earliest rather than at frame 20. A step that ends the episode this way returns
    ``terminated=True`` and ``info["negative_reward_termination"] = True``. Counts are in steps of the wrapped env.
    """

    def __init__(self, env: gym.Env, patience: int = 20, grace_steps: int = 50):
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an int >= 1 (consecutive negative steps), got {patience!r}")
        if not isinstance(grace_steps, int) or grace_steps < 0:
            raise ValueError(f"grace_steps must be an int >= 0, got {grace_steps!r}")
        gym.utils.RecordConstructorArgs.__init__(self, patience=patience, grace_steps=grace_steps)
        gym.Wrapper.__init__(self, env)
        self.patience = patience
        self.grace_steps = grace_steps
        self._steps = 0
        self._negative_run = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._steps = 0
        self._negative_run = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        if self._steps > self.grace_steps:
            self._negative_run = self._negative_run + 1 if float(reward) < 0 else 0
            if self._negative_run >= self.patience and not terminated:
                terminated = True
                info = {**info, "negative_reward_termination": True}
        return observation, reward, terminated, truncated, info
