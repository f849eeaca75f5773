"""Continual models on one task stream with the same seeds: one continual run per (model, seed), then a
markdown table and a bar figure.

    evohebb continual-compare configs/continual_split_mnist.yaml [key=value ...] [--models V M KP KPM si-multi]
                              [--seeds 0 1 2] [--resume runs/<name>]

A model is a thesis name (V, M, KP, KPM) or ``<method>-<heads>`` for any registered method
(:func:`~evohebb.pipelines.continual_config.model_pair`); the default is V, M, KP and KPM.
Runs go to ``<root>/<model>-seed<seed>/`` (each a full continual run: config, checkpoints, metrics, results);
the comparison to ``<root>/comparison.md``, ``comparison.json`` and ``figures/comparison.png``. Every figure is
the mean ± sample standard deviation over the seeds, after the last task. Models with multiple heads add a second
table: head-selection accuracy and average accuracy for every registered head score, per test group and per image
(each run's ``head_selection_study``). With ``resume`` finished runs are read back and unfinished ones resume
from their last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from evohebb.config import save_config
from evohebb.pipelines.continual import run_continual
from evohebb.pipelines.continual_config import MODELS, ContinualConfig
from evohebb.pipelines.continual_figures import write_bar_figure
from evohebb.pipelines.continual_selection import UNITS
from evohebb.run_io import atomic_write_json, atomic_write_text, read_results

log = logging.getLogger(__name__)

#: the choices of a run that the comparison names per model (None where a model has no such choice)
SETTINGS = ("head_score", "selection_unit", "bn", "feature_shrinkage")
STUDY_METRICS = {"head_selection_accuracy": "head selection", "average_accuracy": "average accuracy"}

METRICS = (  # (results key, column title)
    ("average_accuracy", "average accuracy (%)"),
    ("backward_transfer", "backward transfer (%)"),
    ("backward_transfer_vs_learned", "BWT vs. learned, thesis (%)"),
    ("forgetting", "forgetting (%)"),
    ("head_selection_accuracy", "head selection (%)"),
    ("own_head_average_accuracy", "own head, no selection (%)"),
)


def run_comparison(cfg: ContinualConfig, root: str | Path, models: Sequence[str] = tuple(MODELS),
                   seeds: Sequence[int] = (0, 1, 2), resume: bool = False) -> dict[str, Any]:
    """Run every model with every seed (``cfg`` otherwise unchanged) and write the comparison; returns it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    settings = {model: cfg.continual.select(model) for model in models}   # an unknown name: a ConfigError
    save_config(cfg, root / "config.yaml")
    runs: dict[str, list[dict]] = {model: [] for model in models}
    for seed in seeds:            # seed-major: an interrupted comparison has every model for the seeds done
        for model in models:
            name = f"{model}-seed{seed}"
            run_dir = root / name
            if resume and (run_dir / "results.json").exists() and _finished(read_results(run_dir)):
                log.info("%s: finished earlier, results read back", name)
                results = read_results(run_dir)
            else:
                sub = dataclasses.replace(cfg, seed=seed, name=f"{cfg.name or root.name}-{name}",
                                          continual=settings[model])
                again = resume and any((run_dir / "checkpoints").glob("ckpt-*.pt"))
                log.info("%s: %s", name, "resuming" if again else "starting")
                results = run_continual(sub, run_dir, resume=again)
            runs[model].append(results)
    comparison = summarise(runs)
    comparison["config"] = str(root / "config.yaml")
    atomic_write_json(root / "comparison.json", comparison)
    atomic_write_text(root / "comparison.md", markdown_table(comparison))
    write_bar_figure(comparison, root / "figures" / "comparison.png")
    log.info("comparison:\n%s", markdown_table(comparison))
    return comparison


def _finished(results: dict) -> bool:
    return results.get("tasks_done") == results.get("n_tasks")


def summarise(runs: dict[str, list[dict]]) -> dict[str, Any]:
    """Per model and metric: mean, std (sample; 0 for one run), the per-seed values (in %), and the runs'
    seconds."""
    out: dict[str, Any] = {"models": {}}
    for model, results in runs.items():
        row: dict[str, Any] = {"seeds": [r["seed"] for r in results],
                               "seconds": [r["seconds"] for r in results]}
        for key, _ in METRICS:
            values = [100 * r[key] for r in results if r.get(key) is not None]
            row[key] = _spread(values)
        row["settings"] = {key: results[0].get(key) for key in SETTINGS}
        studies = [r["head_selection_study"] for r in results if r.get("head_selection_study")]
        if studies:
            row["selection_study"] = {score: {key: _spread([100 * study[score][key] for study in studies])
                                              for key in STUDY_METRICS} for score in studies[0]}
        out["models"][model] = row
    first = next(iter(runs.values()))[0]
    out.update({key: first[key] for key in ("dataset", "scenario", "n_tasks", "classes", "n_train_per_task",
                                            "n_test_per_task", "n_layers")})
    return out


def _settings_text(settings: dict[str, Any]) -> str:
    """``head score gaussian, selection unit 0 (a task's whole test set), bn shared, ...`` (set choices only)."""
    parts = []
    for key in SETTINGS:
        value = settings.get(key)
        if value is None:
            continue
        if key == "selection_unit":
            value = f"{value} (a task's whole test set)" if value == 0 else value
        parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)


def _spread(values: list[float]) -> dict[str, Any] | None:
    return {"mean": fmean(values), "std": stdev(values) if len(values) > 1 else 0.0,
            "values": values} if values else None


def markdown_table(comparison: dict[str, Any]) -> str:
    head = "| model | " + " | ".join(title for _, title in METRICS) + " | seeds |"
    lines = [f"{comparison['dataset']}, {comparison['scenario']}-incremental, {comparison['n_tasks']} tasks "
             f"{comparison['classes']}, after the last task (mean ± std over seeds)", "", head,
             "|" + "---|" * (len(METRICS) + 2)]
    for model, row in comparison["models"].items():
        cells = [("–" if row[key] is None else f"{row[key]['mean']:.1f} ± {row[key]['std']:.1f}") for key, _ in METRICS]
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {len(row['seeds'])} |")
    settings = {model: _settings_text(row.get("settings", {})) for model, row in comparison["models"].items()}
    if any(settings.values()):
        lines += ["", "Choices per model: " + "; ".join(f"{model}: {text}" for model, text in settings.items()
                                                       if text) + "."]
    studied = {model: row["selection_study"] for model, row in comparison["models"].items() if "selection_study" in row}
    if studied:
        lines += ["", "Head selection by score (%; group: a task's whole test set at once, sample: every image alone):",
                  "", "| model | score | " + " | ".join(f"{unit}: {title}" for unit in UNITS for _, title in
                                                        STUDY_METRICS.items()) + " |",
                  "|" + "---|" * (2 + len(UNITS) * len(STUDY_METRICS))]
        for model, study in studied.items():
            for score in sorted({key.split("/")[0] for key in study}):
                cells = [study[f"{score}/{unit}"][key] for unit in UNITS for key in STUDY_METRICS]
                lines.append(f"| {model} | {score} | " + " | ".join(f"{c['mean']:.1f} ± {c['std']:.1f}" for c in cells)
                             + " |")
    return "\n".join(lines) + "\n"


def read_comparison(root: str | Path) -> dict[str, Any]:
    return json.loads((Path(root) / "comparison.json").read_text())
