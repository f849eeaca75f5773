"""The reward pipeline: hebbianCNN's dopamine-modulated soft-WTA classifier, then its backprop twin.

    evohebb reward configs/reward_mnist_shallow.yaml [key=value ...] [--resume runs/<name>]

``load config -> build -> loop(step, log, checkpoint) -> results``, in the order of :func:`run_reward`:

1. **Hebbian phase** (``training.n_epi_crit`` epochs): every layer learns by the soft-WTA Hebbian rule; the
   network takes its greedy choice and the classification layer learns from the reward of that choice (its
   dopamine table; the labels themselves are never seen);
2. **dopamine phase** (``training.n_epi_dopa`` epochs): exploration noise in ``network.explore``, and in the
   layers of ``dopamine.release`` each sample's learning rate is multiplied by its (prediction, reward) case's
   dopamine (:class:`~evohebb.plasticity.dopamine_table.DopamineTable`);
3. **baseline** (``baseline.epochs``): the same shapes trained by backprop (Adam, cross-entropy), as the seed's
   ``benchmark.py``.

Test accuracy of the greedy choice after every epoch. Global step: Hebbian updates ``1..U``, then baseline epoch
``e`` is step ``U + e``. Checkpoints (every ``checkpoint.every`` updates, after every epoch) hold the network,
the baseline and its optimiser, :class:`RewardState` as a plain dict, the RNG states and the config;
``resume=True`` continues from the last one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from evohebb.config import config_to_dict
from evohebb.data import ImageDataset, load_dataset
from evohebb.nn.reward_classifier import RewardClassifier, backprop_twin
from evohebb.pipelines.reward_config import RewardConfig
from evohebb.plasticity.dopamine_table import DopamineTable
from evohebb.run_io import (
    CheckpointManager,
    MetricsLogger,
    capture_rng_state,
    progress_bar,
    restore_rng_state,
    write_results,
)
from evohebb.run_io.plain_state import PlainState
from evohebb.run_io.run_settings import start_run

log = logging.getLogger(__name__)

#: what is counted over an epoch and over a logging window (one tensor per batch, summed)
COUNTS = ("seen", "greedy_correct", "rewarded", "explored", "skipped_conv", "skipped_feedf",
          "skipped_classification", "dopamine_conv", "dopamine_feedf", "dopamine_classification")


@dataclass
class RewardState(PlainState):
    """Where a run stands; checkpointed as a plain dict (:meth:`to_checkpoint`)."""

    step: int = 0                                               # Hebbian updates done
    hebbian_seconds: float = 0.0                                # wall time of the Hebbian run (with test passes)
    epoch_counts: dict[str, float] = field(default_factory=dict)   # COUNTS of the current epoch so far
    history: list[dict[str, float]] = field(default_factory=list)  # one record per finished Hebbian epoch
    baseline_epoch: int = 0
    baseline_seconds: float = 0.0
    baseline_history: list[float] = field(default_factory=list)    # test accuracy after each baseline epoch
    baseline_optimizer: dict[str, Any] | None = None


# ------------------------------------------------------------------------------------------------ entry
def run_reward(cfg: RewardConfig, run_dir: str | Path, resume: bool = False) -> dict:
    """Run the pipeline in ``run_dir`` (created by the caller); returns the dict written to results.json."""
    run_dir, device = start_run(cfg, run_dir)   # folder, device, seeds, the resolved config saved

    # ---- build
    train, test = load_split(cfg, train=True), load_split(cfg, train=False)
    net = RewardClassifier(cfg.network, train.image_shape, train.n_classes, device=device)
    twin = None
    if cfg.baseline.epochs:
        with torch.random.fork_rng(devices=[]):     # its own initialisation: the Hebbian run's noise is unchanged
            torch.manual_seed(cfg.seed + 1)
            twin = backprop_twin(cfg.network, train.image_shape, train.n_classes).to(device)
    table = DopamineTable.from_settings(cfg.dopamine)
    log.info("reward classifier (%s, %d feedforward neurons) on %s %s, %d classes; dopamine released in %s",
             cfg.network.variant, cfg.network.feedf_neurons, cfg.data.name, train.image_shape, train.n_classes,
             sorted(table.release))

    ckpt = CheckpointManager(run_dir / "checkpoints", keep_last=cfg.checkpoint.keep, best_mode="max")
    state = RewardState()
    resume_step = None
    if resume:
        saved = ckpt.load_latest(map_location=device)
        if saved is not None:
            net.load_state_dict(saved["network"])
            if twin is not None and saved["baseline"] is not None:
                twin.load_state_dict(saved["baseline"])
            state = RewardState.from_checkpoint(saved["state"])
            restore_rng_state(saved["rng"])
            resume_step = saved["step"]
            log.info("resumed from step %d (Hebbian updates %d, baseline epochs %d)", resume_step, state.step,
                     state.baseline_epoch)
    metrics = MetricsLogger(run_dir, resume_step=resume_step)

    def save(step: int, metric: float | None) -> None:
        ckpt.save({"network": net.state_dict(), "baseline": None if twin is None else twin.state_dict(),
                   "state": state.to_checkpoint(), "rng": capture_rng_state(), "step": step,
                   "config": config_to_dict(cfg)}, step, metric)

    # ---- loop: Hebbian and dopamine phases, then the backprop baseline
    train_x, train_y = train.to_float().to(device), train.labels.to(device)
    test_x, test_y = test.to_float().to(device), test.labels.to(device)
    try:
        train_hebbian(net, table, train_x, train_y, test_x, test_y, cfg, state, metrics, save, run_dir)
        offset = state.step
        if twin is not None:
            train_baseline(twin, train_x, train_y, test_x, test_y, cfg, state, offset, metrics, save)
        if cfg.figures:
            write_weight_figures(net, run_dir, metrics, offset, suffix="")
        write_accuracy_figure(state, run_dir, metrics, offset + state.baseline_epoch)
    finally:
        metrics.close()

    # ---- results
    results = summarise(cfg, state, train, test, device)
    write_results(run_dir, results)
    log.info("test error %.2f %% (Hebbian + dopamine, %.0f s); backprop twin %s", 100 * results["test_error"],
             state.hebbian_seconds, "not run" if results["baseline_test_error"] is None
             else f"{100 * results['baseline_test_error']:.2f} % ({state.baseline_seconds:.0f} s)")
    return results


def load_split(cfg: RewardConfig, train: bool) -> ImageDataset:
    """The configured split: only ``data.classes`` (relabelled 0..n-1 in that order), the first ``*_subset``."""
    d = cfg.data
    data = load_dataset(d.name, train=train, data_dir=d.data_dir, download=d.download)
    if d.classes is not None:
        keep = torch.isin(data.labels, torch.tensor(d.classes))
        relabel = torch.full((10,), -1, dtype=torch.int64)
        relabel[torch.tensor(d.classes)] = torch.arange(len(d.classes))
        data = ImageDataset(data.images[keep], relabel[data.labels[keep]],
                            [data.classes[c] for c in d.classes], data.name)
    n = d.train_subset if train else d.test_subset
    return data.subset(torch.arange(min(n, len(data)))) if n else data


# ------------------------------------------------------------------------------------------------ phases
def train_hebbian(net: RewardClassifier, table: DopamineTable, train_x: torch.Tensor, train_y: torch.Tensor,
                  test_x: torch.Tensor, test_y: torch.Tensor, cfg: RewardConfig, state: RewardState,
                  metrics: MetricsLogger, save, run_dir: Path) -> None:
    """Hebbian then dopamine epochs from ``state.step`` on; test accuracy after every epoch."""
    t = cfg.training
    B, n = t.batch_size, len(train_y)
    per_epoch = math.ceil(n / B)
    epochs = t.n_epi_crit + t.n_epi_dopa
    total = per_epoch * epochs
    crit_table = table.releasing({"classification"})   # pure Hebbian, except the layer that maps to classes
    done = state.step
    if done >= total:
        return
    bar = progress_bar(total=total, initial=done, desc="hebbian", unit="batch")
    window = torch.zeros(len(COUNTS), device=train_x.device, dtype=torch.float64)
    t0 = time.perf_counter()
    while done < total:   # one pass = the rest of one epoch
        epoch, batch_i = divmod(done, per_epoch)
        dopamine_phase = epoch >= t.n_epi_crit
        phase_table = table if dopamine_phase else crit_table
        explore = cfg.network.explore if dopamine_phase else "none"
        order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch)).to(train_x.device)
        counts = torch.tensor([state.epoch_counts.get(k, 0.0) for k in COUNTS], device=train_x.device,
                              dtype=torch.float64)
        for i in range(batch_i * B, n, B):
            idx = order[i:i + B]
            labels = train_y[idx]
            act = net.propagate(train_x[idx], explore)
            reward = (act.taken == labels).long()
            phase_table.release_for(act.prediction, reward)
            skipped = net.learn(act, [phase_table], dopamine_phase=dopamine_phase)
            batch = _batch_counts(act, labels, reward, skipped, phase_table)
            counts += batch
            window += batch
            done += 1
            bar.update(1)
            if done % t.log_every == 0:
                metrics.log(done, _window_metrics(window))
                window.zero_()
            if done % cfg.checkpoint.every == 0 and i + B < n:
                state.step, state.epoch_counts = done, dict(zip(COUNTS, counts.tolist(), strict=True))
                state.hebbian_seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                save(done, None)
        # ---- end of epoch: test, record, checkpoint
        test_acc = accuracy(net, test_x, test_y, t.eval_batch_size)
        c = dict(zip(COUNTS, counts.tolist(), strict=True))
        now = time.perf_counter()
        state.hebbian_seconds += now - t0
        t0 = now
        record = {"epoch": epoch + 1, "dopamine_phase": float(dopamine_phase),
                  "train_accuracy": c["greedy_correct"] / c["seen"], "reward_rate": c["rewarded"] / c["seen"],
                  "explored": c["explored"] / c["seen"], "test_accuracy": test_acc,
                  "seconds_so_far": state.hebbian_seconds}
        state.history.append(record)
        state.step, state.epoch_counts = done, {}
        metrics.log(done, {f"epoch/{k}": v for k, v in record.items()})
        log.info("epoch %d/%d (%s): train accuracy %.4f, reward rate %.4f, test accuracy %.4f", epoch + 1, epochs,
                 "dopamine" if dopamine_phase else "hebbian", record["train_accuracy"], record["reward_rate"],
                 test_acc)
        if cfg.figures and epoch + 1 == t.n_epi_crit and t.n_epi_dopa > 0:
            write_weight_figures(net, run_dir, metrics, done, suffix="_hebbian_phase")
        save(done, test_acc)
    bar.close()


def _batch_counts(act, labels: torch.Tensor, reward: torch.Tensor, skipped: dict[str, torch.Tensor],
                  table: DopamineTable) -> torch.Tensor:
    """One batch's :data:`COUNTS` as one float64 tensor (no host synchronisation)."""
    zero = reward.new_zeros((), dtype=torch.float64)
    values = [zero + len(labels), (act.greedy == labels).sum(), reward.sum(), (act.taken != act.greedy).sum()]
    values += [skipped.get(layer, zero) for layer in ("conv", "feedf", "classification")]
    for layer in ("conv", "feedf", "classification"):
        d = table.sample_factors(layer) if layer in table.values else None
        values.append(zero if d is None else d.sum())
    return torch.stack([v.to(torch.float64) for v in values])


