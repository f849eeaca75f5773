"""Figures of an evolve run, drawn from its ``metrics.jsonl``: fitness per generation and the validation
learning curve against env steps and wall-clock."""

from __future__ import annotations

from pathlib import Path

from evohebb.run_io import read_metrics


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, run_dir: Path, name: str) -> Path:
    path = Path(run_dir) / "figures" / name
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def write_fitness_figure(run_dir: Path) -> Path | None:
    """``figures/fitness.png``: best, mean and median fitness per generation, the random policy's return on the
    same seeds, and the search centre's validation return (mean ± std over the fixed validation seeds)."""
    records = [r for r in read_metrics(run_dir) if "fitness/best" in r]
    if not records:
        return None
    plt = _pyplot()
    generations = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, style in (("fitness/best", "-"), ("fitness/mean", "-"), ("fitness/median", ":"),
                       ("fitness/random", "--")):
        values = [r.get(key) for r in records]
        if all(v is not None for v in values):
            ax.plot(generations, values, style, label=key.split("/")[1] + (" (same seeds)" if "random" in key else ""))
    valid = [r for r in records if "validation/mean" in r]
    if valid:
        g = [r["step"] for r in valid]
        m = [r["validation/mean"] for r in valid]
        sd = [r["validation/std"] for r in valid]
        ax.errorbar(g, m, yerr=sd, fmt="o-", color="black", capsize=3, label="centre, validation (mean ± std)")
    ax.set_xlabel("generation")
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = _save(fig, run_dir, "fitness.png")
    plt.close(fig)
    return path


def write_learning_curve(run_dir: Path) -> Path | None:
    """``figures/learning_curve.png``: the centre's validation return against cumulative env steps (training and
    validation) and against wall-clock hours."""
    records = read_metrics(run_dir)
    steps = wall = 0.0
    points = []
    for r in records:
        steps += r.get("evaluation/env_steps", 0.0) + r.get("validation/env_steps", 0.0)
        wall += r.get("time/generation_s", 0.0)
        if "validation/mean" in r:
            points.append((steps, wall / 3600, r["validation/mean"], r["validation/std"]))
    if not points:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, col, label in ((axes[0], 0, "env steps"), (axes[1], 1, "wall-clock (h)")):
        x = [p[col] for p in points]
        ax.errorbar(x, [p[2] for p in points], yerr=[p[3] for p in points], fmt="o-", capsize=3)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation return (centre)")
    path = _save(fig, run_dir, "learning_curve.png")
    plt.close(fig)
    return path
