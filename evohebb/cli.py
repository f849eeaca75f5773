"""``evohebb`` command line: argument parsing, run directories and resume; the work is in the pipelines.

    evohebb evolve   [config.yaml] [key=value ...] [--resume runs/<name>] [--overwrite] [--runs-root DIR]
    evohebb evaluate runs/<name>|zoo/<file>.json [key=value ...] [--episodes M] [--first-seed S] [--baselines]
                     [--baselines-from REPORT] [--genome best|center|best_validation] [--as-trained] [--gif out.gif]
                     [--readout-figure out.png] [--workers N]
    evohebb export   runs/<name> zoo/<file>.json [--genome best_validation]
    evohebb zoo-upgrade zoo/<file>.json ...
    evohebb softhebb [config.yaml] [key=value ...] [--resume runs/<name>] [--overwrite]
    evohebb reward   [config.yaml] [key=value ...] [--resume runs/<name>] [--overwrite]
    evohebb continual [config.yaml] [key=value ...] [--resume runs/<name>] [--overwrite]
    evohebb continual-compare [config.yaml] [key=value ...] [--models NAME ...] [--seeds 0 1 2] [--resume runs/<name>]
    evohebb plot <kind> runs/<name> [runs/<other> ...] [--out DIR] [--images 0 5 7] [--sample N] [--metric KEY]

Checkpoints are loaded weights-only: a run folder from elsewhere cannot run code; a checkpoint that holds anything
else is refused, naming the file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from evohebb.config import ConfigError, load_config
from evohebb.es.actor_fleet import NoActorsLeftError
from evohebb.es.generation_seeds import TEST_FIRST_SEED
from evohebb.pipelines.zoo import ZooFileError
from evohebb.run_io import (
    CheckpointError,
    RunExistsError,
    create_run_dir,
    default_run_name,
)

log = logging.getLogger("evohebb")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("evotorch", "ray", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config (presets in configs/); omitted: the defaults")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, nested keys with dots (a.b=1)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue runs/<name> from its last checkpoint "
                        "(its config.yaml is used; key=value overrides still apply, e.g. generations=50)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run of the same name")
    parser.add_argument("--runs-root", default="runs", help="where runs/<name>/ folders go (default: runs)")
    parser.add_argument("--name", help="run name (default: from the config, else a timestamped name)")
    parser.add_argument("--data-dir", help="data sets folder (sets EVOHEBB_DATA for this run and its workers; "
                        "a config's own data_dir still wins)")


def _split_config_and_overrides(args) -> tuple[str | None, list[str]]:
    # `evohebb evolve a=1` (no file): argparse puts the first override into `config`
    if args.config is not None and "=" in args.config and not args.config.endswith((".yaml", ".yml")):
        return None, [args.config, *args.overrides]
    return args.config, list(args.overrides)


def _prepare_run(args, config_cls, prefix: str):
    """Resolve the config and the run directory for a new or resumed run."""
    if args.data_dir:
        os.environ["EVOHEBB_DATA"] = str(Path(args.data_dir).resolve())
    config_path, overrides = _split_config_and_overrides(args)
    if args.resume:
        run_dir = Path(args.resume)
        if config_path is not None:
            overrides = [config_path, *overrides] if "=" in config_path else overrides
        cfg = load_config(config_cls, run_dir / "config.yaml", overrides)
        create_run_dir(run_dir.parent, run_dir.name, resume=True)
        return cfg, run_dir, True   # the pipeline saves the resolved config (overrides included)
    cfg = load_config(config_cls, config_path, overrides)
    cfg.name = args.name or cfg.name or default_run_name(prefix)   # the saved config names its run
    run_dir = create_run_dir(args.runs_root, cfg.name, overwrite=args.overwrite)
    return cfg, run_dir, False


def _cmd_evolve(args) -> int:
    from evohebb.pipelines.evolve import run_evolve
    from evohebb.pipelines.evolve_config import EvolveConfig
    cfg, run_dir, resume = _prepare_run(args, EvolveConfig, "evolve")
    if args.address:
        cfg.evaluation.ray_address = args.address
    log.info("run directory: %s  (watch it: tensorboard --logdir %s --host 127.0.0.1)", run_dir, run_dir.parent)
    results = run_evolve(cfg, run_dir, resume=resume)
    log.info("best fitness %.3f at generation %d; results in %s", results["best_fitness"],
             results["best_generation"], run_dir / "results.json")
    return 0


def _cmd_evaluate(args) -> int:
    from evohebb.pipelines.evaluate_genome import evaluate_run
    report = evaluate_run(Path(args.source), episodes=args.episodes, gif=args.gif, baselines=args.baselines,
                          genome=args.genome, max_steps=args.max_steps, overrides=args.overrides,
                          first_seed=args.first_seed, as_trained=args.as_trained,
                          out=Path(args.out) if args.out else None,
                          baselines_from=Path(args.baselines_from) if args.baselines_from else None,
                          readout_figure=Path(args.readout_figure) if args.readout_figure else None,
                          workers=args.workers)
    for key, value in report.items():
        if not isinstance(value, (list, dict)):
            log.info("%s: %s", key, value)
    return 0


def _cmd_zoo_upgrade(args) -> int:
    from evohebb.pipelines.zoo import upgrade_zoo_file
    for path in args.paths:
        layout = upgrade_zoo_file(Path(path))
        log.info("%s: layout of %d slices (%s)", path, len(layout), ", ".join(name for name, _ in layout))
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; allowed: an integer >= 1")
    return value


def _cmd_export(args) -> int:
    from evohebb.pipelines.zoo import export_genome
    entry = export_genome(Path(args.run_dir), Path(args.path), genome=args.genome, description=args.description)
    log.info("wrote %s (%d numbers, from %s)", args.path, entry["genome_size"], entry["source"])
    return 0


#: pipelines run the same way from the command line: command -> (module, run function, config class)
_PIPELINES = {
    "softhebb": ("evohebb.pipelines.softhebb", "run_softhebb", "evohebb.pipelines.softhebb_config", "SoftHebbConfig"),
    "continual": ("evohebb.pipelines.continual", "run_continual", "evohebb.pipelines.continual_config",
                  "ContinualConfig"),
    "reward": ("evohebb.pipelines.reward", "run_reward", "evohebb.pipelines.reward_config", "RewardConfig"),
}


def _cmd_pipeline(args) -> int:
    """Resolve the config and run folder of ``args.command``'s pipeline and run it (imported only when used)."""
    import importlib
    module, run_name, config_module, config_name = _PIPELINES[args.command]
    config_cls = getattr(importlib.import_module(config_module), config_name)
    cfg, run_dir, resume = _prepare_run(args, config_cls, args.command)
    log.info("run directory: %s", run_dir)
    getattr(importlib.import_module(module), run_name)(cfg, run_dir, resume=resume)
    return 0