def _window_metrics(window: torch.Tensor) -> dict[str, float]:
    c = dict(zip(COUNTS, window.tolist(), strict=True))
    seen = max(c["seen"], 1.0)
    out = {"hebbian/greedy_accuracy": c["greedy_correct"] / seen, "hebbian/reward_rate": c["rewarded"] / seen,
           "hebbian/explored": c["explored"] / seen}
    for layer in ("conv", "feedf", "classification"):
        out[f"hebbian/dopamine_mean_{layer}"] = c[f"dopamine_{layer}"] / seen
        out[f"hebbian/skipped_neurons_{layer}"] = c[f"skipped_{layer}"]
    return out


def train_baseline(model: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                   test_y: torch.Tensor, cfg: RewardConfig, state: RewardState, offset: int,
                   metrics: MetricsLogger, save) -> None:
    """The backprop twin: Adam on cross-entropy, ``baseline.epochs`` epochs from ``state.baseline_epoch`` on."""
    b = cfg.baseline
    optimizer = torch.optim.Adam(model.parameters(), lr=b.lr)
    if state.baseline_optimizer is not None:
        optimizer.load_state_dict(state.baseline_optimizer)
    for epoch in progress_bar(range(state.baseline_epoch, b.epochs), desc="backprop twin", unit="epoch"):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch))
        order = order.to(train_y.device)
        total_loss = torch.zeros((), device=train_y.device)
        for i in range(0, len(order), b.batch_size):
            idx = order[i:i + b.batch_size]
            loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(idx)
        test_acc = accuracy(model, test_x, test_y, cfg.training.eval_batch_size)
        state.baseline_seconds += time.perf_counter() - t0
        state.baseline_epoch = epoch + 1
        state.baseline_history.append(test_acc)
        state.baseline_optimizer = optimizer.state_dict()
        metrics.log(offset + epoch + 1, {"baseline/test_accuracy": test_acc,
                                         "baseline/train_loss": total_loss.item() / len(order)})
        log.info("backprop twin epoch %d/%d: test accuracy %.4f", epoch + 1, b.epochs, test_acc)
        save(offset + epoch + 1, None)


