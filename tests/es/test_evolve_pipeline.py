"""The evolve pipeline end to end: resume equals an uninterrupted run, SIGKILL loses at most one
checkpoint interval, bad configs are rejected naming the field, and a CarRacing run on Ray writes
TensorBoard events and results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evohebb.cli import main
from evohebb.run_io import CheckpointManager, read_metrics, read_results

REPO = Path(__file__).resolve().parents[2]


def _mnist_args(data_dir, *extra):
    return ["task=classification", "classification.dataset=mnist", f"classification.data_dir={data_dir}",
            "network.rpe.enabled=true", "network.rpe.prediction=greedy", "network.rpe.scale=sign",
            "algorithm.popsize=6", "evaluation.max_steps=30", "evaluation.num_actors=0",
            "checkpoint.every=1", *extra]


def _fitness_history(run_dir: Path) -> list[tuple[int, float, float]]:
    return [(m["step"], m["fitness/best"], m["fitness/mean"]) for m in read_metrics(run_dir)]


def test_resumed_run_equals_uninterrupted(tmp_path, mnist_like_dir):
    runs = tmp_path / "runs"
    assert main(["evolve", *_mnist_args(mnist_like_dir, "generations=4"), "--runs-root", str(runs),
                 "--name", "straight"]) == 0
    assert main(["evolve", *_mnist_args(mnist_like_dir, "generations=2"), "--runs-root", str(runs),
                 "--name", "split"]) == 0
    assert read_results(runs / "split")["generations_done"] == 2
    assert main(["evolve", "generations=4", "--resume", str(runs / "split")]) == 0

    straight, split = _fitness_history(runs / "straight"), _fitness_history(runs / "split")
    assert [s for s, _, _ in straight] == [0, 1, 2, 3]
    assert split == straight
    a, b = read_results(runs / "straight"), read_results(runs / "split")
    assert a["best_genome"] == b["best_genome"] and a["center_genome"] == b["center_genome"]
    assert b["completed"] is True


def test_resumed_carracing_run_on_envpool_equals_uninterrupted(tmp_path):
    """The default CarRacing setting on EnvPool (common tracks, validation): a run stopped after 2 generations and
    resumed reproduces the uninterrupted run's fitness and validation history and its genomes."""
    runs = tmp_path / "runs"
    base = ["evolve", str(REPO / "configs" / "evolve_carracing.yaml"), "algorithm.popsize=4",
            "evaluation.max_steps=60", "evaluation.num_actors=0", "evaluation.validation_every=2",
            "evaluation.validation_episodes=2", "checkpoint.every=1", "--runs-root", str(runs)]
    assert main([*base, "generations=4", "--name", "straight"]) == 0
    assert main([*base, "generations=2", "--name", "split"]) == 0
    assert main(["evolve", "generations=4", "--resume", str(runs / "split")]) == 0

    def history(run):
        return [(m["step"], m["fitness/best"], m["fitness/mean"], m.get("validation/mean")) for m in read_metrics(run)]

    straight = history(runs / "straight")
    assert [s for s, *_ in straight] == [0, 1, 2, 3] and straight[1][3] is not None
    assert history(runs / "split") == straight
    a, b = read_results(runs / "straight"), read_results(runs / "split")
    assert a["best_genome"] == b["best_genome"] and a["center_genome"] == b["center_genome"]


def test_sigkilled_run_resumes_from_last_checkpoint(tmp_path, mnist_like_dir):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "runners.evolve", *_mnist_args(mnist_like_dir, "generations=6",
           "evaluation.max_steps=60"), "--runs-root", str(runs), "--name", "killed"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "EVOHEBB_PROGRESS": "0"})
    ckpts = runs / "killed" / "checkpoints"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (runs / "killed" / "results.json").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    steps = CheckpointManager(ckpts).steps()
    assert steps, "no checkpoint was written before the kill"
    # results.json is rewritten with every checkpoint: export and evaluate read a running run as of one
    partial = read_results(runs / "killed")
    assert partial["generations_done"] in steps and partial["best_genome"] is not None
    assert partial["completed"] is (partial["generations_done"] == 6)

    assert main(["evolve", "--resume", str(runs / "killed")]) == 0
    history = read_metrics(runs / "killed")
    assert [m["step"] for m in history] == list(range(6))      # no generation lost twice or logged twice
    assert read_results(runs / "killed")["completed"] is True


