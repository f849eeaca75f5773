"""The continual pipeline: a stream of class-split tasks learnt by a SoftHebb network with a continual method.

    evohebb continual configs/continual_split_mnist.yaml [key=value ...] [--resume runs/<name>]

``load config -> build -> loop over tasks (step, log, checkpoint) -> results``, in the order of
:func:`run_continual`. For every task ``t`` of the stream (class splits of one data set, ``stream.*``):

1. **unsupervised**: one Hebbian epoch on the task's training images (the softhebb pipeline's
   :func:`~evohebb.pipelines.softhebb.train_unsupervised`); the method (``continual.method``, a continual
   strategy found by name in :mod:`.continual_strategies`, e.g. ``kp``: kernel plasticity) scales every update,
   watches the epoch (begin task, observe, on update) and ends the task;
2. **readout**: frozen features of the task's images, then a linear head trained on them by the softhebb
   pipeline's :func:`~evohebb.pipelines.softhebb.train_supervised`: ``continual.heads=single`` (V, KP) keeps
   training one head, ``multi`` (M, KPM) adds a fresh head per task (:class:`~evohebb.nn.multi_head.MultiHead`);
3. **evaluation**: every task seen so far is tested (``R[t][j]``): task-incremental (``stream.scenario=task``,
   the thesis) among the task's own classes, class-incremental (``class``) among every class seen so far. Multiple
   heads are chosen per group of test images without labels (``continual.head_score``; the feature-statistics
   scores use what each task left behind, recorded after its readout); the fraction of right choices is the
   head-selection accuracy, and the accuracy each task's own head would give (no selection) separates the
   network's drift from wrong choices. Every registered score is also measured, per group and per image
   (:mod:`.continual_selection`). ``continual.bn`` says which batch-norm statistics each head's features use
   (:mod:`evohebb.nn.batch_norm_tasks`).

After every task: ``R``, average accuracy, backward transfer and forgetting (:mod:`.continual_metrics`) and the
method's per-layer summary to TensorBoard and ``metrics.jsonl``; at the end ``results.json`` (with the method's
summary) and ``figures/accuracy_matrix.png``.

Global step: task ``t`` owns the steps after ``offset[t]``: its Hebbian updates ``1..U``, readout epochs
``U + e``, its evaluation ``U + E + 1``. Checkpoints (every ``checkpoint.every`` Hebbian updates, after every
readout epoch, after every task) hold the network, the heads and each finished task's feature statistics, the
kept batch-norm statistics, the plasticity and method states, :class:`ContinualState` (plain containers), RNG
states and the config; ``resume=True`` continues from the last one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from evohebb.config import config_to_dict
from evohebb.data import ImageDataset, load_dataset, task_splits
from evohebb.nn.batch_norm_tasks import BN_MODES, BatchNormMode
from evohebb.nn.multi_head import MultiHead, chosen_class, select_heads
from evohebb.nn.softhebb_blocks import HebbianConvNet
from evohebb.pipelines.continual_config import ContinualConfig
from evohebb.pipelines.continual_figures import write_matrix_figure
from evohebb.pipelines.continual_metrics import average_accuracy, backward_transfer, forgetting
from evohebb.pipelines.continual_selection import selection_study, study_results
from evohebb.pipelines.continual_strategies import StrategyHooks, build_strategy
from evohebb.pipelines.softhebb import (
    SoftHebbState,
    accuracy,
    build_model,
    extract_features,
    train_supervised,
    train_unsupervised,
    unsupervised_updates,
)
from evohebb.plasticity.continual_strategy import ContinualStrategy
from evohebb.run_io import (
    CheckpointManager,
    MetricsLogger,
    capture_rng_state,
    restore_rng_state,
    write_results,
)
from evohebb.run_io.plain_state import PlainState
from evohebb.run_io.run_settings import start_run

log = logging.getLogger(__name__)


@dataclass
class Task:
    """One task of the stream: its classes (global labels, in order) and its images (global labels)."""

    index: int
    classes: list[int]
    train: ImageDataset
    test: ImageDataset

    def local(self, labels: torch.Tensor) -> torch.Tensor:
        """Global labels of this task's classes -> their index in ``classes``."""
        classes = torch.tensor(self.classes, device=labels.device)
        return (labels[:, None] == classes[None, :]).int().argmax(1)


