"""The run section every pipeline config shares, and the two things it sets up: the device and the seeds.

A pipeline config inherits :class:`RunSettings`, so ``name=``, ``seed=``, ``device=``, ``checkpoint.every=``
and ``checkpoint.keep=`` mean the same in every pipeline; only the unit of ``checkpoint.every`` is the
pipeline's own (it redeclares the field with its default and help: generations for evolve, Hebbian updates
for softhebb).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from evohebb.config import ConfigError, option

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DEVICES = "'auto', 'cpu', 'cuda', 'cuda:<index>'"


@dataclass
class CheckpointSettings:
    every: int = option(1, low=1, help="checkpoint every N steps (the pipeline says which steps), and at the end")
    keep: int = option(3, low=1, help="step checkpoints kept besides the best")


@dataclass
class RunSettings:
    """Base of every pipeline config: the run's name, seed, device, checkpoints and plug-ins."""

    name: str | None = option(None, help="run name (runs/<name>); default: <pipeline>-<timestamp>")
    seed: int = option(0, low=0, high=2**32 - 1, help="seed of python's random, numpy and torch")
    device: str = option("cpu", help=f"torch device: {DEVICES} (auto: cuda if available, else cpu)")
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    plugins: list[str] = option([], help="modules that register rules, environments, continual methods, ... "
                                         "(importable names, e.g. my_lab.rules), imported before the config is "
                                         "checked and in every Ray actor (evohebb.plugins)")

    def validate(self) -> None:
        if not _DEVICE.match(self.device):
            raise ConfigError(f"device: {self.device!r} is not allowed; allowed: {DEVICES}")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available, else cpu; an explicit cuda device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} is not available here (no CUDA); allowed: 'cpu' or 'auto'")
    return device


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def start_run(cfg: RunSettings, run_dir) -> tuple:
    """Every pipeline's first step: the run folder (created), its device (``auto`` resolved), every RNG seeded and
    the resolved config saved as ``config.yaml`` (on resume: with its overrides). Returns ``(run_dir, device)``."""
    from pathlib import Path

    from evohebb.config import save_config
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    save_config(cfg, run_dir / "config.yaml")
    return run_dir, device
