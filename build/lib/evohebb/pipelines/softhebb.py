"""The softhebb pipeline: one unsupervised Hebbian epoch, then a linear readout on cached frozen features.

    evohebb softhebb configs/softhebb_mnist.yaml [key=value ...] [--resume runs/<name>]

``load config -> build -> loop(step, log, checkpoint) -> results``, in the order of :func:`run_softhebb`:

1. **unsupervised** (``unsupervised.epochs``, batch 10): every Hebbian layer updates from its own input,
   all layers in one pass (``schedule=together``) or one block after the other (``layerwise``);
2. **features**: the frozen network (eval mode) maps train and test images once; readout epochs never
   re-run the Hebbian stack;
3. **readout**: Dropout + Linear, Adam, learning rate halved at ``readout.lr_halve_at`` fractions; test
   accuracy after every epoch to TensorBoard and ``metrics.jsonl``.

With ``model.architecture=backprop`` the same architecture is trained end to end instead (the baseline).
Global step: unsupervised updates ``1..U``, then readout epoch ``e`` is step ``U + e``. Checkpoints hold the
model, the plasticity state, :class:`SoftHebbState` (as a plain dict, with the readout optimiser), RNG states
and the config; ``resume=True`` continues from the last (every ``checkpoint.every`` Hebbian updates and after
every readout epoch).
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

from evohebb.config import ConfigError, config_to_dict
from evohebb.data import ImageDataset, load_dataset
from evohebb.nn.architectures import count_parameters, get_model, model_settings
from evohebb.nn.softhebb_blocks import HebbianConvNet
from evohebb.pipelines.softhebb_config import SoftHebbConfig
from evohebb.pipelines.softhebb_figures import write_figures
from evohebb.pipelines.training_figures import TrainingFigures
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


@dataclass
class SoftHebbState(PlainState):
    """Where a run stands; checkpointed as a plain dict (:meth:`to_checkpoint`)."""

    unsup_step: int = 0                     # Hebbian updates done (over all epochs and stages)
    unsup_complete: bool = False            # the Hebbian phase is over (its last update is done)
    unsup_seconds: float = 0.0              # time spent in Hebbian updates, summed over resumes
    unsup_images_per_s: float | None = None
    unsup_from: str | None = None           # the run whose Hebbian network this one took (unsupervised.from_run)
    feature_seconds: float = 0.0            # time to extract the frozen features
    epoch: int = 0                          # readout (or backprop) epochs done
    history: list[float] = field(default_factory=list)        # test accuracy after each epoch
    epoch_seconds: list[float] = field(default_factory=list)
    optimizer: dict[str, Any] | None = None  # state_dict of the readout's Adam

    @property
    def hebbian_phase_done(self) -> bool:
        return self.unsup_complete or self.epoch > 0

    @property
    def best_accuracy(self) -> float | None:
        return max(self.history) if self.history else None


# ------------------------------------------------------------------------------------------------ entry
def run_softhebb(cfg: SoftHebbConfig, run_dir: str | Path, resume: bool = False) -> dict:
    """Run the pipeline in ``run_dir`` (created by the caller); returns the dict written to results.json."""
    run_dir, device = start_run(cfg, run_dir)   # folder, device, seeds, the resolved config saved

    # ---- build
    train = _first(load_dataset(cfg.data.name, train=True, data_dir=cfg.data.data_dir, download=cfg.data.download),
                   cfg.data.train_subset)
    test = _first(load_dataset(cfg.data.name, train=False, data_dir=cfg.data.data_dir, download=cfg.data.download),
                  cfg.data.test_subset)
    model = build_model(cfg, train.image_shape, train.n_classes, device)
    backprop = not any(layer.plastic for layer in model.hebbian_layers())
    log.info("%s on %s %s: %d parameters, feature dim %d, %s", cfg.model.architecture, cfg.data.name,
             train.image_shape, count_parameters(model), model.feature_dim,
             "end-to-end backprop" if backprop else "Hebbian + linear readout")

    ckpt = CheckpointManager(run_dir / "checkpoints", keep_last=cfg.checkpoint.keep, best_mode="max")
    state = SoftHebbState()
    resume_step = None
    if resume:
        saved = ckpt.load_latest(map_location=device)
        if saved is not None:
            model.load_state_dict(saved["model"])
            model.load_plasticity_state(saved["plasticity"])
            state = SoftHebbState.from_checkpoint(saved["state"])
            restore_rng_state(saved["rng"])
            resume_step = saved["step"]
            log.info("resumed from step %d (unsupervised updates %d, readout epochs %d)", resume_step,
                     state.unsup_step, state.epoch)
    metrics = MetricsLogger(run_dir, resume_step=resume_step)

    def save(step: int, metric: float | None) -> None:
        ckpt.save({"model": model.state_dict(), "plasticity": model.plasticity_state(),
                   "state": state.to_checkpoint(), "rng": capture_rng_state(), "step": step,
                   "config": config_to_dict(cfg)}, step, metric)

    # ---- loop: Hebbian phase, frozen features, readout (or the end-to-end baseline)
    try:
        train_y, test_y = train.labels.to(device), test.labels.to(device)
        if backprop:
            offset = 0
            train_supervised(model, model.parameters(), train.to_float().to(device), train_y,
                             test.to_float().to(device), test_y, cfg, state, offset, metrics, save)
        else:
            if resume_step is None and cfg.unsupervised.from_run is not None:
                load_hebbian_network(model, cfg.unsupervised.from_run, device, state)
            if state.unsup_from is None:
                figures = TrainingFigures(model, metrics, cfg.logging.figures_every)
                try:
                    train_unsupervised(model, train, cfg, device, state, metrics, save, on_update=figures.on_update)
                finally:
                    figures.remove()
            offset = state.unsup_step
            t0 = time.perf_counter()
            feats_train = extract_features(model, train, cfg, device, "features (train)")
            feats_test = extract_features(model, test, cfg, device, "features (test)")
            state.feature_seconds = time.perf_counter() - t0
            readout = nn.Sequential(model.dropout, model.classifier)
            train_supervised(readout, model.classifier.parameters(), feats_train, train_y, feats_test, test_y,
                             cfg, state, offset, metrics, save)
        write_figures(model, state.history, run_dir, metrics, offset + state.epoch, cfg.receptive_fields)
    finally:
        metrics.close()

    # ---- results
    results = {
        "architecture": cfg.model.architecture,
        "dataset": cfg.data.name,
        "device": str(device),
        "n_parameters": count_parameters(model),
        "n_train": len(train),
        "n_test": len(test),
        "unsupervised_updates": state.unsup_step,
        "unsupervised_from": state.unsup_from,
        "unsupervised_seconds": state.unsup_seconds,
        "unsupervised_images_per_s": state.unsup_images_per_s,
        "feature_seconds": state.feature_seconds,
        "readout_epochs": state.epoch,
        "readout_epoch_seconds": (sum(state.epoch_seconds) / len(state.epoch_seconds))
        if state.epoch_seconds else None,
        "test_accuracy": state.history[-1] if state.history else None,
        "best_test_accuracy": state.best_accuracy,
        "test_accuracy_per_epoch": state.history,
    }
    write_results(run_dir, results)
    log.info("test accuracy %s (best %s)", results["test_accuracy"], results["best_test_accuracy"])
    return results


def _first(data: ImageDataset, n: int) -> ImageDataset:
    """The first ``n`` samples (all for 0)."""
    return data.subset(torch.arange(min(n, len(data)))) if n else data


# ------------------------------------------------------------------------------------------------ build
def build_model(cfg: SoftHebbConfig, input_shape: tuple[int, int, int], n_classes: int,
                device: torch.device) -> HebbianConvNet:
    """The configured architecture: ``hebbian`` applied to every Hebbian layer, and the ``model.*`` settings
    the architecture reads (the config refuses a non-default value of one it does not read)."""
    m = cfg.model
    per_layer = {name: getattr(m, name) for name in model_settings(m.architecture) if hasattr(m, name)}
    return get_model(m.architecture, input_shape=input_shape, n_classes=n_classes, hebbian=cfg.hebbian,
                     device=device, **per_layer)


def load_hebbian_network(model: HebbianConvNet, run_dir: str | Path, device: torch.device,
                         state: SoftHebbState) -> None:
    """Load everything but the readout (Hebbian weights, BN statistics, plasticity state) from the last
    checkpoint of ``run_dir``; ``state`` takes the counters of its Hebbian phase."""
    key = "unsupervised.from_run"
    saved = CheckpointManager(Path(run_dir) / "checkpoints").load_latest(map_location=device)
    if saved is None:
        raise ConfigError(f"{key}: {str(run_dir)!r} holds no checkpoint; allowed: an earlier softhebb run")
    source = SoftHebbState.from_checkpoint(saved["state"])
    if not source.hebbian_phase_done:
        raise ConfigError(f"{key}: the unsupervised phase of {str(run_dir)!r} has not finished (update "
                          f"{source.unsup_step}); finish it first: evohebb softhebb --resume {run_dir}")
    readout = {k: v for k, v in model.state_dict().items() if k.startswith("classifier.")}   # kept fresh
    network = {k: v for k, v in saved["model"].items() if not k.startswith("classifier.")}
    try:
        model.load_state_dict({**network, **readout})   # strict: every name and shape must match
        model.load_plasticity_state(saved["plasticity"])
    except (RuntimeError, KeyError, AttributeError) as error:
        raise ConfigError(f"{key}: the network of {str(run_dir)!r} does not fit model.* of this config "
                          f"({saved['config'].get('model')}): {error}") from None
    log.info("Hebbian network from %s (%d unsupervised updates); unsupervised phase skipped", run_dir,
             source.unsup_step)
    state.unsup_from, state.unsup_complete = str(run_dir), True
    state.unsup_step, state.unsup_seconds = source.unsup_step, source.unsup_seconds
    state.unsup_images_per_s = source.unsup_images_per_s


# ------------------------------------------------------------------------------------------------ phases
def train_unsupervised(model: HebbianConvNet, train: ImageDataset, cfg: SoftHebbConfig, device: torch.device,
                       state: SoftHebbState, metrics: MetricsLogger, save, *, step_offset: int = 0,
                       order_seed: int | None = None, on_update=None, desc: str | None = None) -> None:
    """Hebbian updates over ``unsupervised.epochs`` epochs, from ``state.unsup_step`` on.

    With ``hebbian.alpha < 1`` this is the hybrid phase: each batch also runs the head, and every Hebbian
    layer applies ``alpha * dW_hebb - (1 - alpha) * bp_lr * grad`` of the cross-entropy (the head learns by
    SGD at ``bp_lr`` meanwhile); the labels are used only then.

    ``cfg`` supplies ``unsupervised``, ``seed`` and ``checkpoint.every``. A caller running several phases in one
    run (the continual pipeline) passes ``step_offset`` (added to the logged and saved steps; ``state`` counts
    this phase's updates), ``order_seed`` (the image order's seed, default ``cfg.seed``), ``on_update(done)``
    (called after each update with this phase's count) and the progress bar's ``desc``.
    """
    u = cfg.unsupervised
    order_seed = cfg.seed if order_seed is None else order_seed
    per_epoch = math.ceil(len(train) / u.batch_size)
    stages = list(range(len(model.blocks))) if u.schedule == "layerwise" else [None]
    total = unsupervised_updates(model, len(train), u)
    done = state.unsup_step
    if done >= total:
        state.unsup_complete = True
        return
    hybrid = any(layer.settings.alpha < 1.0 for layer in model.hebbian_layers())
    head_sgd = torch.optim.SGD(model.classifier.parameters(), lr=u.bp_lr) if hybrid else None
    model.train()
    t0, start_done = time.perf_counter(), done
    bar = progress_bar(total=total, initial=done, desc=desc or ("hybrid" if hybrid else "unsupervised"), unit="batch")
    while done < total:  # one pass of this loop = the rest of one epoch of one stage
        stage_i, rest = divmod(done, per_epoch * u.epochs)
        epoch, batch_i = divmod(rest, per_epoch)
        stage = stages[stage_i]
        model.set_plastic(None if stage is None else {stage})
        upto = None if stage is None else stage + 1
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(order_seed * 1000 + epoch))
        for i in range(batch_i * u.batch_size, len(train), u.batch_size):
            batch = train.subset(order[i:i + u.batch_size])
            x = batch.to_float().to(device)
            if hybrid:
                model.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x), batch.labels.to(device))
                loss.backward()
                head_sgd.step()
            else:
                with torch.no_grad():
                    model.features(x, upto=upto)
            model.hebbian_step(u.bp_lr)
            done += 1
            bar.update(1)
            state.unsup_step, state.unsup_complete = done, done == total
            if on_update is not None:
                on_update(done)
            if done % u.log_every == 0 or done == total:
                stats = _weight_stats(model)
                if hybrid:
                    stats["unsup/cross_entropy"] = loss.item()
                metrics.log(step_offset + done, stats)
            if done % cfg.checkpoint.every == 0 or done == total:
                now = time.perf_counter()
                state.unsup_seconds += now - t0
                t0 = now
                save(step_offset + done, None)
    bar.close()
    model.set_plastic(None)
    model.zero_grad(set_to_none=True)
    if done > start_done:
        state.unsup_images_per_s = done * u.batch_size / max(state.unsup_seconds, 1e-9)
    log.info("%s phase: %d updates, %.1f s", "hybrid" if hybrid else "unsupervised", done, state.unsup_seconds)


def unsupervised_updates(model: HebbianConvNet, n_images: int, u) -> int:
    """Hebbian updates of the unsupervised phase ``u`` (an UnsupervisedConfig) on ``n_images`` images."""
    stages = len(model.blocks) if u.schedule == "layerwise" else 1
    return math.ceil(n_images / u.batch_size) * u.epochs * stages


def _weight_stats(model: HebbianConvNet) -> dict:
    out = {}
    for i, layer in enumerate(model.hebbian_layers()):
        norms = layer.weight.detach().flatten(1).norm(dim=1)
        out[f"unsup/layer{i}/norm_mean"] = norms.mean().item()
        out[f"unsup/layer{i}/norm_dev"] = (norms - 1).abs().mean().item()
    return out


@torch.no_grad()
def extract_features(model: HebbianConvNet, data: ImageDataset, cfg: SoftHebbConfig, device: torch.device,
                     desc: str) -> torch.Tensor:
    """Frozen features of every image (eval mode), stored on ``device`` in ``readout.feature_dtype``."""
    model.eval()
    dtype = getattr(torch, cfg.readout.feature_dtype)
    out = torch.empty(len(data), model.feature_dim, dtype=dtype, device=device)
    bs = cfg.readout.feature_batch_size
    for i in progress_bar(range(0, len(data), bs), desc=desc):
        x = data.subset(torch.arange(i, min(i + bs, len(data)))).to_float().to(device)
        out[i:i + len(x)] = model.features(x).to(dtype)
    return out


def train_supervised(model: nn.Module, params, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                     test_y: torch.Tensor, cfg: SoftHebbConfig, state: SoftHebbState, step_offset: int,
                     metrics: MetricsLogger, save) -> None:
    """Adam on ``params``, ``readout.epochs`` epochs from ``state.epoch`` on; test accuracy after each.

    ``train_x`` / ``test_x`` are float inputs of ``model``: frozen features (maybe float16) or images in [0, 1].
    """
    r = cfg.readout
    optimizer = torch.optim.Adam(params, lr=r.lr)
    if state.optimizer is not None:
        optimizer.load_state_dict(state.optimizer)
    device = train_y.device
    for epoch in range(state.epoch, r.epochs):
        for group in optimizer.param_groups:
            group["lr"] = r.lr * lr_factor(epoch, r.epochs, r.lr_halve_at)
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 7919 + epoch)
        order = torch.randperm(len(train_y), generator=gen).to(device)
        t0 = time.perf_counter()
        total_loss, n = 0.0, 0
        for i in range(0, len(order), r.batch_size):
            idx = order[i:i + r.batch_size]
            loss = F.cross_entropy(model(train_x[idx].to(torch.float32)), train_y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
            n += len(idx)
        seconds = time.perf_counter() - t0
        test_acc = accuracy(model, test_x, test_y)
        state.epoch = epoch + 1
        state.history.append(test_acc)
        state.epoch_seconds.append(seconds)
        metrics.log(step_offset + epoch + 1, {"readout/test_accuracy": test_acc, "readout/train_loss": total_loss / n,
                                               "readout/lr": optimizer.param_groups[0]["lr"],
                                               "readout/epoch_seconds": seconds})
        log.info("epoch %d/%d: loss %.4f, test accuracy %.4f (%.1f s)", epoch + 1, r.epochs, total_loss / n,
                 test_acc, seconds)
        state.optimizer = optimizer.state_dict()
        save(step_offset + epoch + 1, test_acc)


def lr_factor(epoch: int, epochs: int, halve_at: list[float]) -> float:
    """``0.5 ** (number of fractions f with epoch >= f * epochs)`` (epoch counted from 0)."""
    return 0.5 ** sum(1 for f in halve_at if epoch >= round(f * epochs))


@torch.no_grad()
def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(inputs), batch_size):
        scores = model(inputs[i:i + batch_size].to(torch.float32))
        correct += (scores.argmax(1) == labels[i:i + batch_size]).sum().item()
    return correct / max(1, len(inputs))