@dataclass
class ContinualState(PlainState):
    """Where a run stands; checkpointed as plain containers (:meth:`to_checkpoint`)."""

    task: int = 0                       # tasks finished
    stage: str = "unsupervised"         # of task `task`: unsupervised | readout
    current: SoftHebbState = field(default_factory=SoftHebbState)   # the phases of task `task`
    accuracy: list[list[float | None]] = field(default_factory=list)   # R, one row per finished task
    learned: list[float] = field(default_factory=list)   # each task's own head on its task, right after training
    selection: list[list[float | None]] = field(default_factory=list)  # head-selection accuracy (multi)
    own_head: list[list[float | None]] = field(default_factory=list)   # accuracy with the task's own head (multi)
    study_selection: dict[str, list[list[float | None]]] = field(default_factory=dict)  # every score/unit (multi)
    study_accuracy: dict[str, list[list[float | None]]] = field(default_factory=dict)
    unsup_seconds: list[float] = field(default_factory=list)
    unsup_images_per_s: list[float | None] = field(default_factory=list)
    task_seconds: list[float] = field(default_factory=list)
    seconds_in_task: float = 0.0        # of the unfinished task, summed over resumes


# ------------------------------------------------------------------------------------------------ entry
def run_continual(cfg: ContinualConfig, run_dir: str | Path, resume: bool = False) -> dict:
    """Run the pipeline in ``run_dir`` (created by the caller); returns the dict written to results.json."""
    run_dir, device = start_run(cfg, run_dir)   # folder, device, seeds, the resolved config saved
    c = cfg.continual

    # ---- build
    tasks = build_stream(cfg)
    n_tasks = len(tasks)
    n_classes = tasks[0].train.n_classes
    local_labels = c.multi_head or cfg.stream.scenario == "task"
    head_size = cfg.stream.classes_per_task if local_labels else n_classes
    model = build_model(cfg, tasks[0].train.image_shape, head_size, device)
    heads = MultiHead(model.feature_dim, cfg.model.dropout, device, c.feature_shrinkage)
    strategy = build_strategy(c, model)
    bn = BN_MODES.lookup(c.bn)()
    updates = [unsupervised_updates(model, len(task.train), cfg.unsupervised) for task in tasks]
    offsets = [sum(u + cfg.readout.epochs + 1 for u in updates[:t]) for t in range(n_tasks + 1)]
    log.info("%s (method %s, %s head), %s-incremental, %d tasks of %s on %s: %s", c.name, c.method_name,
             c.heads_name, cfg.stream.scenario, n_tasks, cfg.stream.classes_per_task, cfg.stream.name,
             [task.classes for task in tasks])

    ckpt = CheckpointManager(run_dir / "checkpoints", keep_last=cfg.checkpoint.keep, best_mode="max")
    state = ContinualState()
    resume_step = None
    if resume:
        saved = ckpt.load_latest(map_location=device)
        if saved is not None:
            for size in saved["head_sizes"]:
                heads.add_head(size)
            model.load_state_dict(saved["model"])
            heads.load_state_dict(saved["heads"])
            if "head_statistics" in saved:   # older checkpoints: none recorded, batch norm shared
                heads.statistics.load_state_dict(saved["head_statistics"])
                bn.load_state_dict(saved["batch_norm"])
            model.load_plasticity_state(saved["plasticity"])
            strategy.load_state_dict(saved["strategy"] if "strategy" in saved   # older checkpoints: KP's own key
                                     else saved["kernel_plasticity"])
            state = ContinualState.from_checkpoint(saved["state"])
            restore_rng_state(saved["rng"])
            resume_step = saved["step"]
            log.info("resumed from step %d (task %d, %s)", resume_step, state.task + 1, state.stage)
    metrics = MetricsLogger(run_dir, resume_step=resume_step)
    clock = [time.perf_counter()]

    def save(step: int, metric: float | None = None) -> None:   # the readout's metric is one task's: not kept
        now = time.perf_counter()
        state.seconds_in_task += now - clock[0]
        clock[0] = now
        ckpt.save({"model": model.state_dict(), "heads": heads.state_dict(), "head_sizes": heads.sizes,
                   "head_statistics": heads.statistics.state_dict(), "batch_norm": bn.state_dict(),
                   "plasticity": model.plasticity_state(), "strategy": strategy.state_dict(),
                   "state": state.to_checkpoint(), "rng": capture_rng_state(), "step": step,
                   "config": config_to_dict(cfg)}, step)

    # ---- loop: every task = unsupervised epoch, readout, evaluation of all tasks so far
    try:
        for t in range(state.task, n_tasks):
            task, phase = tasks[t], state.current
            desc = f"task {t + 1}/{n_tasks}"
            if state.stage == "unsupervised":
                with StrategyHooks(strategy, model, phase.unsup_step, updates[t]) as hooks:
                    train_unsupervised(model, task.train, cfg, device, phase, metrics, save,
                                       step_offset=offsets[t], order_seed=cfg.seed * 100 + t,
                                       on_update=hooks.on_update, desc=f"{desc} unsupervised")
                strategy.end_task()
                bn.end_unsupervised(t, model)
                state.stage = "readout"

            # readout: this task's head on frozen features
            train_x = extract_features(model, task.train, cfg, device, f"{desc} features (train)")
            test_x = extract_features(model, task.test, cfg, device, f"{desc} features (test)")
            head = t if c.multi_head else 0
            while len(heads.heads) <= head:
                heads.add_head(head_size)
            train_y, test_y = task.train.labels.to(device), task.test.labels.to(device)
            if local_labels:   # a head over this task's classes (else: over every class, global labels)
                train_y, test_y = task.local(train_y), task.local(test_y)
            train_supervised(heads.readout(head), heads.heads[head].parameters(), train_x, train_y, test_x, test_y,
                             cfg, phase, offsets[t] + updates[t], metrics, save)
            learned = accuracy(heads.readout(head), test_x, test_y)
            if c.multi_head:   # what this task leaves behind for choosing its head
                heads.record_statistics(head, train_x, train_y)

            # evaluation of every task so far
            row, selection, own, study = [], [], [], []
            for j in range(t + 1):
                features = test_x if j == t and not bn.per_head else evaluation_features(
                    model, bn, tasks[j].test, t + 1, cfg, device, f"{desc} features (test of task {j + 1})")
                acc, chosen, own_acc, by_score = evaluate_task(tasks, j, t, features, heads, cfg)
                row.append(acc)
                selection.append(chosen)
                own.append(own_acc)
                study.append(by_score)
            rest = [None] * (n_tasks - t - 1)
            for key in study[0]:
                state.study_selection.setdefault(key, []).append([s[key][0] for s in study] + rest)
                state.study_accuracy.setdefault(key, []).append([s[key][1] for s in study] + rest)
            state.accuracy.append(row + rest)
            state.selection.append(selection + rest if c.multi_head else [None] * n_tasks)
            state.own_head.append(own + rest if c.multi_head else [None] * n_tasks)
            state.learned.append(learned)
            state.unsup_seconds.append(phase.unsup_seconds)
            state.unsup_images_per_s.append(phase.unsup_images_per_s)
            step = offsets[t + 1]
            metrics.log(step, {**task_metrics(state, t, learned), **layer_scalars(c.method_name, strategy)})
            state.task, state.stage, state.current = t + 1, "unsupervised", SoftHebbState()
            now = time.perf_counter()
            state.task_seconds.append(state.seconds_in_task + now - clock[0])
            state.seconds_in_task, clock[0] = 0.0, now
            log.info("after task %d/%d: R row %s, average accuracy %.4f", t + 1, n_tasks,
                     [round(a, 4) for a in row], average_accuracy(state.accuracy, t))
            save(step)
        if state.accuracy:
            write_matrix_figure(state.accuracy, run_dir, metrics, offsets[n_tasks], f"{c.name} on {cfg.stream.name}")
    finally:
        metrics.close()

    # ---- results
    results = final_results(cfg, state, tasks, device, strategy, offsets[1:])
    write_results(run_dir, results)
    log.info("%s: average accuracy %.4f, backward transfer %s, head selection %s", c.name,
             results["average_accuracy"], results["backward_transfer"], results["head_selection_accuracy"])
    return results


