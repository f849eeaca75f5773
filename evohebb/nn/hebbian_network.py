"""Population-batched, unrolled, plastic networks driven by neuron-centric ABCD.

A :class:`HebbianNetwork` is a chain of plastic layers (unrolled convs and
linears, no biases) with tanh activations and max-pooling, holding the weights
of ``P`` individuals at once (leading population dimension). Its plastic
parameters come from one flat genome per individual, split into named slices
(:meth:`HebbianNetwork.genome_spec`), so an evolution strategy sees one vector.

Neuron groups: the network input, every plastic layer's output, and every
pooling layer's output (pooled neurons are fresh neurons). A group holds
``A`` if it is presynaptic to some layer, ``B`` if postsynaptic, and always
``C, D, eta`` (see :mod:`evohebb.plasticity.abcd`). A linear layer directly after
a conv (no pooling) uses the conv's output group, flattened.

Life cycle: ``load_genomes([P, G])`` → ``reset(weight_seed)`` → repeatedly
``forward(obs)`` / ``update(reward)``. Conv layers learn through
:func:`~evohebb.plasticity.weight_sharing.shared_neuron_centric_abcd` (weight
sharing restored at every step); linear layers through
:func:`~evohebb.plasticity.abcd.neuron_centric_abcd`. After every update each
layer's weights are optionally divided by their max ``|w|`` and clipped. With an
RPE modulator the update of individual ``p`` is scaled by its dopamine signal.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evohebb.nn.row_noise import row_normal
from evohebb.nn.unrolled import UnrolledConv2d, population_linear, population_max_pool2d
from evohebb.plasticity.abcd import NeuronParams, neuron_centric_abcd
from evohebb.plasticity.rpe import RewardModulator
from evohebb.plasticity.weight_normalisation import clip_weights_, normalise_max_abs_
from evohebb.plasticity.weight_sharing import (
    AGGREGATIONS,
    SHARING_MODES,
    SharedConstants,
    shared_constant_terms,
    shared_neuron_centric_abcd,
)

__all__ = [
    "NETWORKS",
    "OUTPUT_HEADS",
    "ConvSpec",
    "HebbianNetwork",
    "LinearSpec",
    "PoolSpec",
    "carracing_policy",
    "get_network",
    "image_classifier",
]

log = logging.getLogger(__name__)

OUTPUT_HEADS = ("tanh", "carracing", "carracing_clip", "choice")
CARRACING_HEADS = ("carracing", "carracing_clip")


@dataclass(frozen=True)
class ConvSpec:
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0


@dataclass(frozen=True)
class PoolSpec:
    kernel_size: int = 2


@dataclass(frozen=True)
class LinearSpec:
    out_features: int


PARAMETER_SHARING = ("neuron", "layer", "layer_outputs")
PLASTIC_LAYERS = ("all", "output")


@dataclass
class _Group:
    name: str
    shape: tuple[int, ...]
    pre: bool = False
    post: bool = False

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def param_names(self) -> list[str]:
        if not (self.pre or self.post):  # e.g. between two pooling layers: not a plastic neuron
            return []
        return [
            n
            for n, used in (("A", self.pre), ("B", self.post), ("C", True), ("D", True), ("eta", True))
            if used
        ]


@dataclass
class _Plastic:
    kind: str  # "conv" | "linear"
    pre: int  # group index
    post: int
    conv: UnrolledConv2d | None = None
    n_in: int = 0
    n_out: int = 0


def _make_modulator(rpe: Any) -> RewardModulator | None:
    if rpe is None or isinstance(rpe, RewardModulator):
        return rpe
    if isinstance(rpe, str):
        return RewardModulator(prediction=rpe)
    if isinstance(rpe, dict):
        return RewardModulator(**rpe)
    raise TypeError(
        f"rpe must be None, a prediction name, a dict of RewardModulator arguments or a "
        f"RewardModulator; got {type(rpe).__name__}"
    )


class HebbianNetwork(nn.Module):
    """Population-batched unrolled plastic network (see the module doc).

    Args:
        in_shape: ``(C, H, W)`` of one observation.
        layers: sequence of :class:`ConvSpec`, :class:`PoolSpec`, :class:`LinearSpec`; the last must be linear.
        output: ``"tanh"``, ``"carracing"`` (steer tanh, gas/brake sigmoid: pedals at 0.5 for a zero output),
            ``"carracing_clip"`` (all tanh, gas/brake clipped to [0, 1]: a zero or negative output is no pedal;
            the rule sees the unclipped tanh) or ``"choice"`` (classifier: the output neurons' activity is the
            one-hot of the argmax of the noisy scores).
        aggregation: weight-sharing aggregation (``max``, ``min``, ``median``, ``mean``).
        sharing_mode: ``"terms"`` (thesis) or ``"delta"``; see :mod:`evohebb.plasticity.weight_sharing`.
        rpe: ``None`` (plain Hebbian), a prediction name, a dict of :class:`RewardModulator` args, or one.
        rpe_evolvable: put ``rpe.gain_positive`` / ``rpe.gain_negative`` into the genome (per individual).
        plastic: ``False`` makes ``update`` a no-op (the non-plastic control with the same genome and budget).
        parameter_sharing: ``"neuron"`` (every neuron its own A, B, C, D, η: the neuron-centric rule) or
            ``"layer"`` (one set per neuron group, broadcast to its neurons: a genome of a few dozen numbers) or
            ``"layer_outputs"`` (one set per group, except that each output neuron keeps its own, so outputs
            such as gas and brake can learn differently; a few dozen numbers more).
        weight_norm: divide each layer's weights by their max ``|w|`` after every update.
        clip: clamp weights to ``[-clip, clip]`` after every update (``None``: off).
        exploration_std: std of the Gaussian noise added to the scores before the choice (``choice`` head).
        evolve_output_weights: put the output layer's initial weights into the genome (``out.W``, per
            individual) instead of drawing them from the seed; with ``plastic=False`` this is the
            direct-encoded, non-plastic control (evolution finds the readout itself, no lifetime learning).
        plastic_layers: ``"all"`` (every layer learns) or ``"output"`` (only the last layer learns; the
            trunk stays a fixed random feature extractor from its seeded initialisation, not normalised either).
        pre_centering: rate ``r`` of a per-neuron running mean of every learning layer's presynaptic activity;
            ``r > 0`` makes the rule see ``x - mean(x)`` instead of ``x`` (the covariance rule), so a feature
            every input shares does not dominate what is learnt. The mean is bias-corrected
            (``m_t = EMA_t / (1 - (1 - r)^t)``) and restarts at ``reset``. ``0``: off (plain ``x``).
        device: where all tensors live.
        dtype: floating type of weights, parameters and activity (float32; float64 for exactness checks).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        layers: Sequence[ConvSpec | PoolSpec | LinearSpec],
        output: str = "tanh",
        aggregation: str = "max",
        sharing_mode: str = "terms",
        rpe: Any = None,
        rpe_evolvable: bool = False,
        plastic: bool = True,
        parameter_sharing: str = "neuron",
        weight_norm: bool = True,
        clip: float | None = None,
        exploration_std: float = 0.0,
        plastic_layers: str = "all",
        evolve_output_weights: bool = False,
        pre_centering: float = 0.0,
        chunk_elements: int = 1 << 20,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation={aggregation!r} is not supported; use one of {AGGREGATIONS}")
        if sharing_mode not in SHARING_MODES:
            raise ValueError(f"sharing_mode={sharing_mode!r} is not supported; use one of {SHARING_MODES}")
        if output not in OUTPUT_HEADS:
            raise ValueError(f"output={output!r} is not supported; use one of {OUTPUT_HEADS}")
        if not layers or not isinstance(layers[-1], LinearSpec):
            raise ValueError("the last layer of a HebbianNetwork must be a LinearSpec")
        self.device = torch.device(device)
        self.dtype = dtype
        self.in_shape = tuple(int(s) for s in in_shape)
        self.output = output
        self.aggregation = aggregation
        self.sharing_mode = sharing_mode
        self.weight_norm = weight_norm
        self.clip = clip
        self.exploration_std = float(exploration_std)
        self.chunk_elements = chunk_elements
        self.modulator = _make_modulator(rpe)
        self.rpe_evolvable = bool(rpe_evolvable)
        self.plastic = bool(plastic)
        if parameter_sharing not in PARAMETER_SHARING:
            raise ValueError(f"parameter_sharing={parameter_sharing!r} is not supported; use one of "
                             f"{PARAMETER_SHARING}")
        self.parameter_sharing = parameter_sharing
        if plastic_layers not in PLASTIC_LAYERS:
            raise ValueError(f"plastic_layers={plastic_layers!r} is not supported; use one of {PLASTIC_LAYERS}")
        self.plastic_layers = plastic_layers
        self.evolve_output_weights = bool(evolve_output_weights)
        self._evolved_output_w: Tensor | None = None
        if not 0.0 <= pre_centering <= 1.0:
            raise ValueError(f"pre_centering={pre_centering} must lie in [0, 1] (0: off)")
        self.pre_centering = float(pre_centering)
        self._pre_ema: list[Tensor | None] = []
        self._pre_steps = 0
        if self.rpe_evolvable and self.modulator is None:
            raise ValueError("rpe_evolvable=True needs an RPE modulator (rpe=...)")
        if output in CARRACING_HEADS and layers[-1].out_features != 3:
            raise ValueError("the carracing head needs exactly 3 outputs (steer, gas, brake)")

        self._groups: list[_Group] = [_Group("in", self.in_shape)]
        self._plastic: list[_Plastic] = []
        self._ops: list[tuple[str, int]] = []  # ("conv", plastic idx) | ("pool", k) | ("linear", plastic idx)
        convs = nn.ModuleList()
        shape = self.in_shape
        cur = 0
        n_conv = n_pool = n_fc = 0
        for spec in layers:
            if isinstance(spec, ConvSpec):
                if len(shape) != 3:
                    raise ValueError("a ConvSpec cannot follow a LinearSpec")
                n_conv += 1
                conv = UnrolledConv2d(
                    shape[0],
                    spec.out_channels,
                    spec.kernel_size,
                    (shape[1], shape[2]),
                    spec.stride,
                    spec.padding,
                    population=1,
                    device=self.device,
                    dtype=dtype,
                )
                convs.append(conv)
                shape = conv.out_shape
                self._groups.append(_Group(f"conv{n_conv}", shape))
                self._plastic.append(_Plastic("conv", cur, len(self._groups) - 1, conv=conv))
                cur = len(self._groups) - 1
                self._ops.append(("conv", len(self._plastic) - 1))
            elif isinstance(spec, PoolSpec):
                if len(shape) != 3:
                    raise ValueError("a PoolSpec cannot follow a LinearSpec")
                n_pool += 1
                shape = (shape[0], shape[1] // spec.kernel_size, shape[2] // spec.kernel_size)
                self._groups.append(_Group(f"pool{n_pool}", shape))
                cur = len(self._groups) - 1
                self._ops.append(("pool", spec.kernel_size))
            elif isinstance(spec, LinearSpec):
                n_fc += 1
                n_in = math.prod(shape)
                last = spec is layers[-1]
                shape = (spec.out_features,)
                self._groups.append(_Group("out" if last else f"fc{n_fc}", shape))
                self._plastic.append(
                    _Plastic("linear", cur, len(self._groups) - 1, n_in=n_in, n_out=spec.out_features)
                )
                cur = len(self._groups) - 1
                self._ops.append(("linear", len(self._plastic) - 1))
            else:
                raise TypeError(f"unknown layer spec {spec!r}")
        for pl in self._plastic:
            self._groups[pl.pre].pre = True
            self._groups[pl.post].post = True
        self._group_index = {g.name: i for i, g in enumerate(self._groups)}
        self.convs = convs
        self._linear_w: list[Tensor] = [
            torch.zeros(1, p.n_out, p.n_in, device=self.device, dtype=dtype)
            for p in self._plastic
            if p.kind == "linear"
        ]
        self._spec = self._build_spec()
        self._params: list[NeuronParams] = []
        self._constants: dict[int, SharedConstants] = {}
        self._rpe_gains: tuple[Tensor, Tensor] | None = None
        self._acts: list[tuple[Tensor, Tensor]] | None = None
        self._explored: Tensor | None = None
        self.last_choice: Tensor | None = None
        self._noise_seeds = torch.zeros(0, dtype=torch.int64)
        self._noise_step = 0
        self._weight_seed = 0
        self.population = 0

    # ---- genome ------------------------------------------------------------------
    def _build_spec(self) -> dict[str, tuple[int, ...]]:
        spec: dict[str, tuple[int, ...]] = {}
        for g in self._groups:
            for n in g.param_names():
                per_neuron = self.parameter_sharing == "neuron" or (
                    self.parameter_sharing == "layer_outputs" and g.name == "out")
                spec[f"{g.name}.{n}"] = g.shape if per_neuron else (1,)
        if self.evolve_output_weights:
            last = self._plastic[-1]
            spec["out.W"] = (last.n_out, last.n_in)
        if self.rpe_evolvable:
            spec["rpe.gain_positive"] = (1,)
            spec["rpe.gain_negative"] = (1,)
        return spec

    def genome_spec(self) -> dict[str, tuple[int, ...]]:
        """Ordered ``name -> per-individual shape`` of every evolvable parameter."""
        return dict(self._spec)

    def genome_size(self) -> int:
        return sum(math.prod(s) for s in self._spec.values())

    def genome_slices(self) -> dict[str, slice]:
        """Where each named parameter lives in the flat genome."""
        out, o = {}, 0
        for name, s in self._spec.items():
            n = math.prod(s)
            out[name] = slice(o, o + n)
            o += n
        return out

    def genome_init(self, generator: torch.Generator | None = None) -> Tensor:
        """A centre for the search ``[G]``: ``A, B, C, D ~ U(-0.1, 0.1)``, ``eta ~ U(0, 0.1)``, RPE gains 1."""
        parts = []
        for name, s in self._spec.items():
            n = math.prod(s)
            if name.startswith("rpe."):
                parts.append(torch.ones(n))
            elif name == "out.W":   # the seeded initialisation's scale
                parts.append((torch.rand(n, generator=generator) * 2 - 1) / math.sqrt(s[1]))
            elif name.endswith(".eta"):
                parts.append(torch.rand(n, generator=generator) * 0.1)
            else:
                parts.append((torch.rand(n, generator=generator) * 2 - 1) * 0.1)
        return torch.cat(parts).to(device=self.device, dtype=self.dtype)

    def named_genome(self, genomes: Tensor) -> dict[str, Tensor]:
        """Views of ``[P, G]`` genomes as ``name -> [P, *shape]``."""
        P = genomes.shape[0]
        return {
            name: genomes[:, sl].reshape(P, *self._spec[name]) for name, sl in self.genome_slices().items()
        }

    @torch.no_grad()
    def load_genomes(self, genomes: Tensor) -> None:
        """Set the plastic parameters of ``P`` individuals from ``[P, G]`` flat genomes."""
        if genomes.dim() == 1:
            genomes = genomes.unsqueeze(0)
        if genomes.dim() != 2 or genomes.shape[1] != self.genome_size():
            raise ValueError(f"genomes must be [P, {self.genome_size()}]; got {tuple(genomes.shape)}")
        genomes = genomes.to(device=self.device, dtype=self.dtype).contiguous()
        P = genomes.shape[0]
        named = self.named_genome(genomes)
        if self.parameter_sharing != "neuron":   # one value per shared group, broadcast to its neurons
            shapes = {f"{g.name}.{n}": g.shape for g in self._groups for n in g.param_names()}
            named = {k: v.reshape(P, *[1] * len(shapes[k])).expand(P, *shapes[k])
                     if k in shapes and self._spec[k] != shapes[k] else v
                     for k, v in named.items()}
        self._params = [
            NeuronParams(*(named.get(f"{g.name}.{n}") for n in ("A", "B", "C", "D", "eta")))
            for g in self._groups
        ]
        self._evolved_output_w = named["out.W"] if self.evolve_output_weights else None
        self._rpe_gains = (
            (named["rpe.gain_positive"][:, 0], named["rpe.gain_negative"][:, 0])
            if self.rpe_evolvable
            else None
        )
        if P != self.population:
            self.population = P
            for conv in self.convs:
                conv.set_population(P)
            self._linear_w = [w.new_zeros(P, *w.shape[1:]) for w in self._linear_w]
            self.reset(self._weight_seed)
        self._constants = {}
        if self.sharing_mode == "terms":
            for i, pl in enumerate(self._plastic):
                if pl.kind == "conv":
                    self._constants[i] = shared_constant_terms(
                        self._params[pl.pre],
                        self._params[pl.post],
                        pl.conv.geometry,
                        self.aggregation,
                        self.chunk_elements,
                    )
        self._acts = None

    # ---- state -----------------------------------------------------------------------
    @torch.no_grad()
    def reset(self, weight_seed: int, noise_seeds: Sequence[int] | None = None) -> None:
        """Re-initialise the weights (same for all individuals, from ``weight_seed``) and the RPE state.

        Weights are ``U(-1/√fan_in, 1/√fan_in)`` drawn on CPU (device-independent), no biases.
        ``noise_seeds`` (one per individual, e.g. its episode seed) seed each individual's own exploration
        noise stream, so its outcome does not depend on which population slice it is evaluated in;
        default: ``weight_seed + index``."""
        self._weight_seed = int(weight_seed)
        gen = torch.Generator().manual_seed(self._weight_seed)
        P = max(self.population, 1)
        li = 0
        for pl in self._plastic:
            if pl.kind == "conv":
                w = pl.conv.weight
            else:
                w = self._linear_w[li]
                li += 1
            fan_in = math.prod(w.shape[2:])
            bound = 1.0 / math.sqrt(fan_in)
            w0 = (torch.rand(w.shape[1:], generator=gen) * 2 - 1) * bound
            w.copy_(w0.to(self.device).unsqueeze(0).expand(P, *w0.shape))
        if self._evolved_output_w is not None and self._evolved_output_w.shape[0] == P:
            self._linear_w[-1].copy_(self._evolved_output_w)
        if self.modulator is not None:
            self.modulator.reset(P, self.device, self.dtype)
        if noise_seeds is None:
            noise_seeds = [self._weight_seed + i for i in range(P)]
        if len(noise_seeds) != P:
            raise ValueError(f"{len(noise_seeds)} noise seeds for a population of {P}")
        self._noise_seeds = torch.tensor([int(s) for s in noise_seeds], dtype=torch.int64, device=self.device)
        self._noise_step = 0
        self._pre_ema = [None] * len(self._plastic)
        self._pre_steps = 0
        self._acts = None

    def weights(self) -> list[Tensor]:
        """Current weights of every plastic layer (conv: ``[P, Cout, Cin, k, k]``, linear: ``[P, out, in]``)."""
        out, li = [], 0
        for pl in self._plastic:
            if pl.kind == "conv":
                out.append(pl.conv.weight)
            else:
                out.append(self._linear_w[li])
                li += 1
        return out

    # ---- compute ------------------------------------------------------------------
    @torch.no_grad()
    def forward(self, obs: Tensor) -> Tensor:
        """``[P, C, H, W]`` float → ``[P, n_out]``; records the activity the next update needs."""
        if not self._params:
            raise RuntimeError("call load_genomes(genomes) before forward()")
        P = self.population
        if obs.dim() == len(self.in_shape):
            obs = obs.unsqueeze(0)
        if obs.shape[0] != P or tuple(obs.shape[1:]) != self.in_shape:
            raise ValueError(
                f"obs must be [{P}, {', '.join(map(str, self.in_shape))}]; got {tuple(obs.shape)}"
            )
        h = obs.to(device=self.device, dtype=self.dtype)
        acts: list[tuple[Tensor, Tensor]] = []
        weights = self.weights()
        n_ops = len(self._ops)
        result = h
        for oi, (kind, arg) in enumerate(self._ops):
            if kind == "conv":
                x = h
                h = torch.tanh(self._plastic[arg].conv(x))
                acts.append((x, h))
            elif kind == "pool":
                h = population_max_pool2d(h, arg)
            else:
                x = h.reshape(P, -1)
                z = population_linear(x, weights[arg])
                if oi < n_ops - 1:
                    h = torch.tanh(z)
                    acts.append((x, h))
                else:
                    y, result = self._head(z)
                    acts.append((x, y))
        self._acts = acts
        return result

    def _head(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Output neurons' activity (used by the rule) and the returned value."""
        if self.output == "tanh":
            y = torch.tanh(z)
            return y, y
        if self.output == "carracing":
            y = torch.cat([torch.tanh(z[:, :1]), torch.sigmoid(z[:, 1:])], dim=1)
            return y, y
        if self.output == "carracing_clip":
            y = torch.tanh(z)
            return y, torch.cat([y[:, :1], y[:, 1:].clamp(min=0.0)], dim=1)
        scores = z
        if self.exploration_std > 0:
            noise = row_normal(self._noise_seeds, self._noise_step, z.shape[1], dtype=z.dtype)
            self._noise_step += 1
            scores = z + self.exploration_std * noise
        choice = scores.argmax(1)
        self._explored = choice != z.argmax(1)
        self.last_choice = choice
        return F.one_hot(choice, z.shape[1]).to(z.dtype), scores

    @torch.no_grad()
    def update(self, reward: Tensor | None = None) -> None:
        """One Hebbian step for all ``P`` from the last forward's activity (RPE-scaled when RPE is on)."""
        if self._acts is None:
            raise RuntimeError("call forward(obs) before update()")
        if not self.plastic:   # the non-plastic control: weights stay at their seeded initialisation
            self._acts = None
            return
        P = self.population
        scale = None
        if self.modulator is None and reward is not None:
            log.debug("update(reward) on a network without RPE modulation: the reward is ignored")
        if self.modulator is not None:
            if reward is None:
                raise ValueError("this network is RPE-modulated: update(reward) needs the rewards [P]")
            gp, gn = self._rpe_gains if self._rpe_gains is not None else (None, None)
            explored = self._explored if self.output == "choice" else None
            scale = self.modulator(torch.as_tensor(reward, device=self.device).reshape(P), explored, gp, gn)
        li = 0
        last = len(self._plastic) - 1
        self._pre_steps += 1
        for i, (pl, (x, y)) in enumerate(zip(self._plastic, self._acts)):
            if pl.kind == "linear":
                li += 1
            if self.plastic_layers == "output" and i != last:
                continue
            x = self._centred(i, x)
            pre, post = self._params[pl.pre], self._params[pl.post]
            if pl.kind == "conv":
                w = pl.conv.weight
                dw = shared_neuron_centric_abcd(
                    x,
                    y,
                    pre,
                    post,
                    pl.conv.geometry,
                    self.aggregation,
                    self.sharing_mode,
                    self._constants.get(i),
                    self.chunk_elements,
                )
            else:
                w = self._linear_w[li - 1]
                dw = neuron_centric_abcd(x, y, _flat(pre, P), _flat(post, P))
            if scale is not None:
                dw.mul_(scale.view(P, *([1] * (dw.dim() - 1))))
            w.add_(dw)
            if self.weight_norm:
                normalise_max_abs_(w)
            if self.clip is not None:
                clip_weights_(w, self.clip)

    def _centred(self, i: int, x: Tensor) -> Tensor:
        """Layer ``i``'s presynaptic activity minus its bias-corrected running mean (``pre_centering``)."""
        if self.pre_centering <= 0.0:
            return x
        r = self.pre_centering
        if len(self._pre_ema) != len(self._plastic):
            self._pre_ema = [None] * len(self._plastic)
        ema = self._pre_ema[i]
        ema = x * r if ema is None else ema.mul_(1.0 - r).add_(x, alpha=r)
        self._pre_ema[i] = ema
        return x - ema / (1.0 - (1.0 - r) ** self._pre_steps)

    def extra_repr(self) -> str:
        return (
            f"in={self.in_shape}, output={self.output}, aggregation={self.aggregation}, "
            f"sharing={self.sharing_mode}, genome={self.genome_size()}, P={self.population}"
        )


def _flat(p: NeuronParams, P: int) -> NeuronParams:
    return NeuronParams(*(None if t is None else t.reshape(P, -1) for t in p))


# ---- builders -----------------------------------------------------------------------
PEDAL_MAPPINGS = {"sigmoid": "carracing", "clip": "carracing_clip"}
THESIS_CONV = (ConvSpec(6, 3), PoolSpec(2), ConvSpec(8, 5, stride=2), PoolSpec(2))


def carracing_policy(
    aggregation: str = "max",
    rpe: Any = None,
    weight_norm: bool = True,
    device: torch.device | str = "cpu",
    in_shape: Sequence[int] = (3, 64, 64),
    conv: Sequence[ConvSpec | PoolSpec] = THESIS_CONV,
    hidden: Sequence[int] = (128, 64),
    pedals: str = "sigmoid",
    **kw: Any,
) -> HebbianNetwork:
    """The thesis's CarRacing policy: 64×64×3 → conv 3→6 k3 + tanh + pool 2 → conv 6→8 k5 s2 + tanh + pool 2
    → 392→128→64→3, no biases; outputs ``[steer (tanh), gas, brake]``.

    ``pedals="sigmoid"`` (the thesis): gas and brake are sigmoids, so an untrained network brakes at ~0.5 and
    barely moves; ``"clip"``: tanh clipped to [0, 1], so a zero or negative output leaves the pedal off."""
    if pedals not in PEDAL_MAPPINGS:
        raise ValueError(f"pedals={pedals!r} is not supported; use one of {tuple(PEDAL_MAPPINGS)}")
    layers = [*conv, *(LinearSpec(h) for h in hidden), LinearSpec(3)]
    return HebbianNetwork(
        in_shape,
        layers,
        output=PEDAL_MAPPINGS[pedals],
        aggregation=aggregation,
        rpe=rpe,
        weight_norm=weight_norm,
        device=device,
        **kw,
    )


CLASSIFIER_CONV = (ConvSpec(8, 5, stride=2), PoolSpec(2))


def image_classifier(
    in_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    aggregation: str = "max",
    rpe: Any = "greedy",
    device: torch.device | str = "cpu",
    conv: Sequence[ConvSpec | PoolSpec] = CLASSIFIER_CONV,
    hidden: Sequence[int] = (),
    exploration_std: float = 0.5,
    **kw: Any,
) -> HebbianNetwork:
    """Reward-driven classifier for 28×28×1 / 32×32×3 images with ``n_classes`` outputs.

    Default trunk: unrolled conv k5 stride 2 → 8 maps + tanh + max-pool 2 (288 features on 28×28,
    392 on 32×32×3), then ``hidden`` linear layers and the output layer. (``conv=THESIS_CONV`` gives the
    thesis trunk, whose 2×2×8 = 32 features on 28×28 learn the label mapping much more slowly.)
    ``forward`` returns the (noisy) scores ``[P, n_classes]``; the output neurons' activity for the rule
    is the one-hot of the chosen class (``last_choice``, argmax of the scores), as in seed 003.
    Reward 1 for the right class, 0 otherwise; by default the greedy binary prediction of seed 003
    (predict 1 for a greedy choice, 0 for one changed by exploration noise)."""
    layers = [*conv, *(LinearSpec(h) for h in hidden), LinearSpec(n_classes)]
    return HebbianNetwork(
        in_shape,
        layers,
        output="choice",
        aggregation=aggregation,
        rpe=rpe,
        exploration_std=exploration_std,
        device=device,
        **kw,
    )


NETWORKS: dict[str, Callable[..., HebbianNetwork]] = {
    "carracing_policy": carracing_policy,
    "image_classifier": image_classifier,
}


def get_network(name: str, **kw: Any) -> HebbianNetwork:
    """Build a registered network by name."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; registered: {sorted(NETWORKS)}")
    return NETWORKS[name](**kw)
