"""Common tracks: a generation's K tracks are the same for every individual; validation and test tracks are
disjoint from every training track."""

import numpy as np

from envs.env_settings import CarRacingSettings
from evohebb.es.evaluation_task import EvaluationTask
from evohebb.es.generation_seeds import (
    TEST_FIRST_SEED,
    evaluation_seeds,
    generation_seeds,
    validation_seeds,
)
from evohebb.es.ray_evaluator_pool import RayEvaluatorPool
from evohebb.nn.network_settings import PlasticNetworkSettings


def test_validation_and_test_seeds_are_disjoint_from_every_training_seed():
    training = {s for run_seed in range(3) for g in range(2000) for s in generation_seeds(run_seed, g, 5)}
    assert len(training) > 29000 and max(training) < 2**30
    assert training.isdisjoint(validation_seeds(1000))
    assert training.isdisjoint(evaluation_seeds(1000))
    assert set(validation_seeds(1000)).isdisjoint(evaluation_seeds(1000, TEST_FIRST_SEED))
    assert generation_seeds(0, 3, 4) == generation_seeds(0, 3, 4) != generation_seeds(0, 4, 4)


def test_individuals_of_a_generation_play_the_same_tracks():
    task = EvaluationTask("carracing", 80, PlasticNetworkSettings(parameter_sharing="layer", plastic_layers="output"),
                          CarRacingSettings(backend="envpool", negative_patience=0))
    pool = RayEvaluatorPool(task, num_actors=0)
    genome = task.build_network().genome_init()
    other = genome + 0.5
    seeds = generation_seeds(0, 0, 3)
    result = pool.evaluate(np.stack([genome, other, genome]), seeds)
    # the same genome on the generation's tracks gets the same fitness, wherever it stands in the population
    assert result.fitness[0] == result.fitness[2]
    np.testing.assert_array_equal(result.returns[0], result.returns[2])
    assert result.returns.shape == (3, 3) and len(set(result.returns[0].round(6))) == 3   # 3 different tracks
    pool.close()
