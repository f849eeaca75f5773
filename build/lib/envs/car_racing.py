"""CarRacing (``CarRacing-v3``, Box2D) with the preprocessing evohebb uses: one gymnasium env, or a vector env on
either backend (:data:`CAR_RACING_BACKENDS`).

gymnasium backend, wrapping order (inner to outer): ``gym.make`` (its ``TimeLimit``) →
:class:`NegativeRewardTermination` → ``RepeatAction`` (frame skip) → resize (``TransformObservation``) →
``GrayscaleObservation``. The time limit and the negative-reward patience therefore count *simulator frames*,
independent of ``frame_skip``; the agent acts every ``frame_skip`` frames and gets the summed reward. Observations
stay channels-last uint8 (``size×size×3``, or ``size×size×1`` in grayscale), as gymnasium's image wrappers expect.

The envpool backend (:mod:`envs.envpool_car_racing`) runs EnvPool's C++ port of the same env with the same options,
order and vector semantics; its tracks differ from gymnasium's for equal seeds. gymnasium's env stays the reference
that reported scores are measured on.

Tracks are generated from the reset seed: ``reset(seed=s)`` gives the same track, and the same action sequence
then gives the same observations and rewards.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import gymnasium as gym
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from envs.car_racing_options import (
    CAR_RACING_BACKENDS,
    CAR_RACING_FRAME_SIZE,
    ZOOM_IN_FRAMES,
    check_car_racing_options,
)
from envs.image_resize import resize_image_observation
from envs.negative_reward_termination import NegativeRewardTermination

logger = logging.getLogger(__name__)

CAR_RACING_ID = "CarRacing-v3"
VECTORIZATION_MODES = ("async", "sync")
AUTORESET_MODES = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
                   "disabled": AutoresetMode.DISABLED}  # fmt: skip

__all__ = [
    "AUTORESET_MODES",
    "CAR_RACING_BACKENDS",
    "CAR_RACING_FRAME_SIZE",
    "CAR_RACING_ID",
    "VECTORIZATION_MODES",
    "ZOOM_IN_FRAMES",
    "make_car_racing",
    "make_car_racing_vector",
]


def make_car_racing(
    size: int = 64,
    grayscale: bool = False,
    frame_skip: int = 1,
    negative_patience: int | None = 20,
    max_steps: int | None = None,
    render_mode: str | None = None,
    grace_steps: int = ZOOM_IN_FRAMES,
) -> gym.Env:
    """A CarRacing-v3 env: observations ``size×size×3`` uint8 (``×1`` if ``grayscale``), continuous actions.

    ``frame_skip``: repeat each action this many frames (summed reward). ``negative_patience``: terminate after this
    many consecutive negative-reward frames once ``grace_steps`` frames (the zoom-in) have passed; None disables it.
    ``max_steps``: episode limit in frames (None keeps CarRacing's 1000). ``render_mode=None`` is headless.
    """
    check_car_racing_options(size=size, frame_skip=frame_skip, negative_patience=negative_patience,
                             max_steps=max_steps, grace_steps=grace_steps)
    allowed_render = (None, "rgb_array", "state_pixels", "human")
    if render_mode not in allowed_render:
        raise ValueError(f"render_mode={render_mode!r} is not allowed; use one of {allowed_render}")

    env = gym.make(CAR_RACING_ID, render_mode=render_mode, max_episode_steps=max_steps)
    if negative_patience is not None:
        env = NegativeRewardTermination(env, patience=negative_patience, grace_steps=grace_steps)
    if frame_skip > 1:
        env = gym.wrappers.RepeatAction(env, num_repeats=frame_skip)
    if size != CAR_RACING_FRAME_SIZE:
        env = resize_image_observation(env, (size, size))
    if grayscale:
        env = gym.wrappers.GrayscaleObservation(env, keep_dim=True)
    return env


def make_car_racing_vector(
    num_envs: int,
    vectorization: str | None = None,
    autoreset_mode: str = "next_step",
    *,
    backend: str = "gymnasium",
    **car_racing_kwargs: Any,
) -> gym.vector.VectorEnv:
    """``num_envs`` CarRacing envs in one vector env, on ``backend`` (one of :data:`CAR_RACING_BACKENDS`).

    ``car_racing_kwargs`` are :func:`make_car_racing`'s (size, grayscale, frame_skip, negative_patience, max_steps,
    grace_steps, render_mode); both backends give the same observation shape, dtype and resampling, the same
    action space, rules and next-step autoreset (use :class:`envs.episode_returns.EpisodeReturns` to count each
    env's first episode only), but not the same track for the same seed.

    ``backend="gymnasium"`` (the reference): ``vectorization="async"`` (the default when None) runs each env in its
    own process (``AsyncVectorEnv``): measured 240–266 env-steps/s with 2 envs on 2 cores vs ~170 for ``"sync"``
    (``SyncVectorEnv``, one process, no start-up or pickling cost; better for 1 env, few cores, or inside a Ray actor
    that already owns one core). ``autoreset_mode`` is gymnasium's (``"next_step"``, ``"same_step"``, ``"disabled"``).

    ``backend="envpool"``: EnvPool's C++ CarRacing on one thread (:class:`envs.envpool_car_racing.EnvPoolCarRacing`);
    ``vectorization`` must stay None, ``autoreset_mode`` ``"next_step"``, ``render_mode`` None.
    """
    check_car_racing_options(num_envs=num_envs)
    if backend not in CAR_RACING_BACKENDS:
        raise ValueError(f"backend={backend!r} is not allowed; use one of {CAR_RACING_BACKENDS}")
    if autoreset_mode not in AUTORESET_MODES:
        raise ValueError(
            f"autoreset_mode={autoreset_mode!r} is not allowed; use one of {tuple(AUTORESET_MODES)}"
        )
    if backend == "envpool":
        if vectorization is not None:
            raise ValueError(f"vectorization={vectorization!r} applies to backend='gymnasium' only (EnvPool steps its "
                             "envs in its own C++ thread); leave it None with backend='envpool'")  # fmt: skip
        if autoreset_mode != "next_step":
            raise ValueError(f"autoreset_mode={autoreset_mode!r} is not allowed with backend='envpool'; "
                             "use 'next_step'")  # fmt: skip
        from envs.envpool_car_racing import make_envpool_car_racing_vector  # imports envpool (~0.7 s) only when used

        logger.debug("building EnvPool CarRacing vector env (%d envs) with %s", num_envs, car_racing_kwargs)
        return make_envpool_car_racing_vector(num_envs, **car_racing_kwargs)

    vectorization = "async" if vectorization is None else vectorization
    if vectorization not in VECTORIZATION_MODES:
        raise ValueError(f"vectorization={vectorization!r} is not allowed; use one of {VECTORIZATION_MODES}")
    make_one = functools.partial(make_car_racing, **car_racing_kwargs)
    make_one().close()  # validates the arguments here, with a clear error, rather than inside a worker process
    vector_class = AsyncVectorEnv if vectorization == "async" else SyncVectorEnv
    logger.debug("building %s(%d) CarRacing envs with %s", vector_class.__name__, num_envs, car_racing_kwargs)
    return vector_class([make_one] * num_envs, autoreset_mode=AUTORESET_MODES[autoreset_mode])
