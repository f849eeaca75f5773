"""Figure kinds that redraw the pipelines' own end-of-run figures on demand (their figure functions, called on a
finished or running run), and ``curves``: several runs' learning curves on one plot.

* ``accuracy`` (softhebb, reward): the test accuracy per epoch;
* ``maps`` (reward): the conv maps and the feedforward neurons' projective fields;
* ``fitness`` (evolve): fitness per generation and the validation learning curve;
* ``readout`` (evolve): the output layer's weights over one test episode (plays it through ``evohebb evaluate``,
  which draws it with :mod:`evohebb.pipelines.readout_figure`);
* ``matrix`` (continual): the accuracy matrix ``R``;
* ``comparison`` (continual-compare): the V / M / KP / KPM bars;
* ``curves`` (all but continual-compare): one metric of several runs against epochs, generations or tasks;
  runs whose configs differ only in name and seed are one group: each seed a thin line under the group's mean ±
  standard deviation (a band); ``curves.md`` beside the PNG lists every run's last and highest value.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean, pstdev

from evohebb.config import config_to_dict
from evohebb.pipelines import continual_compare, continual_figures, evolve_figures, reward
from evohebb.pipelines.plot_runs import COMPARISON_PIPELINE, PlotError, PlotRequest, PlotRun, plot_kind, pyplot
from evohebb.pipelines.softhebb_figures import write_figures


# ------------------------------------------------------------------------------------------------ accuracy
def _softhebb_accuracy(request: PlotRequest, run: PlotRun) -> None:
    history = run.results().get("test_accuracy_per_epoch")
    if not history:
        raise PlotError(f"{run.path} has no readout epochs in results.json yet; let the run finish")
    with request.staged(run) as stage:
        write_figures(None, history, stage, request.tensorboard(run), run.last_step(),  # no fields: no network
                      receptive_fields=False)


def _reward_accuracy(request: PlotRequest, run: PlotRun) -> None:
    state = reward.RewardState.from_checkpoint(run.latest_checkpoint()["state"])
    with request.staged(run) as stage:
        reward.write_accuracy_figure(state, stage, request.tensorboard(run), run.last_step())


ACCURACY: dict[str, Callable[[PlotRequest, PlotRun], None]] = {"softhebb": _softhebb_accuracy,
                                                                 "reward": _reward_accuracy}


@plot_kind("accuracy", tuple(ACCURACY), "test accuracy per epoch (the pipeline's end-of-run figure)")
def draw_accuracy(request: PlotRequest) -> None:
    for run in request.runs:
        ACCURACY[run.pipeline](request, run)


@plot_kind("maps", ("reward",), "the reward network's conv maps and projective fields")
def draw_reward_maps(request: PlotRequest) -> None:
    for run in request.runs:
        test = reward.load_split(run.config, train=False)
        net = reward.RewardClassifier(run.config.network, test.image_shape, test.n_classes)
        net.load_state_dict(run.latest_checkpoint()["network"])
        with request.staged(run) as stage:
            reward.write_weight_figures(net, stage, request.tensorboard(run), run.last_step(), suffix="")


# ------------------------------------------------------------------------------------------------ evolve
@plot_kind("fitness", ("evolve",), "fitness per generation and the validation learning curve")
def draw_fitness(request: PlotRequest) -> None:
    for run in request.runs:
        with request.staged(run) as stage:
            drawn = [evolve_figures.write_fitness_figure(stage), evolve_figures.write_learning_curve(stage)]
        if not any(drawn):
            raise PlotError(f"{run.path}/metrics.jsonl holds no generation yet")


@plot_kind("readout", ("evolve",), "the output layer's weights over one test episode of the best genome")
def draw_readout(request: PlotRequest) -> None:
    from evohebb.pipelines.evaluate_genome import evaluate_run

    for run in request.runs:
        path = request.figures_dir(run) / request.file_name(run, "readout.png")
        with tempfile.TemporaryDirectory(prefix="evohebb-plot-") as scratch:   # the episode's report: not kept
            evaluate_run(run.path, episodes=1, out=Path(scratch) / "report.json", readout_figure=path)
        request.written.append(path)


# ------------------------------------------------------------------------------------------------ continual
@plot_kind("matrix", ("continual",), "the accuracy matrix R (after task i, tested on task j)")
def draw_matrix(request: PlotRequest) -> None:
    for run in request.runs:
        matrix = run.results().get("accuracy_matrix")
        if not matrix:
            raise PlotError(f"{run.path} has no accuracy matrix in results.json yet; let the run finish")
        title = f"{run.config.continual.name} on {run.config.stream.name}"
        with request.staged(run) as stage:
            continual_figures.write_matrix_figure(matrix, stage, request.tensorboard(run), run.last_step(), title)


@plot_kind("comparison", (COMPARISON_PIPELINE,), "V / M / KP / KPM: average accuracy and backward transfer")
def draw_continual_comparison(request: PlotRequest) -> None:
    for run in request.runs:
        path = request.figures_dir(run) / request.file_name(run, "comparison.png")
        continual_figures.write_bar_figure(continual_compare.read_comparison(run.path), path)
        request.written.append(path)


# ------------------------------------------------------------------------------------------------ curves
@dataclass(frozen=True)
class Curve:
    metric: str     # the metrics.jsonl key
    x_label: str
    by_step: bool   # x = the logged step (else 1, 2, ... in logging order)


CURVES = {"softhebb": Curve("readout/test_accuracy", "readout epoch", False),
          "reward": Curve("epoch/test_accuracy", "epoch", False),
          "continual": Curve("eval/average_accuracy", "task", False),
          "evolve": Curve("validation/mean", "generation", True)}


@plot_kind("curves", tuple(CURVES), "one metric of several runs on one plot (--metric; default: the pipeline's "
           "test accuracy or validation return): every run's curve, runs that differ only by seed as thin lines "
           "under their mean ± std; curves.md lists each run's last and highest value", several_runs=True)
def draw_curves(request: PlotRequest) -> None:
    plt = pyplot()
    groups: dict[str, list[PlotRun]] = {}
    for run in request.runs:
        groups.setdefault(_without_name_and_seed(run), []).append(run)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    curves = {CURVES[run.pipeline] for run in request.runs}
    metric = request.metric or " / ".join(sorted({c.metric for c in curves}))
    rows = []
    for runs in groups.values():
        series = [_series(run, request.metric) for run in runs]
        empty = [run.name for run, s in zip(runs, series) if not s]
        if empty:
            raise PlotError(f"{', '.join(empty)}: no logged value of {metric} yet")
        rows += zip(runs, series)
        if len(runs) == 1:
            ax.plot(*zip(*sorted(series[0].items())), marker=".", label=runs[0].name)
            continue
        shared = sorted(set.intersection(*(set(s) for s in series)))
        if not shared:
            raise PlotError(f"{', '.join(r.name for r in runs)}: no logged value of {metric} at a common x")
        mean = [fmean(s[x] for s in series) for x in shared]
        seeds = ", ".join(str(run.config.seed) for run in runs)
        (line,) = ax.plot(shared, mean, marker=".", label=f"{os.path.commonprefix([r.name for r in runs])}* "
                                                           f"(mean of seeds {seeds})")
        for s in series:   # every seed's own curve, to its last logged value
            ax.plot(*zip(*sorted(s.items())), color=line.get_color(), linewidth=0.8, alpha=0.45)
        std = [pstdev(s[x] for s in series) for x in shared]
        ax.fill_between(shared, [m - d for m, d in zip(mean, std)], [m + d for m, d in zip(mean, std)],
                        color=line.get_color(), alpha=0.2)
    ax.set_xlabel(" / ".join(sorted({"step" if request.metric else c.x_label for c in curves})))
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    path = request.save(request.runs[0], fig, "curves", "curves", across_runs=True)
    table = path.with_suffix(".md")
    table.write_text(curves_table(rows, metric))
    request.written.append(table)


def curves_table(rows: list[tuple[PlotRun, dict[float, float]]], metric: str) -> str:
    """A markdown table of each run's ``metric``: its last and highest logged value, at which x."""
    lines = [f"| run | seed | last {metric} (at) | highest (at) |", "|---|---|---|---|"]
    for run, series in rows:
        last = max(series)
        highest = max(series, key=lambda x: (series[x], -x))      # the first x where it is reached
        lines.append(f"| {run.name} | {run.config.seed} | {series[last]:.5g} ({last:g}) | "
                     f"{series[highest]:.5g} ({highest:g}) |")
    return "\n".join(lines) + "\n"


def _series(run: PlotRun, metric: str | None) -> dict[float, float]:
    curve = CURVES[run.pipeline]
    key = metric or curve.metric
    records = [r for r in run.metrics() if key in r]
    by_step = curve.by_step or metric is not None
    return {(r["step"] if by_step else i + 1): r[key] for i, r in enumerate(records)}


def _without_name_and_seed(run: PlotRun) -> str:
    cfg = config_to_dict(run.config)
    cfg.pop("name", None)
    cfg.pop("seed", None)
    return f"{run.pipeline}:{sorted(cfg.items())!r}"
