"""A per-layer dopamine table (hebbianCNN, seed 003): the dopamine of each (prediction, reward) case, per sample.

The network predicts a reward (1) when it takes its greedy choice and none (0) when exploration changed the
choice; the environment delivers a reward (1) for the right class and none (0) otherwise. Each layer has its
own value for each of the four cases (seed names in brackets)::

    (prediction, reward)   name                    feedforward   conv    classification
    (0, 1)                 unpredicted_reward         6.0        2.7         0.3        ['-e+r', dHigh]
    (1, 1)                 predicted_reward           0.01       0.1         0.3        ['+e+r', dMid]
    (0, 0)                 predicted_no_reward       -0.6       -0.07       -0.2        ['-e-r', dNeut]
    (1, 0)                 omitted_reward            -2.0        1.0        -0.2        ['+e-r', dLow]

(the feedforward and conv columns are the seed's ``launch.py``, the classification column its ``Network``).
Two cases have RPE = reward − prediction = 0 but different values ((1, 1) and (0, 0)), which the RPE modulator
of :mod:`evohebb.plasticity.rpe` cannot express (it gives every RPE-0 case one ``zero_scale``); for binary
rewards its ``proportional`` and ``sign`` modes are the special table of :meth:`DopamineTable.from_rpe`.

Only the layers in ``release`` get dopamine; the others learn without it (:meth:`DopamineTable.post_factor` returns
``None``, i.e. factor 1).

**Where the factor enters.** The seed multiplies *each sample's* learning rate by its dopamine, then sums the
batch. So the factor is per sample, on the rule's rank axis: :meth:`DopamineTable.post_factor` scales the
postsynaptic signal ``[P, R, Cout, Ho, Wo]`` along ``R`` before the rule sums over ``R`` (for rules linear in
the postsynaptic signal, such as :class:`~evohebb.plasticity.soft_wta_hebb.SoftWTAHebbRule`, that is exactly a
per-sample learning rate). It is a sample modulator (:mod:`evohebb.plasticity.sample_modulators`, applied with
:func:`~evohebb.plasticity.sample_modulators.modulate_post`), not a ``Δw`` modulator; ``layer`` is the layer's
name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from evohebb.config import ConfigError, Settings, option
from evohebb.plasticity.rpe import RPESettings

__all__ = ["CASES", "DOPAMINE_LAYERS", "RELEASE_LAYERS", "DopamineSettings", "DopamineTable", "DopamineValues"]

#: (prediction, reward) in the order of :attr:`DopamineValues.as_tuple`
CASES = ((0, 0), (0, 1), (1, 0), (1, 1))
#: the layers of the hebbianCNN network that hold a table
DOPAMINE_LAYERS = ("conv", "feedf", "classification")
#: the layers whose release the settings choose (the classification layer always learns from dopamine)
RELEASE_LAYERS = ("conv", "feedf")


@dataclass(frozen=True)
class DopamineValues(Settings):
    """The dopamine released in one layer in each (prediction, reward) case."""

    unpredicted_reward: float = option(6.0, help="(prediction 0, reward 1): exploration found a reward")
    predicted_reward: float = option(0.01, help="(1, 1): the greedy choice was rewarded, as predicted")
    predicted_no_reward: float = option(-0.6, help="(0, 0): no reward expected (explored), none delivered")
    omitted_reward: float = option(-2.0, help="(1, 0): reward expected (greedy), none delivered")

    def as_tuple(self) -> tuple[float, float, float, float]:
        """The values in the order of :data:`CASES`: (0, 0), (0, 1), (1, 0), (1, 1)."""
        return (self.predicted_no_reward, self.unpredicted_reward, self.omitted_reward, self.predicted_reward)


@dataclass(frozen=True)
class DopamineSettings(Settings):
    """The seed's three tables and the layers that release dopamine in the dopamine phase."""

    conv: DopamineValues = field(default_factory=lambda: DopamineValues(2.7, 0.1, -0.07, 1.0),
                                 metadata={"help": "convolutional layer"})
    feedf: DopamineValues = field(default_factory=DopamineValues, metadata={"help": "feedforward layer"})
    classification: DopamineValues = field(default_factory=lambda: DopamineValues(0.3, 0.3, -0.2, -0.2),
                                           metadata={"help": "classification layer (learns from dopamine in "
                                                             "both phases)"})
    release: tuple[str, ...] = option(("feedf",), choices=RELEASE_LAYERS,
                                      help="layers that release dopamine in the dopamine phase (besides the "
                                           "classification layer); [] for none")

    def validate(self) -> None:
        if len(set(self.release)) != len(self.release):
            raise ConfigError(f"release: {list(self.release)!r} names a layer twice; allowed: each of "
                              f"{', '.join(map(repr, RELEASE_LAYERS))} at most once")


