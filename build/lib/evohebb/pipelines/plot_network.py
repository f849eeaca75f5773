"""Figure kinds drawn from a softhebb run's trained network (its last checkpoint) and its test images.

* ``fields``: layer-1 kernels and deeper layers' preferred inputs (the pipeline's own figures,
  :func:`evohebb.pipelines.softhebb_figures.write_figures`), and per layer the test patches that activate its first
  channels most, framed in their whole image (the receptive field from the convs' and pools' geometry; a residual
  block's is its depthwise conv's);
* ``activations``: per test image (``--images``) the input and every block's activation map (mean over channels);
* ``competition``: per Hebbian layer over ``--sample`` test images the win frequencies, dead and dominant units,
  the weight-norm distribution and BCM thresholds (:mod:`evohebb.nn.competition_stats`); with several runs also
  a table (``competition.md``) and a figure of win entropy and dead-unit fraction per layer beside the readout
  accuracy;
* ``weights``: per layer the weight-norm distribution at every checkpoint kept.
"""

from __future__ import annotations

import json
import math

import torch
from torch import nn

from evohebb.data import ImageDataset, load_dataset
from evohebb.nn.competition_stats import (
    DEAD_FRACTION,
    DOMINANT_CAP,
    DOMINANT_FACTOR,
    CompetitionStats,
    WinCounter,
)
from evohebb.nn.softhebb_blocks import HebbianConvNet
from evohebb.nn.softhebb_conv import SoftHebbConv2d
from evohebb.pipelines.plot_runs import PlotError, PlotRequest, PlotRun, as_image, plot_kind, pyplot
from evohebb.pipelines.softhebb import build_model
from evohebb.pipelines.softhebb_figures import write_figures
from evohebb.run_io import progress_bar

NETWORK = ("softhebb",)
TOP_CHANNELS, TOP_PATCHES = 8, 4


def load_network(run: PlotRun, saved: dict | None = None) -> tuple[HebbianConvNet, ImageDataset]:
    """The run's network with the weights and plasticity state of ``saved`` (default: the last checkpoint), in
    eval mode on the CPU, and the run's test images (the first ``data.test_subset``)."""
    cfg = run.config
    saved = run.latest_checkpoint() if saved is None else saved
    test = load_dataset(cfg.data.name, train=False, data_dir=cfg.data.data_dir, download=False)
    if cfg.data.test_subset:
        test = test.subset(torch.arange(min(cfg.data.test_subset, len(test))))
    model = build_model(cfg, test.image_shape, test.n_classes, torch.device("cpu"))
    model.load_state_dict(saved["model"])
    model.load_plasticity_state(saved["plasticity"])
    return model.eval(), test


def _sample(test: ImageDataset, n: int) -> torch.Tensor:
    return test.subset(torch.arange(min(n, len(test)))).to_float()


@torch.no_grad()
def _block_outputs(model: HebbianConvNet, x: torch.Tensor, batch_size: int = 256):
    """Yields ``(first index, [output of each block])`` per batch of ``x``."""
    for i in range(0, len(x), batch_size):
        outputs, h = [], x[i:i + batch_size]
        for block in model.blocks:
            h = block(h)
            outputs.append(h)
        yield i, outputs


# ------------------------------------------------------------------------------------------------ fields
@plot_kind("fields", NETWORK, "receptive fields: layer-1 kernels, preferred inputs, top-activating test patches")
def draw_fields(request: PlotRequest) -> None:
    for run in request.runs:
        model, test = load_network(run)
        with request.staged(run) as stage:
            write_figures(model, [], stage, request.tensorboard(run), run.last_step(), receptive_fields=True)
        x = _sample(test, request.sample)
        top = top_activating(model, x)
        for b, (values, where) in enumerate(top):
            _draw_top_patches(request, run, model, x, b, values, where)