# ------------------------------------------------------------------------------------------------ build
def build_stream(cfg: ContinualConfig) -> list[Task]:
    """The tasks: ``stream.n_tasks`` class splits of the training and test sets (same classes, first
    ``train_per_task`` / ``test_per_task`` images of each)."""
    s = cfg.stream
    train = load_dataset(s.name, train=True, data_dir=s.data_dir, download=s.download)
    test = load_dataset(s.name, train=False, data_dir=s.data_dir, download=s.download)
    split = {"n_tasks": s.n_tasks, "classes_per_task": s.classes_per_task, "class_order": s.class_order,
             "seed": s.order_seed}
    tasks = []
    for tr, te in zip(task_splits(train, **split), task_splits(test, **split)):
        tasks.append(Task(tr.task, tr.classes, _first(tr.dataset, s.train_per_task),
                          _first(te.dataset, s.test_per_task)))
    return tasks


def _first(data: ImageDataset, n: int) -> ImageDataset:
    return data.subset(torch.arange(min(n, len(data)))) if n else data


# ------------------------------------------------------------------------------------------------ evaluation
def evaluation_features(model: HebbianConvNet, bn: BatchNormMode, data: ImageDataset, n_heads: int,
                        cfg: ContinualConfig, device: torch.device, desc: str) -> torch.Tensor:
    """Frozen features of ``data``: ``[N, D]``, or ``[H, N, D]`` where each head sees them with its own batch-norm
    statistics (``bn.per_head``)."""
    if not bn.per_head:
        return extract_features(model, data, cfg, device, desc)
    stack = []
    for h in range(n_heads):
        with bn.head_statistics(model, h):
            stack.append(extract_features(model, data, cfg, device, f"{desc}, head {h + 1}"))
    return torch.stack(stack)


