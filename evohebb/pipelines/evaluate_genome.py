"""``evohebb evaluate <run dir | zoo file>``: replay an evolved genome on test seeds, beside baseline policies.

A run folder gives its ``config.yaml`` and a genome from ``results.json`` (``--genome best | center |
best_validation``); a zoo file (``zoo/*.json``, :mod:`evohebb.pipelines.zoo`) carries both. The genome is replayed
on its environment entry's *reference* conditions unless ``--as-trained`` (CarRacing: gymnasium's ``CarRacing-v3``,
full 1000-step episodes, no early termination; ``key=value`` overrides still win). Seeds are consecutive from
``--first-seed`` (default: the test range, never used for training or validation). The JSON report holds every
episode's return; ``--baselines`` adds random actions and the entry's own baselines (CarRacing: full gas and the
scripted driver, :mod:`envs.baseline_policies`, seeing its own 96×96 RGB frame, whatever the genome's network sees)
on the same seeds, and a histogram of all returns; ``--baselines-from REPORT`` takes them from an earlier report
played on the same seeds and conditions. ``--gif`` records the first episode of any environment that can render.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np
import torch

from envs import ENVIRONMENTS, env_entry
from evohebb.config import config_from_dict, config_to_dict, load_config, merge_nested, parse_overrides
from evohebb.es.generation_seeds import TEST_FIRST_SEED, evaluation_seeds
from evohebb.es.rollout import (
    RolloutResult,
    run_episodes,
    run_policy_episodes,
    run_random_episodes,
    saturation_by_output,
)
from evohebb.pipelines.episode_workers import play_episodes
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.pipelines.readout_figure import readout_recorder, write_readout_figure
from evohebb.pipelines.zoo import check_layout, read_zoo_genome
from evohebb.run_io import atomic_write_json, read_results

log = logging.getLogger(__name__)

GENOMES = ("best", "center", "best_validation")
#: a policy's entries in the report, each after the policy's prefix (``random_returns``, …)
SUMMARY_FIELDS = ("returns", "return_mean", "return_std", "lengths")
#: what must match for ``--baselines-from`` to reuse an earlier report's baselines (and the entry's conditions)
BASELINE_CONDITIONS = ("task", "seeds", "max_steps")
#: the GIF of ``--gif``: every 2nd frame of the env's render, 200 px wide, played in real time (a 1000-step
#: CarRacing lap is ~2 MB)
GIF_FRAME_STRIDE, GIF_WIDTH = 2, 200


def evaluate_run(source: Path, episodes: int = 5, gif: str | None = None, baselines: bool = False,
                 genome: str = "best", max_steps: int | None = None, overrides: list[str] | None = None,
                 first_seed: int = TEST_FIRST_SEED, as_trained: bool = False, out: Path | None = None,
                 baselines_from: Path | None = None, readout_figure: Path | None = None, workers: int = 1) -> dict:
    """Replay a genome on ``episodes`` seeds from ``first_seed``; write the report (JSON) and return it.

    ``baselines``: also play the baseline policies on the same seeds; ``baselines_from``: take them from an earlier
    report instead (they do not depend on the genome), which must have been played on the same conditions.
    ``readout_figure``: draw how the output layer's weights change over the first seed's episode
    (:mod:`evohebb.pipelines.readout_figure`). ``workers``: processes playing the genome's episodes at once
    (:mod:`evohebb.pipelines.episode_workers`)."""
    overrides = list(overrides or [])
    if episodes < 1:
        raise ValueError(f"--episodes: {episodes} is not allowed; allowed: an integer >= 1")
    if workers < 1:
        raise ValueError(f"--workers: {workers} is not allowed; allowed: an integer >= 1")
    cfg, task, network, values, origin = load_genome_network(Path(source), genome, overrides, as_trained)
    if max_steps is not None:
        task = dataclasses.replace(task, max_steps=max_steps)
    seeds = evaluation_seeds(episodes, first_seed)
    genomes = torch.tensor(values, dtype=torch.float32, device=task.device).expand(episodes, -1).contiguous()
    report = {"source": str(source), "genome": origin, "overrides": overrides, "seeds": seeds,
              "task": cfg.task, "max_steps": task.max_steps, **task.spec.entry.conditions(cfg.env)}
    if workers > 1:
        report["workers"] = workers
    played = play_episodes(task, network, values, seeds, workers,
                           record=readout_recorder(network) if readout_figure else None)
    report.update(_summary("", played))
    report.update(task.spec.entry.episode_summary(played.rewards))
    # per action: the mean fraction of an episode's steps at a nonzero bound (full lock, a pedal down)
    saturated = saturation_by_output(task.spec.output_names,
                                     None if played.saturated is None else played.saturated.mean(axis=0))
    if saturated:
        report["saturated"] = {name: round(f, 4) for name, f in saturated.items()}
    if baselines_from is not None:
        report.update(_reused_baselines(Path(baselines_from), report, task))
    elif baselines:
        report.update(_play_baselines(task, seeds))
    if gif:
        report["gif"] = _record_gif(task, network, genomes, seeds, Path(gif))
    if readout_figure:   # the first seed's readout, recorded while the genome played it above
        report["readout_figure"] = str(write_readout_figure(np.stack(played.frames), task.spec.observation_shape,
                                                            Path(readout_figure), task.spec.output_names))
    out = Path(out) if out is not None else _default_report_path(Path(source), origin, overrides, report,
                                                                  _conditions(task))
    atomic_write_json(out, report)
    if baselines or baselines_from is not None:
        report["histogram"] = str(write_return_histogram(report, out.with_suffix(".png")))
        atomic_write_json(out, report)
    log.info("report: %s", out)
    return report


def load_genome_network(source: Path, genome: str, overrides: list[str], as_trained: bool = False):
    """A run folder's or zoo file's genome ready to play: ``(cfg, task, network, values, origin)``, the config with
    the reference conditions and ``overrides`` (:func:`_load_genome`), its evaluation task, the network that task
    builds (a zoo file's stored layout checked against it), the genome's values and where they came from."""
    cfg, values, origin, layout = _load_genome(source, genome, overrides, as_trained)
    task = evaluation_task(cfg)
    network = task.build_network()
    if layout is not None:
        check_layout(source, layout, network.genome_spec())
    return cfg, task, network, values, origin


def _load_genome(source: Path, genome: str, overrides: list[str], as_trained: bool):
    """The config (reference conditions, then ``overrides``), the genome's values, where they came from and (zoo
    files) the genome's stored layout, of a run folder or zoo file."""
    if source.is_dir():
        data = load_config(EvolveConfig, source / "config.yaml")
        values = read_results(source).get(f"{genome}_genome")
        if values is None:
            raise FileNotFoundError(f"{source}/results.json holds no {genome} genome (allowed: {', '.join(GENOMES)}"
                                    "; best_validation needs a run with validation): has it finished a generation?")
        origin, layout = genome, None
        base = config_to_dict(data)
    else:
        zoo = read_zoo_genome(source)
        base, values, origin, layout = zoo["config"], zoo["genome"], f"zoo:{zoo['name']}", zoo["layout"]
    base, given = EvolveConfig.upgrade_keys(base), EvolveConfig.upgrade_keys(parse_overrides(overrides))
    name = config_from_dict(EvolveConfig, merge_nested(base, given)).env.name
    reference = [] if as_trained else env_entry(name).reference_overrides
    cfg = config_from_dict(EvolveConfig, merge_nested(merge_nested(base, parse_overrides(reference)), given))
    return cfg, values, origin, layout


