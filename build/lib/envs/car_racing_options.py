"""CarRacing constants and the argument checks both backends share (one error message per bad value)."""

from __future__ import annotations

from typing import Any

CAR_RACING_FRAME_SIZE = 96
ZOOM_IN_FRAMES = 50  # CarRacing zooms in while t < 1 s at 50 FPS
CAR_RACING_BACKENDS = ("gymnasium", "envpool")  # gymnasium's Python/Box2D env is the reference for reported scores

_POSITIVE = ("num_envs", "size", "frame_skip", "num_threads")
_POSITIVE_OR_NONE = ("negative_patience", "max_steps")
_NON_NEGATIVE = ("grace_steps",)


def check_car_racing_options(**options: Any) -> None:
    """Raise a ValueError naming the first option whose value is not allowed (only the options given are checked)."""
    for name, value in options.items():
        if name in _POSITIVE_OR_NONE and value is None:
            continue
        if name not in _POSITIVE + _POSITIVE_OR_NONE + _NON_NEGATIVE:
            raise ValueError(f"unknown CarRacing option {name!r}")
        low = 0 if name in _NON_NEGATIVE else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            allowed = f"an int >= {low}" + (" or None" if name in _POSITIVE_OR_NONE else "")
            raise ValueError(f"{name} must be {allowed}, got {value!r}")