@torch.no_grad()
def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int) -> float:
    """Accuracy of ``argmax model(x)`` (for the Hebbian network: its greedy choice, no exploration)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=labels.device)
    for i in range(0, len(inputs), batch_size):
        correct += (model(inputs[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum()
    return correct.item() / max(1, len(inputs))


# ------------------------------------------------------------------------------------------------ results
def summarise(cfg: RewardConfig, state: RewardState, train: ImageDataset, test: ImageDataset,
              device: torch.device) -> dict:
    hist = state.history
    crit = [r for r in hist if not r["dopamine_phase"]]
    test_acc = hist[-1]["test_accuracy"] if hist else None
    base = state.baseline_history[-1] if state.baseline_history else None
    return {
        "variant": cfg.network.variant,
        "dataset": cfg.data.name,
        "classes": train.classes,
        "device": str(device),
        "n_train": len(train),
        "n_test": len(test),
        "feedf_neurons": cfg.network.feedf_neurons,
        "conv_maps": cfg.network.conv_maps if cfg.network.variant == "conv" else None,
        "hebbian_updates": state.step,
        "hebbian_seconds": state.hebbian_seconds,
        "test_accuracy": test_acc,
        "test_error": None if test_acc is None else 1.0 - test_acc,
        "test_accuracy_after_hebbian_phase": crit[-1]["test_accuracy"] if crit else None,
        "test_accuracy_per_epoch": [r["test_accuracy"] for r in hist],
        "epochs": hist,
        "baseline_epochs": state.baseline_epoch,
        "baseline_seconds": state.baseline_seconds,
        "baseline_test_accuracy": base,
        "baseline_test_error": None if base is None else 1.0 - base,
        "baseline_test_accuracy_per_epoch": state.baseline_history,
    }


# ------------------------------------------------------------------------------------------------ figures
def write_weight_figures(net: RewardClassifier, run_dir: Path, metrics: MetricsLogger, step: int,
                         suffix: str) -> None:
    """The conv maps and the feedforward neurons' projective fields: PNG in figures/ and TensorBoard images."""
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    pictures = {"feedf_projective_fields": net.projective_fields()}
    if net.conv_weight is not None:
        pictures = {"conv_maps": net.conv_weight.detach().clone(), **pictures}
    for name, images in pictures.items():
        images = images.cpu()
        metrics.log_images(f"weights/{name}{suffix}", images, step, nrow=_columns(len(images)))
        _save_grid(images, figures / f"{name}{suffix}.png", f"{name.replace('_', ' ')} (step {step})")


