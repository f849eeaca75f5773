"""Configuration of the reward pipeline (``evohebb reward <config.yaml> [key=value ...]``).

Presets: ``configs/reward_mnist_shallow.yaml`` (feedforward + classification, 300 neurons) and
``configs/reward_mnist_conv.yaml`` (conv → subsampling → feedforward → classification).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evohebb.config import ConfigError, option
from evohebb.data.dataset_registry import DATASETS
from evohebb.nn.reward_classifier import RewardNetworkSettings
from evohebb.plasticity.dopamine_table import DopamineSettings
from evohebb.run_io.run_settings import CheckpointSettings, RunSettings

#: the data sets of one-channel images the network reads (their pixel counts: the data-set table)
GRAYSCALE_DATASETS = tuple(name for name, entry in DATASETS.items() if entry.image_shape[0] == 1)


@dataclass
class DataConfig:
    name: str = option("mnist", choices=GRAYSCALE_DATASETS, help="data set")
    data_dir: str | None = option(None, help="data root (else $EVOHEBB_DATA, else ~/.cache/evohebb/data)")
    download: bool = option(False, help="download with torchvision where a network exists")
    classes: list[int] | None = option(None, low=0, high=9,
                                       help="keep only these labels, e.g. [4, 7, 9] (null: all ten)")
    train_subset: int = option(0, low=0, help="use only the first N training images (0: all)")
    test_subset: int = option(0, low=0, help="use only the first N test images (0: all)")

    def validate(self) -> None:
        if self.classes is not None and (len(self.classes) < 2 or len(set(self.classes)) != len(self.classes)):
            raise ConfigError(f"classes: {self.classes!r} is not allowed; allowed: at least two different labels "
                              "in 0..9, or null for all")


@dataclass
class TrainingConfig:
    n_epi_crit: int = option(10, low=0, help="epochs of pure Hebbian learning (the classification layer learns "
                                             "from the reward of its greedy choices)")
    n_epi_dopa: int = option(10, low=0, help="epochs with exploration and dopamine in the released layers")
    batch_size: int = option(20, low=1, help="samples per update (their updates are summed)")
    eval_batch_size: int = option(1000, low=1, help="batch size of the test evaluation")
    log_every: int = option(100, low=1, help="log reward and dopamine statistics every N updates")


@dataclass
class BaselineConfig:
    epochs: int = option(10, low=0, help="epochs of the backprop twin after the Hebbian run (0: no baseline)")
    batch_size: int = option(128, low=1, help="batch size (the seed's benchmark: 128)")
    lr: float = option(1e-3, low=0.0, low_inclusive=False, help="Adam learning rate")


@dataclass
class CheckpointConfig(CheckpointSettings):
    every: int = option(1000, low=1, help="checkpoint every N Hebbian updates (and after every epoch); the "
                                          "baseline checkpoints after every epoch")


@dataclass
class RewardConfig(RunSettings):
    """The run section (name, seed, device, checkpoint; see RunSettings), the network, its dopamine tables,
    the two training phases and the backprop baseline."""

    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    data: DataConfig = field(default_factory=DataConfig)
    network: RewardNetworkSettings = field(default_factory=RewardNetworkSettings)
    dopamine: DopamineSettings = field(default_factory=DopamineSettings)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    figures: bool = option(True, help="write conv maps and projective fields to TensorBoard and figures/")

    def validate(self) -> None:
        super().validate()
        n = self.network
        if n.variant == "shallow" and "conv" in self.dopamine.release:
            raise ConfigError(f"dopamine.release: {list(self.dopamine.release)!r} names 'conv', which the shallow "
                              "variant does not have; allowed: [] or ['feedf']")
        pixels = DATASETS[self.data.name].pixels   # the shallow variant normalises whole images
        if n.variant == "shallow" and n.input_sum <= pixels:
            raise ConfigError(f"network.input_sum: {n.input_sum} is not allowed for the shallow variant on "
                              f"{self.data.name} ({pixels} pixels, each gets 1 + its share); allowed: > {pixels}")
        if self.training.n_epi_crit + self.training.n_epi_dopa == 0:
            raise ConfigError("training.n_epi_crit: 0 with n_epi_dopa 0 leaves nothing to train; allowed: at least "
                              "one epoch in one of the two phases")
