"""Evaluate a population on Ray actors: one contiguous slice per actor, each slice one batch.

Failure handling (ray.util.ActorPool hands a dead actor back to the pool and does not say which item
failed, so the dispatch is a small ``ray.wait`` loop here):
- an actor that dies mid-generation (its node lost) is replaced, and its slice, split across the actors there,
  is evaluated again; nothing waits on a replacement that cannot be placed: an idle actor takes any queued slice,
  and a replacement not ready within ``placement_timeout_s`` is given up (the pool shrinks, see
  :mod:`evohebb.es.actor_fleet`, which also grows the pool between generations when CPUs are free); with no actor
  left, :class:`NoActorsLeftError`;
- a slice whose evaluation raises is retried once on another actor; if it raises again, its individuals
  are evaluated one by one, and each individual that still raises is reported with its index and error
  (it gets the generation's worst fitness so that the search can go on; ``failed`` counts it).
``num_actors=0`` evaluates in this process (no Ray), which is handy for debugging and small tests;
``num_actors="auto"``: one actor per CPU of the cluster, re-checked every generation.
An individual's fitness does not depend on its slice, so results do not depend on how many actors evaluated them.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from evohebb.es.actor_fleet import AUTO, ActorFleet
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
    actors: int = 0                      # Ray actors that evaluated part of it (0: in this process)
    pool_size: int = 0                   # actors in the pool when it began (ready or being placed)
    saturated: np.ndarray | None = None  # [N, episodes, A] (NaN for failed individuals; None: no action bounds)


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
    def __init__(self, task: EvaluationTask, num_actors: int | str, torch_threads: int = 1,
                 placement_timeout_s: float = 30.0, max_actor_restarts: int | None = None):
        if num_actors != AUTO and (not isinstance(num_actors, int) or num_actors < 0):
            raise ValueError(f"num_actors must be an integer >= 0 or {AUTO!r}, got {num_actors!r}")
        self.task = task
        self.torch_threads = torch_threads
        self.max_actor_restarts = max_actor_restarts
        self.actor_restarts = 0
        self._local = GenomeEvaluator(task, torch_threads=torch_threads) if num_actors == 0 else None
        self.fleet: ActorFleet | None = None
        if num_actors:
            import ray
            remote_cls = ray.remote(num_cpus=1)(_EvaluatorActor)
            self.fleet = ActorFleet(lambda: remote_cls.remote(task, torch_threads), num_actors, placement_timeout_s)

    # ------------------------------------------------------------------------------------------ public
    def evaluate(self, genomes: torch.Tensor | np.ndarray, seeds: list[int]) -> PopulationResult:
        genomes = np.ascontiguousarray(torch.as_tensor(genomes).detach().cpu().float().numpy())
        if self._local is not None:
            result = self._local.evaluate(genomes, seeds, 0)
            return PopulationResult(result.fitness, result.env_steps, returns=result.returns, actors=0,
                                    saturated=result.saturated)
        return self._evaluate_on_actors(genomes, list(seeds))

    def close(self):
        if self._local is not None:
            self._local.close()
        if self.fleet is not None:
            self.fleet.close()

    # ------------------------------------------------------------------------------------------ Ray
    def _evaluate_on_actors(self, genomes: np.ndarray, seeds: list[int]) -> PopulationResult:
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        fleet = self.fleet
        fleet.settle_finished()
        fleet.top_up()
        fleet.expire()
        n = genomes.shape[0]
        # one slice per actor, pending ones included: an idle actor takes the next slice, so a slice meant for
        # an actor that is never placed is evaluated by one that is there
        pool_size = len(fleet)
        queue = deque(_split(0, n, pool_size))
        fitness = np.full(n, np.nan)
        returns = np.full((n, len(seeds)), np.nan)
        saturated = None
        env_steps, failed, restarts, used = 0, [], 0, set()
        restart_limit = 3 * len(fleet) if self.max_actor_restarts is None else self.max_actor_restarts
        idle = list(fleet.ready)
        running: dict = {}   # future -> (job, actor id)

        while queue or running:
            while queue and idle:
                job = queue.popleft()
                pick = next((a for a in idle if a != job.avoid_actor), idle[0])
                idle.remove(pick)
                future = fleet.ready[pick].evaluate.remote(genomes[job.start:job.stop], seeds, job.start)
                running[future] = (job, pick)
            starting = fleet.pending_refs()
            done, _ = ray.wait([*running, *starting], num_returns=1, timeout=fleet.seconds_to_deadline())
            if not done:        # a pending actor's deadline passed
                fleet.expire()
                continue
            if done[0] in starting:
                ready = fleet.settle(done[0])
                if ready is not None:
                    idle.append(ready)
                fleet.expire()
                continue
            job, actor_id = running.pop(done[0])
            try:
                result: SliceResult = ray.get(done[0])
            except RayActorError as err:
                restarts += 1
                self.actor_restarts += 1
                if restarts > restart_limit:
                    raise EvaluationFailedError(f"actors died {restarts} times while evaluating one population "
                                                f"(limit {restart_limit}); last error: {err}") from err
                fleet.replace(actor_id, f"actor {actor_id} died: {type(err).__name__}")
                pieces = _split(job.start, job.stop, len(fleet), job.attempt, avoid_actor=actor_id)
                log.warning("actor %d died while evaluating individuals %d..%d (%s); asked for a replacement, "
                            "evaluating them again in %d slices", actor_id, job.start, job.stop - 1,
                            type(err).__name__, len(pieces))
                queue.extendleft(reversed(pieces))
                fleet.expire()
                continue
            except RayTaskError as err:
                idle.append(actor_id)
                cause = err.as_instanceof_cause() if hasattr(err, "as_instanceof_cause") else err
                message = f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1]}"
                if job.attempt == 0:
                    log.warning("evaluation of individuals %d..%d raised (%s); retrying once on another actor",
                                job.start, job.stop - 1, message)
                    queue.append(_Job(job.start, job.stop, 1, avoid_actor=actor_id))
                elif job.stop - job.start > 1:
                    queue.extend(_Job(i, i + 1, 2, avoid_actor=actor_id) for i in range(job.start, job.stop))
                else:
                    log.error("individual %d failed twice: %s", job.start, message)
                    failed.append((job.start, message))
                continue
            idle.append(actor_id)
            used.add(actor_id)
            fitness[job.start:job.stop] = result.fitness
            returns[job.start:job.stop] = result.returns
            if result.saturated is not None:
                if saturated is None:
                    saturated = np.full((n, *result.saturated.shape[1:]), np.nan)
                saturated[job.start:job.stop] = result.saturated
            env_steps += result.env_steps

        if failed:
            ok = ~np.isnan(fitness)
            if not ok.any():
                raise EvaluationFailedError("every individual failed; first error: individual "
                                            f"{failed[0][0]}: {failed[0][1]}")
            fitness[~ok] = fitness[ok].min()
        return PopulationResult(fitness, env_steps, failed, restarts, returns, actors=len(used), pool_size=pool_size,
                                saturated=saturated)


def _split(start: int, stop: int, parts: int, attempt: int = 0, avoid_actor: int | None = None) -> list[_Job]:
    """``start..stop`` in at most ``parts`` contiguous, non-empty slices of nearly equal size."""
    bounds = np.linspace(start, stop, min(max(parts, 1), stop - start) + 1).round().astype(int)
    return [_Job(int(a), int(b), attempt, avoid_actor) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
