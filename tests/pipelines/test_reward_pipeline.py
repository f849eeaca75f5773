"""The reward pipeline end to end on small synthetic digits written in MNIST's idx format (labels 4, 7, 9)."""

import json
import struct

import numpy as np
import pytest

from evohebb.cli import main
from evohebb.config import ConfigError, load_config
from evohebb.pipelines.reward import run_reward
from evohebb.pipelines.reward_config import RewardConfig


def _idx(array: np.ndarray) -> bytes:
    return (struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
            + array.astype(np.uint8).tobytes())


def _strokes(label: int) -> np.ndarray:
    """Bar drawings of a 4, a 9 (the 4 closed at the top) and a 7 on 28×28."""
    img = np.zeros((28, 28), np.float32)
    if label == 4:
        img[5:16, 7:10] = img[13:16, 7:21] = img[5:24, 18:21] = 1
    elif label == 9:
        img[5:8, 8:21] = img[5:15, 8:11] = img[12:15, 8:21] = img[5:24, 18:21] = 1
    else:
        img[5:8, 6:22] = 1
        for r in range(8, 24):
            c = int(21 - (r - 8) * 0.6)
            img[r, c - 1:c + 2] = 1
    return img


def write_synthetic_479(root, n_train: int = 600, n_test: int = 300, seed: int = 0) -> None:
    """The seed's 4-7-9 task in spirit, with a distractor: every image also holds a bright blob in the left or the
    right bottom corner, independent of the class, which dominates what unsupervised clustering sees."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.choice([4, 7, 9], n).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.float32)
        for i, c in enumerate(labels):
            img = np.roll(_strokes(int(c)) * rng.uniform(0.6, 1.0), tuple(rng.integers(-2, 3, 2)), (0, 1))
            r0, c0 = rng.integers(20, 24), (1, 22)[rng.integers(2)]
            img[r0:r0 + 5, c0:c0 + 5] = 1.0
            images[i] = np.clip(img + rng.uniform(0, 0.1, img.shape), 0, 1)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx((images * 255).astype(np.uint8)))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(labels))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_synthetic_479(root)
    return root


def _overrides(root, *extra):
    """Three feedforward neurons for three classes, as the seed's 4-7-9 figure."""
    return [f"data.data_dir={root}", "data.classes=[4,7,9]", "network.variant=shallow", "network.feedf_neurons=3",
            "network.t_feedf=0.1", "training.batch_size=5", "baseline.epochs=0", "figures=false", *extra]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_dopamine_phase_raises_accuracy_over_the_pure_hebbian_phase(digits, tmp_path, seed):
    both = run_reward(load_config(RewardConfig, None, _overrides(
        digits, f"seed={seed}", "training.n_epi_crit=5", "training.n_epi_dopa=5")), tmp_path / "dopamine")
    hebbian_only = run_reward(load_config(RewardConfig, None, _overrides(
        digits, f"seed={seed}", "training.n_epi_crit=10", "training.n_epi_dopa=0")), tmp_path / "hebbian")
    # the blob, not the digit, decides which of the 3 neurons wins: Hebbian learning alone stays near 1/3 to 1/2.
    # The dopamine phase then learns the digits: all three at seed 0 (1.00 here), two of the three at seed 1 (0.64
    # against 0.45 here; a margin of 0.25 held on another CPU, whose rounding took seed 1 further), so the margin
    # asked of every seed is 0.15
    assert both["test_accuracy_after_hebbian_phase"] < 0.7
    assert both["test_accuracy"] > both["test_accuracy_after_hebbian_phase"] + 0.15, both["test_accuracy_per_epoch"]
    assert both["test_accuracy"] > hebbian_only["test_accuracy"] + 0.15      # not just more epochs
    explored = [e["explored"] for e in both["epochs"]]
    assert explored[:5] == [0.0] * 5 and min(explored[5:]) > 0     # exploration only in the dopamine phase


def test_resumed_run_equals_uninterrupted(digits, tmp_path):
    overrides = _overrides(digits, "data.train_subset=300", "data.test_subset=150", "training.n_epi_crit=2",
                           "training.n_epi_dopa=2", "baseline.epochs=2", "checkpoint.every=25")
    full = run_reward(load_config(RewardConfig, None, overrides), tmp_path / "full")
    # interrupted in the dopamine phase: a run that stopped after 3 epochs (60 updates each), whose last two
    # checkpoints are lost, so that it resumes from update 150, in the middle of epoch 3
    part = tmp_path / "part"
    run_reward(load_config(RewardConfig, None, [*overrides, "training.n_epi_dopa=1", "baseline.epochs=0"]), part)
    for step in (175, 180):
        (part / "checkpoints" / f"ckpt-{step:08d}.pt").unlink()
    resumed = run_reward(load_config(RewardConfig, None, overrides), part, resume=True)
    for key in ("test_accuracy_per_epoch", "baseline_test_accuracy_per_epoch", "hebbian_updates"):
        assert resumed[key] == full[key], key
    assert [e["train_accuracy"] for e in resumed["epochs"]] == [e["train_accuracy"] for e in full["epochs"]]
    steps = [json.loads(line)["step"] for line in (part / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and max(steps) == 242          # 4 × 60 updates, then 2 baseline epochs


def test_cli_writes_results_figures_and_baseline(digits, tmp_path):
    code = main(["reward", *_overrides(digits, "data.train_subset=200", "data.test_subset=100",
                                        "training.n_epi_crit=1", "training.n_epi_dopa=1", "baseline.epochs=2",
                                        "figures=true", "network.variant=conv", "network.conv_maps=4",
                                        "network.feedf_neurons=6", "dopamine.release=[conv,feedf]"),
                 "--runs-root", str(tmp_path), "--name", "r"])
    assert code == 0
    run = tmp_path / "r"
    results = json.loads((run / "results.json").read_text())
    assert results["variant"] == "conv" and results["n_train"] == 200 and len(results["classes"]) == 3
    assert 0 <= results["test_error"] <= 1 and len(results["baseline_test_accuracy_per_epoch"]) == 2
    for name in ("conv_maps", "feedf_projective_fields", "conv_maps_hebbian_phase", "test_accuracy"):
        assert (run / "figures" / f"{name}.png").stat().st_size > 1000, name
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum("epoch/test_accuracy" in r for r in lines) == 2
    assert any(p.name.startswith("events.out.tfevents") for p in run.iterdir())


def test_config_errors_name_the_field(digits):
    with pytest.raises(ConfigError, match=r"dopamine.release: \['conv'\] names 'conv', which the shallow"):
        load_config(RewardConfig, None, ["network.variant=shallow", "dopamine.release=[conv]"])
    with pytest.raises(ConfigError, match="network.input_sum: 700.0 is not allowed for the shallow variant"):
        load_config(RewardConfig, None, ["network.variant=shallow", "network.input_sum=700"])
    with pytest.raises(ConfigError, match="network.explore: 'hidden' is not allowed; allowed: 'none', 'conv'"):
        load_config(RewardConfig, None, ["network.explore=hidden"])
    with pytest.raises(ConfigError, match=r"data.classes: \[4\] is not allowed"):
        load_config(RewardConfig, None, ["data.classes=[4]"])
