"""Hand-written CarRacing policies that evolved drivers are compared with (observations ``[N, H, W, C]`` uint8, as
the vector envs return them; actions ``[N, 3]`` = steer, gas, brake).

* :func:`full_gas` — steer 0, gas 1, brake 0: drives off and leaves the track at the first bend.
* :func:`scripted_driver` — a two-parameter controller: steer in proportion (``gain``, default 2) to the offset
  of the road pixels' mean column in a band of rows just ahead of the car (rows 50–64 of the 96×96 frame, scaled
  to the observation's size) from the image centre, constant gas (default 0.12), no brake. Road pixels are grey:
  the three channels within 20 levels of each other and darker than 150 (grayscale observations: darker than 130,
  grass being brighter). It is the bar an evolved driver must clear (~500–600 on 1000-step tracks, README).
"""

from __future__ import annotations

import numpy as np

__all__ = ["POLICIES", "full_gas", "scripted_driver"]


def full_gas(obs: np.ndarray) -> np.ndarray:
    actions = np.zeros((obs.shape[0], 3), dtype=np.float32)
    actions[:, 1] = 1.0
    return actions


def road_mask(obs: np.ndarray) -> np.ndarray:
    """``[N, H, W]`` bool: grey road pixels."""
    x = obs.astype(np.int16)
    if x.shape[-1] == 1:
        return x[..., 0] < 130
    spread = x.max(axis=-1) - x.min(axis=-1)
    return (spread < 20) & (x.max(axis=-1) < 150) & (x.min(axis=-1) > 60)


def scripted_driver(obs: np.ndarray, gain: float = 2.0, gas: float = 0.12) -> np.ndarray:
    n, h, w = obs.shape[:3]
    top, bottom = round(50 * h / 96), round(64 * h / 96)
    band = road_mask(obs)[:, top:bottom]
    columns = np.arange(w, dtype=np.float32)
    count = band.sum(axis=(1, 2))
    mean_col = (band * columns).sum(axis=(1, 2)) / np.maximum(count, 1)
    offset = np.where(count > 0, (mean_col - (w - 1) / 2) / (w / 2), 0.0)
    actions = np.zeros((n, 3), dtype=np.float32)
    actions[:, 0] = np.clip(gain * offset, -1.0, 1.0)
    actions[:, 1] = gas
    return actions


POLICIES = {"full_gas": full_gas, "scripted": scripted_driver}