@pytest.mark.parametrize("override, field, allowed", [
    ("algorithm.popsize=7", "algorithm.popsize", "even"),
    ("algorithm.name=pgep", "algorithm.name", "'pgpe'"),
    ("evaluation.max_steps=0", "evaluation.max_steps", "[1, inf)"),
    ("evaluation.episodes=3", "evaluation.episodes", "episodes_per_individual"),
    ("generations=ten", "generations", "int"),
])
def test_bad_config_is_rejected_naming_the_field(tmp_path, caplog, override, field, allowed):
    assert main(["evolve", override, "--runs-root", str(tmp_path / "runs")]) == 2
    message = " ".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert field in message and allowed in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_existing_run_is_not_reused(tmp_path, mnist_like_dir, caplog):
    args = ["evolve", *_mnist_args(mnist_like_dir, "generations=1"), "--runs-root", str(tmp_path), "--name", "x"]
    assert main(args) == 0
    assert main(args) == 2
    assert "--resume" in caplog.text and "--overwrite" in caplog.text
    assert main([*args, "--overwrite"]) == 0


def test_carracing_evolution_on_ray_writes_events_and_results(tmp_path, local_ray):
    run = tmp_path / "runs" / "car"
    assert main(["evolve", str(REPO / "configs" / "evolve_carracing.yaml"), "generations=2",
                 "algorithm.popsize=4", "--runs-root", str(tmp_path / "runs"),
                 "--name", "car", "evaluation.max_steps=70"]) == 0   # overrides may follow options
    assert list(run.glob("events.out.tfevents.*")), "no TensorBoard event file"
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [0, 1]
    assert all(m["evaluation/env_steps"] > 0 and m["evaluation/failed"] == 0 for m in metrics)
    # the mean episode length (a search whose cars stop ends every episode early: docs/evolve.md)
    episodes = 4 * 3     # popsize 4 x the config's 3 tracks per generation
    assert all(m["evaluation/episode_steps_mean"] == m["evaluation/env_steps"] / episodes for m in metrics)
    assert all(0 < m["evaluation/episode_steps_mean"] <= 70 for m in metrics)
    assert metrics[-1]["validation/episode_steps_mean"] == metrics[-1]["validation/env_steps"] / 5   # 5 tracks
    # how often each action sat at a nonzero bound (steering at full lock: the plateaus of docs/results.md)
    for prefix in ("evaluation", "validation"):
        assert all(0 <= metrics[-1][f"{prefix}/saturated/{name}"] <= 1 for name in ("steer", "gas", "brake"))
    # the random policy's return on each generation's own seeds is logged beside the fitness, and plotted
    from evohebb.config import load_config
    from evohebb.es.generation_seeds import generation_seeds
    from evohebb.es.rollout import run_random_episodes
    from evohebb.pipelines.evolve import evaluation_task
    from evohebb.pipelines.evolve_config import EvolveConfig
    cfg = load_config(EvolveConfig, run / "config.yaml")
    assert cfg.carracing.backend == "envpool"
    k = cfg.evaluation.episodes_per_individual
    envs = evaluation_task(cfg).build_envs(k)
    for m in metrics:
        seeds = generation_seeds(0, m["step"], k)
        assert m["fitness/random"] == pytest.approx(run_random_episodes(envs, seeds, 70, seeds[0]).returns.mean())
    envs.close()
    # the search centre on the fixed validation tracks, after the last generation
    assert "validation/mean" in metrics[-1] and metrics[-1]["validation/std"] >= 0
    assert (run / "figures" / "fitness.png").stat().st_size > 1000
    results = json.loads((run / "results.json").read_text())
    assert results["completed"] and len(results["best_genome"]) == results["genome_size"]
    assert (run / "config.yaml").exists()

    # the best genome re-runs on unseen seeds, beside random actions, and one episode is saved as a GIF
    gif = tmp_path / "best.gif"
    assert main(["evaluate", str(run), "--episodes", "2", "--max-steps", "60", "--baselines",
                 "--gif", str(gif)]) == 0
    report = json.loads((run / "evaluation-best.json").read_text())
    assert len(report["returns"]) == 2 and len(report["random_returns"]) == 2
    assert report["backend"] == "gymnasium" and report["negative_patience"] == 0   # the reference conditions
    assert set(report["saturated"]) == {"steer", "gas", "brake"}
    assert all(0 <= f <= 1 for f in report["saturated"].values())
    assert len(report["scripted_returns"]) == 2 and len(report["full_gas_returns"]) == 2
    # the baselines see CarRacing's own 96x96 RGB frame, not the genome's 8x8 grayscale view
    from envs.baseline_policies import scripted_driver
    from envs.car_racing import make_car_racing_vector
    from evohebb.es.rollout import run_policy_episodes
    native = make_car_racing_vector(2, backend="gymnasium", vectorization="sync", size=96, negative_patience=None)
    assert native.single_observation_space.shape == (96, 96, 3)
    replayed = run_policy_episodes(native, report["seeds"], 60, scripted_driver)
    native.close()
    assert report["scripted_returns"] == replayed.returns.tolist()
    assert Path(report["histogram"]).stat().st_size > 1000
    # the baselines do not depend on the genome: another evaluation on the same conditions reuses them, and one on
    # other seeds is refused naming the field
    reused = tmp_path / "reused.json"
    assert main(["evaluate", str(run), "--episodes", "2", "--max-steps", "60", "--genome", "center",
                 "--baselines-from", str(run / "evaluation-best.json"), "--out", str(reused)]) == 0
    again = json.loads(reused.read_text())
    for name in ("scripted", "random"):
        assert again[f"{name}_returns"] == report[f"{name}_returns"]
    assert Path(again["histogram"]).exists()
    with pytest.raises(ValueError, match="its seeds is .* this evaluation's is"):
        main(["evaluate", str(run), "--episodes", "2", "--max-steps", "60", "--first-seed", "5",
              "--baselines-from", str(run / "evaluation-best.json"), "--out", str(reused)])
    # a zoo file (genome + config in one JSON) replays from anywhere, on tracks of one's choosing
    zoo = tmp_path / "zoo" / "car.json"
    assert main(["export", str(run), str(zoo)]) == 0
    readout = tmp_path / "readout.png"
    assert main(["evaluate", str(zoo), "--episodes", "2", "--max-steps", "60", "--first-seed", "7",
                 "--readout-figure", str(readout)]) == 0
    replay = json.loads((tmp_path / "zoo" / "car.evaluation.json").read_text())
    assert replay["seeds"] == [7, 8] and replay["genome"] == "zoo:car" and len(replay["returns"]) == 2
    assert replay["readout_figure"] == str(readout) and readout.stat().st_size > 5000
    from PIL import Image
    with Image.open(gif) as image:
        assert image.n_frames > 10 and image.size == (200, 133)   # every 2nd frame, scaled


