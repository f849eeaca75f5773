"""The evolve pipeline: evotorch searches the Hebbian parameters of a plastic network, Ray actors evaluate.

load config -> build (network spec, Ray actors, evotorch problem + algorithm) -> loop over generations
(step, log, checkpoint + results.json) -> results.json and figures. Reads top to bottom like one CleanRL file.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from evohebb.config import config_to_dict
from evohebb.es.actor_fleet import NoActorsLeftError
from evohebb.es.evaluation_task import EvaluationTask
from evohebb.es.generation_seeds import validation_seeds
from evohebb.es.hebbian_problem import HebbianProblem
from evohebb.es.ray_cluster import connect_ray
from evohebb.es.ray_evaluator_pool import RayEvaluatorPool
from evohebb.es.rollout import run_random_episodes, saturation_by_output
from evohebb.es.search_algorithms import center_of, decay_learning_rate, make_search_algorithm, stdev_norm
from evohebb.es.searcher_state import restore_searcher_state, searcher_state
from evohebb.nn.genome_layout import GenomeLayout
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.pipelines.evolve_figures import write_fitness_figure, write_learning_curve
from evohebb.run_io import (
    CheckpointManager,
    MetricsLogger,
    capture_rng_state,
    progress_bar,
    restore_rng_state,
    write_results,
)
from evohebb.run_io.run_settings import resolve_device, start_run

log = logging.getLogger(__name__)


def _saturation_scalars(prefix: str, output_names, fractions) -> dict[str, float]:
    """``<prefix>/saturated/<output>``: the fraction of steps with that action at a nonzero bound (steering at full
    lock, a pedal fully down): near 1 for an output that ignores the frame (see docs/evolve.md)."""
    return {f"{prefix}/saturated/{name}": f for name, f in saturation_by_output(output_names, fractions).items()}


def run_evolve(cfg: EvolveConfig, run_dir: Path, resume: bool = False) -> dict:
    """Run (or continue) an evolution in ``run_dir``; return the results also written to results.json."""
    run_dir, _ = start_run(cfg, run_dir)   # folder, seeds, the resolved config saved (actors resolve the device)

    # ---- build
    task = evaluation_task(cfg)
    network = task.build_network()
    layout = GenomeLayout.from_spec(network.genome_spec())
    log.info("genome: %d parameters in %d slices", layout.size, len(layout.shapes))
    if cfg.evaluation.num_actors:
        connect_ray(cfg.evaluation.ray_address, num_cpus=None)
    baseline_envs = task.build_envs(cfg.evaluation.episodes_per_individual) if cfg.evaluation.random_baseline else None

    def new_pool(task: EvaluationTask) -> RayEvaluatorPool:
        return RayEvaluatorPool(task, cfg.evaluation.num_actors, torch_threads=cfg.evaluation.torch_threads,
                                placement_timeout_s=cfg.evaluation.placement_timeout_s)

    pool = new_pool(task)
    checkpoints = CheckpointManager(run_dir / "checkpoints", keep_last=cfg.checkpoint.keep, best_mode="max")

    state = checkpoints.load_latest() if resume else None
    if resume and state is None:
        log.warning("no checkpoint in %s: starting from generation 0", run_dir)
    a = cfg.algorithm
    problem = HebbianProblem(layout.size, episodes_per_individual=cfg.evaluation.episodes_per_individual,
                             seed=cfg.seed, l2_penalty=cfg.evaluation.l2_penalty)
    center = network.genome_init(torch.Generator().manual_seed(cfg.seed)).cpu()  # the network's own prior
    searcher = make_search_algorithm(a.name, problem, popsize=a.popsize, stdev_init=a.stdev_init,
                                     center_lr=a.center_lr, stdev_lr=a.stdev_lr,
                                     parenthood_ratio=a.parenthood_ratio, center_init=center)
    generation, best = 0, {"fitness": -float("inf"), "generation": -1, "genome": None}
    best_validation = {"mean": -float("inf"), "generation": -1, "genome": None}
    if state is not None:   # the searcher built as a fresh one is given the saved state (tensors, weights-only)
        restore_searcher_state(searcher, state["searcher"])
        restore_rng_state(state["rng"])
        generation, best = state["generation"], state["best"]
        best_validation = state.get("best_validation", best_validation)
        log.info("resumed %s at generation %d", run_dir, generation)
    problem: HebbianProblem = searcher.problem
    problem.attach_pool(pool)
    metrics = MetricsLogger(run_dir, resume_step=generation - 1 if state is not None else None)

    def checkpoint_state(gen_done: int) -> dict:
        return {"searcher": searcher_state(searcher), "generation": gen_done, "best": best,
                "best_validation": best_validation, "rng": capture_rng_state(), "config": config_to_dict(cfg)}

    def results_at(gen_done: int) -> dict:
        center = center_of(searcher)
        return {
            "task": cfg.task, "generations_done": gen_done, "generations": cfg.generations,
            "completed": gen_done >= cfg.generations, "stopped_by": stop.signal_name,
            "best_fitness": best["fitness"], "best_generation": best["generation"],
            "genome_size": layout.size,
            "best_genome_summary": layout.summary(best["genome"]) if best["genome"] is not None else None,
            "best_genome": best["genome"].tolist() if best["genome"] is not None else None,
            "center_genome": center.detach().cpu().tolist() if center is not None else None,
            "best_validation": None if best_validation["genome"] is None else {
                "mean": best_validation["mean"], "generation": best_validation["generation"],
                "seeds": validation_seeds(cfg.evaluation.validation_episodes)},
            "best_validation_genome": None if best_validation["genome"] is None else best_validation["genome"].tolist(),
        }

    def save(gen_done: int, metric: float):
        """A checkpoint, and results.json as of it (so that export and evaluate read a running run's genomes)."""
        checkpoints.save(checkpoint_state(gen_done), step=gen_done, metric=metric)
        write_results(run_dir, results_at(gen_done))

    def validate(gen: int) -> dict[str, float]:
        """The search centre on the fixed validation seeds (the curve that says whether the rule learns)."""
        nonlocal best_validation
        centre = center_of(searcher).detach().cpu()
        try:
            played = pool.evaluate(centre.unsqueeze(0), validation_seeds(cfg.evaluation.validation_episodes))
        except NoActorsLeftError as err:
            raise _stopped_without_actors(err, checkpoints, before, run_dir) from None
        returns = played.returns[0]
        mean = float(returns.mean())
        if mean > best_validation["mean"]:
            best_validation = {"mean": mean, "generation": gen, "genome": centre.clone()}
        return {"validation/mean": mean, "validation/std": float(returns.std()),
                "validation/min": float(returns.min()), "validation/max": float(returns.max()),
                "validation/env_steps": float(played.env_steps),
                "validation/episode_steps_mean": played.env_steps / cfg.evaluation.validation_episodes,
                **_saturation_scalars("validation", task.spec.output_names,
                                      None if played.saturated is None else played.saturated[0].mean(axis=0))}

    # ---- loop
    stop = StopRequest()
    previous_handlers = stop.install()
    bar = progress_bar(total=cfg.generations, initial=generation, desc="evolve", unit="gen")
    try:
        while generation < cfg.generations and stop.signal_name is None:
            start = time.perf_counter()
            if cfg.evaluation.max_steps_at(generation) != task.max_steps:   # the episode-length schedule
                task = replace(task, max_steps=cfg.evaluation.max_steps_at(generation))
                log.info("generation %d: episodes of up to %d steps from now on", generation, task.max_steps)
                pool.close()
                pool = new_pool(task)
                problem.attach_pool(pool)
            problem.generation = generation
            before = checkpoint_state(generation)   # written if the cluster has no actor left mid-generation
            try:
                searcher.step()
            except NoActorsLeftError as err:
                raise _stopped_without_actors(err, checkpoints, before, run_dir) from None
            fitness = searcher.population.evals[:, 0].detach().cpu()
            top = int(fitness.argmax())
            if float(fitness[top]) > best["fitness"]:
                best = {"fitness": float(fitness[top]), "generation": generation,
                        "genome": searcher.population.values[top].detach().cpu().clone()}
            decay_learning_rate(searcher, cfg.algorithm.lr_decay)
            scalars = {"fitness/best": float(fitness.max()), "fitness/mean": float(fitness.mean()),
                       "fitness/median": float(fitness.median()), "fitness/min": float(fitness.min()),
                       "fitness/best_ever": best["fitness"], "search/stdev_norm": stdev_norm(searcher),
                       "time/generation_s": time.perf_counter() - start,
                       "time/env_steps_per_s": problem.last_stats["env_steps_per_s"],
                       "evaluation/env_steps": problem.last_stats["env_steps"],
                       "evaluation/episode_steps_mean": problem.last_stats["episode_steps_mean"],
                       "evaluation/failed": problem.last_stats["failed_evaluations"],
                       "evaluation/actor_restarts": problem.last_stats["actor_restarts"],
                       "evaluation/actors": problem.last_stats["actors"],
                       "evaluation/pool_size": problem.last_stats["pool_size"],
                       **_saturation_scalars("evaluation", task.spec.output_names,
                                             problem.last_stats["saturated"])}
            if baseline_envs is not None:   # random actions on this generation's seeds, for comparison
                seeds = problem.seeds
                randomly = run_random_episodes(baseline_envs, seeds, task.max_steps, action_seed=seeds[0])
                scalars["fitness/random"] = float(randomly.returns.mean())
            every = cfg.evaluation.validation_every
            if every and ((generation + 1) % every == 0 or generation + 1 == cfg.generations):
                scalars.update(validate(generation))
                scalars["time/generation_s"] = time.perf_counter() - start
            metrics.log(generation, scalars)
            generation += 1
            bar.update(1)
            bar.set_postfix(best=f"{scalars['fitness/best']:.1f}", mean=f"{scalars['fitness/mean']:.1f}",
                            steps_per_s=f"{scalars['time/env_steps_per_s']:.0f}",
                            **({"valid": f"{scalars['validation/mean']:.1f}"} if "validation/mean" in scalars else {}))
            if generation % cfg.checkpoint.every == 0 or generation == cfg.generations or stop.signal_name:
                save(generation, scalars["fitness/best"])
    finally:
        bar.close()
        StopRequest.uninstall(previous_handlers)
        metrics.close()
        pool.close()
        if baseline_envs is not None:
            baseline_envs.close()

    results = results_at(generation)
    write_results(run_dir, results)
    write_fitness_figure(run_dir)
    write_learning_curve(run_dir)
    log.info("%s: best fitness %.3f (generation %d) after %d generations", run_dir, best["fitness"],
             best["generation"], generation)
    return results


def _stopped_without_actors(err: NoActorsLeftError, checkpoints: CheckpointManager, state: dict,
                            run_dir: Path) -> NoActorsLeftError:
    """Checkpoint the generations done; the error to raise says how to resume."""
    checkpoints.save(state, step=state["generation"])
    message = (f"{err}; checkpoint written after {state['generation']} generations: once the cluster has CPUs "
               f"again, continue with `evohebb evolve --resume {run_dir}` (on a cluster: `python -m runners.submit "
               f"--address ... -- --resume {run_dir}`)")
    return NoActorsLeftError(message)


def evaluation_task(cfg: EvolveConfig) -> EvaluationTask:
    """The typed description of what each actor builds, taken from the config."""
    return EvaluationTask(kind=cfg.env.name, max_steps=cfg.evaluation.max_steps, network=cfg.network, env=cfg.env,
                          device=str(resolve_device(cfg.device)), plugins=tuple(cfg.plugins))


@dataclass
class StopRequest:
    """Set by SIGINT/SIGTERM: the loop checkpoints after the current generation and stops."""
    signal_name: str | None = None

    def install(self):
        previous = {}

        def handler(signum, _frame):
            if self.signal_name is not None:   # second signal: stop now
                signal.signal(signum, previous[signum])
                raise KeyboardInterrupt
            self.signal_name = signal.Signals(signum).name
            log.warning("%s received: checkpointing after this generation, then stopping "
                        "(send it again to stop at once)", self.signal_name)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous

    @staticmethod
    def uninstall(previous):
        for sig, h in previous.items():
            signal.signal(sig, h)
