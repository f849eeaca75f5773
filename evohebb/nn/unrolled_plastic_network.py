"""Population-batched, unrolled, plastic networks whose plasticity rule's parameters come from a genome.

An :class:`UnrolledPlasticNetwork` is a :class:`~evohebb.nn.plastic_layer_stack.PlasticLayerStack` (unrolled
convs, pooling, linears, tanh) holding the weights of ``P`` individuals, an output head
(:mod:`evohebb.nn.output_heads`) and the parameters of the rule selected by ``settings.rule`` (a name in
:data:`~evohebb.plasticity.rule_registry.RULES`), read from one flat genome per individual through its
:class:`~evohebb.nn.genome_layout.GenomeLayout` (so an evolution strategy sees one vector).

The rule declares its parameters and the genome holds them where it says (:mod:`evohebb.nn.rule_parameters`):
with neuron-centric ABCD (the default) every neuron group holds ``A`` if presynaptic, ``B`` if postsynaptic
and always ``C, D, η``; with ``parameter_sharing="layer"`` one set per group is broadcast to its neurons.
Optional genome slices: ``out.W`` (evolved initial output weights) and the RPE gains. With RPE on, each
individual's update is scaled by its dopamine (:class:`~evohebb.plasticity.rpe.RewardModulator`).

Life cycle: ``load_genomes([P, G])`` → ``reset(weight_seed)`` → repeatedly ``forward(obs)`` / ``update(reward)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from evohebb.nn.genome_layout import GenomeLayout
from evohebb.nn.layer_specs import LayerSpec
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.nn.output_heads import make_head
from evohebb.nn.plastic_layer_stack import PlasticLayerStack
from evohebb.nn.rule_parameters import initial_values, rule_slices, rule_states
from evohebb.nn.unrolled import UnrolledConv2d
from evohebb.plasticity.presynaptic_centering import PresynapticCentering
from evohebb.plasticity.rpe import RewardModulator
from evohebb.plasticity.rule_registry import make_rule

__all__ = ["UnrolledPlasticNetwork"]

log = logging.getLogger(__name__)

class UnrolledPlasticNetwork(nn.Module):
    """See the module doc. ``head`` is a registered output head name; ``settings`` say how the network learns."""

    def __init__(self, in_shape: Sequence[int], layers: Sequence[LayerSpec], head: str,
                 settings: PlasticNetworkSettings, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.settings = settings
        self.device, self.dtype = torch.device(device), dtype
        self.stack = PlasticLayerStack(in_shape, layers, device=device, dtype=dtype)
        self.in_shape = self.stack.in_shape
        self.head_name = head
        self.head = make_head(head, layers[-1].out_features, settings.exploration_std)
        self.rule = make_rule(settings.rule)
        self.modulator = RewardModulator(settings.rpe) if settings.rpe.enabled else None
        self.centering = PresynapticCentering(settings.pre_centering)
        n = len(self.stack.layers)
        self.layer_names = [self.stack.groups[post].name for _, post in self.stack.connections]
        self._learning = self._learning_layers(settings.plastic_layers)
        self._evolved = self._evolved_layers(settings)
        self._rule_slices = rule_slices(self.rule, self.stack, settings.parameter_sharing, self._learning,
                                        every_group=isinstance(settings.plastic_layers, str))
        self.genome_layout = GenomeLayout.from_spec(self._genome_spec())
        self._states: list = []
        self._caches: list[dict] = [{} for _ in range(n)]
        self._evolved_w: dict[int, Tensor] = {}
        self._rpe_gains: tuple[Tensor, Tensor] | None = None
        self._acts: list[tuple[Tensor, Tensor]] | None = None
        self._readout: tuple[Tensor, Tensor] | None = None
        self._weight_seed = 0
        self.population = 0

    # ---- genome ------------------------------------------------------------------------------------------
    def _layer_indices(self, names: Sequence[str], field: str) -> list[int]:
        unknown = [n for n in names if n not in self.layer_names]
        if unknown:
            raise ValueError(f"network.{field}: {unknown} are not layers of this network; allowed: "
                             f"{', '.join(self.layer_names)}")
        return [i for i, n in enumerate(self.layer_names) if n in names]

    def _learning_layers(self, plastic_layers: str | Sequence[str]) -> list[bool]:
        n = len(self.layer_names)
        if plastic_layers == "all":
            return [True] * n
        if plastic_layers == "output":
            return [i == n - 1 for i in range(n)]
        chosen = self._layer_indices(plastic_layers, "plastic_layers")
        return [i in chosen for i in range(n)]

    def _evolved_layers(self, s: PlasticNetworkSettings) -> list[int]:
        """Indices of the layers whose initial weights the genome holds (``evolve_weights``, ``out`` with
        ``evolve_output_weights``)."""
        names = set(s.evolve_weights) | ({"out"} if s.evolve_output_weights else set())
        return self._layer_indices(sorted(names), "evolve_weights")

    def _fan_in_sqrt(self, index: int) -> float:
        return math.sqrt(math.prod(self.stack.layers[index].weight.shape[2:]))

    def _weight_unit(self, index: int) -> float:
        """Layer ``index``'s weight per unit of its evolved gene (``evolved_weight_scale``)."""
        scale = self.settings.evolved_weight_scale
        return 1.0 if scale is None else scale / self._fan_in_sqrt(index)

    def _genome_spec(self) -> dict[str, tuple[int, ...]]:
        s = self.settings
        spec = {r.name: r.shape for r in self._rule_slices}
        for i in self._evolved:
            spec[f"{self.layer_names[i]}.W"] = tuple(self.stack.layers[i].weight.shape[1:])
        if s.rpe.evolvable:
            spec["rpe.gain_positive"] = (1,)
            spec["rpe.gain_negative"] = (1,)
        return spec

    def genome_spec(self) -> dict[str, tuple[int, ...]]:
        """Ordered ``name -> per-individual shape`` of every evolvable parameter."""
        return dict(self.genome_layout.shapes)

    def genome_size(self) -> int:
        return self.genome_layout.size

    def genome_slices(self) -> dict[str, slice]:
        return self.genome_layout.slices

    def named_genome(self, genomes: Tensor) -> dict[str, Tensor]:
        """Views of ``[P, G]`` genomes as ``name -> [P, *shape]``."""
        return self.genome_layout.split(genomes)

    def genome_init(self, generator: torch.Generator | None = None) -> Tensor:
        """A centre for the search ``[G]``: the rule's parameters in their declared ranges (neuron-centric
        ABCD: ``A, B, C, D ~ U(-0.1, 0.1)``, ``eta ~ U(0, 0.1)``), evolved weights ``evolved_weight_gain ×
        U(±1/√fan_in)`` (the seeded initialisation's scale at gain 1; with ``evolved_weight_scale`` s their genes are
        ``evolved_weight_gain / s × U(±1)``), RPE gains 1."""
        parts = initial_values(self._rule_slices, generator)
        gain = self.settings.evolved_weight_gain
        for i in self._evolved:
            shape = self.genome_layout.shape(f"{self.layer_names[i]}.W")
            weight = (torch.rand(math.prod(shape), generator=generator) * 2 - 1) * gain / self._fan_in_sqrt(i)
            parts.append(weight / self._weight_unit(i))
        if self.settings.rpe.evolvable:
            parts.append(torch.ones(2))
        return torch.cat(parts).to(device=self.device, dtype=self.dtype)

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
        self._states = rule_states(self.rule, self.stack, self._rule_slices, named, self._learning,
                                   self.settings.eta_scale)
        self._evolved_w = {i: named[f"{self.layer_names[i]}.W"] * self._weight_unit(i) for i in self._evolved}
        self._rpe_gains = ((named["rpe.gain_positive"][:, 0], named["rpe.gain_negative"][:, 0])
                           if self.settings.rpe.evolvable else None)
        if P != self.population:
            self.population = P
            self.stack.set_population(P)
            self.reset(self._weight_seed)
        self._caches = [{} for _ in self.stack.layers]   # cached constant aggregates belong to the old genomes
        self._acts = None

    # ---- state -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def reset(self, weight_seed: int, noise_seeds: Sequence[int] | None = None) -> None:
        """Re-initialise the weights (same for all individuals, from ``weight_seed``), the RPE state, the
        presynaptic running means and the exploration noise.

        ``noise_seeds`` (one per individual, e.g. its episode seed) seed each individual's own exploration
        noise stream, so its outcome does not depend on which population slice it is evaluated in;
        default: ``weight_seed + index``."""
        self._weight_seed = int(weight_seed)
        P = max(self.population, 1)
        self.stack.reset_weights(self._weight_seed)
        for i, w in self._evolved_w.items():
            if w.shape[0] == P:
                self.stack.set_individual_weights(i, w)
        if self.modulator is not None:
            self.modulator.reset(P, self.device, self.dtype)
        if noise_seeds is None:
            noise_seeds = [self._weight_seed + i for i in range(P)]
        if len(noise_seeds) != P:
            raise ValueError(f"{len(noise_seeds)} noise seeds for a population of {P}")
        self.head.reset(torch.tensor([int(s) for s in noise_seeds], dtype=torch.int64, device=self.device))
        self.centering.reset()
        self._acts = self._readout = None

    def weights(self) -> list[Tensor]:
        """Current weights of every plastic layer (conv: ``[P, Cout, Cin, k, k]``, linear: ``[P, out, in]``)."""
        return self.stack.weights()

    @property
    def last_choice(self) -> Tensor | None:
        """The classes chosen at the last forward (``choice`` head)."""
        return getattr(self.head, "last_choice", None)

    # ---- compute -----------------------------------------------------------------------------------------
    @property
    def contiguous_input(self) -> bool:
        """Whether the first layer reads ``[P, C, H, W]``-ordered input fastest (a conv run by the native loop of
        ``compile_copies``); otherwise a frame batch laid out ``[H, W, P, C]`` is (the grouped conv)."""
        return bool(self.settings.compile_copies and isinstance(self.stack.layers[0], UnrolledConv2d))

    @torch.no_grad()
    def forward(self, obs: Tensor) -> Tensor:
        """``[P, C, H, W]`` float → ``[P, n_out]``; records the activity the next update needs."""
        if not self._states:
            raise RuntimeError("call load_genomes(genomes) before forward()")
        P = self.population
        if obs.dim() == len(self.in_shape):
            obs = obs.unsqueeze(0)
        if obs.shape[0] != P or tuple(obs.shape[1:]) != self.in_shape:
            raise ValueError(f"obs must be [{P}, {', '.join(map(str, self.in_shape))}]; got {tuple(obs.shape)}")
        record = self._learning if self.settings.plastic else [False] * len(self._learning)
        obs = obs.to(device=self.device, dtype=self.dtype)
        if self.settings.center_input:
            obs = obs - obs.mean(dim=tuple(range(1, obs.dim())), keepdim=True)
        z, acts = self.stack(obs, record, native=self.settings.compile_copies)
        activity, output = self.head(z)
        self._readout = (acts[-1][0], z)
        acts[-1] = (acts[-1][0], activity)
        self._acts = acts
        return output

    def last_readout(self) -> tuple[Tensor, Tensor] | None:
        """The output layer's input ``[P, n_in]`` and pre-activation ``[P, n_out]`` at the last forward (None before
        the first forward after a reset): what the output head's nonlinearity saw, e.g. how far into tanh's
        saturation a readout drives (``python -m runners.output_drive``)."""
        return self._readout

    @torch.no_grad()
    def update(self, reward: Tensor | None = None) -> None:
        """One Hebbian step for all ``P`` from the last forward's activity (RPE-scaled when RPE is on)."""
        if self._acts is None:
            raise RuntimeError("call forward(obs) before update()")
        acts, self._acts = self._acts, None
        if not self.settings.plastic:   # the non-plastic control: weights stay at their seeded initialisation
            return
        modulators = []
        if self.modulator is None and reward is not None:
            log.debug("update(reward) on a network without RPE modulation: the reward is ignored")
        if self.modulator is not None:
            if reward is None:
                raise ValueError("this network is RPE-modulated: update(reward) needs the rewards [P]")
            gp, gn = self._rpe_gains if self._rpe_gains is not None else (None, None)
            self.modulator(torch.as_tensor(reward, device=self.device).reshape(self.population),
                           self.head.explored, gp, gn)
            modulators.append(self.modulator)
        s = self.settings
        self.stack.update(self.rule, self._states, acts, aggregation=s.aggregation, mode=s.sharing_mode,
                          caches=self._caches, modulators=modulators, presynaptic=self.centering,
                          learning=self._learning, weight_norm=s.weight_norm, clip=s.weight_clip,
                          compiled=s.compile_copies)

    def extra_repr(self) -> str:
        s = self.settings
        return (f"in={self.in_shape}, head={self.head_name}, rule={s.rule}, aggregation={s.aggregation}, "
                f"sharing={s.sharing_mode}, genome={self.genome_size()}, P={self.population}")

