"""Progress bars: tqdm on stderr with the project's defaults; ``EVOHEBB_PROGRESS=0`` turns all of them off."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

import tqdm

ENV_VARIABLE = "EVOHEBB_PROGRESS"
_OFF_VALUES = {"0", "false", "no", "off"}


def progress_disabled_by_env() -> bool:
    return os.environ.get(ENV_VARIABLE, "").strip().lower() in _OFF_VALUES


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    initial: int = 0,
    unit: str = "it",
    disable: bool | None = None,
) -> tqdm.tqdm:
    """A tqdm bar on stderr (dynamic width, redrawn at most every 0.5 s).

    ``disable=None`` lets tqdm decide (off when stderr is not a terminal); ``EVOHEBB_PROGRESS=0`` disables the
    bar whatever ``disable`` says. ``initial`` is for resumed loops (the bar starts at the resumed step).
    """
    if progress_disabled_by_env():
        disable = True
    return tqdm.tqdm(
        iterable,
        total=total,
        desc=desc,
        initial=initial,
        unit=unit,
        disable=disable,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
    )
