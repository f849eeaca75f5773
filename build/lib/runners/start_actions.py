"""What an evolve config's starting point does: the mean action of the search's initial centre for several seeds.

    python -m runners.start_actions configs/evolve_carracing_pixels.yaml [key=value ...] [--seeds 8] [--tracks 3]

The centre an evolution starts from is ``network.genome_init`` drawn from the run's ``seed``. For each seed this
plays that centre's first episode (learning online, as in training, through the evolve service's own rollout) on
``--tracks`` tracks and prints, as one JSON line per seed, its mean action over steps ``--from`` to ``--steps``
(after CarRacing's 50-frame zoom-in; fewer where every episode ended sooner) and the fraction of those steps with
each action at a nonzero bound (``saturated``: steering at full lock, a pedal fully down): a start whose steering
sits at full lock on every track is one an evolution must first undo (see docs/results.md).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

import evohebb  # noqa: F401  (Ray settings before ray is imported)
from evohebb.config import load_config
from evohebb.es.rollout import at_bound, run_episodes, saturation_bounds
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig


def start_actions(cfg: EvolveConfig, seeds: range, tracks: int, first: int, steps: int) -> list[dict]:
    task = evaluation_task(cfg)
    network, envs = task.build_network(), task.build_envs(tracks)
    bounds = saturation_bounds(envs)
    rows = []
    for seed in seeds:
        centre = network.genome_init(torch.Generator().manual_seed(seed)).cpu()
        actions: list[np.ndarray] = []

        def recorded(output, actions=actions):
            actions.append(task.spec.to_action(output))
            return actions[-1]

        run_episodes(network, envs, centre.expand(tracks, -1).contiguous(), list(range(100, 100 + tracks)),
                     weight_seed=0, max_steps=steps, to_action=recorded)
        window = np.stack(actions)[first:]
        row = {"seed": seed, "mean_action": [round(float(a), 3) for a in window.mean(axis=(0, 1))],
               "outputs": list(task.spec.output_names)}
        if bounds is not None:      # the fraction of those steps at a nonzero bound (full lock, a pedal down)
            row["saturated"] = [round(float(f), 3) for f in at_bound(window, bounds).mean(axis=(0, 1))]
        rows.append(row)
    envs.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the config")
    parser.add_argument("--seeds", type=int, default=8, help="start seeds 0 .. N-1 (default 8)")
    parser.add_argument("--tracks", type=int, default=3, help="tracks per seed (seeds 100, 101, ...; default 3)")
    parser.add_argument("--from", dest="first", type=int, default=50, help="first step averaged (default 50)")
    parser.add_argument("--steps", type=int, default=80, help="steps played (default 80)")
    args = parser.parse_args(argv)
    if not 0 <= args.first < args.steps:
        parser.error(f"--from must be in [0, --steps); got --from {args.first} with --steps {args.steps}")
    torch.set_num_threads(1)
    cfg = load_config(EvolveConfig, args.config, args.overrides)
    for row in start_actions(cfg, range(args.seeds), args.tracks, args.first, args.steps):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