def _cmd_continual_compare(args) -> int:
    from evohebb.pipelines.continual_compare import run_comparison
    from evohebb.pipelines.continual_config import MODELS, ContinualConfig
    cfg, run_dir, resume = _prepare_run(args, ContinualConfig, "continual-compare")
    log.info("comparison directory: %s", run_dir)
    run_comparison(cfg, run_dir, models=args.models or tuple(MODELS), seeds=args.seeds, resume=resume)
    return 0


def _cmd_plot(args) -> int:
    from evohebb.pipelines.plot import PlotError, plot
    try:
        written = plot(args.kind, args.runs, out=args.out, images=args.images, sample=args.sample, metric=args.metric)
    except PlotError as error:
        log.error("%s", error)
        return 2
    log.info("wrote %s", ", ".join(map(str, written)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evohebb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    evolve = sub.add_parser("evolve", help="evolve Hebbian parameters with evotorch on Ray actors")
    _add_run_arguments(evolve)
    evolve.add_argument("--address", help="Ray cluster address (else RAY_ADDRESS, else a local instance)")
    evolve.set_defaults(func=_cmd_evolve)

    evaluate = sub.add_parser("evaluate", help="replay an evolved genome (a run folder or a zoo file) on test seeds")
    evaluate.add_argument("source", help="runs/<name> or zoo/<file>.json")
    evaluate.add_argument("overrides", nargs="*",
                          help="key=value overrides of the config, e.g. network.plastic=false (the same genome "
                               "without lifetime learning)")
    evaluate.add_argument("--episodes", type=_positive_int, default=5, help="test seeds (tracks) to play (default 5)")
    evaluate.add_argument("--first-seed", type=int, default=TEST_FIRST_SEED,
                          help=f"seeds are consecutive from this one (default {TEST_FIRST_SEED}: the test range, "
                               "never used for training or validation)")
    evaluate.add_argument("--as-trained", action="store_true",
                          help="CarRacing: keep the run's backend, episode length and early termination (default: "
                               "the reference, gymnasium's env, 1000 steps, no early termination)")
    evaluate.add_argument("--baselines", action="store_true",
                          help="also play random actions, full gas and the scripted driver on the same seeds, and "
                               "draw a histogram of the returns")
    evaluate.add_argument("--baselines-from", metavar="REPORT",
                          help="take the baselines from an earlier report played on the same seeds and conditions "
                               "(they do not depend on the genome)")
    evaluate.add_argument("--readout-figure", metavar="PNG",
                          help="draw how the output layer's weights change over the first episode")
    evaluate.add_argument("--gif", help="save the first episode as this GIF (CarRacing; every 2nd frame, 200 px wide)")
    evaluate.add_argument("--genome", choices=("best", "center", "best_validation"), default="best",
                          help="which genome of a run folder (a zoo file holds one)")
    evaluate.add_argument("--max-steps", type=int, help="episode cap (default: the reference's or the run's)")
    evaluate.add_argument("--out", help="where to write the JSON report (default: beside the source)")
    evaluate.add_argument("--workers", type=_positive_int, default=1,
                          help="processes playing the episodes at once, each a contiguous share of the seeds (default "
                               "1; e.g. the machine's cores: 100 CarRacing tracks on 2 take about half the time)")
    evaluate.set_defaults(func=_cmd_evaluate)

    export = sub.add_parser("export", help="write a run's genome and config as a zoo file (zoo/<name>.json)")
    export.add_argument("run_dir")
    export.add_argument("path", help="the zoo file to write, e.g. zoo/carracing_lap.json")
    export.add_argument("--genome", choices=("best", "center", "best_validation"), default="best_validation")
    export.add_argument("--description", default="", help="one line on what the genome is and how it was found")
    export.set_defaults(func=_cmd_export)

    upgrade = sub.add_parser("zoo-upgrade", help="convert zoo files of the first format (no genome layout) in place")
    upgrade.add_argument("paths", nargs="+", metavar="FILE")
    upgrade.set_defaults(func=_cmd_zoo_upgrade)

    softhebb = sub.add_parser("softhebb", help="unsupervised SoftHebb training, then a linear readout")
    _add_run_arguments(softhebb)
    softhebb.set_defaults(func=_cmd_pipeline)

    reward = sub.add_parser("reward", help="hebbianCNN: soft-WTA Hebbian classifier learning from dopamine "
                                           "(rewards, never labels), then its backprop twin")
    _add_run_arguments(reward)
    reward.set_defaults(func=_cmd_pipeline)

    continual = sub.add_parser("continual", help="continual learning on a class-split task stream "
                                                 "(continual.method x continual.heads)")
    _add_run_arguments(continual)
    continual.set_defaults(func=_cmd_pipeline)

    compare = sub.add_parser("continual-compare", help="continual models with the same seeds: table and figure")
    _add_run_arguments(compare)
    compare.add_argument("--models", nargs="+", metavar="NAME",
                         help="thesis names (V, M, KP, KPM) or <method>-<heads> (e.g. kp-single, or a plug-in's "
                              "si-multi); default: V M KP KPM")
    compare.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    compare.set_defaults(func=_cmd_continual_compare)

    plot = sub.add_parser("plot", help="draw figures of finished runs: fields, activations, competition, curves, "
                                       "weights, accuracy, maps, fitness, readout, matrix, comparison")
    plot.add_argument("kind", help="what to draw (an unknown kind lists them; a kind that does not apply to a run "
                                   "lists the kinds that do)")
    plot.add_argument("runs", nargs="+", help="runs/<name> folders (several: curves and competition compare them)")
    plot.add_argument("--out", help="write the PNGs here (default: runs/<name>/figures/)")
    plot.add_argument("--images", nargs="+", type=int, default=[0, 1, 2], help="test images for activations")
    plot.add_argument("--sample", type=int, default=1000, help="test images for competition and top patches")
    plot.add_argument("--metric", help="metrics.jsonl key for curves (default: the pipeline's main curve)")
    plot.set_defaults(func=_cmd_plot)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may also follow an option (``evolve cfg.yaml --name x generations=5``)
    if extra and hasattr(args, "overrides") and not any(a.startswith("-") or "=" not in a for a in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except (ConfigError, RunExistsError, FileNotFoundError, CheckpointError, ZooFileError, NoActorsLeftError) as error:
        log.error("%s", error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