class DopamineTable:
    """Per-layer dopamine of the four (prediction, reward) cases, turned into per-sample factors (see the module
    doc). ``values`` maps a layer (name or index) to its :class:`DopamineValues` or to four floats in the order
    of :data:`CASES`; ``release`` names the layers that get dopamine."""

    def __init__(self, values: Mapping[str, DopamineValues | Sequence[float]], release: Iterable[str]):
        self.values: dict[str, Tensor] = {}
        for layer, v in values.items():
            four = v.as_tuple() if isinstance(v, DopamineValues) else tuple(float(x) for x in v)
            if len(four) != 4:
                raise ValueError(f"layer {layer!r}: {len(four)} dopamine values; give 4, for (prediction, reward) "
                                 f"= {CASES}")
            self.values[layer] = torch.tensor(four, dtype=torch.float32).view(2, 2)   # [prediction, reward]
        self.release = frozenset(release)
        unknown = self.release - set(self.values)
        if unknown:
            raise ValueError(f"release names {sorted(map(str, unknown))} without a table; tables: "
                             f"{sorted(map(str, self.values))}")
        self.cases: tuple[Tensor, Tensor] | None = None     # (prediction, reward) of the last batch, each [R]

    @classmethod
    def from_settings(cls, settings: DopamineSettings, release: Iterable[str] | None = None) -> DopamineTable:
        """The seed's tables; ``release`` defaults to ``settings.release`` plus the classification layer."""
        values = {layer: getattr(settings, layer) for layer in DOPAMINE_LAYERS}
        return cls(values, ("classification", *settings.release) if release is None else release)

    @classmethod
    def from_rpe(cls, settings: RPESettings, layers: Iterable[str]) -> DopamineTable:
        """The table that the RPE modulator's greedy prediction gives for binary rewards (``proportional`` and
        ``sign`` agree there): ``zero_scale`` for (0, 0) and (1, 1), ``+g₊`` for (0, 1), ``−g₋`` for (1, 0)."""
        layers = list(layers)
        four = (settings.zero_scale, settings.gain_positive, -settings.gain_negative, settings.zero_scale)
        return cls({layer: four for layer in layers}, layers)

    def releasing(self, layers: Iterable[str]) -> DopamineTable:
        """The same tables with another set of releasing layers (e.g. the pure-Hebbian phase's)."""
        return DopamineTable({k: v.flatten().tolist() for k, v in self.values.items()}, layers)

    def lookup(self, layer: str, prediction: Tensor, reward: Tensor) -> Tensor:
        """The dopamine of ``layer`` for each sample's (prediction, reward) case (binary ``[R]`` tensors)."""
        table = self.values[layer].to(prediction.device)
        return table[prediction.long(), reward.long()]

    def release_for(self, prediction: Tensor, reward: Tensor) -> None:
        """Remember the cases of the batch the layers learn from next (prediction and reward in {0, 1}, ``[R]``)."""
        if prediction.shape != reward.shape or prediction.dim() != 1:
            raise ValueError(f"prediction {tuple(prediction.shape)} and reward {tuple(reward.shape)} must be "
                             "[R] tensors of the same length (one per sample)")
        self.cases = (prediction, reward)

    def sample_factors(self, layer: str) -> Tensor | None:
        """``[R]`` dopamine of the last batch in ``layer``; ``None`` if the layer does not release any."""
        if layer not in self.release:
            return None
        if self.cases is None:
            raise RuntimeError("call release_for(prediction, reward) before asking for factors")
        return self.lookup(layer, *self.cases)

    def post_factor(self, layer: str, post: Tensor) -> Tensor | None:
        """Sample-modulator interface on the rule's postsynaptic signal ``post`` ``[P, R, Cout, ...]``: the
        per-sample dopamine shaped ``[1, R, 1, ...]`` (``None``: no dopamine in this layer, learn as is)."""
        d = self.sample_factors(layer)
        if d is None:
            return None
        if post.shape[1] != d.shape[0]:
            raise ValueError(f"layer {layer!r}: {d.shape[0]} samples' dopamine for a postsynaptic signal with "
                             f"{post.shape[1]} samples on its rank axis (dim 1)")
        return d.to(post.dtype).view(1, -1, *([1] * (post.dim() - 2)))
