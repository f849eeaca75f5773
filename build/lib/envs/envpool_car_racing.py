"""CarRacing on EnvPool's C++ ``CarRacing-v3``, as a gymnasium vector env with the semantics of the gymnasium backend.

What EnvPool does itself: the simulation, the time limit (``max_episode_steps``, in frames) and the tracks, drawn
from per-env seeds fixed when a pool is created (``env_seed``); it ignores ``reset(seed=...)`` and a second reset of
the same pool draws the *next* track. :class:`EnvPoolCarRacing` adds what the gymnasium backend gets from its
wrappers, per simulator frame and per env:

* seeds: ``reset(seed=[...])`` builds a fresh pool with ``env_seed=seeds``, so the same seeds give the same tracks
  every time; ``reset()`` without a seed resets the existing pool (each env's next track, like gymnasium's unseeded
  reset continuing its generator);
* early termination after ``negative_patience`` consecutive negative-reward frames once ``grace_steps`` frames (the
  zoom-in) have passed (:class:`envs.negative_reward_termination.NegativeRewardPatience`, the rule the gymnasium
  backend's wrapper applies), with ``info["negative_reward_termination"]`` as gymnasium's ``SyncVectorEnv`` reports it;
* frame skip as gymnasium's ``RepeatAction``: an action is held ``frame_skip`` frames and the rewards are summed; an
  env whose episode ends inside the repeat stops there (EnvPool steps a subset of its envs through ``env_id``);
* next-step autoreset as gymnasium's vector envs: the step after an env's episode ended (by EnvPool or by the
  patience rule) resets that env (its new first observation, reward 0, action ignored);
* batched ``observation_space``/``action_space`` beside the single ones (EnvPool reports only the single spaces).

Observations are EnvPool's raw 96×96×3 uint8 frames; resizing and grayscale are gymnasium's vector observation
wrappers on top (:func:`make_envpool_car_racing_vector`). Rewards are float64 (EnvPool computes float32).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import envpool
import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.car_racing_options import CAR_RACING_FRAME_SIZE, ZOOM_IN_FRAMES, check_car_racing_options
from envs.image_resize import resize_vector_observation
from envs.negative_reward_termination import INFO_KEY, NegativeRewardPatience

logger = logging.getLogger(__name__)

ENVPOOL_CAR_RACING_ID = "CarRacing-v3"
CAR_RACING_MAX_FRAMES = 1000  # CarRacing-v3's own episode limit (gymnasium's registration and EnvPool's)
SEED_RANGE = (0, 2**31 - 1)  # EnvPool's seeds are int32; gymnasium's are non-negative


class EnvPoolCarRacing(gym.vector.VectorEnv):
    """``num_envs`` EnvPool CarRacing envs stepped together on ``num_threads`` C++ threads (see the module doc)."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int,
        frame_skip: int = 1,
        negative_patience: int | None = 20,
        max_steps: int | None = None,
        grace_steps: int = ZOOM_IN_FRAMES,
        num_threads: int = 1,
    ):
        check_car_racing_options(num_envs=num_envs, frame_skip=frame_skip, negative_patience=negative_patience,
                                 max_steps=max_steps, grace_steps=grace_steps, num_threads=num_threads)
        self.num_envs = num_envs
        self.frame_skip = frame_skip
        self.max_steps = CAR_RACING_MAX_FRAMES if max_steps is None else max_steps
        self.num_threads = num_threads
        self._patience = (None if negative_patience is None
                          else NegativeRewardPatience(num_envs, patience=negative_patience, grace_steps=grace_steps))
        spec = envpool.make_spec(ENVPOOL_CAR_RACING_ID)
        with warnings.catch_warnings():  # EnvPool states the action bounds in float64; the space is float32 anyway
            warnings.filterwarnings("ignore", message=".*precision lowered by casting to float32")
            self.single_observation_space = spec.gymnasium_observation_space
            self.single_action_space = spec.gymnasium_action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self._pool = None
        self._seeds: list[int] | None = None
        self._observations = np.zeros(self.observation_space.shape, dtype=np.uint8)
        self._ended = np.zeros(num_envs, dtype=bool)

    @property
    def seeds(self) -> list[int] | None:
        """The ``env_seed`` of the current pool: the seed of each env's first track since the last seeded reset."""
        return None if self._seeds is None else list(self._seeds)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every env. ``seed``: a list of ``num_envs`` ints, or one int ``s`` for ``[s, s+1, ...]``, or None.

        A seed builds a fresh pool (the only way EnvPool reproduces a track); None resets the existing pool.
        """
        if options:
            raise ValueError(f"reset options are not supported by the EnvPool CarRacing backend, got {options!r}")
        seeds = self._seed_list(seed)
        if seeds is None and self._pool is None:
            seeds = [int(s) for s in np.random.SeedSequence().generate_state(self.num_envs) % SEED_RANGE[1]]
        if seeds is not None:
            self._build_pool(seeds)
        observations, _ = self._pool.reset()
        self._observations[:] = observations
        self._ended[:] = False
        if self._patience is not None:
            self._patience.reset()
        return self._observations.copy(), {}

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._pool is None:
            raise RuntimeError("EnvPoolCarRacing.step() before reset(); call reset(seed=[...]) first")
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != self.action_space.shape:
            raise ValueError(f"actions must have shape {self.action_space.shape} (num_envs, 3), got {actions.shape}")
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        patience_ended = np.zeros(self.num_envs, dtype=bool)
        if self._ended.any():  # next-step autoreset of the envs whose episode ended at the previous step
            observations, info = self._pool.reset(np.flatnonzero(self._ended).astype(np.int32))
            self._observations[info["env_id"]] = observations
            if self._patience is not None:
                self._patience.reset(info["env_id"])
        running = ~self._ended
        for _ in range(self.frame_skip):
            if not running.any():
                break
            env_id = None if running.all() else np.flatnonzero(running).astype(np.int32)
            observations, reward, frame_terminated, frame_truncated, info = self._pool.step(
                actions if env_id is None else actions[env_id], env_id
            )
            stepped = info["env_id"]
            self._observations[stepped] = observations
            rewards[stepped] += reward
            if self._patience is not None:
                fired = self._patience.update(reward, stepped) & ~frame_terminated
                patience_ended[stepped] = fired
                frame_terminated = frame_terminated | fired
            terminated[stepped] = frame_terminated
            truncated[stepped] = frame_truncated
            running[stepped] &= ~(frame_terminated | frame_truncated)
        self._ended = terminated | truncated
        info = {INFO_KEY: patience_ended, f"_{INFO_KEY}": patience_ended.copy()} if patience_ended.any() else {}
        return self._observations.copy(), rewards, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _seed_list(self, seed: int | list[int] | None) -> list[int] | None:
        if seed is None:
            return None
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int | np.integer) else list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed must be one int or a list of num_envs={self.num_envs} ints, got {len(seeds)} seeds")
        low, high = SEED_RANGE
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int | np.integer) or not low <= s <= high:
                raise ValueError(f"seed {s!r} is not allowed: EnvPool seeds are ints in [{low}, {high}] (None entries "
                                 f"are not supported; pass seed=None to draw the next tracks)")  # fmt: skip
        return [int(s) for s in seeds]

    def _build_pool(self, seeds: list[int]) -> None:
        if self._pool is not None:
            self._pool.close()
        self._pool = envpool.make_gymnasium(
            ENVPOOL_CAR_RACING_ID, num_envs=self.num_envs, batch_size=self.num_envs, num_threads=self.num_threads,
            env_seed=seeds, max_episode_steps=self.max_steps,
        )
        self._seeds = seeds
        logger.debug("EnvPool CarRacing pool: %d envs, %d thread(s), seeds %s", self.num_envs, self.num_threads, seeds)


def make_envpool_car_racing_vector(
    num_envs: int,
    size: int = 64,
    grayscale: bool = False,
    frame_skip: int = 1,
    negative_patience: int | None = 20,
    max_steps: int | None = None,
    grace_steps: int = ZOOM_IN_FRAMES,
    render_mode: str | None = None,
) -> gym.vector.VectorEnv:
    """:class:`EnvPoolCarRacing` with the gymnasium backend's observation pipeline: resize (Pillow area filter, the
    same function as :func:`envs.car_racing.make_car_racing`) to ``size×size``, then ``GrayscaleObservation``."""
    if render_mode is not None:
        raise ValueError(f"render_mode={render_mode!r} is not supported by backend='envpool' (headless only); "
                         "record episodes with backend='gymnasium'")  # fmt: skip
    check_car_racing_options(size=size)
    vector_env = EnvPoolCarRacing(num_envs, frame_skip=frame_skip, negative_patience=negative_patience,
                                  max_steps=max_steps, grace_steps=grace_steps)
    if size != CAR_RACING_FRAME_SIZE:
        vector_env = resize_vector_observation(vector_env, (size, size))
    if grayscale:
        vector_env = gym.wrappers.vector.GrayscaleObservation(vector_env, keep_dim=True)
    return vector_env
