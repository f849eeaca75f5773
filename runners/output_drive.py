"""How hard a genome drives its outputs: the pre-activation that each output's tanh sees while it plays.

    python -m runners.output_drive zoo/carracing_conv_readout_centred_seed2.json [key=value ...]
        [--genome best] [--tracks 2] [--from 50] [--steps 400]

The genome (a zoo file, or a run folder with ``--genome best | center | best_validation``) plays ``--tracks`` test
tracks, learning online as in ``evohebb evaluate`` (the environment entry's reference conditions; ``key=value``
overrides win). Over steps ``--from`` to ``--steps`` it prints one JSON object:

* ``preactivation``: per output, the median and 90th percentile of |z|, the output layer's pre-activation. tanh is
  within 5 % of its bound beyond |z| = 1.83, so a median far above that is an output that only ever takes its
  bounds (bang-bang steering), and a search's σ-neighbours then tie on most frames;
* ``input``: the output layer's fan-in, its inputs' mean |x| and their mean temporal std (how much they change with
  the frame);
* ``weights``: the output layer's mean |w| and, per output, the fraction of its weights at the clip
  (``network.weight_clip``), at the first and at the last step;
* ``returns``: each track's return over the steps played.

|z| grows with fan-in × mean |x| × mean |w| where the inputs and weights line up: the same weight box (±1) lets a
392-feature conv readout reach a far larger pre-activation than a 64-pixel one, though whether it does is up to the
weights a search found (docs/results.md, "How hard each driver steers").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import evohebb  # noqa: F401  (Ray settings before ray is imported)
from evohebb.es.generation_seeds import evaluation_seeds
from evohebb.es.rollout import run_episodes
from evohebb.pipelines.evaluate_genome import GENOMES, load_genome_network

#: |z| beyond which tanh is within 5 % of its bound
TANH_NEAR_BOUND = 1.83


def output_drive(source: Path, overrides: list[str], genome: str = "best", tracks: int = 2, first: int = 50,
                 steps: int = 400) -> dict:
    cfg, task, network, values, origin = load_genome_network(Path(source), genome, overrides)
    seeds = evaluation_seeds(tracks)
    genomes = torch.tensor(values, dtype=torch.float32, device=task.device).expand(tracks, -1).contiguous()
    inputs, preacts = [], []
    readout = {}         # the output layer's weights at the first step (before its first update) and the last

    def recorded(output):
        x, z = network.last_readout()
        inputs.append(x.cpu().numpy().copy())
        preacts.append(z.cpu().numpy().copy())
        if "first" not in readout:
            readout["first"] = network.weights()[-1].cpu().numpy().copy()
        return task.spec.to_action(output)

    envs = task.build_envs(tracks)
    try:
        played = run_episodes(network, envs, genomes, seeds, weight_seed=seeds[0], max_steps=steps,
                              to_action=recorded)
    finally:
        envs.close()
    readout["last"] = network.weights()[-1].cpu().numpy()
    if len(preacts) <= first:
        raise ValueError(f"every episode ended after {len(preacts)} steps, before --from {first}: nothing to measure")
    # steps after an episode ended are the next episode's (autoreset): keep each track's own steps only
    live = np.arange(len(preacts))[:, None] < played.lengths[None, :]
    live = live[first:]
    z, x = np.abs(np.stack(preacts)[first:]), np.stack(inputs)[first:]
    x_live = np.where(live[..., None], x, np.nan)          # [T, P, n_in], other episodes' steps masked out
    clip = cfg.network.weight_clip
    names = list(task.spec.output_names)
    report = {"source": str(source), "genome": origin, "overrides": overrides, "seeds": seeds,
              "steps": [first, len(preacts)], "returns": [round(float(r), 1) for r in played.returns],
              "preactivation": {name: {"median": round(float(np.median(z[..., o][live])), 3),
                                       "p90": round(float(np.percentile(z[..., o][live], 90)), 3)}
                                for o, name in enumerate(names)},
              "tanh_near_bound": TANH_NEAR_BOUND,
              "input": {"fan_in": int(x.shape[-1]), "mean_abs": round(float(np.abs(x[live]).mean()), 4),
                        "temporal_std": round(float(np.nanstd(x_live, axis=0).mean()), 4)},
              "weights": {"mean_abs": {when: round(float(np.abs(w).mean()), 4) for when, w in readout.items()}}}
    if clip is not None:
        report["weights"]["at_clip"] = {
            when: {name: round(float((np.abs(w[:, o]) >= clip * (1 - 1e-6)).mean()), 4) for o, name in enumerate(names)}
            for when, w in readout.items()}                 # w: [P, n_out, n_in]
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a zoo file or a run folder")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the genome's config")
    parser.add_argument("--genome", choices=GENOMES, default="best", help="a run folder's genome (default best)")
    parser.add_argument("--tracks", type=int, default=2, help="test tracks played at once (default 2)")
    parser.add_argument("--from", dest="first", type=int, default=50,
                        help="first step measured (default 50: after CarRacing's zoom-in)")
    parser.add_argument("--steps", type=int, default=400, help="steps played (default 400)")
    args = parser.parse_args(argv)
    if args.tracks < 1:
        parser.error(f"--tracks must be >= 1; got {args.tracks}")
    if not 0 <= args.first < args.steps:
        parser.error(f"--from must be in [0, --steps); got --from {args.first} with --steps {args.steps}")
    torch.set_num_threads(1)
    print(json.dumps(output_drive(Path(args.source), args.overrides, args.genome, args.tracks, args.first,
                                  args.steps), indent=1), flush=True)


if __name__ == "__main__":
    main()
