"""Evaluate a slice of the population in one process, as one batch (the body of each Ray actor)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from evohebb.es.evaluation_task import EvaluationTask
from evohebb.es.rollout import run_episodes
from evohebb.plugins import import_plugins

log = logging.getLogger(__name__)


class GenomeEvaluationError(RuntimeError):
    """An individual could not be evaluated; the message names its index in the population."""


@dataclass
class SliceResult:
    fitness: np.ndarray   # [n] mean return over the episode seeds
    returns: np.ndarray   # [n, episodes] the return of every episode
    env_steps: int
    seconds: float
    saturated: np.ndarray | None = None   # [n, episodes, A] saturated fraction of each episode's steps per action


class GenomeEvaluator:
    """Builds the network and envs once per batch size and evaluates genome slices with them."""

    def __init__(self, task: EvaluationTask, torch_threads: int = 1):
        import_plugins(task.plugins)   # a Ray actor registers the run's plug-ins before building anything
        self.task = task
        torch.set_num_threads(torch_threads)
        self._network = None
        self._envs = None

    def _envs_for(self, num_envs: int):
        if self._envs is None or self._envs.num_envs != num_envs:
            if self._envs is not None:
                self._envs.close()
            self._envs = self.task.build_envs(num_envs)
        return self._envs

    def evaluate(self, genomes: np.ndarray | torch.Tensor, seeds: list[int], first_index: int = 0) -> SliceResult:
        """Mean return of each genome over ``seeds`` (every genome plays every seed; one batch).

        ``first_index`` is the population index of ``genomes[0]``, used to name a failing individual.
        """
        start = time.perf_counter()
        genomes = torch.tensor(np.asarray(genomes), dtype=torch.float32, device=self.task.device)
        bad = (~torch.isfinite(genomes)).any(dim=1).nonzero().flatten().tolist()
        if bad:
            raise GenomeEvaluationError(f"individual {first_index + bad[0]}: genome holds non-finite values")
        n, episodes = genomes.shape[0], len(seeds)
        if self._network is None:
            self._network = self.task.build_network()
        batch = genomes.repeat_interleave(episodes, dim=0)          # individual-major: [i0 s0, i0 s1, ...]
        env_seeds = [int(s) for _ in range(n) for s in seeds]
        result = run_episodes(self._network, self._envs_for(n * episodes), batch, env_seeds,
                              weight_seed=int(seeds[0]), max_steps=self.task.max_steps,
                              to_action=self.task.spec.to_action)
        returns = result.returns.reshape(n, episodes)
        fitness = returns.mean(axis=1)
        if not np.all(np.isfinite(fitness)):
            worst = int(np.flatnonzero(~np.isfinite(fitness))[0])
            raise GenomeEvaluationError(f"individual {first_index + worst}: non-finite return {fitness[worst]}")
        saturated = None if result.saturated is None else result.saturated.reshape(n, episodes, -1)
        return SliceResult(fitness=fitness, returns=returns, env_steps=result.env_steps,
                           seconds=time.perf_counter() - start, saturated=saturated)

    def close(self):
        if self._envs is not None:
            self._envs.close()
            self._envs = None