def _play_baselines(task, seeds: list[int]) -> dict:
    """Random actions and the entry's own baselines on ``seeds``, in envs of their own (built with the entry's
    ``baseline_overrides``: on CarRacing its own 96×96 RGB frame, whatever the genome's network sees)."""
    entry = task.spec.entry
    envs = task.build_envs(len(seeds), **entry.baseline_overrides)
    try:
        summaries = _summary("random_", run_random_episodes(envs, seeds, task.max_steps, action_seed=seeds[0],
                                                            progress="random actions"))
        for name, policy in entry.baselines.items():
            summaries.update(_summary(f"{name}_", run_policy_episodes(envs, seeds, task.max_steps, policy,
                                                                      progress=name)))
    finally:
        envs.close()
    return summaries


def _reused_baselines(path: Path, report: dict, task) -> dict:
    """The baseline entries of an earlier report, refused unless it was played on the same conditions."""
    if not path.is_file():
        raise FileNotFoundError(f"--baselines-from {path}: no such report")
    earlier = json.loads(path.read_text(encoding="utf-8"))
    conditions = _conditions(task)
    key = _differing_condition(earlier, report, conditions)
    if key is not None:
        raise ValueError(f"--baselines-from {path}: its {key} is {_abridged(earlier.get(key))!r}, this "
                         f"evaluation's is {_abridged(report[key])!r}; the baselines must be played on the same "
                         f"{', '.join(conditions)} (or use --baselines)")
    names = ("random", *task.spec.entry.baselines)
    entries = {f"{name}_{field}": earlier[f"{name}_{field}"] for name in names for field in SUMMARY_FIELDS
               if f"{name}_{field}" in earlier}
    if not entries:
        raise ValueError(f"--baselines-from {path}: the report holds no baselines (it was not run with --baselines)")
    return {**entries, "baselines_from": str(path)}


