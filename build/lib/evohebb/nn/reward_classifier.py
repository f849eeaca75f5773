"""The reward-modulated Hebbian classifier of hebbianCNN (seed 003), batched over samples, and its backprop twin.

Layers (``variant="conv"``; ``"shallow"`` keeps only the last two, fed by the whole normalised image)::

    image ─pad (k-1)/2─► conv: M maps k×k, every patch normalised to sum A, u = x̃·log w, y = softmax(u/t_conv)
          ─► subsampling: sum-pool s×s, softmax over the maps (t_subsample)
          ─► feedforward: N neurons, u = x·log w, y = softmax(u/t_feedf)
          ─► classification: one neuron per class, u = y·log w, y = softmax(u/t_classification)

Every layer learns with the one soft-WTA Hebbian rule (:class:`~evohebb.plasticity.soft_wta_hebb.SoftWTAHebbRule`,
``Δw = lr · Σ y (x̃ − w)``); the conv layer through the weight-sharing engine's conv-native sum, its patch
normalisation passed to the rule as an :class:`~evohebb.plasticity.soft_wta_hebb.AffineInput`. Updates that would
make a weight ``≤ 0`` are skipped per neuron, as in the seed. In the dopamine phase (``rescale``) each conv and
feedforward neuron's weights are then rescaled to the layer's input sum (``A`` for conv patches and the shallow
input, one per pooled position after the subsampling softmax), which negative dopamine would otherwise let run
away (:func:`~evohebb.plasticity.soft_wta_hebb.rescale_to_sum`).

**Choice and exploration.** The greedy choice is the argmax of the classification layer. With ``explore``
``"feedf"`` (or ``"conv"``) Gaussian noise with standard deviation ``noise × std(u)`` (``u`` of that sample in
that layer) is added to the pre-activation of that layer and the network acts on the noisy path: the taken
choice, and the activities every layer learns from, are the noisy ones. The reward prediction is 1 when the
taken choice is the greedy one, 0 when exploration changed it.

:meth:`RewardClassifier.learn` applies one update from a batch's :class:`Activity`: each layer's postsynaptic
signal is scaled by the sample modulators first (:mod:`evohebb.plasticity.sample_modulators`: a
:class:`~evohebb.plasticity.dopamine_table.DopamineTable` gives per-sample dopamine on the batch axis), then the
rule sums the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evohebb.config import ConfigError, Settings, option
from evohebb.plasticity.conv_geometry import ConvGeometry, linear_geometry
from evohebb.plasticity.sample_modulators import SampleModulator, modulate_post
from evohebb.plasticity.soft_wta_hebb import AffineInput, SoftWTAHebbRule, rescale_to_sum, skip_nonpositive
from evohebb.plasticity.weight_sharing import CONV_NATIVE, reduce_copies

__all__ = ["EXPLORE", "RESCALE", "VARIANTS", "Activity", "RewardClassifier", "RewardNetworkSettings", "backprop_twin",
           "normalise_to_sum"]

VARIANTS = ("conv", "shallow")
EXPLORE = ("none", "conv", "feedf")
RESCALE = ("never", "dopamine", "always")
#: the seed adds 1e-5 to pixels in 0..255 so that a blank patch normalises to a uniform one
PIXEL_EPS = 1e-5 / 255.0


@dataclass(frozen=True)
class RewardNetworkSettings(Settings):
    """Shape, competition, learning rates and exploration of the hebbianCNN network (seed defaults)."""

    variant: str = option("conv", choices=VARIANTS, help="conv: conv → subsampling → feedforward → "
                                                         "classification; shallow: feedforward → classification")
    conv_maps: int = option(20, low=1, help="number of convolutional maps")
    conv_filter_side: int = option(5, low=1, help="side of a conv filter (odd: the image is padded by (side-1)/2)")
    subsample_stride: int = option(2, low=1, help="side of the sum-pooling window (and its stride)")
    feedf_neurons: int = option(49, low=1, help="neurons in the all-to-all feedforward layer")
    input_sum: float = option(900.0, low=0.0, low_inclusive=False,
                              help="A: every conv patch (shallow: every image) is normalised to this pixel sum")
    t_conv: float = option(1.0, low=0.0, low_inclusive=False, help="softmax temperature of the conv layer")
    t_subsample: float = option(1.0, low=0.0, low_inclusive=False,
                                help="softmax temperature over the maps after subsampling")
    t_feedf: float = option(1.0, low=0.0, low_inclusive=False, help="softmax temperature of the feedforward layer")
    t_classification: float = option(0.001, low=0.0, low_inclusive=False,
                                     help="softmax temperature of the classification layer")
    lr_conv: float = option(1e-6, low=0.0, help="learning rate of the conv layer (per patch)")
    lr_feedf: float = option(0.01, low=0.0, help="learning rate of the feedforward layer (per sample)")
    lr_classification: float = option(0.01, low=0.0, help="learning rate of the classification layer")
    explore: str = option("feedf", choices=EXPLORE, help="layer that gets exploration noise in the dopamine phase")
    noise_conv: float = option(0.5, low=0.0, help="exploration noise in the conv layer, in units of std(u)")
    noise_feedf: float = option(0.2, low=0.0, help="exploration noise in the feedforward layer, in units of std(u)")
    rescale: str = option("dopamine", choices=RESCALE,
                          help="when to rescale each conv / feedforward neuron's weights to the layer's input sum "
                               "after an update: never (the seed), in the dopamine phase (negative dopamine "
                               "otherwise lets a neuron's weight sum run away and that neuron win every input), "
                               "always")

    def validate(self) -> None:
        if self.variant == "shallow" and self.explore == "conv":
            raise ConfigError("explore: 'conv' is not allowed with variant 'shallow' (it has no conv layer); "
                              "allowed: 'none', 'feedf'")
        if self.variant == "conv" and self.conv_filter_side % 2 == 0:
            raise ConfigError(f"conv_filter_side: {self.conv_filter_side} is not allowed; allowed: an odd side "
                              "(the image is padded by (side-1)/2 on each border)")
        if self.variant == "conv" and self.input_sum <= self.conv_filter_side ** 2:
            raise ConfigError(f"input_sum: {self.input_sum} is not allowed; allowed: more than the "
                              f"{self.conv_filter_side ** 2} pixels of a conv patch (each pixel gets 1 + its share)")


@dataclass
class Activity:
    """One batch through the network: what each layer learns from (the taken, possibly noisy, path)."""

    conv_input: Tensor | None      # padded image [B, C, H+2p, W+2p] (conv variant)
    conv_scale: Tensor | None      # per-patch normalisation scale [B, 1, Ho, Wo]
    conv: Tensor | None            # conv soft-WTA activity [B, M, Ho, Wo]
    feedf_input: Tensor            # [B, D]: subsampled maps, or the normalised image
    feedf: Tensor                  # [B, N]
    classification: Tensor         # [B, n_classes]
    greedy: Tensor                 # [B] greedy choice
    taken: Tensor                  # [B] choice after exploration

    @property
    def prediction(self) -> Tensor:
        """1 where the taken choice is the greedy one (a reward is predicted), else 0."""
        return (self.taken == self.greedy).long()


def normalise_to_sum(x: Tensor, total: float) -> Tensor:
    """``[B, D]`` → ``(total − D) · x / Σx + 1`` per row (every row sums to ``total``; a blank row is uniform)."""
    x = x + PIXEL_EPS
    return (total - x.shape[1]) * x / x.sum(1, keepdim=True) + 1.0


def _explored(u: Tensor, noise: float) -> Tensor:
    """``u`` plus Gaussian noise of standard deviation ``noise · std(u)``, the std over each sample's units."""
    std = u.flatten(1).std(1, unbiased=False).view(-1, *([1] * (u.dim() - 1)))
    return u + torch.randn_like(u) * std * noise


