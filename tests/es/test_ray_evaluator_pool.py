"""Ray evaluation: slices on actors equal in-process evaluation; a dead actor's individuals are evaluated
again elsewhere; an actor that cannot be placed is never waited on, and given up after placement_timeout_s;
an individual whose evaluation raises is retried once, then reported with its index."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
import torch

from envs.env_settings import ClassificationSettings
from evohebb.es.evaluation_task import EvaluationTask
from evohebb.es.ray_evaluator_pool import RayEvaluatorPool
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.plasticity.rpe import RPESettings


def _task(data_dir, steps: int) -> EvaluationTask:
    network = PlasticNetworkSettings(rpe=RPESettings(enabled=True, prediction="greedy"),
                                     exploration_std=0.5)   # per-individual noise streams: slice-independent
    return EvaluationTask(kind="classification", max_steps=steps, network=network,
                          env=ClassificationSettings(dataset="mnist", data_dir=str(data_dir)))


def _population(task: EvaluationTask, n: int) -> torch.Tensor:
    centre = task.build_network().genome_init(torch.Generator().manual_seed(0))
    return centre + 0.05 * torch.randn(n, centre.numel(), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def reference(mnist_like_dir):
    task = _task(mnist_like_dir, 300)
    genomes = _population(task, 6)
    return task, genomes, RayEvaluatorPool(task, num_actors=0).evaluate(genomes, [11, 12]).fitness


def test_actor_slices_equal_in_process(local_ray, reference):
    task, genomes, expected = reference
    pool = RayEvaluatorPool(task, num_actors=2)
    try:
        result = pool.evaluate(genomes, [11, 12])
    finally:
        pool.close()
    np.testing.assert_allclose(result.fitness, expected, rtol=1e-6)
    assert result.failed == [] and result.actor_restarts == 0
    assert result.env_steps == 6 * 2 * 300


def test_dead_actor_is_replaced_and_its_individuals_reevaluated(local_ray, reference):
    task, genomes, expected = reference
    pool = RayEvaluatorPool(task, num_actors=2)
    try:
        pool.evaluate(genomes[:2], [11, 12])            # actors warm: the kill lands mid-evaluation
        victim = next(iter(pool.fleet.ready.values()))
        # 8x the population: each slice takes seconds, so the kill surely lands mid-evaluation; an individual's
        # fitness does not depend on its slice, so the copies must reproduce the reference
        many = genomes.repeat(8, 1)
        killer = threading.Timer(0.3, lambda: local_ray.kill(victim, no_restart=True))
        killer.start()
        result = pool.evaluate(many, [11, 12])
        killer.join()
    finally:
        pool.close()
    assert result.actor_restarts >= 1
    np.testing.assert_allclose(result.fitness, np.tile(expected, 8), rtol=1e-6)
    assert result.failed == []


def test_failing_individual_is_retried_then_reported_with_its_index(local_ray, reference, caplog):
    task, genomes, expected = reference
    broken = genomes.clone()
    broken[4, 7] = float("nan")
    pool = RayEvaluatorPool(task, num_actors=2)
    try:
        result = pool.evaluate(broken, [11, 12])
    finally:
        pool.close()
    assert [index for index, _ in result.failed] == [4]
    assert "individual 4" in result.failed[0][1] and "non-finite" in result.failed[0][1]
    assert "retrying once" in caplog.text and "individual 4 failed twice" in caplog.text
    ok = [0, 1, 2, 3, 5]
    np.testing.assert_allclose(result.fitness[ok], expected[ok], rtol=1e-6)
    assert result.fitness[4] == result.fitness[ok].min()


def test_unplaceable_actor_is_not_waited_on_then_given_up(local_ray, reference, caplog):
    """3 actors asked for on a 2-CPU instance: the third is never placed. Its slice goes to the two that are
    there (no wait for the placement timeout), and once the timeout passes the pool shrinks to 2, saying so."""
    task, genomes, expected = reference
    caplog.set_level(logging.INFO, logger="evohebb.es")
    pool = RayEvaluatorPool(task, num_actors=3, placement_timeout_s=60.0)
    try:
        began = time.monotonic()
        result = pool.evaluate(genomes, [11, 12])
        assert time.monotonic() - began < 45, "the evaluation waited on the actor that cannot be placed"
        np.testing.assert_allclose(result.fitness, expected, rtol=1e-6)
        assert len(pool.fleet.pending) == 1 and result.actors <= 2
        pool.fleet.placement_timeout_s = 0.5
        for entry in pool.fleet.pending.values():
            entry.deadline = time.monotonic() + 0.5
        time.sleep(1.0)
        result = pool.evaluate(genomes, [11, 12])
        np.testing.assert_allclose(result.fitness, expected, rtol=1e-6)
    finally:
        pool.close()
    assert len(pool.fleet.ready) == 0   # closed
    shrink = [r.getMessage() for r in caplog.records if "the pool shrinks" in r.getMessage()]
    assert len(shrink) == 1 and "shrinks to 2 actor(s), the cluster has 2 CPU(s) now" in shrink[0]
    assert result.actors == 2


def test_auto_takes_every_free_cpu(local_ray, reference):
    task, genomes, expected = reference
    pool = RayEvaluatorPool(task, num_actors="auto")
    try:
        assert len(pool.fleet) == 2   # one per CPU of the local instance
        result = pool.evaluate(genomes, [11, 12])
    finally:
        pool.close()
    np.testing.assert_allclose(result.fitness, expected, rtol=1e-6)
