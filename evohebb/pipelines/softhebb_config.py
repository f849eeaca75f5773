"""Configuration of the softhebb pipeline (``evohebb softhebb <config.yaml> [key=value ...]``).

Presets (``configs/softhebb_*.yaml``) set the ``hebbian`` mechanisms of seed 001 and the data set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evohebb.config import ConfigError, option

ARCHITECTURES = ("softhebb", "softhebb_depthwise", "softhebb_residual", "lagani_short", "lagani_deep", "backprop")


@dataclass
class DataConfig:
    name: str = option("cifar10", choices=("cifar10", "cifar100", "mnist", "fashion_mnist"), help="data set")
    data_dir: str | None = option(None, help="data root (else $EVOHEBB_DATA, else ~/.cache/evohebb/data)")
    download: bool = option(False, help="download with torchvision where a network exists")
    train_subset: int = option(0, low=0, help="use only the first N training images (0: all)")
    test_subset: int = option(0, low=0, help="use only the first N test images (0: all)")


@dataclass
class ModelConfig:
    architecture: str = option("softhebb", choices=ARCHITECTURES, help="registered architecture name")
    n_layers: int = option(3, low=1, high=11, help="depth of the softhebb family (3 to 11 in seed 000)")
    channels: list[int] | None = option(None, help="output channels per layer (default 96, 384, 1536, ...)")
    t_inv: list[float] | None = option(None, help="soft-WTA inverse temperature per layer (1, 0.65, 0.25)")
    eta0: list[float] | None = option(None, help="base Hebbian rate per layer (0.08, 0.005, 0.01)")
    power: list[float] | None = option(None, help="triangle activation power per layer (0.7, 1.4, 1.0)")
    dropout: float = option(0.5, low=0.0, high=1.0, high_inclusive=False, help="readout dropout")


@dataclass
class HebbianConfig:
    """Mechanisms applied to every Hebbian layer (see evohebb.nn.softhebb_conv.HebbianSettings)."""
    mode: str = option("soft", choices=("soft", "hard", "topk", "basic", "bcm", "temporal", "threshold"),
                       help="competition")
    anti_hebbian: bool = option(True, help="soft WTA: negate non-winners' updates")
    adaptive_lr: bool = option(True, help="per-neuron rate eta0 * (| |W_k| - 1 | + 1e-10) ** lr_power")
    lr_power: float = option(0.5, low=0.0, help="exponent of the adaptive rate")
    top_k: int = option(1, low=1, help="winners per position (mode topk)")
    cosine: bool = option(False, help="cosine-similarity activation")
    lateral_inhibition: bool = option(False, help="difference-of-Gaussians surround inhibition")
    sigma_e: float = option(1.2, low=0.0, low_inclusive=False, help="excitatory Gaussian sigma")
    sigma_i: float = option(1.4, low=0.0, low_inclusive=False, help="inhibitory Gaussian sigma")
    lateral_kernel: int = option(5, low=1, help="lateral inhibition kernel size (odd)")
    bcm_decay: float = option(0.5, low=0.0, high=1.0, high_inclusive=False, help="BCM theta decay d")
    temporal_window: int = option(500, low=1, help="temporal competition history length")
    competition_k: float = option(2.0, help="threshold competition: winners above mean + k * std")
    presynaptic: str | None = option(None, choices=("softmax", "lp_norm"), help="presynaptic competition")
    presynaptic_p: float = option(2.0, low=0.0, low_inclusive=False, help="p of the lp_norm competition")
    homeostasis: bool = option(False, help="homeostatic synaptic scaling")
    homeostasis_strength: float = option(0.01, low=0.0, help="synaptic scaling strength")
    dale: bool = option(False, help="Dale's principle: non-negative effective weights")
    alpha: float = option(1.0, low=0.0, high=1.0, help="1: Hebbian only; <1 mixes in backprop gradients")
    init: str = option("softhebb", choices=("softhebb", "kaiming_uniform"), help="weight initialisation")
    init_radius: float = option(25.0, low=0.0, low_inclusive=False, help="softhebb init: initial weight norm")
    sharing: str | None = option(None, choices=("max", "min", "median", "mean"),
                                 help="unrolled SoftHebb (seed 002): per-position updates aggregated per kernel entry")


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
    checkpoint_every: int = option(1000, low=1, help="checkpoint every N updates")


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
class SoftHebbConfig:
    name: str | None = option(None, help="run name (runs/<name>)")
    seed: int = option(0, help="seed of every RNG")
    device: str = option("cpu", help="torch device: cpu, cuda, cuda:1, or auto")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    hebbian: HebbianConfig = field(default_factory=HebbianConfig)
    unsupervised: UnsupervisedConfig = field(default_factory=UnsupervisedConfig)
    readout: ReadoutConfig = field(default_factory=ReadoutConfig)
    keep_checkpoints: int = option(3, low=1, help="step checkpoints kept besides the best")
    receptive_fields: bool = option(True, help="write receptive fields (layer-1 kernels, deeper layers' preferred "
                                               "inputs) to TensorBoard and figures/")

    def validate(self) -> None:
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
