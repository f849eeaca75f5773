"""Typed settings of the built-in environments (the evolve config's ``env`` section when ``env.name`` is
``carracing`` or ``classification``; their entries: :mod:`envs.car_racing_entry`, :mod:`envs.classification_entry`)."""

from __future__ import annotations

from dataclasses import dataclass

from envs.car_racing import VECTORIZATION_MODES
from envs.car_racing_options import CAR_RACING_BACKENDS
from envs.env_registry import EnvSettings
from evohebb.config import ConfigError, option
from evohebb.data.dataset_registry import DATASETS

__all__ = ["PEDAL_HEADS", "CarRacingSettings", "ClassificationSettings"]

#: CarRacing's pedal mappings (``env.pedals``) -> the output head (:mod:`evohebb.nn.output_heads`) that gives them
PEDAL_HEADS = {"clip": "carracing_clip", "half_gas": "carracing_half_gas", "sigmoid": "carracing_sigmoid"}


@dataclass(frozen=True)
class CarRacingSettings(EnvSettings):
    name: str = option("carracing", choices=("carracing",))
    backend: str = option("envpool", choices=CAR_RACING_BACKENDS,
                          help="envpool: EnvPool's C++ CarRacing-v3 (~8x faster here); gymnasium: the reference env "
                               "that final scores are reported on")
    size: int = option(64, low=8, help="observation resized to size x size")
    grayscale: bool = option(False)
    frame_skip: int = option(1, low=1)
    negative_patience: int = option(20, low=0, help="end the episode after this many negative rewards in a row "
                                                      "(0: never)")
    pedals: str = option("clip", choices=tuple(PEDAL_HEADS),
                         help="gas/brake outputs: tanh clipped to [0, 1] (zero output = pedal off); half_gas: gas "
                              "(tanh + 1) / 2 (zero output = half gas), brake clipped; or the thesis's sigmoid (an "
                              "untrained policy holds both pedals at ~0.5 and barely moves)")
    vectorization: str = option("sync", choices=VECTORIZATION_MODES,
                                help="backend gymnasium: its vector env inside an actor (sync: one core per actor)")

    def validate(self) -> None:
        if self.backend == "envpool" and self.vectorization != "sync":
            raise ConfigError(f"vectorization: {self.vectorization!r} applies to backend 'gymnasium' only (EnvPool "
                              "steps its envs in its own C++ thread); allowed with backend 'envpool': the default "
                              "'sync'")

    @property
    def vector_env_options(self) -> dict:
        """Keyword arguments of ``envs.make_car_racing_vector`` for these settings."""
        return {"backend": self.backend, "vectorization": self.vectorization if self.backend == "gymnasium" else None,
                "size": self.size, "grayscale": self.grayscale, "frame_skip": self.frame_skip,
                "negative_patience": self.negative_patience or None}

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (1 if self.grayscale else 3, self.size, self.size)


@dataclass(frozen=True)
class ClassificationSettings(EnvSettings):
    name: str = option("classification", choices=("classification",))
    dataset: str = option("mnist", choices=tuple(DATASETS))
    data_dir: str | None = option(None, help="data directory (else EVOHEBB_DATA, else ~/.cache/evohebb/data)")
    train: bool = option(True, help="draw the episodes' images from the training split")
    download: bool = option(False, help="download the data set where a network exists")

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return DATASETS.lookup(self.dataset).image_shape

    @property
    def n_classes(self) -> int:
        return DATASETS.lookup(self.dataset).n_classes