def test_evaluate_reports_within_lifetime_accuracy(tmp_path, mnist_like_dir):
    assert main(["evolve", *_mnist_args(mnist_like_dir, "generations=1"), "--runs-root", str(tmp_path),
                 "--name", "m"]) == 0
    assert main(["evaluate", str(tmp_path / "m"), "--episodes", "3", "--baselines"]) == 0
    report = json.loads((tmp_path / "m" / "evaluation-best.json").read_text())
    assert 0.0 <= report["accuracy_last_half"] <= 1.0
    assert "saturated" not in report             # a classifier's choice has no bounds to sit at
    assert report["return_mean"] == pytest.approx(
        30 * (report["accuracy_first_half"] + report["accuracy_last_half"]) / 2)
    # the same genome with the run's config changed for this evaluation only (here: no lifetime learning)
    assert main(["evaluate", str(tmp_path / "m"), "--episodes", "3", "network.plastic=false"]) == 0
    static = json.loads((tmp_path / "m" / "evaluation-best-network.plastic=false.json").read_text())
    assert static["overrides"] == ["network.plastic=false"] and static["seeds"] == report["seeds"]
    assert json.loads((tmp_path / "m" / "evaluation-best.json").read_text()) == report   # left untouched
    # a quick look on other tracks keeps the report beside the genome and is named by its tracks
    assert main(["evaluate", str(tmp_path / "m"), "--episodes", "1", "--first-seed", "9"]) == 0
    assert json.loads((tmp_path / "m" / "evaluation-best.json").read_text()) == report
    quick = json.loads((tmp_path / "m" / f"evaluation-best-1x{report['max_steps']}-from9.json").read_text())
    assert quick["seeds"] == [9] and len(quick["returns"]) == 1
    # the same tracks again replace it (a re-measurement)
    assert main(["evaluate", str(tmp_path / "m"), "--episodes", "3", "--baselines"]) == 0
    assert sorted(p.name for p in (tmp_path / "m").glob("evaluation-best*.json")) == [
        f"evaluation-best-1x{report['max_steps']}-from9.json", "evaluation-best-network.plastic=false.json",
        "evaluation-best.json"]
    assert main(["evaluate", str(tmp_path / "m"), "network.plastik=false"]) == 2   # a misspelt key is refused


