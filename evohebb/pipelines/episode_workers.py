"""One genome's evaluation episodes played by several processes at once (``evohebb evaluate --workers N``).

The seeds are split into ``N`` contiguous shares. This process plays the first (with the progress bar, and the
recording of its first episode where one is asked for); ``N − 1`` spawned processes play the others at the same
time, one torch thread each, and send back their :class:`~evohebb.es.rollout.RolloutResult` (arrays this code
made, not files). Every share starts its networks from the same weight seed, the first seed of the whole list, as
one process playing every seed would; an episode can still differ from that one-process replay where a batched
float operation rounds differently for another batch size (CarRacing amplifies such a difference over an episode:
compare reports made with the same ``--workers``). An environment must be registered by an importable module (a
built-in one or a config's ``plugins``) for the workers to find it.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from evohebb.es.evaluation_task import EvaluationTask
from evohebb.es.rollout import RolloutResult, run_episodes
from evohebb.plugins import import_plugins

__all__ = ["merge_results", "play_episodes", "split_seeds"]


def split_seeds(seeds: Sequence[int], workers: int) -> list[list[int]]:
    """``seeds`` in at most ``workers`` contiguous shares whose sizes differ by at most one."""
    if workers < 1:
        raise ValueError(f"--workers: {workers} is not allowed; allowed: an integer >= 1")
    n = min(workers, len(seeds))
    bounds = [-(-i * len(seeds) // n) for i in range(n + 1)]           # ceil: the first shares take the remainder
    return [list(seeds[a:b]) for a, b in zip(bounds, bounds[1:])]


def merge_results(results: Sequence[RolloutResult]) -> RolloutResult:
    """The shares' results as one, in seed order (shorter reward histories padded with zeros: their episodes had
    all ended)."""
    steps = max(r.rewards.shape[0] for r in results)
    rewards = [np.pad(r.rewards, ((0, steps - r.rewards.shape[0]), (0, 0))) for r in results]
    saturated = None if any(r.saturated is None for r in results) else np.concatenate([r.saturated for r in results])
    return RolloutResult(returns=np.concatenate([r.returns for r in results]),
                         lengths=np.concatenate([r.lengths for r in results]),
                         env_steps=sum(r.env_steps for r in results), rewards=np.concatenate(rewards, axis=1),
                         frames=results[0].frames, saturated=saturated)


def _play(task: EvaluationTask, network, genome: Sequence[float], seeds: list[int], weight_seed: int,
          progress: str | None = None, record: Callable[[], np.ndarray] | None = None) -> RolloutResult:
    genomes = torch.tensor(genome, dtype=torch.float32, device=task.device).expand(len(seeds), -1).contiguous()
    envs = task.build_envs(len(seeds))
    try:
        return run_episodes(network, envs, genomes, seeds, weight_seed=weight_seed, max_steps=task.max_steps,
                            to_action=task.spec.to_action, progress=progress, record=record)
    finally:
        envs.close()


def _play_share(task_fields: dict, genome: list[float], seeds: list[int], weight_seed: int) -> RolloutResult:
    """One worker process's share: a fresh interpreter imports the task's plug-ins and rebuilds the task from its
    fields (its environment entry is looked up by name there), one torch thread."""
    torch.set_num_threads(1)
    import_plugins(task_fields["plugins"])
    task = EvaluationTask(**task_fields)
    return _play(task, task.build_network(), genome, seeds, weight_seed)


def play_episodes(task: EvaluationTask, network, genome: Sequence[float], seeds: list[int], workers: int = 1,
                  record: Callable[[], np.ndarray] | None = None) -> RolloutResult:
    """One episode of ``genome`` on each seed, ``workers`` processes at once (this one included; ``network``, built
    from ``task``, plays this process's share; ``record``: a recorder of its first episode's frames)."""
    shares = split_seeds(seeds, workers)
    label = f"genome ({len(seeds)} episodes" + (f", {len(shares[0])} in this process)" if len(shares) > 1 else ")")
    if len(shares) == 1:
        return _play(task, network, genome, seeds, seeds[0], label, record)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)               # one core per process
    try:
        with ProcessPoolExecutor(len(shares) - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
            fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.init}
            others = [pool.submit(_play_share, fields, list(genome), share, seeds[0]) for share in shares[1:]]
            first = _play(task, network, genome, shares[0], seeds[0], label, record)
            return merge_results([first, *(future.result() for future in others)])
    finally:
        torch.set_num_threads(threads)
