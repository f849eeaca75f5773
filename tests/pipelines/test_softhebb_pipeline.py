"""The softhebb pipeline end to end on a small synthetic data set written in the CIFAR-10 pickle format."""

import json
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from evohebb.config import load_config
from evohebb.pipelines.softhebb import lr_factor, run_softhebb
from evohebb.pipelines.softhebb_config import SoftHebbConfig
from evohebb.plasticity.competition import Competition
from evohebb.plasticity.competition_registry import COMPETITIONS, register_competition
from evohebb.plasticity.rule import CopyUpdate, HebbianRule, Term
from evohebb.plasticity.rule_registry import RULES, register_rule
from evohebb.run_io import CheckpointManager


def _class_images(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[int]]:
    """Ten classes: oriented colour gratings (5 orientations x 2 colour pairs) with random phase and noise."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    images, labels = [], []
    for _ in range(n):
        c = int(rng.integers(10))
        angle = np.pi * (c % 5) / 5
        wave = np.sin(0.9 * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 2 * np.pi))
        colour = np.array([1.0, 0.2, 0.2]) if c < 5 else np.array([0.2, 0.3, 1.0])
        img = 0.5 + 0.4 * wave[None] * colour[:, None, None] + 0.1 * rng.standard_normal((3, 32, 32))
        images.append(np.clip(img * 255, 0, 255).astype(np.uint8).reshape(-1))
        labels.append(c)
    return np.stack(images), labels


def write_synthetic_cifar10(root, n_train_per_batch: int = 100, n_test: int = 200, seed: int = 0) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, n in [(f"data_batch_{i}", n_train_per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        data, labels = _class_images(rng, n)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, fh)


SMALL = ["model.channels=[16,32,64]", "readout.epochs=8", "readout.batch_size=32", "unsupervised.log_every=10",
         "checkpoint.every=20", "readout.feature_dtype=float32"]


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_synthetic_cifar10(root)
    return root


def test_pipeline_beats_chance_on_synthetic_cifar(cifar_root, tmp_path):
    cfg = load_config(SoftHebbConfig, None,
                      [f"data.data_dir={cifar_root}", *SMALL])
    results = run_softhebb(cfg, tmp_path)
    assert results["test_accuracy"] > 0.5, results  # chance is 0.1
    assert results["unsupervised_updates"] == 50  # 500 images, batch 10
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test_accuracy"] == results["test_accuracy"]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum("readout/test_accuracy" in r for r in lines) == 8
    for layer in (1, 2, 3):   # kernels for layer 1, gradient-ascent preferred inputs for the deeper ones
        assert (tmp_path / "figures" / f"receptive_fields_layer{layer}.png").stat().st_size > 1000
    assert (tmp_path / "config.yaml").is_file()


def test_resumed_run_equals_uninterrupted(cifar_root, tmp_path):
    overrides = [f"data.data_dir={cifar_root}", *SMALL, "readout.epochs=3", "receptive_fields=false",
                 "data.test_subset=100"]
    full = run_softhebb(load_config(SoftHebbConfig, None, overrides), tmp_path / "full")
    # interrupted: a run stopped after readout epoch 1 whose last checkpoints are lost, so that it resumes
    # in the middle of the unsupervised phase (update 40 of 50)
    part_dir = tmp_path / "part"
    run_softhebb(load_config(SoftHebbConfig, None, [*overrides, "readout.epochs=1"]), part_dir)
    for step in (50, 51):
        (part_dir / "checkpoints" / f"ckpt-{step:08d}.pt").unlink()
    resumed = run_softhebb(load_config(SoftHebbConfig, None, overrides), part_dir, resume=True)
    assert resumed["test_accuracy_per_epoch"] == full["test_accuracy_per_epoch"]
    assert resumed["unsupervised_updates"] == 50
    steps = [json.loads(line)["step"] for line in (part_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no duplicated steps after the resume


def test_lr_halving_schedule():
    halve = [0.2, 0.5]
    assert [lr_factor(e, 10, halve) for e in range(10)] == [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25]


def test_backprop_baseline_is_scored_on_scaled_images(cifar_root, tmp_path):
    """The end-to-end baseline learns the synthetic classes, and its reported test accuracy is the one the
    trained model really has on [0, 1]-scaled test images (uint8 test images once reached it unscaled)."""
    import torch

    from evohebb.data import load_dataset
    from evohebb.pipelines.softhebb import build_model
    from evohebb.run_io import CheckpointManager

    cfg = load_config(SoftHebbConfig, None, [f"data.data_dir={cifar_root}", *SMALL,
                                             "model.architecture=backprop", "readout.epochs=3"])
    results = run_softhebb(cfg, tmp_path)
    state = CheckpointManager(tmp_path / "checkpoints").load_latest()
    model = build_model(cfg, (3, 32, 32), 10, "cpu")
    model.load_state_dict(state["model"])
    model.eval()
    test = load_dataset("cifar10", train=False, data_dir=cifar_root)
    with torch.no_grad():
        expected = (model(test.images.float() / 255).argmax(1) == test.labels).float().mean().item()
    assert results["test_accuracy"] == pytest.approx(expected, abs=1e-6)
    assert results["test_accuracy"] > 0.5


def test_hybrid_alpha_mixes_cross_entropy_gradients_into_hebbian_updates(cifar_root, tmp_path):
    """hebbian.alpha < 1: the head's cross-entropy falls during the hybrid phase, the conv weights end
    elsewhere than under the pure Hebbian rule from the same seed, and the readout still beats chance."""
    import torch

    from evohebb.run_io import CheckpointManager

    base = [f"data.data_dir={cifar_root}", *SMALL, "readout.epochs=3", "receptive_fields=false",
            "unsupervised.log_every=5"]
    hybrid = run_softhebb(load_config(SoftHebbConfig, None, [*base, "hebbian.alpha=0.5", "unsupervised.bp_lr=0.05"]),
                          tmp_path / "hybrid")
    hebbian = run_softhebb(load_config(SoftHebbConfig, None, base), tmp_path / "hebbian")
    ce = [r["unsup/cross_entropy"] for r in map(json.loads, (tmp_path / "hybrid" / "metrics.jsonl").open())
          if "unsup/cross_entropy" in r]
    assert len(ce) == 10 and sum(ce[-3:]) / 3 < 0.8 * sum(ce[:3]) / 3, ce
    w = [CheckpointManager(tmp_path / run / "checkpoints").load_latest()["model"] for run in ("hybrid", "hebbian")]
    conv = next(k for k in w[0] if k.endswith("weight") and w[0][k].dim() == 4)
    assert not torch.allclose(w[0][conv], w[1][conv], atol=1e-4)
    assert hybrid["test_accuracy"] > 0.5 and hebbian["test_accuracy"] > 0.5


@pytest.mark.parametrize("overrides, field", [
    (["hebbian.alpha=0.5"], "unsupervised.bp_lr"),
    (["hebbian.alpha=0.5", "unsupervised.bp_lr=0.1", "unsupervised.schedule=layerwise"], "unsupervised.schedule"),
])
def test_hybrid_config_errors_name_the_field(overrides, field):
    from evohebb.config import ConfigError
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(SoftHebbConfig, None, overrides)


def test_readout_from_another_runs_hebbian_network(cifar_root, tmp_path):
    """unsupervised.from_run: the second run skips the Hebbian phase, uses the first run's network unchanged
    (weights and BN statistics), trains a fresh readout for its own number of epochs and says where its
    network came from; a run without finished Hebbian phase, or another architecture, is refused by name."""
    import torch

    from evohebb.config import ConfigError
    from evohebb.run_io import CheckpointManager

    base = [f"data.data_dir={cifar_root}", *SMALL, "readout.epochs=2", "receptive_fields=false",
            "data.test_subset=100", "checkpoint.keep=10"]
    run_softhebb(load_config(SoftHebbConfig, None, base), tmp_path / "source")
    again = run_softhebb(load_config(SoftHebbConfig, None, [*base, "readout.epochs=4", "seed=3",
                                                            f"unsupervised.from_run={tmp_path / 'source'}"]),
                         tmp_path / "readout")
    assert again["unsupervised_from"] == str(tmp_path / "source") and again["unsupervised_updates"] == 50
    assert len(again["test_accuracy_per_epoch"]) == 4 and again["test_accuracy"] > 0.5
    lines = [json.loads(line) for line in (tmp_path / "readout" / "metrics.jsonl").read_text().splitlines()]
    assert not any(k.startswith("unsup/") for r in lines for k in r)   # no Hebbian update ran here
    source, copy = (CheckpointManager(tmp_path / run / "checkpoints").load_latest()["model"]
                    for run in ("source", "readout"))
    shared = [k for k in source if not k.startswith("classifier.")]
    assert any(k.endswith("running_var") for k in shared)
    assert all(torch.equal(source[k], copy[k]) for k in shared)
    assert not torch.equal(source["classifier.weight"], copy["classifier.weight"])

    with pytest.raises(ConfigError, match=r"unsupervised\.from_run.*no checkpoints"):
        load_config(SoftHebbConfig, None, [*base, f"unsupervised.from_run={tmp_path / 'nowhere'}"])
    for step in (50, 51, 52):   # the source as if killed at update 40 of its 50
        (tmp_path / "source" / "checkpoints" / f"ckpt-{step:08d}.pt").unlink()
    with pytest.raises(ConfigError, match=r"unsupervised\.from_run.*has not finished \(update 40\)"):
        run_softhebb(load_config(SoftHebbConfig, None, [*base, f"unsupervised.from_run={tmp_path / 'source'}"]),
                     tmp_path / "early")
    run_softhebb(load_config(SoftHebbConfig, None, [*base, "readout.epochs=0"]), tmp_path / "hebbian_only")
    other = load_config(SoftHebbConfig, None, [*base, "model.channels=[8,16,32]",
                                               f"unsupervised.from_run={tmp_path / 'hebbian_only'}"])
    with pytest.raises(ConfigError, match=r"unsupervised\.from_run.*does not fit model"):
        run_softhebb(other, tmp_path / "other")


# ---------------------------------------------- a rule and a competition defined only here, selected by name
class MarginWTA(Competition):
    """k-WTA with a margin: at each position every neuron within ``competition_k`` of the winner learns (1), the
    others do not (0). It counts its calls (its state, checkpointed) and keeps the activations it saw (a spy)."""

    seen: list = []

    def __init__(self, margin: float):
        self.margin, self.calls = margin, torch.zeros((), dtype=torch.long)

    @classmethod
    def from_settings(cls, settings, n_neurons, device=None):
        return cls(settings.competition_k)

    def signal(self, a, dim=1):
        MarginWTA.seen.append(a.clone())
        self.calls += 1
        return (a >= a.amax(dim, keepdim=True) - self.margin).to(a.dtype)

    def state_dict(self):
        return {"calls": self.calls.clone()}

    def load_state_dict(self, state):
        self.calls.copy_(state["calls"])


class InstarRule(HebbianRule):
    """Grossberg's instar (competitive learning): ``Δw_k = Σ y_k (x − w_k)``, each learning kernel moves toward
    its input patch. It keeps what it was given (a spy)."""

    runs_without_parameters = True     # no genome: a SoftHebb layer can use it
    sharing_modes = ("delta",)         # a decay term
    seen: list = []

    def copy_update(self, pre, post, weight, state=None):
        InstarRule.seen.append((pre.clone(), post.clone(), weight.clone()))
        return CopyUpdate(terms=(Term(pre=pre, post=post, name="hebbian"),), decay=post.sum(1), weight=weight)


@pytest.fixture
def instar_and_margin_wta():
    """Registered under their names for one test only (the registries are global)."""
    register_competition("margin_wta")(MarginWTA)
    register_rule("instar")(InstarRule)
    MarginWTA.seen.clear()
    InstarRule.seen.clear()
    yield
    COMPETITIONS.pop("margin_wta")
    RULES.pop("instar")


def test_a_rule_and_a_competition_defined_in_a_test_run_through_the_pipeline(cifar_root, tmp_path,
                                                                             instar_and_margin_wta):
    """``hebbian.rule=instar hebbian.mode=margin_wta`` from a SoftHebb config: the layer's learning signal is the
    competition's, and every Hebbian update of the real pipeline equals a dense oracle of the instar rule
    (``W += eta0 · Δ / max|Δ|``, ``Δ_k = Σ_{n,l} y_nkl (x_nl − w_k)``); the competition's state is checkpointed."""
    cfg = load_config(SoftHebbConfig, None, [
        f"data.data_dir={cifar_root}", "hebbian.rule=instar", "hebbian.mode=margin_wta", "hebbian.competition_k=0.3",
        "hebbian.adaptive_lr=false", "model.n_layers=1", "model.channels=[8]", "model.eta0=[0.05]",
        "data.train_subset=100", "data.test_subset=50", "readout.epochs=1", "readout.feature_dtype=float32",
        "receptive_fields=false"])
    results = run_softhebb(cfg, tmp_path)
    assert results["unsupervised_updates"] == 10 == len(InstarRule.seen) == len(MarginWTA.seen)

    for (pre, post, w), a, (_, _, w_next) in zip(InstarRule.seen, MarginWTA.seen, InstarRule.seen[1:]):
        margin_winners = (a >= a.amax(1, keepdim=True) - 0.3).float()
        assert torch.equal(post[0], margin_winners)                    # the rule learns from the competition
        assert margin_winners.sum(1).max() > 1                          # ... which lets several neurons learn
        k = w.shape[-1]
        patches = F.unfold(pre[0], k)                                   # [B, Cin*k*k, L]
        y = post[0].flatten(2)                                          # [B, K, L]
        w_flat = w[0].reshape(w.shape[1], -1)
        delta = torch.einsum("bkl,bdl->kd", y, patches) - y.sum((0, 2))[:, None] * w_flat
        expected = w_flat + 0.05 * delta / delta.abs().max()
        assert torch.allclose(w_next[0].reshape(w.shape[1], -1), expected, atol=1e-5)
        assert not torch.allclose(w_next, w)

    saved = CheckpointManager(tmp_path / "checkpoints").load_latest()
    assert list(saved["plasticity"].values()) == [{"margin_wta": {"calls": torch.tensor(10)}}]
