"""The evotorch Problem: maximise the mean episode return of a plastic network's genome."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from evotorch import Problem, SolutionBatch

from evohebb.es.generation_seeds import generation_seeds

log = logging.getLogger(__name__)


class HebbianProblem(Problem):
    """Fitness = mean return over ``episodes_per_individual`` seeds (tracks) shared by the generation − L2 penalty.

    The evaluator pool (Ray actors or in-process) is attached with :meth:`attach_pool`; checkpoints hold the search
    algorithm's state as tensors (:mod:`evohebb.es.searcher_state`), not this object.
    """

    def __init__(self, genome_size: int, *, episodes_per_individual: int, seed: int, l2_penalty: float = 0.0,
                 initial_bounds: tuple[float, float] = (-0.1, 0.1)):
        # initial_bounds only matter to algorithms started without a center (the pipeline passes one)
        super().__init__("max", solution_length=genome_size, initial_bounds=initial_bounds,
                         dtype=torch.float32, seed=seed)
        self.episodes_per_individual = episodes_per_individual
        self.base_seed = seed
        self.l2_penalty = l2_penalty
        self.generation = 0
        self.last_stats: dict[str, float] = {}
        self.pool = None

    def attach_pool(self, pool) -> None:
        self.pool = pool

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state["pool"] = None
        return state

    @property
    def seeds(self) -> list[int]:
        return generation_seeds(self.base_seed, self.generation, self.episodes_per_individual)

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        if self.pool is None:
            raise RuntimeError("HebbianProblem has no evaluator pool: call attach_pool() first")
        start = time.perf_counter()
        genomes = batch.values
        result = self.pool.evaluate(genomes, self.seeds)
        returns = torch.as_tensor(result.fitness, dtype=torch.float32)
        fitness = returns - self.l2_penalty * genomes.detach().float().pow(2).sum(dim=1).cpu()
        batch.set_evals(fitness.to(batch.values.device))
        seconds = time.perf_counter() - start
        self.last_stats = {
            "return_mean": float(returns.mean()),
            "return_max": float(returns.max()),
            "env_steps": float(result.env_steps),
            "episode_steps_mean": result.env_steps / max(len(genomes) * len(self.seeds), 1),
            "env_steps_per_s": result.env_steps / max(seconds, 1e-9),
            "evaluation_s": seconds,
            "failed_evaluations": float(len(result.failed)),
            "actor_restarts": float(result.actor_restarts),
            "actors": float(result.actors),
            "pool_size": float(result.pool_size),
            "saturated": None if result.saturated is None else np.nanmean(result.saturated, axis=(0, 1)),
        }