def _abridged(value):
    """A long list (seeds) shown by its first items."""
    return f"[{', '.join(map(str, value[:3]))}, …]" if isinstance(value, list) and len(value) > 3 else value


def _summary(prefix: str, played: RolloutResult) -> dict:
    """A policy's entries of the report (:data:`SUMMARY_FIELDS`, after ``prefix``)."""
    return {f"{prefix}returns": played.returns.tolist(), f"{prefix}return_mean": float(played.returns.mean()),
            f"{prefix}return_std": float(played.returns.std()), f"{prefix}lengths": played.lengths.tolist()}


def _default_report_path(source: Path, origin: str, overrides: list[str], report: dict,
                         conditions: tuple[str, ...]) -> Path:
    """Beside the source, named by the genome and the overrides. A report already there that was played on other
    ``conditions`` (seeds, episode cap, backend, ...) is kept: a quick look (``--episodes 1 --gif``) must not replace
    a 100-track report, so this one is named by its tracks too (``…-1x1000-from<first seed>.json``)."""
    suffix = re.sub(r"[^A-Za-z0-9._=-]", "_", "-" + ",".join(overrides)) if overrides else ""
    path = (source / f"evaluation-{origin}{suffix}.json" if source.is_dir()
            else source.with_name(f"{source.stem}.evaluation{suffix}.json"))
    if path.exists() and _played_otherwise(path, report, conditions):
        tracks = f"-{len(report['seeds'])}x{report['max_steps']}-from{report['seeds'][0]}"
        kept, path = path, path.with_name(f"{path.stem}{tracks}.json")
        log.info("%s holds a report played on other conditions; kept, and this one goes to %s", kept, path)
    return path


def _played_otherwise(path: Path, report: dict, conditions: tuple[str, ...]) -> bool:
    """Whether the report at ``path`` was played on other ``conditions`` than ``report`` (one that cannot be read
    counts as other: it is kept)."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return not isinstance(earlier, dict) or _differing_condition(earlier, report, conditions) is not None


def _conditions(task) -> tuple[str, ...]:
    """The report entries that say what was played: task, seeds, episode cap and the environment's own conditions."""
    return (*BASELINE_CONDITIONS, *task.spec.entry.conditions(task.env))


def _differing_condition(earlier: dict, report: dict, conditions: tuple[str, ...]) -> str | None:
    """The first of ``conditions`` on which the ``earlier`` report differs from ``report`` (None: played alike)."""
    return next((key for key in conditions if key in report and earlier.get(key) != report[key]), None)


def _record_gif(task, network, genomes, seeds, path: Path) -> str:
    entry = task.spec.entry
    if not entry.can_render:
        raise ValueError(f"--gif: the environment {task.kind!r} cannot render; allowed: an environment that can ("
                         f"{', '.join(n for n, e in ENVIRONMENTS.items() if e.can_render)})")
    from PIL import Image
    one = task.build_envs(1, **entry.render_overrides)
    try:
        recorded = run_episodes(network, one, genomes[:1], seeds[:1], weight_seed=seeds[0], max_steps=task.max_steps,
                                to_action=task.spec.to_action, record=lambda: one.envs[0].render())
        fps = one.envs[0].metadata.get("render_fps", 50)
    finally:
        one.close()
    frames = recorded.frames[::GIF_FRAME_STRIDE]
    height, width = frames[0].shape[:2]
    size = (GIF_WIDTH, round(height * GIF_WIDTH / width))
    images = [Image.fromarray(frame).resize(size, Image.Resampling.BOX) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps) * GIF_FRAME_STRIDE,
                   loop=0, optimize=True)
    log.info("saved %d of %d frames (%dx%d) to %s", len(images), len(recorded.frames), *size, path)
    return str(path)


def write_return_histogram(report: dict, path: Path) -> Path:
    """A histogram of the returns of the genome and of each baseline in ``report``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = {"evolved": report["returns"]}
    series.update({key[:-len("_returns")]: values for key, values in report.items()
                   if key.endswith("_returns") and key != "returns"})
    bins = np.histogram_bin_edges(np.concatenate([np.asarray(v) for v in series.values()]), bins=30)
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for name, values in series.items():
        ax.hist(values, bins=bins, alpha=0.5, label=f"{name}: {np.mean(values):.0f} ± {np.std(values):.0f}")
    ax.set_xlabel(f"return ({len(report['seeds'])} episodes, {report['max_steps']} steps)")
    ax.set_ylabel("episodes")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
