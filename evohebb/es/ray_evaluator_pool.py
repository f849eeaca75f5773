"""Evaluate a population on Ray actors: one contiguous slice per actor, each slice one batch.

Failure handling (ray.util.ActorPool hands a dead actor back to the pool and does not say which item
failed, so the dispatch is a small ``ray.wait`` loop here):
- an actor that dies mid-generation is replaced, and its slice is evaluated again on another actor;
- a slice whose evaluation raises is retried once on another actor; if it raises again, its individuals
  are evaluated one by one, and each individual that still raises is reported with its index and error
  (it gets the generation's worst fitness so that the search can go on; ``failed`` counts it).
``num_actors=0`` evaluates in this process (no Ray), which is handy for debugging and small tests.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from evohebb.es.evaluation_task import EvaluationTask
from evohebb.es.evaluator import GenomeEvaluator, SliceResult

log = logging.getLogger(__name__)


class EvaluationFailedError(RuntimeError):
    """Every individual failed, or actors keep dying: the generation cannot be evaluated."""


@dataclass
class PopulationResult:
    fitness: np.ndarray                  # [N]
    env_steps: int
    failed: list[tuple[int, str]] = field(default_factory=list)   # (population index, error)
    actor_restarts: int = 0
    returns: np.ndarray | None = None    # [N, episodes] (NaN rows for failed individuals)


@dataclass
class _Job:
    start: int
    stop: int
    attempt: int = 0                     # 0 first try, 1 retry, 2 individual isolation
    avoid_actor: int | None = None


class _EvaluatorActor:
    """Ray actor body: a GenomeEvaluator kept alive between generations."""

    def __init__(self, task: EvaluationTask, torch_threads: int):
        import evohebb  # noqa: F401  (the torchvision shim and Ray settings in every worker)
        self.evaluator = GenomeEvaluator(task, torch_threads=torch_threads)

    def evaluate(self, genomes: np.ndarray, seeds: list[int], first_index: int) -> SliceResult:
        return self.evaluator.evaluate(genomes, seeds, first_index)

    def pid(self) -> int:
        import os
        return os.getpid()


class RayEvaluatorPool:
    def __init__(self, task: EvaluationTask, num_actors: int, torch_threads: int = 1,
                 max_actor_restarts: int | None = None):
        if num_actors < 0:
            raise ValueError(f"num_actors must be >= 0, got {num_actors}")
        self.task = task
        self.num_actors = num_actors
        self.torch_threads = torch_threads
        self.max_actor_restarts = 3 * max(num_actors, 1) if max_actor_restarts is None else max_actor_restarts
        self.actor_restarts = 0
        self._local = GenomeEvaluator(task, torch_threads=torch_threads) if num_actors == 0 else None
        self.actors: list = []
        if num_actors:
            import ray
            self._remote_cls = ray.remote(num_cpus=1)(_EvaluatorActor)
            self.actors = [self._new_actor() for _ in range(num_actors)]

    def _new_actor(self):
        return self._remote_cls.remote(self.task, self.torch_threads)

    # ------------------------------------------------------------------------------------------ public
    def evaluate(self, genomes: torch.Tensor | np.ndarray, seeds: list[int]) -> PopulationResult:
        genomes = np.ascontiguousarray(torch.as_tensor(genomes).detach().cpu().float().numpy())
        if self._local is not None:
            result = self._local.evaluate(genomes, seeds, 0)
            return PopulationResult(result.fitness, result.env_steps, returns=result.returns)
        return self._evaluate_on_actors(genomes, list(seeds))

    def close(self):
        if self._local is not None:
            self._local.close()
        if self.actors:
            import ray
            for actor in self.actors:
                ray.kill(actor)
            self.actors = []

    # ------------------------------------------------------------------------------------------ Ray
    def _evaluate_on_actors(self, genomes: np.ndarray, seeds: list[int]) -> PopulationResult:
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        n = genomes.shape[0]
        bounds = np.linspace(0, n, min(self.num_actors, n) + 1).round().astype(int)
        queue = deque(_Job(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a)
        fitness = np.full(n, np.nan)
        returns = np.full((n, len(seeds)), np.nan)
        env_steps, failed, restarts = 0, [], 0
        idle = list(range(len(self.actors)))
        running: dict = {}   # future -> (job, actor index)

        while queue or running:
            while queue and idle:
                job = queue.popleft()
                pick = next((a for a in idle if a != job.avoid_actor), idle[0])
                idle.remove(pick)
                future = self.actors[pick].evaluate.remote(genomes[job.start:job.stop], seeds, job.start)
                running[future] = (job, pick)
            [done], _ = ray.wait(list(running), num_returns=1)
            job, actor_index = running.pop(done)
            try:
                result: SliceResult = ray.get(done)
            except RayActorError as err:
                restarts += 1
                self.actor_restarts += 1
                log.warning("actor %d died while evaluating individuals %d..%d (%s); replacing it and "
                            "evaluating them again", actor_index, job.start, job.stop - 1, type(err).__name__)
                if self.actor_restarts > self.max_actor_restarts:
                    raise EvaluationFailedError(f"actors died {self.actor_restarts} times (limit "
                                                f"{self.max_actor_restarts}); last error: {err}") from err
                self.actors[actor_index] = self._new_actor()
                idle.append(actor_index)
                queue.appendleft(_Job(job.start, job.stop, job.attempt, avoid_actor=actor_index))
                continue
            except RayTaskError as err:
                idle.append(actor_index)
                cause = err.as_instanceof_cause() if hasattr(err, "as_instanceof_cause") else err
                message = f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1]}"
                if job.attempt == 0:
                    log.warning("evaluation of individuals %d..%d raised (%s); retrying once on another actor",
                                job.start, job.stop - 1, message)
                    queue.append(_Job(job.start, job.stop, 1, avoid_actor=actor_index))
                elif job.stop - job.start > 1:
                    queue.extend(_Job(i, i + 1, 2, avoid_actor=actor_index) for i in range(job.start, job.stop))
                else:
                    log.error("individual %d failed twice: %s", job.start, message)
                    failed.append((job.start, message))
                continue
            idle.append(actor_index)
            fitness[job.start:job.stop] = result.fitness
            returns[job.start:job.stop] = result.returns
            env_steps += result.env_steps

        if failed:
            ok = ~np.isnan(fitness)
            if not ok.any():
                raise EvaluationFailedError("every individual failed; first error: individual "
                                            f"{failed[0][0]}: {failed[0][1]}")
            fitness[~ok] = fitness[ok].min()
        return PopulationResult(fitness, env_steps, failed, restarts, returns)