def _columns(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def _save_grid(images: torch.Tensor, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = _columns(len(images))
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8 + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image in zip(axes.flat, images):
        ax.imshow(image[0].numpy(), cmap="Greys", interpolation="nearest")
    fig.suptitle(title, fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def write_accuracy_figure(state: RewardState, run_dir: Path, metrics: MetricsLogger, step: int) -> None:
    """Test accuracy per Hebbian epoch (the dopamine phase shaded) and per baseline epoch."""
    if not state.history:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (run_dir / "figures").mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    epochs = [r["epoch"] for r in state.history]
    ax.plot(epochs, [100 * r["test_accuracy"] for r in state.history], marker=".", label="Hebbian + dopamine (test)")
    ax.plot(epochs, [100 * r["train_accuracy"] for r in state.history], ls=":", label="greedy, while training")
    dopa = [r["epoch"] for r in state.history if r["dopamine_phase"]]
    if dopa:
        ax.axvspan(min(dopa) - 0.5, max(dopa) + 0.5, color="tab:orange", alpha=0.1, label="dopamine phase")
    if state.baseline_history:
        ax.plot(range(1, len(state.baseline_history) + 1), [100 * a for a in state.baseline_history], marker=".",
                label="backprop twin (test)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(run_dir / "figures" / "test_accuracy.png", dpi=100, bbox_inches="tight")
    metrics.log_figure("accuracy_curve", fig, step)