def test_readout_recording_follows_the_rule():
    """The readout recorded over an episode changes when the rule learns and stays the evolved one without it."""
    import numpy as np
    import torch

    from evohebb.config import load_config
    from evohebb.es.rollout import run_episodes
    from evohebb.pipelines.evolve import evaluation_task
    from evohebb.pipelines.evolve_config import EvolveConfig
    from evohebb.pipelines.readout_figure import readout_recorder

    for plastic in (True, False):
        cfg = load_config(EvolveConfig, REPO / "configs" / "evolve_carracing.yaml",
                          ["evaluation.max_steps=40", f"network.plastic={str(plastic).lower()}"])
        task = evaluation_task(cfg)
        network = task.build_network()
        genome = network.genome_init(torch.Generator().manual_seed(0)).unsqueeze(0)
        genome[:, network.genome_slices()["out.eta"]] = 50.0          # eta 0.5 after eta_scale
        envs = task.build_envs(1)
        played = run_episodes(network, envs, genome, [3], weight_seed=3, max_steps=task.max_steps,
                              to_action=task.spec.to_action, record=readout_recorder(network))
        envs.close()
        weights = np.stack(played.frames)
        assert weights.shape == (40, 3, 64)
        evolved = network.named_genome(genome)["out.W"][0].numpy()
        np.testing.assert_allclose(weights[0], evolved, rtol=1e-6)
        assert (np.abs(weights[-1] - weights[1]).max() > 1e-3) == plastic


def test_evaluate_with_workers_plays_the_same_episodes(tmp_path, mnist_like_dir):
    """Two processes, each a contiguous share of the seeds from the same weight seed: the one-process report's
    episodes (a classifier's episode does not amplify rounding), and the shares' results merged in seed order."""
    assert main(["evolve", *_mnist_args(mnist_like_dir, "generations=1"), "--runs-root", str(tmp_path),
                 "--name", "m"]) == 0
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert main(["evaluate", str(tmp_path / "m"), "--episodes", "5", "--out", str(one)]) == 0
    assert main(["evaluate", str(tmp_path / "m"), "--episodes", "5", "--workers", "2", "--out", str(two)]) == 0
    single, split = json.loads(one.read_text()), json.loads(two.read_text())
    assert split["workers"] == 2 and "workers" not in single and split["seeds"] == single["seeds"]
    assert split["returns"] == pytest.approx(single["returns"], abs=1e-4)
    assert split["lengths"] == single["lengths"]
    with pytest.raises(SystemExit):
        main(["evaluate", str(tmp_path / "m"), "--workers", "0"])


def test_shares_of_seeds_merge_in_order():
    from evohebb.es.rollout import RolloutResult
    from evohebb.pipelines.episode_workers import merge_results, split_seeds
    assert split_seeds(list(range(5)), 2) == [[0, 1, 2], [3, 4]]
    assert split_seeds([7, 8], 4) == [[7], [8]]
    with pytest.raises(ValueError, match="--workers: 0 is not allowed"):
        split_seeds([1], 0)
    a = RolloutResult(returns=np.array([1.0, 2.0]), lengths=np.array([3, 1]), env_steps=6,
                      rewards=np.array([[0.5, 2.0], [0.25, 0.0], [0.25, 0.0]]), saturated=np.zeros((2, 3)))
    b = RolloutResult(returns=np.array([4.0]), lengths=np.array([1]), env_steps=1, rewards=np.array([[4.0]]),
                      saturated=np.ones((1, 3)))
    merged = merge_results([a, b])
    assert merged.returns.tolist() == [1.0, 2.0, 4.0] and merged.lengths.tolist() == [3, 1, 1]
    assert merged.env_steps == 7 and merged.rewards.shape == (3, 3)
    assert merged.rewards[:, 2].tolist() == [4.0, 0.0, 0.0] and merged.rewards.sum(0).tolist() == [1.0, 2.0, 4.0]
    assert merged.saturated[:, 0].tolist() == [0.0, 0.0, 1.0]
