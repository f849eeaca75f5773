"""Benchmark of the evolve service; prints JSON lines {"name", "value", "unit", "baseline", "ratio"}.

1. evaluation_env_steps_per_cpu_s_*: env steps per CPU second of a full evaluation (plastic policy forward +
   Hebbian update + CarRacing) against the same envs stepped with random actions in the same process (target
   ratio >= 0.8 with EnvPool for the default config), for the default config on both backends, the conv-trunk
   readout (configs/evolve_carracing_conv.yaml), the thesis config (every layer plastic, per-neuron ABCD) and the
   evolved static convs with learning linear layers (configs/evolve_carracing_evolved_convs.yaml; the same with
   Najarro & Risi's synapse-centric rule, configs/evolve_carracing_evolved_convs_synapse.yaml) and with only a
   learning readout (configs/evolve_carracing_conv_readout.yaml); the thesis config and the evolved convs also
   without the native kernels (`_eager`: network.compile_copies=false), the same process's baseline for them;
2. generation_s_pop64: wall time of one generation of population 64 on 2 Ray actors (2 cores);
3. actor_speedup: the same generation on 1 actor vs 2 actors.

    python bench/evolve.py [--envs 8] [--steps 150] [--popsize 64] [--gen-steps 100] [--only _evolved_convs ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import evohebb  # noqa: F401  (Ray settings before ray is imported)
from evohebb.config import load_config
from evohebb.es.evaluation_task import EvaluationTask
from evohebb.es.evaluator import GenomeEvaluator
from evohebb.es.ray_cluster import connect_ray
from evohebb.es.ray_evaluator_pool import RayEvaluatorPool
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "evolve_carracing.yaml"
CONV_CONFIG = DEFAULT_CONFIG.with_name("evolve_carracing_conv.yaml")
THESIS_CONFIG = DEFAULT_CONFIG.with_name("evolve_carracing_thesis.yaml")
EVOLVED_CONVS_CONFIG = DEFAULT_CONFIG.with_name("evolve_carracing_evolved_convs.yaml")
CONV_READOUT_CONFIG = DEFAULT_CONFIG.with_name("evolve_carracing_conv_readout.yaml")
SYNAPSE_CONFIG = DEFAULT_CONFIG.with_name("evolve_carracing_evolved_convs_synapse.yaml")
#: (backend, config, name suffix, overrides) of the evaluation-throughput lines
EVALUATIONS = (("envpool", DEFAULT_CONFIG, "", ()), ("gymnasium", DEFAULT_CONFIG, "", ()),
               ("envpool", CONV_CONFIG, "_conv_readout", ()), ("envpool", THESIS_CONFIG, "_thesis_config", ()),
               ("envpool", THESIS_CONFIG, "_thesis_config_eager", ("network.compile_copies=false",)),
               ("envpool", EVOLVED_CONVS_CONFIG, "_evolved_convs", ()),
               ("envpool", EVOLVED_CONVS_CONFIG, "_evolved_convs_eager", ("network.compile_copies=false",)),
               ("envpool", CONV_READOUT_CONFIG, "_evolved_conv_readout", ()),
               ("envpool", SYNAPSE_CONFIG, "_evolved_convs_synapse", ()))


def emit(name, value, unit, baseline=None, ratio=None, **extra):
    print(json.dumps({"name": name, "value": round(value, 4), "unit": unit, "baseline": baseline,
                      "ratio": None if ratio is None else round(ratio, 4), **extra}), flush=True)


def default_config(*overrides: str, path: Path = DEFAULT_CONFIG) -> EvolveConfig:
    return load_config(EvolveConfig, path, list(overrides))


def carracing_task(steps: int, backend: str | None = None, path: Path = DEFAULT_CONFIG,
                   overrides: tuple[str, ...] = ()) -> EvaluationTask:
    """The task of `make run` (configs/evolve_carracing.yaml; or another config), with negative_patience off: every
    episode runs the full `steps`, so both sides step the same envs equally."""
    extra = [] if backend is None else [f"env.backend={backend}"]
    return evaluation_task(default_config(f"evaluation.max_steps={steps}", "env.negative_patience=0", *extra,
                                          *overrides, path=path))


def population(task: EvaluationTask, n: int) -> torch.Tensor:
    centre = task.build_network().genome_init(torch.Generator().manual_seed(0))
    return centre + 0.05 * torch.randn(n, centre.numel(), generator=torch.Generator().manual_seed(1))


def random_steps_per_cpu_s(task: EvaluationTask, n: int, seeds: list[int]) -> float:
    """Env steps per CPU second (this process, every thread: EnvPool's C++ thread included) with random actions."""
    envs = task.build_envs(n)
    envs.reset(seed=seeds)
    envs.action_space.seed(0)
    start = time.process_time()
    for _ in range(task.max_steps):
        envs.step(envs.action_space.sample())
    seconds = time.process_time() - start
    envs.close()
    return n * task.max_steps / seconds


def evaluation_steps_per_cpu_s(evaluator: GenomeEvaluator, genomes: torch.Tensor) -> float:
    start = time.process_time()
    result = evaluator.evaluate(genomes, [0])
    return result.env_steps / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=None,
                        help="envs per actor (default: the default config's slice, popsize / actors x tracks)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--popsize", type=int, default=64)
    parser.add_argument("--gen-steps", type=int, default=100)
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        choices=[n for _, _, n, _ in EVALUATIONS if n] + ["default"],
                        help="only these evaluation lines (e.g. _thesis_config _evolved_convs), no generation lines")
    args = parser.parse_args()
    torch.set_num_threads(1)

    # 1. evaluation (plastic policies + their updates + envs) vs the same envs with random actions, per backend,
    #    one process, one core, as inside one actor of the default config
    cfg = default_config()
    actors = max(cfg.evaluation.num_actors, 1)
    envs = args.envs or cfg.algorithm.popsize // actors * cfg.evaluation.episodes_per_individual
    seeds = list(range(envs))
    # CPU seconds of this process, not wall-clock: other jobs on the machine then change both sides alike; the best
    # of 3 interleaved repeats of each side
    for backend, path, suffix, overrides in EVALUATIONS:
        if args.only and (suffix or "default") not in args.only:
            continue
        task = carracing_task(args.steps, backend, path, overrides)
        evaluator = GenomeEvaluator(task, torch_threads=1)
        genomes = population(task, envs)
        evaluator.evaluate(genomes, [0])        # build the network and warm up (compiled kernels: every shape)
        baseline, full = 0.0, 0.0
        for _ in range(3 if backend == "envpool" else 1):
            baseline = max(baseline, random_steps_per_cpu_s(task, envs, seeds))
            full = max(full, evaluation_steps_per_cpu_s(evaluator, genomes))
        evaluator.close()
        emit(f"evaluation_env_steps_per_cpu_s_{backend}{suffix}", full, "env steps/CPU s", baseline=round(baseline, 2),
             ratio=full / baseline, envs=envs, steps=args.steps, baseline_impl="the same envs, random actions",
             config=path.name, overrides=list(overrides))

    if args.only:
        return
    # 2 and 3. one generation of `popsize` on 2 actors and on 1 actor
    connect_ray(num_cpus=2)
    task = carracing_task(args.gen_steps)
    genomes = population(task, args.popsize)
    times = {}
    for actors in (1, 2):
        pool = RayEvaluatorPool(task, num_actors=actors)
        pool.evaluate(genomes[:actors], [0])                   # actors started and warm
        start = time.perf_counter()
        pool.evaluate(genomes, [0])
        times[actors] = time.perf_counter() - start
        pool.close()
    emit(f"generation_s_pop{args.popsize}", times[2], "s", steps=args.gen_steps, actors=2,
         env_steps_per_s=round(args.popsize * args.gen_steps / times[2], 1))
    emit("actor_speedup_1_to_2", times[1] / times[2], "x", baseline=round(times[1], 3),
         ratio=times[1] / times[2])


if __name__ == "__main__":
    main()
