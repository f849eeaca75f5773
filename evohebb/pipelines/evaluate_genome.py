"""``evohebb evaluate runs/<name>``: re-run an evolved genome on unseen seeds (optionally as a GIF)."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import torch

from evohebb.config import load_config
from evohebb.es.generation_seeds import evaluation_seeds
from evohebb.es.rollout import run_episodes, run_random_episodes
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.run_io import atomic_write_json, read_results

log = logging.getLogger(__name__)


def _save_gif(frames: list[np.ndarray], path: Path, fps: int = 30) -> None:
    from PIL import Image
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def evaluate_run(run_dir: Path, episodes: int = 5, gif: str | None = None, random_baseline: bool = False,
                 genome: str = "best", max_steps: int | None = None, overrides: list[str] | None = None) -> dict:
    """Re-run the run's ``genome`` (best or center) on ``episodes`` unseen seeds; write and return the report.

    ``overrides`` (``key=value``) change the run's config for this evaluation only, e.g.
    ``network.plastic=false`` plays the same genome without lifetime learning; the report then goes to
    ``evaluation-<genome>-<overrides>.json`` instead of ``evaluation-<genome>.json``.
    """
    overrides = list(overrides or [])
    cfg = load_config(EvolveConfig, run_dir / "config.yaml", overrides)
    results = read_results(run_dir)
    values = results.get(f"{genome}_genome")
    if values is None:
        raise FileNotFoundError(f"{run_dir}/results.json holds no {genome} genome: has the run finished a generation?")
    task = evaluation_task(cfg)
    if max_steps is not None:
        task = dataclasses.replace(task, max_steps=max_steps)
    seeds = evaluation_seeds(cfg.seed, episodes)
    network = task.build_network()
    genomes = torch.tensor(values, dtype=torch.float32, device=task.device).expand(episodes, -1).contiguous()

    envs = task.build_envs(episodes)
    try:
        played = run_episodes(network, envs, genomes, seeds, weight_seed=seeds[0], max_steps=task.max_steps,
                              to_action=task.spec.to_action)
        report = {"run": str(run_dir), "genome": genome, "overrides": overrides, "seeds": seeds,
                  "returns": played.returns.tolist(), "return_mean": float(played.returns.mean()),
                  "return_std": float(played.returns.std()), "lengths": played.lengths.tolist()}
        if task.kind == "classification":
            half = played.rewards[played.rewards.shape[0] // 2:]
            report["accuracy_last_half"] = float(half.mean())
            report["accuracy_first_half"] = float(played.rewards[: played.rewards.shape[0] // 2].mean())
        if random_baseline:
            randomly = run_random_episodes(envs, seeds, task.max_steps, action_seed=cfg.seed)
            report["random_returns"] = randomly.returns.tolist()
            report["random_return_mean"] = float(randomly.returns.mean())
            if task.kind == "classification":
                report["random_accuracy_last_half"] = float(randomly.rewards[randomly.rewards.shape[0] // 2:].mean())
    finally:
        envs.close()

    if gif:
        if task.kind != "carracing":
            raise ValueError("--gif records CarRacing episodes; this run's task is " + task.kind)
        one = task.build_envs(1, render_mode="rgb_array")
        try:
            recorded = run_episodes(network, one, genomes[:1], seeds[:1], weight_seed=seeds[0],
                                    max_steps=task.max_steps, to_action=task.spec.to_action,
                                    record=lambda: one.envs[0].render())
        finally:
            one.close()
        _save_gif(recorded.frames, Path(gif))
        report["gif"] = str(gif)
        log.info("saved %d frames to %s", len(recorded.frames), gif)
    suffix = re.sub(r"[^A-Za-z0-9._=-]", "_", "-" + ",".join(overrides)) if overrides else ""
    atomic_write_json(run_dir / f"evaluation-{genome}{suffix}.json", report)
    return report
