"""Where data sets live: explicit ``data_dir`` (CLI ``--data-dir``), else ``$EVOHEBB_DATA``, else a cache dir."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV_VAR = "EVOHEBB_DATA"
DEFAULT_DATA_DIR = Path("~/.cache/evohebb/data")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the data root: ``data_dir`` if given, else ``$EVOHEBB_DATA`` if set, else ``~/.cache/evohebb/data``.

    The folder is not created here (the download path creates it); ``~`` is expanded.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    return DEFAULT_DATA_DIR.expanduser()


def data_dir_origin(data_dir: str | os.PathLike | None = None) -> str:
    """Say where :func:`resolve_data_dir` took the folder from (for error messages)."""
    if data_dir is not None and str(data_dir) != "":
        return "the data_dir argument / --data-dir"
    if os.environ.get(DATA_DIR_ENV_VAR, ""):
        return f"${DATA_DIR_ENV_VAR}"
    return f"the default (neither data_dir / --data-dir nor ${DATA_DIR_ENV_VAR} was set)"