def top_activating(model: HebbianConvNet, x: torch.Tensor, channels: int = TOP_CHANNELS, k: int = TOP_PATCHES
                   ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per block, for its first ``channels`` channels, the ``k`` images of ``x`` whose largest output of that channel
    is largest (each image once, at its best position): values ``[channels, k]`` and ``(image, row, column)``
    ``[channels, k, 3]``."""
    best: list[tuple[torch.Tensor, torch.Tensor]] = []
    for start, outputs in progress_bar(_block_outputs(model, x), desc="top-activating patches",
                                       total=math.ceil(len(x) / 256)):
        for b, out in enumerate(outputs):
            n, c, h, w = out[:, :channels].shape
            peak, position = out[:, :channels].flatten(2).max(dim=2)             # [n, c]: best position per image
            images = torch.arange(start, start + n).unsqueeze(1).expand(n, c)
            where = torch.stack([images, position // w, position % w], dim=-1).transpose(0, 1)   # [c, n, 3]
            values = peak.t()
            if b < len(best):
                values, where = torch.cat([best[b][0], values], dim=1), torch.cat([best[b][1], where], dim=1)
            values, keep = values.topk(min(k, values.shape[1]), dim=1)
            where = where.gather(1, keep.unsqueeze(-1).expand(-1, -1, 3))
            if b < len(best):
                best[b] = (values, where)
            else:
                best.append((values, where))
    return best


def receptive_field(model: HebbianConvNet, block: int) -> tuple[float, float, float]:
    """``(size, jump, first centre)`` in input pixels of one output position of ``block`` (0-based): composed from
    every Hebbian conv (1x1 convs add nothing, so a residual block's is its depthwise conv's) and pool up to it."""
    size, jump, start = 1.0, 1.0, 0.0
    for b in model.blocks[:block + 1]:
        layers = [(m.kernel_size, m.stride, m.padding, m.dilation) for m in b.hebbian_layers()]
        if isinstance(b.pool, (nn.MaxPool2d, nn.AvgPool2d)):
            layers.append((b.pool.kernel_size, b.pool.stride, b.pool.padding, getattr(b.pool, "dilation", 1)))
        for kernel, stride, padding, dilation in layers:
            kernel, stride, padding, dilation = (v[0] if isinstance(v, tuple) else v
                                                 for v in (kernel, stride, padding, dilation))
            span = dilation * (kernel - 1)
            start += (span / 2 - padding) * jump
            size += span * jump
            jump *= stride
    return size, jump, start


def _draw_top_patches(request: PlotRequest, run: PlotRun, model: HebbianConvNet, x: torch.Tensor, block: int,
                      values: torch.Tensor, where: torch.Tensor) -> None:
    from matplotlib.patches import Rectangle

    plt = pyplot()
    size, jump, start = receptive_field(model, block)
    channels, k = values.shape
    fig, axes = plt.subplots(channels, k, figsize=(1.3 * k, 1.3 * channels + 0.4), squeeze=False)
    for c in range(channels):
        for j in range(k):
            ax = axes[c, j]
            image, row, col = (int(v) for v in where[c, j])
            ax.imshow(as_image(x[image]), cmap="gray", vmin=0, vmax=1)
            top, left = start + row * jump - (size - 1) / 2, start + col * jump - (size - 1) / 2
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False, edgecolor="red", linewidth=1.2))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"#{image}: {values[c, j]:.2f}", fontsize=6)
            if j == 0:
                ax.set_ylabel(f"ch {c}", fontsize=7)
    fig.suptitle(f"layer {block + 1}: top-activating test patches (receptive field {size:.0f} px)", fontsize=8)
    request.save(run, fig, f"top_patches_layer{block + 1}", f"fields/top_patches_layer{block + 1}")


# ------------------------------------------------------------------------------------------------ activations
@plot_kind("activations", NETWORK, "per-layer activation heat maps of chosen test images (--images)")
def draw_activations(request: PlotRequest) -> None:
    plt = pyplot()
    for run in request.runs:
        model, test = load_network(run)
        bad = [i for i in request.images if not 0 <= i < len(test)]
        if bad:
            raise PlotError(f"--images {bad}: {run.name} has test images 0..{len(test) - 1}")
        x = test.subset(torch.as_tensor(list(request.images))).to_float()
        _, outputs = next(_block_outputs(model, x))
        cols = 1 + len(outputs)
        fig, axes = plt.subplots(len(x), cols, figsize=(1.8 * cols, 1.8 * len(x) + 0.3), squeeze=False)
        for r, i in enumerate(request.images):
            axes[r, 0].imshow(as_image(x[r]), cmap="gray", vmin=0, vmax=1)
            axes[r, 0].set_ylabel(f"test #{i}", fontsize=8)
            for b, out in enumerate(outputs):
                shown = axes[r, b + 1].imshow(out[r].mean(0).numpy(), cmap="magma")
                fig.colorbar(shown, ax=axes[r, b + 1], fraction=0.046)
                if r == 0:
                    axes[r, b + 1].set_title(f"layer {b + 1} ({out.shape[1]} ch)", fontsize=8)
            for ax in axes[r]:
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, 0].set_title("input", fontsize=8)
        fig.suptitle("activations, mean over channels", fontsize=9)
        request.save(run, fig, "activations", "activations")


# ------------------------------------------------------------------------------------------------ competition
def measure_competition(model: HebbianConvNet, x: torch.Tensor) -> dict[str, CompetitionStats]:
    """:class:`CompetitionStats` of every Hebbian layer over the images ``x`` (eval mode)."""
    counter = WinCounter(model)
    try:
        for _ in progress_bar(_block_outputs(model, x), desc="competition", total=math.ceil(len(x) / 256)):
            pass
    finally:
        counter.remove()
    return counter.stats()


@plot_kind("competition", NETWORK, "win frequency, entropy, dead and dominant units, weight norms, BCM thresholds "
           "per layer (--sample test images); with several runs a comparison table and figure", several_runs=True)
def draw_competition(request: PlotRequest) -> None:
    table = {}
    for run in request.runs:
        model, test = load_network(run)
        x = _sample(test, request.sample)
        stats = measure_competition(model, x)
        _draw_competition(request, run, stats, len(x))
        table[run.name] = {"test_accuracy": run.results().get("test_accuracy"), "sample": len(x),
                           "layers": {name: s.summary() for name, s in stats.items()}}
        path = request.figures_dir(run) / request.file_name(run, "competition.json")
        path.write_text(json.dumps({**table[run.name], "dead_fraction_of_uniform": DEAD_FRACTION,
                                    "dominant_factor_of_uniform": DOMINANT_FACTOR, "dominant_cap": DOMINANT_CAP},
                                   indent=1))
        request.written.append(path)
    if len(request.runs) > 1:
        _draw_comparison(request, table)


def _draw_competition(request: PlotRequest, run: PlotRun, stats: dict[str, CompetitionStats], n_images: int) -> None:
    plt = pyplot()
    bcm = any(s.bcm_theta is not None for s in stats.values())
    cols = 3 if bcm else 2
    fig, axes = plt.subplots(len(stats), cols, figsize=(4 * cols, 2.6 * len(stats)), squeeze=False)
    for row, (name, s) in zip(axes, stats.items()):
        freq = s.win_frequency.sort(descending=True).values.clamp_min(1e-6)
        row[0].bar(range(len(freq)), freq.numpy(), width=1.0, color="tab:blue")
        row[0].axhline(s.dead_below, color="tab:red", ls="--", lw=1, label=f"dead < {s.dead_below:.2g}")
        row[0].axhline(s.dominant_above, color="tab:orange", ls="--", lw=1, label=f"dominant > {s.dominant_above:.2g}")
        row[0].set_yscale("log")
        row[0].set_xlabel("neuron (sorted by wins)", fontsize=8)
        row[0].set_ylabel("win frequency", fontsize=8)
        row[0].legend(fontsize=6)
        row[0].set_title(f"{name}: H/log K {s.normalised_entropy:.2f}, dead {100 * s.dead_fraction:.0f} %, "
                         f"dominant {100 * s.dominant_fraction:.0f} %", fontsize=8)
        row[1].hist(s.weight_norms.numpy(), bins=30, color="tab:green")
        row[1].axvline(1.0, color="black", ls=":", lw=1)
        row[1].set_xlabel("weight norm ||W_k|| (SoftHebb: -> 1)", fontsize=8)
        row[1].set_ylabel("neurons", fontsize=8)
        if bcm:
            if s.bcm_theta is not None:
                row[2].hist(s.bcm_theta.numpy(), bins=30, color="tab:purple")
            row[2].set_xlabel("BCM threshold theta", fontsize=8)
    fig.suptitle(f"{run.name}: competition over {n_images} test images (winner: largest activation)",
                 fontsize=9)
    fig.tight_layout()
    request.save(run, fig, "competition", "competition")


def competition_table(table: dict[str, dict]) -> str:
    """Markdown: one row per run and layer."""
    lines = ["| run | layer | neurons | win entropy (nats) | H / log K | dead units | dominant units | mean ‖W_k‖ | "
             "readout test accuracy |", "|---|---|---|---|---|---|---|---|---|"]
    for name, entry in table.items():
        acc = entry["test_accuracy"]
        for i, (layer, s) in enumerate(entry["layers"].items()):
            lines.append(f"| {name} | {i + 1} ({layer}) | {s['neurons']} | {s['win_entropy']:.2f} | "
                         f"{s['win_entropy_normalised']:.2f} | {100 * s['dead_fraction']:.1f} % | "
                         f"{100 * s['dominant_fraction']:.1f} % | {s['weight_norm_mean']:.2f} | "
                         + ("–" if acc is None or i else f"{100 * acc:.1f} %") + " |")
    return "\n".join(lines) + "\n"


def _draw_comparison(request: PlotRequest, table: dict[str, dict]) -> None:
    plt = pyplot()
    first = request.runs[0]
    folder = request.figures_dir(first)
    (folder / "competition.md").write_text(competition_table(table))
    request.written.append(folder / "competition.md")
    names = list(table)
    n_layers = max(len(entry["layers"]) for entry in table.values())
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    width = 0.8 / n_layers
    for layer in range(n_layers):
        pos = [i + (layer - (n_layers - 1) / 2) * width for i in range(len(names))]
        rows = [list(table[n]["layers"].values()) for n in names]
        axes[0].bar(pos, [r[layer]["win_entropy_normalised"] if layer < len(r) else 0 for r in rows], width,
                    label=f"layer {layer + 1}")
        axes[1].bar(pos, [100 * r[layer]["dead_fraction"] if layer < len(r) else 0 for r in rows], width,
                    label=f"layer {layer + 1}")
    axes[2].bar(names, [100 * (table[n]["test_accuracy"] or 0) for n in names], color="tab:gray")
    for ax, title in zip(axes, ("win entropy H / log K", "dead units (%)", "readout test accuracy (%)")):
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    request.save(first, fig, "competition_comparison", "competition_comparison", across_runs=True)


# ------------------------------------------------------------------------------------------------ weights
@plot_kind("weights", NETWORK, "per-layer weight-norm distributions at every checkpoint kept")
def draw_weights(request: PlotRequest) -> None:
    plt = pyplot()
    for run in request.runs:
        saved = run.latest_checkpoint()
        model, _ = load_network(run, saved)
        names = [name for name, m in model.named_modules() if isinstance(m, SoftHebbConv2d)]
        manager = run.checkpoints()
        norms: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        steps = manager.steps()
        for step in progress_bar(steps, desc="checkpoints"):
            weights = manager.load_step(step)["model"]
            for name in names:
                norms[name].append(weights[f"{name}.weight"].flatten(1).norm(dim=1))
        fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
        for ax, name in zip(axes[0], names):
            ax.violinplot([n.numpy() for n in norms[name]], showmedians=True)
            ax.axhline(1.0, color="black", ls=":", lw=1)
            ax.set_xticks(range(1, len(steps) + 1), [str(s) for s in steps], rotation=45, fontsize=7)
            ax.set_xlabel("checkpoint step", fontsize=8)
            ax.set_title(name, fontsize=8)
        axes[0, 0].set_ylabel("weight norm per neuron")
        fig.tight_layout()
        request.save(run, fig, "weight_norms", "weight_norms")