@torch.no_grad()
def evaluate_task(tasks: list[Task], j: int, t: int, features: torch.Tensor, heads: MultiHead,
                  cfg: ContinualConfig) -> tuple[float, float | None, float | None, dict[str, tuple[float, float]]]:
    """Accuracy on task ``j`` after task ``t`` with the model's inference; with multiple heads also the fraction of
    its test images whose head was chosen right, the accuracy its own head would give (no selection: what the
    network's drift alone leaves) and both of the former for every registered score per group and per image
    (:func:`~.continual_selection.selection_study`; ``{}`` with a single head)."""
    c, task = cfg.continual, tasks[j]
    labels = task.test.labels.to(features.device)
    if not len(labels):
        return float("nan"), None, None, {}
    task_incremental = cfg.stream.scenario == "task"
    if c.multi_head:
        if task_incremental:
            def right(chosen: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
                return local == task.local(labels)
        else:   # the chosen head's class, as a global label
            classes = torch.tensor([tasks[h].classes for h in range(t + 1)], device=features.device)

            def right(chosen: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
                return classes[chosen, local] == labels
        evidence = heads.evidence(features, upto=t + 1)
        chosen = select_heads(evidence, c.head_score, c.selection_unit)
        own = torch.full_like(chosen, j)
        return (right(chosen, chosen_class(evidence.logits, chosen)).float().mean().item(),
                (chosen == j).float().mean().item(),
                right(own, chosen_class(evidence.logits, own)).float().mean().item(),
                selection_study(evidence, j, right))
    heads.eval()
    logits = heads(features.float(), 0)
    if task_incremental:
        correct = logits.argmax(1) == task.local(labels)
    else:   # among the classes seen so far
        seen = torch.tensor([k for h in range(t + 1) for k in tasks[h].classes], device=features.device)
        correct = seen[logits[:, seen].argmax(1)] == labels
    return correct.float().mean().item(), None, None, {}


def task_metrics(state: ContinualState, t: int, learned: float) -> dict[str, float]:
    """The scalars logged after task ``t``."""
    r = state.accuracy
    out = {f"eval/task{j + 1}_accuracy": r[t][j] for j in range(t + 1)}
    out["eval/average_accuracy"] = average_accuracy(r, t)
    out["eval/learned_accuracy"] = learned
    if t > 0:
        out["eval/backward_transfer"] = backward_transfer(r, t)
        out["eval/backward_transfer_vs_learned"] = backward_transfer(r, t, state.learned)
        out["eval/forgetting"] = forgetting(r, t)
    chosen = [s for s in state.selection[t] if s is not None]
    if chosen:
        out["eval/head_selection_accuracy"] = sum(chosen) / len(chosen)
    own = [a for a in state.own_head[t] if a is not None] if t < len(state.own_head) else []
    if own:
        out["eval/own_head_average_accuracy"] = sum(own) / len(own)
    return out


def layer_scalars(method: str, strategy: ContinualStrategy) -> dict[str, float]:
    """The per-layer numbers of the method's summary, as ``<method>/layer<i>/<name>``."""
    return {f"{method}/layer{i}/{name}": v for section in strategy.summary().values()
            for name, values in section.items() if isinstance(values, list) for i, v in enumerate(values)}


def final_results(cfg: ContinualConfig, state: ContinualState, tasks: list[Task], device: torch.device,
                  strategy: ContinualStrategy, task_end_steps: list[int]) -> dict[str, Any]:
    last = len(state.accuracy) - 1
    chosen = [s for s in state.selection[last] if s is not None] if last >= 0 else []
    per_task = [task_metrics(state, t, state.learned[t]) for t in range(last + 1)]
    return {
        "model": cfg.continual.name,
        "method": cfg.continual.method_name,
        "heads": cfg.continual.heads_name,
        "scenario": cfg.stream.scenario,
        "dataset": cfg.stream.name,
        "seed": cfg.seed,
        "device": str(device),
        "n_tasks": len(tasks),
        "tasks_done": last + 1,
        "classes": [task.classes for task in tasks],
        "n_train_per_task": [len(task.train) for task in tasks],
        "n_test_per_task": [len(task.test) for task in tasks],
        "n_layers": cfg.model.n_layers,
        "head_score": cfg.continual.head_score if cfg.continual.multi_head else None,
        "selection_unit": cfg.continual.selection_unit if cfg.continual.multi_head else None,
        "bn": cfg.continual.bn,
        "feature_shrinkage": cfg.continual.feature_shrinkage if cfg.continual.multi_head else None,
        "accuracy_matrix": state.accuracy,
        "learned_accuracy": state.learned,
        "average_accuracy": average_accuracy(state.accuracy, last) if last >= 0 else None,
        "backward_transfer": backward_transfer(state.accuracy, last) if last >= 0 else None,
        "backward_transfer_vs_learned": backward_transfer(state.accuracy, last, state.learned) if last >= 0 else None,
        "forgetting": forgetting(state.accuracy, last) if last >= 0 else None,
        "head_selection_accuracy": sum(chosen) / len(chosen) if chosen else None,
        "head_selection_matrix": state.selection,
        "own_head_accuracy_matrix": state.own_head,
        "own_head_average_accuracy": per_task[-1].get("eval/own_head_average_accuracy") if per_task else None,
        "head_selection_study": study_results(state.study_selection, state.study_accuracy),
        "average_accuracy_per_task": [m["eval/average_accuracy"] for m in per_task],
        "unsupervised_seconds": state.unsup_seconds,
        "unsupervised_images_per_s": state.unsup_images_per_s,
        "task_seconds": state.task_seconds,
        "seconds": sum(state.task_seconds),
        "task_end_steps": task_end_steps,
        **strategy.summary(),
    }
