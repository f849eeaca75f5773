"""Run directories: ``<root>/<name>/`` with ``checkpoints/`` and ``figures/``; refuses to reuse a run silently."""

from __future__ import annotations

import logging
import os
import pathlib
import shutil
import time

logger = logging.getLogger(__name__)

SUBFOLDERS = ("checkpoints", "figures")


class RunExistsError(FileExistsError):
    """The run directory already exists and neither resume nor overwrite was asked for."""


def _validate_name(name: str) -> None:
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(
            f"run name {name!r} is not allowed: use a non-empty name without path separators, "
            f"e.g. 'cifar10-softhebb' (the run goes to <root>/<name>/)"
        )


def create_run_dir(
    root: str | os.PathLike, name: str, *, resume: bool = False, overwrite: bool = False
) -> pathlib.Path:
    """Create (or reopen, with ``resume``) the run directory ``root/name`` and its subfolders; return its path.

    - new name: created with ``checkpoints/`` and ``figures/``;
    - existing and neither flag: ``RunExistsError`` (telling the user about --resume / --overwrite);
    - ``overwrite``: the existing directory is deleted and recreated empty;
    - ``resume``: the directory must exist (``FileNotFoundError`` otherwise); missing subfolders are added.
    """
    _validate_name(name)
    if resume and overwrite:
        raise ValueError(
            "resume and overwrite exclude each other: pass either --resume or --overwrite, not both"
        )
    path = pathlib.Path(root) / name
    if path.exists() and not path.is_dir():
        raise RunExistsError(f"{path} exists and is not a directory; remove it or choose another run name")
    if resume:
        if not path.is_dir():
            raise FileNotFoundError(
                f"cannot resume run {path}: the directory does not exist. "
                f"Check the path given to --resume, or start a new run without --resume"
            )
        logger.info("resuming run in %s", path)
    elif path.exists():
        if not overwrite:
            raise RunExistsError(
                f"run directory {path} already exists. Pass --resume {path} to continue it, "
                f"--overwrite to delete it and start over, or choose another name"
            )
        logger.warning("overwriting run directory %s (deleting its contents)", path)
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    for sub in SUBFOLDERS:
        (path / sub).mkdir(exist_ok=True)
    return path


def default_run_name(prefix: str) -> str:
    """``<prefix>-YYYYmmdd-HHMMSS`` in local time, e.g. ``evolve-20261124-081530``."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