class RewardClassifier(nn.Module):
    """The hebbianCNN network (see the module doc); weights are buffers (``state_dict``), positive."""

    def __init__(self, settings: RewardNetworkSettings, image_shape: Sequence[int], n_classes: int,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        s = self.settings = settings
        self.image_shape = tuple(int(v) for v in image_shape)
        C, H, W = self.image_shape
        self.n_classes = n_classes
        self.rule = SoftWTAHebbRule()
        if s.variant == "conv":
            k, stride = s.conv_filter_side, s.subsample_stride
            self.padding = (k - 1) // 2
            self.conv_geometry = ConvGeometry(C, s.conv_maps, k, 1, 0, H + 2 * self.padding, W + 2 * self.padding)
            g = self.conv_geometry
            self.subsampled_shape = (s.conv_maps, g.out_height // stride, g.out_width // stride)
            if min(self.subsampled_shape[1:]) < 1:
                raise ValueError(f"subsample_stride {stride} is larger than the {g.out_height}×{g.out_width} maps")
            n_in = s.conv_maps * self.subsampled_shape[1] * self.subsampled_shape[2]
            self.register_buffer("conv_weight", torch.empty(s.conv_maps, C, k, k, device=device, dtype=dtype))
        else:
            n_in = C * H * W
            if s.input_sum <= n_in:
                raise ValueError(f"input_sum {s.input_sum} must exceed the {n_in} pixels of a {C}×{H}×{W} image "
                                 "(the shallow variant normalises whole images to that sum)")
            self.conv_weight = None
        self.feedf_inputs = n_in
        self.register_buffer("feedf_weight", torch.empty(s.feedf_neurons, n_in, device=device, dtype=dtype))
        self.register_buffer("class_weight", torch.empty(n_classes, s.feedf_neurons, device=device, dtype=dtype))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The seed's initialisation (torch's global generator): conv ``U[0,1) + A/k² + 2.5``, feedforward
        ``U[0,1) + 1``, classification ``(U[0,1)/1000 + 1) / N``."""
        s = self.settings
        if self.conv_weight is not None:
            self.conv_weight.copy_(torch.rand_like(self.conv_weight) + s.input_sum / s.conv_filter_side ** 2 + 2.5)
        self.feedf_weight.copy_(torch.rand_like(self.feedf_weight) + 1.0)
        self.class_weight.copy_((torch.rand_like(self.class_weight) / 1000 + 1.0) / s.feedf_neurons)

    # ------------------------------------------------------------------------------------------ forward
    def _conv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Padded input, per-patch scale ``(A − n) / Σ patch`` and pre-activation ``u = x̃ · log w`` with
        ``x̃ = scale · x + 1``, computed as one convolution."""
        p, g = self.padding, self.conv_geometry
        xp = F.pad(x, (p, p, p, p)) + PIXEL_EPS
        k, n = g.kernel_size, g.entry_size
        patch_sum = F.avg_pool2d(xp.sum(1, keepdim=True), k, stride=1) * (k * k)
        scale = (self.settings.input_sum - n) / patch_sum
        logw = self.conv_weight.log()
        u = scale * F.conv2d(xp, logw) + logw.sum((1, 2, 3)).view(1, -1, 1, 1)
        return xp, scale, u

    def _subsample(self, y: Tensor) -> Tensor:
        """Sum-pooling, then a softmax over the maps at each pooled position; flattened ``[B, M·Hs·Ws]``."""
        st = self.settings.subsample_stride
        pooled = F.avg_pool2d(y, st) * (st * st)
        return torch.softmax(pooled / self.settings.t_subsample, dim=1).flatten(1)

    def _input(self, x: Tensor) -> Tensor:
        return normalise_to_sum(x.flatten(1), self.settings.input_sum)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Greedy class scores (the classification layer's pre-activation) of images ``[B, C, H, W]`` in [0, 1]."""
        s = self.settings
        if self.conv_weight is not None:
            _, _, u = self._conv(x)
            feedf_input = self._subsample(torch.softmax(u / s.t_conv, dim=1))
        else:
            feedf_input = self._input(x)
        feedf = torch.softmax(feedf_input @ self.feedf_weight.log().T / s.t_feedf, dim=1)
        return feedf @ self.class_weight.log().T

    @torch.no_grad()
    def propagate(self, x: Tensor, explore: str = "none") -> Activity:
        """One batch of images ``[B, C, H, W]`` in [0, 1]: the greedy choice, the taken choice (noise in layer
        ``explore``) and the activities of the taken path."""
        if explore not in EXPLORE:
            raise ValueError(f"explore {explore!r} is not one of {EXPLORE}")
        s = self.settings
        xp = scale = y_conv = None
        if self.conv_weight is not None:
            xp, scale, u_conv = self._conv(x)
            y_conv = torch.softmax(u_conv / s.t_conv, dim=1)
            feedf_input = self._subsample(y_conv)
        else:
            if explore == "conv":
                raise ValueError("explore 'conv' needs the conv variant")
            feedf_input = self._input(x)
        log_wf, log_wc = self.feedf_weight.log(), self.class_weight.log()
        u_feedf = feedf_input @ log_wf.T
        y_feedf = torch.softmax(u_feedf / s.t_feedf, dim=1)
        u_class = y_feedf @ log_wc.T
        greedy = u_class.argmax(1)
        if explore == "conv":
            y_conv = torch.softmax(_explored(u_conv, s.noise_conv) / s.t_conv, dim=1)
            feedf_input = self._subsample(y_conv)
            u_feedf = feedf_input @ log_wf.T
        elif explore == "feedf":
            u_feedf = _explored(u_feedf, s.noise_feedf)
        if explore != "none":
            y_feedf = torch.softmax(u_feedf / s.t_feedf, dim=1)
            u_class = y_feedf @ log_wc.T
        y_class = torch.softmax(u_class / s.t_classification, dim=1)
        return Activity(xp, scale, y_conv, feedf_input, y_feedf, y_class, greedy, u_class.argmax(1))

    # ------------------------------------------------------------------------------------------ learning
    @property
    def input_sums(self) -> dict[str, float]:
        """The constant input sum of the conv and feedforward layers (what :meth:`learn` rescales to)."""
        s = self.settings
        if self.conv_weight is None:
            return {"feedf": s.input_sum}
        return {"conv": s.input_sum, "feedf": float(self.subsampled_shape[1] * self.subsampled_shape[2])}

    @torch.no_grad()
    def learn(self, act: Activity, modulators: Sequence[SampleModulator] = (), dopamine_phase: bool = False
              ) -> dict[str, Tensor]:
        """One update of every layer from ``act``: the postsynaptic signal times the sample modulators'
        per-sample factors, the rule summed over the batch, times the layer's rate; a neuron whose update would
        make a weight ``≤ 0`` keeps its weights; then the weight sums are restored as ``settings.rescale`` says
        for the phase. Returns the number of skipped neurons per layer (0-d tensors)."""
        s = self.settings
        layers = []
        if self.conv_weight is not None:
            layers.append(("conv", act.conv_input, act.conv, self.conv_weight, self.conv_geometry, s.lr_conv,
                           AffineInput(act.conv_scale.unsqueeze(0), 1.0)))
        layers.append(("feedf", act.feedf_input, act.feedf, self.feedf_weight,
                       linear_geometry(self.feedf_inputs, s.feedf_neurons), s.lr_feedf, None))
        layers.append(("classification", act.feedf, act.classification, self.class_weight,
                       linear_geometry(s.feedf_neurons, self.n_classes), s.lr_classification, None))
        rescale = s.rescale == "always" or (s.rescale == "dopamine" and dopamine_phase)
        skipped = {}
        for name, pre, post, weight, geom, lr, state in layers:
            pre5, post5 = _rank_tensor(pre), _rank_tensor(post)
            post5 = modulate_post(post5, modulators, name)
            update = self.rule.copy_update(pre5, post5, weight.view(1, *geom.weight_shape), state)
            delta = reduce_copies(update, geom, CONV_NATIVE)[0].reshape(weight.shape) * lr
            delta, skip = skip_nonpositive(weight, delta)
            weight.add_(delta)
            if rescale and name in self.input_sums:
                rescale_to_sum(weight, self.input_sums[name])
            skipped[name] = skip.sum()
        return skipped

    # ------------------------------------------------------------------------------------------ pictures
    @torch.no_grad()
    def projective_fields(self) -> Tensor:
        """Each feedforward neuron's weights seen in image space ``[N, C, H', W']``: the weights themselves for
        the shallow variant. For the conv variant, as the seed's ``reconstruct``: each map's filter placed at every
        pooled position with that position's weight, each map scaled to max 1, summed over maps — with the
        weights taken relative to their mean over the positions of their map (positive part: where the neuron
        wants that map more than on average) and divided by the filters' overlap count (which otherwise draws
        the stride's checkerboard)."""
        N = self.settings.feedf_neurons
        if self.conv_weight is None:
            return self.feedf_weight.reshape(N, *self.image_shape).clone()
        M, Hs, Ws = self.subsampled_shape
        C, st = self.image_shape[0], self.settings.subsample_stride
        w = self.feedf_weight.view(N, M, Hs, Ws)
        w = (w - w.mean((2, 3), keepdim=True)).clamp_min(0)
        per_map = F.conv_transpose2d(w, self.conv_weight, stride=st, groups=M)            # [N, M·C, H', W']
        overlap = F.conv_transpose2d(torch.ones_like(w[:1]), torch.ones_like(self.conv_weight), stride=st, groups=M)
        per_map = (per_map / overlap).view(N, M, C, *per_map.shape[-2:])
        peak = per_map.flatten(2).amax(2).clamp_min(1e-30).view(N, M, 1, 1, 1)
        return (per_map / peak).sum(1)


def _rank_tensor(t: Tensor) -> Tensor:
    """``[B, D]`` (linear) or ``[B, C, H, W]`` (conv) → the rule's ``[P=1, R=B, C, H, W]``."""
    return (t.view(*t.shape, 1, 1) if t.dim() == 2 else t).unsqueeze(0)


def backprop_twin(settings: RewardNetworkSettings, image_shape: Sequence[int], n_classes: int) -> nn.Sequential:
    """The same shapes trained by backprop, as the seed's ``benchmark.py`` builds its baseline: conv
    (``M`` maps ``k×k``, same padding) + ReLU + max-pool ``s`` + dropout 0.25 → ``N`` ReLU units + dropout 0.5 →
    one output per class (the shallow variant: ``N`` ReLU units + dropout 0.5 → the outputs)."""
    s = settings
    C, H, W = image_shape
    if s.variant == "shallow":
        return nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, s.feedf_neurons), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(s.feedf_neurons, n_classes))
    k, st = s.conv_filter_side, s.subsample_stride
    n_pooled = s.conv_maps * (H // st) * (W // st)
    return nn.Sequential(nn.Conv2d(C, s.conv_maps, k, padding=(k - 1) // 2), nn.ReLU(), nn.MaxPool2d(st),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(n_pooled, s.feedf_neurons), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(s.feedf_neurons, n_classes))
