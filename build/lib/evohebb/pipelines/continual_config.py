"""Configuration of the continual pipeline (``evohebb continual <config.yaml> [key=value ...]``).

It embeds the softhebb pipeline's sections (``model``, ``hebbian``, ``unsupervised``, ``readout``) rather than
restating them, adds the task stream (``stream``) and the continual-learning model (``continual``: a method,
registered by name in :data:`~evohebb.pipelines.continual_strategies.CONTINUAL_METHODS`, times single or multiple
heads; the thesis's names V / M / KP / KPM for four of those pairs; the kernel-plasticity constants of
:class:`~evohebb.plasticity.kernel_plasticity.KernelPlasticitySettings`).
Presets: ``configs/continual_split_{mnist,fashion_mnist,cifar10}.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from evohebb.config import ConfigError, option
from evohebb.data.dataset_registry import DATASETS
from evohebb.nn.batch_norm_tasks import BN_MODES
from evohebb.nn.multi_head import HEAD_SCORES
from evohebb.nn.softhebb_settings import HebbianSettings
from evohebb.pipelines.continual_strategies import CONTINUAL_METHODS
from evohebb.pipelines.softhebb_config import (
    ModelConfig,
    ReadoutConfig,
    UnsupervisedConfig,
    check_hebbian_left_to_architecture,
)
from evohebb.plasticity.kernel_plasticity import KernelPlasticitySettings
from evohebb.run_io.run_settings import CheckpointSettings, RunSettings

HEADS = ("single", "multi")
#: the thesis's names for (continual.method, continual.heads) pairs
MODELS = {"V": ("none", "single"), "M": ("none", "multi"), "KP": ("kp", "single"), "KPM": ("kp", "multi")}
SCENARIOS = ("task", "class")


@dataclass
class StreamConfig:
    """The task stream: class splits of one data set."""

    name: str = option("cifar10", choices=tuple(DATASETS), help="data set")
    data_dir: str | None = option(None, help="data root (else $EVOHEBB_DATA, else ~/.cache/evohebb/data)")
    download: bool = option(False, help="download with torchvision where a network exists")
    n_tasks: int = option(5, low=2, high=10, help="tasks in the stream (2 to 10)")
    classes_per_task: int = option(2, low=1, help="classes of each task")
    class_order: list[int] | None = option(None, help="classes in stream order (task t takes the t-th group of "
                                                      "classes_per_task); null: label order, or shuffled by "
                                                      "order_seed")
    order_seed: int | None = option(None, low=0, help="shuffle the class order with this seed (null: label order)")
    scenario: str = option("task", choices=SCENARIOS,
                           help="task: task-incremental (each task's head classifies among that task's classes, "
                                "as the thesis); class: class-incremental (among every class seen so far)")
    train_per_task: int = option(0, low=0, help="first N training images of each task (0: all) for its "
                                                "unsupervised epoch and its readout")
    test_per_task: int = option(0, low=0, help="first N test images of each task (0: all)")

    def validate(self) -> None:
        n_classes = DATASETS[self.name].n_classes
        needed = self.n_tasks * self.classes_per_task
        if needed > n_classes:
            raise ConfigError(f"classes_per_task: {self.classes_per_task} x n_tasks {self.n_tasks} = {needed} "
                              f"classes, but {self.name} has {n_classes}; allowed: n_tasks x classes_per_task "
                              f"<= {n_classes}")
        if self.class_order is not None:
            if self.order_seed is not None:
                raise ConfigError(f"class_order: {self.class_order!r} and order_seed {self.order_seed} exclude "
                                  f"each other; allowed: one of them, or neither (label order)")
            order = self.class_order
            if len(set(order)) != len(order) or not all(0 <= c < n_classes for c in order) or len(order) < needed:
                raise ConfigError(f"class_order: {order!r}; allowed: at least {needed} distinct labels in "
                                  f"0..{n_classes - 1}")


@dataclass
class ContinualSettings:
    """Which continual-learning method runs with which heads, and how multiple heads are chosen."""

    model: str = option("KPM", choices=tuple(MODELS),
                        help="the thesis's names for a (method, heads) pair: V = none + single (vanilla SoftHebb), "
                             "M = none + multi, KP = kp + single (kernel-plasticity neuromodulation), KPM = kp + "
                             "multi; continual.method and continual.heads, when set, replace their part")
    method: str | None = option(None, help="the continual-learning method, by its registered name (none, kp, or a "
                                           "plug-in's; docs/extending.md); null: the model's")
    heads: str | None = option(None, choices=HEADS,
                               help="single: one head trained task after task; multi: one head per task, chosen "
                                    "without labels at inference; null: the model's")
    head_score: str = option("gaussian", help="unsupervised head-selection score (multi; default chosen by the "
                                              "measurement of docs/results.md, the thesis: max_abs_logit): "
                                              + ", ".join(sorted(HEAD_SCORES)))
    selection_unit: int = option(0, low=0, help="images per head choice: the score is summed over each "
                                                "consecutive group of N test images of a task (0: the task's "
                                                "whole test set, as the thesis)")
    feature_shrinkage: float = option(0.5, low=0.0, high=1.0,
                                      help="feature-statistics head scores (mahalanobis, gaussian): each task's "
                                           "per-feature within-class variance is shrunk towards its mean over the "
                                           "features by this fraction (0: none, 1: one variance for all)")
    bn: str = option("shared", help="batch-norm running statistics across tasks: shared (they follow every task, "
                                    "as the thesis), frozen (the first task's, kept), per_task (each task's, used "
                                    "for its own head's features; multi heads); registry BN_MODES")
    kp: KernelPlasticitySettings = field(default_factory=KernelPlasticitySettings)

    def validate(self) -> None:
        if self.head_score not in HEAD_SCORES:
            raise ConfigError(f"head_score: {self.head_score!r} is not allowed; allowed: "
                              f"{', '.join(map(repr, sorted(HEAD_SCORES)))}")
        if self.bn not in BN_MODES:
            raise ConfigError(f"bn: {self.bn!r} is not allowed; allowed: {', '.join(map(repr, sorted(BN_MODES)))}")
        if BN_MODES[self.bn].per_head and not self.multi_head:
            raise ConfigError(f"bn: {self.bn!r} keeps statistics per head and needs heads 'multi' (model M or KPM), "
                              f"not {self.heads_name!r}; allowed with one head: shared, frozen")
        if self.method is not None and self.method not in CONTINUAL_METHODS:
            raise ConfigError(f"method: {self.method!r} is not allowed; allowed: "
                              f"{', '.join(map(repr, sorted(CONTINUAL_METHODS)))} (registered continual methods)")

    @property
    def method_name(self) -> str:
        return self.method if self.method is not None else MODELS[self.model][0]

    @property
    def heads_name(self) -> str:
        return self.heads if self.heads is not None else MODELS[self.model][1]

    @property
    def multi_head(self) -> bool:
        return self.heads_name == "multi"

    @property
    def name(self) -> str:
        """The pair's thesis name (V, M, KP, KPM), else ``<method>-<heads>``."""
        return model_name(self.method_name, self.heads_name)

    def select(self, name: str) -> ContinualSettings:
        """These settings with the pair that ``name`` means (:func:`model_pair`)."""
        method, heads = model_pair(name)
        return replace(self, method=method, heads=heads)


