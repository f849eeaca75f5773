"""The continual pipeline's figures: the accuracy matrix of one run, the comparison's bars of any number of models."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from evohebb.run_io import MetricsLogger


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt

def write_matrix_figure(r: list[list[float | None]], run_dir: Path, metrics: MetricsLogger, step: int,
                        title: str) -> None:
    """Heat map of ``R`` (rows: after task i, columns: task j) to ``figures/accuracy_matrix.png`` and TensorBoard."""
    plt = _pyplot()
    import numpy as np

    values = np.array([[math.nan if a is None else 100 * a for a in row] for row in r], dtype=float)
    n_rows, n_cols = values.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n_cols, 0.8 + 0.6 * n_rows))
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0, vmax=100)
    for i in range(n_rows):
        for j in range(n_cols):
            if not math.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] < 60 else "black")
    ax.set_xticks(range(n_cols), [str(j + 1) for j in range(n_cols)])
    ax.set_yticks(range(n_rows), [str(i + 1) for i in range(n_rows)])
    ax.set_xlabel("tested on task j")
    ax.set_ylabel("after training task i")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="accuracy (%)")
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    fig.savefig(figures / "accuracy_matrix.png", dpi=100, bbox_inches="tight")
    metrics.log_figure("eval/accuracy_matrix", fig, step)


def write_bar_figure(comparison: dict[str, Any], path: Path) -> None:
    """Average accuracy and backward transfer per model (one colour each), mean ± std over seeds; with multi-head
    models, a third panel: the average accuracy each head score gives them, per test group (solid) and per image
    (hatched), from the selection study of the same runs."""
    plt = _pyplot()

    models, palette = list(comparison["models"]), plt.get_cmap("tab10")
    colours = {m: palette(i % palette.N) for i, m in enumerate(models)}
    panels = (("average_accuracy", "average accuracy (%)"), ("backward_transfer", "backward transfer (%)"))
    studied = {m: row["selection_study"] for m, row in comparison["models"].items() if row.get("selection_study")}
    widths = [1] * len(panels) + ([2] if studied else [])
    fig, axes = plt.subplots(1, len(widths), figsize=(4.2 * sum(widths), 3.2), gridspec_kw={"width_ratios": widths})
    for ax, (key, title) in zip(axes, panels):
        rows = [comparison["models"][m][key] for m in models]
        means = [r["mean"] if r else 0.0 for r in rows]
        stds = [r["std"] if r else 0.0 for r in rows]
        ax.bar(models, means, yerr=stds, capsize=4, color=[colours[m] for m in models])
        ax.set_title(title, fontsize=10)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.grid(axis="y", alpha=0.3)
    if studied:
        _head_score_panel(axes[-1], studied, colours)
    fig.suptitle(f"{comparison['dataset']}: {comparison['n_tasks']} tasks, {comparison['scenario']}-incremental",
                 fontsize=10, y=1.03)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _head_score_panel(ax, studied: dict[str, dict], colours: dict) -> None:
    scores = sorted({key.split("/")[0] for study in studied.values() for key in study})
    bars = [(model, unit) for model in studied for unit in ("group", "sample")]
    width = 0.8 / len(bars)
    for b, (model, unit) in enumerate(bars):
        cells = [studied[model].get(f"{score}/{unit}", {}).get("average_accuracy") for score in scores]
        ax.bar([s + (b - (len(bars) - 1) / 2) * width for s in range(len(scores))],
               [c["mean"] if c else 0.0 for c in cells], width, yerr=[c["std"] if c else 0.0 for c in cells],
               capsize=2, color=colours[model], hatch=None if unit == "group" else "//", edgecolor="white",
               label=f"{model}, {'per group' if unit == 'group' else 'per image'}")
    ax.set_xticks(range(len(scores)), [s.replace("_", " ") for s in scores], fontsize=8, rotation=20)
    ax.set_title("average accuracy (%) by head score", fontsize=10)
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(bars))
