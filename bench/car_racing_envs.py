"""Benchmark of the two CarRacing backends, env only; prints JSON lines {"name", "value", "unit", "baseline", "ratio"}.

For each number of envs (default 1, 4, 16), in this one process and on one thread each:

1. ``env_steps_per_s_<backend>_n<N>``: random actions (``action_space.sample()``) through
   ``envs.make_car_racing_vector(N, backend=...)`` with the evolve defaults (64×64 RGB, patience 20), ``--steps``
   vector steps after a seeded reset; gymnasium's is ``SyncVectorEnv`` (one process), EnvPool's one C++ thread.
   EnvPool's line has gymnasium's figure as baseline and the speed-up as ratio.
2. ``env_steps_per_s_envpool_bare_n<N>``: EnvPool's pool stepped directly (raw 96×96 frames), against the line
   above: what our wrapper (resize, patience, autoreset bookkeeping) costs.
3. ``seeded_reset_s_<backend>_n<N>``: one ``reset(seed=[...])`` with new seeds: EnvPool builds a fresh pool
   (the only way it reproduces a track), gymnasium re-seeds its envs; both generate N tracks.
   ``unseeded_reset_s_envpool_n<N>``: ``reset()`` of the existing pool, against the seeded reset.

    python bench/car_racing_envs.py [--envs 1 4 16] [--steps 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import envpool
import numpy as np
from gymnasium.vector.utils import batch_space

from envs import CAR_RACING_BACKENDS, make_car_racing_vector
from envs.envpool_car_racing import ENVPOOL_CAR_RACING_ID


def emit(name, value, unit, baseline=None, ratio=None, **extra):
    print(json.dumps({"name": name, "value": round(value, 4), "unit": unit,
                      "baseline": None if baseline is None else round(baseline, 4),
                      "ratio": None if ratio is None else round(ratio, 2), **extra}), flush=True)  # fmt: skip


def build(backend: str, num_envs: int):
    extra = {"vectorization": "sync"} if backend == "gymnasium" else {}
    return make_car_racing_vector(num_envs, backend=backend, size=64, negative_patience=20, **extra)


def env_steps_per_s(env, num_envs: int, steps: int, seed: int) -> float:
    env.reset(seed=[seed + i for i in range(num_envs)])
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return num_envs * steps / (time.perf_counter() - start)


def seeded_reset_seconds(env, num_envs: int, seed: int) -> float:
    start = time.perf_counter()
    env.reset(seed=[seed + i for i in range(num_envs)])
    return time.perf_counter() - start


def bare_envpool_steps_per_s(num_envs: int, steps: int, seed: int) -> float:
    """EnvPool's pool used directly (96×96 frames, no resize, patience or autoreset handling of ours)."""
    pool = envpool.make_gymnasium(ENVPOOL_CAR_RACING_ID, num_envs=num_envs, batch_size=num_envs, num_threads=1,
                                  env_seed=[seed + i for i in range(num_envs)])  # fmt: skip
    pool.reset()
    with warnings.catch_warnings():  # EnvPool states the action bounds in float64
        warnings.filterwarnings("ignore", message=".*precision lowered by casting to float32")
        space = batch_space(pool.single_action_space, num_envs)
    space.seed(seed)
    actions = [space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        pool.step(action)
    pool.close()
    return num_envs * steps / (time.perf_counter() - start)


def unseeded_reset_seconds(env) -> float:
    start = time.perf_counter()
    env.reset()
    return time.perf_counter() - start


def median(values) -> float:
    return float(np.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 4, 16], help="numbers of envs to measure")
    parser.add_argument("--steps", type=int, default=100, help="vector steps per measurement (from a reset)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per figure; the median is reported")
    args = parser.parse_args()
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "load_1min": round(os.getloadavg()[0], 2)}  # fmt: skip
    repeats = range(args.repeats)

    for n in args.envs:
        speed, reset = {}, {}
        for backend in CAR_RACING_BACKENDS:
            env = build(backend, n)
            speed[backend] = median([env_steps_per_s(env, n, args.steps, 1000 * r) for r in repeats])
            reset[backend] = median([seeded_reset_seconds(env, n, 5000 + 100 * r) for r in repeats])
            if backend == "envpool":
                unseeded_reset = median([unseeded_reset_seconds(env) for _ in repeats])
            env.close()
        bare = median([bare_envpool_steps_per_s(n, args.steps, 1000 * r) for r in repeats])
        gym_speed, gym_reset = speed["gymnasium"], reset["gymnasium"]
        emit(f"env_steps_per_s_gymnasium_n{n}", gym_speed, "env-steps/s", steps=args.steps, **machine)
        emit(f"env_steps_per_s_envpool_n{n}", speed["envpool"], "env-steps/s", gym_speed, speed["envpool"] / gym_speed,
             steps=args.steps, **machine)  # fmt: skip
        emit(f"env_steps_per_s_envpool_bare_n{n}", bare, "env-steps/s", speed["envpool"], bare / speed["envpool"],
             steps=args.steps, note="baseline: the same through envs.make_car_racing_vector", **machine)  # fmt: skip
        emit(f"seeded_reset_s_gymnasium_n{n}", gym_reset, "s", **machine)
        emit(f"seeded_reset_s_envpool_n{n}", reset["envpool"], "s", gym_reset, reset["envpool"] / gym_reset,
             note="a fresh pool", **machine)  # fmt: skip
        emit(f"unseeded_reset_s_envpool_n{n}", unseeded_reset, "s", reset["envpool"], unseeded_reset / reset["envpool"],
             note="the existing pool's next tracks; baseline: the seeded reset (a fresh pool)", **machine)  # fmt: skip


if __name__ == "__main__":
    main()