def model_name(method: str, heads: str) -> str:
    return next((name for name, pair in MODELS.items() if pair == (method, heads)), f"{method}-{heads}")


def model_pair(name: str) -> tuple[str, str]:
    """``name`` (V, M, KP, KPM, or ``<method>-<heads>``) -> (method, heads); a ConfigError names what is allowed."""
    if name in MODELS:
        return MODELS[name]
    method, _, heads = name.rpartition("-")
    if method not in CONTINUAL_METHODS or heads not in HEADS:
        raise ConfigError(f"models: {name!r} is unknown; allowed: {', '.join(MODELS)}, or <method>-<heads> with "
                          f"method one of {', '.join(sorted(CONTINUAL_METHODS))} and heads one of "
                          f"{', '.join(HEADS)}")
    return method, heads


@dataclass
class ContinualCheckpointConfig(CheckpointSettings):
    every: int = option(500, low=1, help="checkpoint every N Hebbian updates inside a task's unsupervised epoch; "
                                         "also after every readout epoch and at the end of every task")
    keep: int = option(3, low=1, help="step checkpoints kept besides the best")


@dataclass
class ContinualConfig(RunSettings):
    """The run section (name, seed, device, checkpoint; see RunSettings), the stream, the network and its
    phases (the softhebb pipeline's sections) and the continual-learning model."""

    checkpoint: ContinualCheckpointConfig = field(default_factory=ContinualCheckpointConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    hebbian: HebbianSettings = field(default_factory=HebbianSettings)
    unsupervised: UnsupervisedConfig = field(default_factory=UnsupervisedConfig)
    readout: ReadoutConfig = field(default_factory=lambda: ReadoutConfig(epochs=20))
    continual: ContinualSettings = field(default_factory=ContinualSettings)

    def validate(self) -> None:
        super().validate()
        check_hebbian_left_to_architecture(self.hebbian, self.model)
        if self.model.architecture in ("backprop", "lagani_short", "lagani_deep"):
            raise ConfigError(f"model.architecture: {self.model.architecture!r} is not allowed here; allowed: the "
                              f"SoftHebb family (softhebb, softhebb_depthwise, softhebb_residual), depth "
                              f"model.n_layers 3 to 11")
        if not 3 <= self.model.n_layers <= 11:
            raise ConfigError(f"model.n_layers: {self.model.n_layers} is not allowed; allowed: 3 to 11 (the thesis "
                              f"varied the depth in that range)")
        if self.hebbian.alpha < 1.0:
            raise ConfigError(f"hebbian.alpha: {self.hebbian.alpha} would mix label gradients into the "
                              f"unsupervised epoch; allowed: 1.0")
        if self.unsupervised.from_run is not None:
            raise ConfigError(f"unsupervised.from_run: {self.unsupervised.from_run!r} is not allowed (every task "
                              f"has its own unsupervised epoch); allowed: null")
