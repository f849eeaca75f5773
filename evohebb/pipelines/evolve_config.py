"""Configuration of the evolve pipeline (``evohebb evolve <config.yaml> [key=value ...]``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from evohebb.config import ConfigError, option
from evohebb.es.search_algorithms import ALGORITHMS, settings_of
from evohebb.run_io.run_settings import CheckpointSettings, RunSettings


@dataclass
class AlgorithmConfig:
    """The search algorithm and its settings; each algorithm reads only some of them (``settings_of``), and a
    setting it does not read must keep its default."""

    name: str = option("pgpe", choices=tuple(ALGORITHMS), help="evotorch search algorithm")
    popsize: int = option(16, low=2, help="population size")
    stdev_init: float = option(0.05, low=0.0, low_inclusive=False, help="initial search stdev (sigma)")
    center_lr: float = option(0.02, low=0.0, low_inclusive=False, help="center learning rate (pgpe, openai_es)")
    stdev_lr: float = option(0.1, low=0.0, help="stdev learning rate (pgpe)")
    parenthood_ratio: float = option(0.25, low=0.0, high=1.0, low_inclusive=False, help="elite fraction (cem)")
    lr_decay: float = option(1.0, low=0.0, high=1.0, low_inclusive=False,
                             help="center learning rate multiplied by this every generation (pgpe, openai_es; "
                                  "the thesis's openai_es: 0.995)")

    def validate(self) -> None:
        reads = settings_of(self.name)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "name" or f.name in reads or value == f.default:
                continue
            readers = [name for name in ALGORITHMS if f.name in settings_of(name)]
            raise ConfigError(f"{f.name}: {value!r} does not apply to the search algorithm {self.name!r} (it reads "
                              f"{', '.join(reads)}); allowed: the default {f.default!r}, or an algorithm that "
                              f"reads it: {', '.join(map(repr, readers))}")
        if self.name in ("pgpe", "openai_es") and self.popsize % 2:
            raise ConfigError(f"popsize: {self.popsize} must be even for {self.name} (symmetric sampling); "
                              f"allowed: even integers >= 2")


@dataclass
class EvaluationConfig:
    episodes_per_individual: int = option(1, low=1, help="episodes (seeds) averaged into one fitness")
    max_steps: int = option(200, low=1, help="cap on every episode's length (env steps)")
    num_actors: int = option(2, low=0, help="Ray actors evaluating the population (0: in this process)")
    torch_threads: int = option(1, low=1, help="torch threads per actor")
    l2_penalty: float = option(0.0, low=0.0, help="fitness -= l2_penalty * |genome|^2")
    random_baseline: bool = option(True, help="each generation, also play random actions on the generation's "
                                              "seeds and log their mean return as fitness/random")
    ray_address: str | None = option(None, help="join this Ray cluster (else RAY_ADDRESS, else a local instance)")


@dataclass
class RPEConfig:
    enabled: bool = option(False, help="scale plasticity by a dopamine-like reward-prediction error (RPE)")
    prediction: str = option("running_average", choices=("running_average", "greedy"),
                             help="running average of reward, or seed 003's greedy binary prediction")
    rate: float = option(0.1, low=0.0, high=1.0, help="running-average rate of the reward prediction")
    gain_positive: float = option(1.0, help="gain for RPE > 0")
    gain_negative: float = option(1.0, help="gain for RPE < 0")
    zero_scale: float = option(0.0, help="scale when RPE == 0 (0: no learning)")
    scale: str = option("proportional", choices=("proportional", "sign"),
                        help="gain x RPE, or the RPE's sign times the gain (seed 003)")
    evolvable: bool = option(False, help="put the two gains into the genome (per individual)")


@dataclass
class NetworkConfig:
    aggregation: str = option("max", choices=("max", "min", "median", "mean"),
                              help="weight-sharing aggregation over a kernel entry's copies")
    weight_norm: bool = option(True, help="divide each layer's weights by max|w| after every update")
    weight_clip: float | None = option(None, low=0.0, help="clip weights to [-c, c] after every update")
    exploration_std: float = option(0.5, low=0.0, help="classifier: noise on the scores before the choice")
    plastic: bool = option(True, help="false: no weight updates (the non-plastic control)")
    evolve_output_weights: bool = option(False, help="the output layer's initial weights are part of the genome "
                                         "(with plastic=false: the direct-encoded non-plastic control)")
    parameter_sharing: str = option("neuron", choices=("neuron", "layer", "layer_outputs"),
                                    help="neuron: per-neuron ABCD (neuron-centric); layer: one set per layer; "
                                         "layer_outputs: one set per layer but per-neuron for the output layer")
    plastic_layers: str = option("all", choices=("all", "output"),
                                 help="all: every layer learns; output: only the last layer learns (the trunk "
                                      "stays a fixed random feature extractor)")
    pre_centering: float = option(0.0, low=0.0, high=1.0,
                                  help="rate of a running mean subtracted from the presynaptic activity the rule "
                                       "sees (covariance rule; 0: off)")
    rpe: RPEConfig = field(default_factory=RPEConfig)


@dataclass
class CarRacingConfig:
    size: int = option(64, low=16, help="observation resized to size x size")
    grayscale: bool = option(False)
    frame_skip: int = option(1, low=1)
    negative_patience: int = option(20, low=0, help="end the episode after this many negative rewards in a row "
                                                      "(0: never)")
    pedals: str = option("clip", choices=("clip", "sigmoid"),
                         help="gas/brake outputs: tanh clipped to [0, 1] (zero output = pedal off), or the "
                              "thesis's sigmoid (an untrained policy holds both pedals at ~0.5 and barely moves)")
    vectorization: str = option("sync", choices=("sync", "async"), help="gymnasium vector env inside an actor")


@dataclass
class ClassificationConfig:
    dataset: str = option("mnist", choices=("mnist", "fashion_mnist", "cifar10", "cifar100"))
    data_dir: str | None = option(None, help="data directory (else EVOHEBB_DATA, else ~/.cache/evohebb/data)")
    train: bool = option(True, help="draw the episodes' images from the training split")
    download: bool = option(False, help="download the data set where a network exists")


@dataclass
class CheckpointConfig(CheckpointSettings):
    every: int = option(5, low=1, help="checkpoint every N generations (and at the end and on SIGINT/SIGTERM)")


@dataclass
class EvolveConfig(RunSettings):
    """The run section (name, seed, device, checkpoint; see RunSettings) and the evolution."""

    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    task: str = option("carracing", choices=("carracing", "classification"))
    generations: int = option(10, low=1)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    carracing: CarRacingConfig = field(default_factory=CarRacingConfig)
    classification: ClassificationConfig = field(default_factory=ClassificationConfig)
