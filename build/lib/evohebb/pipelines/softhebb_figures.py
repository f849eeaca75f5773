"""The SoftHebb pipeline's figures: the first layer's kernels, the deeper layers' preferred inputs and the readout's
accuracy curve, as PNGs in ``runs/<name>/figures/`` and images in the run's TensorBoard events."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from evohebb.nn.preferred_inputs import preferred_inputs
from evohebb.nn.softhebb_blocks import HebbianConvNet
from evohebb.run_io import MetricsLogger

__all__ = ["receptive_field_images", "write_figures"]


def write_figures(model: HebbianConvNet, history: list[float], run_dir: Path, metrics: MetricsLogger,
                  step: int, receptive_fields: bool) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    if receptive_fields and model.hebbian_layers():
        rf = receptive_field_images(model)
        if rf.shape[1] in (1, 3):
            metrics.log_images("receptive_fields/layer1", rf, step)
            cols = 8
            rows = math.ceil(len(rf) / cols)
            fig, axes = plt.subplots(rows, cols, figsize=(cols, rows))
            for ax in axes.flat:
                ax.axis("off")
            for ax, k in zip(axes.flat, rf):
                k = (k - k.min()) / (k.max() - k.min() + 1e-12)
                ax.imshow(k.permute(1, 2, 0).numpy() if k.shape[0] == 3 else k[0].numpy(), cmap="gray")
            fig.suptitle("layer-1 receptive fields")
            fig.savefig(figures / "receptive_fields_layer1.png", dpi=100, bbox_inches="tight")
            plt.close(fig)
            for block in range(1, len(model.blocks)):   # deeper layers: each channel's preferred input
                images = preferred_inputs(model, block, channels=16)
                metrics.log_images(f"receptive_fields/layer{block + 1}", images, step)
                fig, axes = plt.subplots(2, 8, figsize=(8, 2.2))
                for ax, image in zip(axes.flat, images.cpu()):
                    ax.axis("off")
                    ax.imshow(image.permute(1, 2, 0).numpy() if image.shape[0] == 3 else image[0].numpy(),
                              cmap="gray", vmin=0, vmax=1)
                fig.suptitle(f"layer-{block + 1} channels 1-16: preferred inputs (gradient ascent)")
                fig.savefig(figures / f"receptive_fields_layer{block + 1}.png", dpi=100, bbox_inches="tight")
                plt.close(fig)
    if history:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(range(1, len(history) + 1), [100 * a for a in history], marker=".")
        ax.set_xlabel("readout epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        fig.savefig(figures / "test_accuracy.png", dpi=100, bbox_inches="tight")
        metrics.log_figure("readout/test_accuracy_curve", fig, step)


def receptive_field_images(model: HebbianConvNet, n: int = 64) -> torch.Tensor:
    """First Hebbian layer's kernels ``[n, C, k, k]`` (grayscale kernels kept with one channel)."""
    w = model.hebbian_layers()[0].effective_weight().detach().cpu()
    return w[:n]
