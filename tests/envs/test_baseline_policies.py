"""The documented baseline policies: the scripted driver follows the road, full gas does not."""

import numpy as np

from envs.baseline_policies import full_gas, road_mask, scripted_driver
from envs.car_racing import make_car_racing_vector
from evohebb.es.rollout import run_policy_episodes


def test_road_mask_tells_road_from_grass():
    frame = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    frame[..., :] = (102, 204, 102)                  # grass
    frame[:, :, 40:50] = (105, 105, 105)             # road on the right
    mask = road_mask(frame)
    assert mask[0, :, 40:50].all() and not mask[0, :, :40].any()
    assert scripted_driver(frame)[0, 0] > 0.5        # road to the right: steer right
    assert scripted_driver(frame[:, :, ::-1].copy())[0, 0] < -0.5


def test_scripted_driver_beats_full_gas_on_real_tracks():
    envs = make_car_racing_vector(4, backend="envpool", negative_patience=None)
    seeds = [11, 12, 13, 14]
    scripted = run_policy_episodes(envs, seeds, 400, scripted_driver).returns
    gas = run_policy_episodes(envs, seeds, 400, full_gas).returns
    envs.close()
    assert scripted.mean() > 150 and scripted.mean() > gas.mean() + 50, (scripted, gas)
