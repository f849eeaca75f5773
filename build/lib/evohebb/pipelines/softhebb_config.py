"""Configuration of the softhebb pipeline (``evohebb softhebb <config.yaml> [key=value ...]``).

Presets (``configs/softhebb_*.yaml``) set the ``hebbian`` mechanisms of seed 001 and the data set.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from evohebb.config import ConfigError, option
from evohebb.data.dataset_registry import DATASETS
from evohebb.nn.architectures import hebbian_fields_set_by, list_models, model_settings
from evohebb.nn.softhebb_settings import HebbianSettings
from evohebb.run_io.run_settings import CheckpointSettings, RunSettings


@dataclass
class DataConfig:
    name: str = option("cifar10", choices=tuple(DATASETS), help="data set")
    data_dir: str | None = option(None, help="data root (else $EVOHEBB_DATA, else ~/.cache/evohebb/data)")
    download: bool = option(False, help="download with torchvision where a network exists")
    train_subset: int = option(0, low=0, help="use only the first N training images (0: all)")
    test_subset: int = option(0, low=0, help="use only the first N test images (0: all)")


@dataclass
class ModelConfig:
    """The architecture and its per-layer settings; an architecture reads only some of them (its builder's
    arguments, ``evohebb.nn.architectures.model_settings``), and one it does not read must keep its default."""

    architecture: str = option("softhebb", choices=tuple(list_models()), help="registered architecture name")
    n_layers: int = option(3, low=1, high=11, help="depth of the softhebb family (3 to 11 in seed 000)")
    channels: list[int] | None = option(None, help="output channels per layer (default 96, 384, 1536, ...; "
                                                   "lagani: 96, 128, 192, 256)")
    t_inv: list[float] | None = option(None, help="soft-WTA inverse temperature per layer (1, 0.65, 0.25)")
    eta0: list[float] | None = option(None, help="base Hebbian rate per layer (0.08, 0.005, 0.01; lagani: 0.01)")
    power: list[float] | None = option(None, help="triangle activation power per layer (0.7, 1.4, 1.0)")
    dropout: float = option(0.5, low=0.0, high=1.0, high_inclusive=False, help="readout dropout")

    def validate(self) -> None:
        reads = [name for name in model_settings(self.architecture) if hasattr(self, name)]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "architecture" or f.name in reads or value == f.default:
                continue
            readers = [name for name in list_models() if f.name in model_settings(name)]
            default = "null" if f.default is None else repr(f.default)
            raise ConfigError(f"{f.name}: {value!r} does not apply to the architecture {self.architecture!r} (it "
                              f"reads {', '.join(reads)}); allowed: the default {default}, or an architecture "
                              f"that reads it: {', '.join(map(repr, readers))}")
        if "n_layers" in reads:
            for name in ("channels", "t_inv", "eta0", "power"):
                values = getattr(self, name)
                if values is not None and len(values) != self.n_layers:
                    raise ConfigError(f"{name}: {values!r} has {len(values)} values; allowed: one per layer "
                                      f"(n_layers={self.n_layers}) or null for the defaults")


def check_hebbian_left_to_architecture(hebbian: HebbianSettings, model: ModelConfig) -> None:
    """Refuse a non-default ``hebbian.*`` value that the architecture sets itself (per layer or fixed)."""
    architecture = model.architecture
    for name in hebbian_fields_set_by(architecture):
        value, default = getattr(hebbian, name), getattr(HebbianSettings(), name)
        if value != default:
            where = f"set model.{name}, one value per layer" if hasattr(model, name) else "fixed"
            raise ConfigError(f"hebbian.{name}: {value!r} is set by the architecture {architecture!r} itself "
                              f"({where}); allowed: the default {default!r}")


@dataclass
class UnsupervisedConfig:
    epochs: int = option(1, low=0, help="unsupervised epochs (the paper: 1)")
    batch_size: int = option(10, low=1, help="images per Hebbian update")
    schedule: str = option("together", choices=("together", "layerwise"),
                           help="all layers learn in one pass, or one layer after the other")
    bp_lr: float = option(0.0, low=0.0, help="hybrid phase (hebbian.alpha < 1): SGD rate of the cross-entropy "
                                             "gradient mixed into the Hebbian update, and of the head meanwhile")
    from_run: str | None = option(None, help="skip this phase: take the Hebbian network (weights, BN statistics, "
                                             "plasticity state) from the last checkpoint of this run directory; "
                                             "the readout then trains afresh")
    log_every: int = option(100, low=1, help="log weight statistics every N updates")


@dataclass
class ReadoutConfig:
    epochs: int = option(50, low=0, help="readout (or backprop baseline) epochs")
    batch_size: int = option(64, low=1, help="readout batch size")
    lr: float = option(1e-3, low=0.0, low_inclusive=False, help="Adam learning rate")
    lr_halve_at: list[float] = option([0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9],
                                      help="fractions of the run at which the learning rate is halved")
    feature_dtype: str = option("float16", choices=("float16", "float32"),
                                help="dtype of the cached frozen features (float16 halves the memory)")
    feature_batch_size: int = option(256, low=1, help="batch size for extracting the frozen features")


@dataclass
class LoggingConfig:
    figures_every: int = option(500, low=0, help="every N Hebbian updates, first-layer kernels, weight-norm and "
                                                  "win-frequency histograms to TensorBoard (0: never)")


@dataclass
class CheckpointConfig(CheckpointSettings):
    every: int = option(1000, low=1, help="checkpoint every N Hebbian updates (and at the end of the phase); "
                                          "the readout checkpoints after every epoch")


@dataclass
class SoftHebbConfig(RunSettings):
    """The run section (name, seed, device, checkpoint; see RunSettings) and the two phases."""

    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    hebbian: HebbianSettings = field(default_factory=HebbianSettings)
    unsupervised: UnsupervisedConfig = field(default_factory=UnsupervisedConfig)
    readout: ReadoutConfig = field(default_factory=ReadoutConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    receptive_fields: bool = option(True, help="write receptive fields (layer-1 kernels, deeper layers' preferred "
                                               "inputs) to TensorBoard and figures/")

    def validate(self) -> None:
        super().validate()
        check_hebbian_left_to_architecture(self.hebbian, self.model)
        hybrid = self.hebbian.alpha < 1.0 and self.model.architecture != "backprop"
        if hybrid and self.unsupervised.bp_lr <= 0:
            raise ConfigError(f"unsupervised.bp_lr: {self.unsupervised.bp_lr} gives hebbian.alpha="
                              f"{self.hebbian.alpha} no gradient to mix in; allowed: > 0 when hebbian.alpha < 1")
        source = self.unsupervised.from_run
        if source is not None:
            if self.model.architecture == "backprop":
                raise ConfigError(f"unsupervised.from_run: {source!r} is not allowed with model.architecture="
                                  f"'backprop' (it has no Hebbian phase to skip); allowed: null")
            if not any((Path(source) / "checkpoints").glob("ckpt-*.pt")):
                raise ConfigError(f"unsupervised.from_run: {source!r} holds no checkpoints/ckpt-*.pt; allowed: the "
                                  f"directory of an earlier softhebb run (runs/<name>)")
        if hybrid and self.unsupervised.schedule != "together":
            raise ConfigError(f"unsupervised.schedule: {self.unsupervised.schedule!r} is not allowed with "
                              f"hebbian.alpha < 1 (the gradient reaches every layer at once); allowed: 'together'")
