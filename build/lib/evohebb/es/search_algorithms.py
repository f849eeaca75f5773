"""Search algorithms from evotorch, chosen by name (a registry, like torchvision's models).

- ``pgpe`` (default): PGPE with the ClipUp optimiser, following evotorch's neuroevolution recipe
  (centered ranking, symmetric sampling, max_speed = 2 x center_lr, stdev_max_change 0.2).
- ``snes``, ``cem``, ``cmaes`` (separable CMA-ES) as evotorch provides them.
- ``openai_es``: the seeds' rank-based OpenAI-ES (sigma 0.1, lr 0.2, lr decay 0.995) expressed with
  evotorch's PGPE: fixed sigma (stdev_learning_rate 0), centered ranks, symmetric (mirrored) samples and
  plain SGD on the center; the per-generation learning-rate decay is applied by :func:`decay_learning_rate`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evotorch import Problem
from evotorch.algorithms import CEM, CMAES, PGPE, SNES
from evotorch.algorithms.searchalgorithm import SearchAlgorithm

from evohebb.registry import Registry


@dataclass(frozen=True)
class RegisteredAlgorithm:
    """A builder ``build(problem, center_init, *, <settings>)`` and the settings applied every generation."""

    build: Callable[..., SearchAlgorithm]
    per_generation: tuple[str, ...] = ()

    @property
    def build_settings(self) -> tuple[str, ...]:
        """The builder's keyword-only arguments: the settings it reads."""
        params = inspect.signature(self.build).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    @property
    def settings(self) -> tuple[str, ...]:
        """Every setting this algorithm reads (the builder's, then those applied every generation)."""
        return self.build_settings + self.per_generation


ALGORITHMS: Registry[RegisteredAlgorithm] = Registry("search algorithm")


def register_algorithm(name: str, *, per_generation: tuple[str, ...] = ()):
    """Register a builder under ``name``; its keyword-only arguments declare the settings it reads, and
    ``per_generation`` those the caller applies every generation (``lr_decay``: :func:`decay_learning_rate`)."""
    def decorator(builder):
        ALGORITHMS.register(name)(RegisteredAlgorithm(builder, tuple(per_generation)))
        return builder
    return decorator


def settings_of(name: str) -> tuple[str, ...]:
    """The settings the search algorithm ``name`` reads."""
    return _registered(name).settings


@register_algorithm("pgpe", per_generation=("lr_decay",))
def _pgpe(problem: Problem, center_init=None, *, popsize: int, stdev_init: float, center_lr: float,
          stdev_lr: float) -> SearchAlgorithm:
    return PGPE(problem, popsize=popsize, center_learning_rate=center_lr, stdev_learning_rate=stdev_lr,
                stdev_init=stdev_init, center_init=center_init, optimizer="clipup",
                optimizer_config={"max_speed": 2 * center_lr},
                ranking_method="centered", symmetric=True, stdev_max_change=0.2)


@register_algorithm("openai_es", per_generation=("lr_decay",))
def _openai_es(problem: Problem, center_init=None, *, popsize: int, stdev_init: float,
               center_lr: float) -> SearchAlgorithm:
    return PGPE(problem, popsize=popsize, center_learning_rate=center_lr, stdev_learning_rate=0.0,
                stdev_init=stdev_init, center_init=center_init, optimizer="sgd", ranking_method="centered",
                symmetric=True)


@register_algorithm("snes")
def _snes(problem: Problem, center_init=None, *, popsize: int, stdev_init: float) -> SearchAlgorithm:
    return SNES(problem, popsize=popsize, stdev_init=stdev_init, center_init=center_init)


@register_algorithm("cem")
def _cem(problem: Problem, center_init=None, *, popsize: int, stdev_init: float,
         parenthood_ratio: float) -> SearchAlgorithm:
    return CEM(problem, popsize=popsize, stdev_init=stdev_init, parenthood_ratio=parenthood_ratio,
               center_init=center_init)


@register_algorithm("cmaes")
def _cmaes(problem: Problem, center_init=None, *, popsize: int, stdev_init: float) -> SearchAlgorithm:
    return CMAES(problem, popsize=popsize, stdev_init=stdev_init, separable=True, center_init=center_init)


def make_search_algorithm(name: str, problem: Problem, center_init=None, **settings: Any) -> SearchAlgorithm:
    """Build the search algorithm ``name`` from the settings its builder declares.

    ``settings`` may hold the whole algorithm section of a config (every registered algorithm's settings);
    the builder gets its own. Which of them apply is checked where the config is loaded (the evolve config
    rejects a non-default value of a setting the chosen algorithm does not read); a name that no algorithm
    reads is refused here.
    """
    entry = _registered(name)
    known = {s for registered in ALGORITHMS.values() for s in registered.settings}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"unknown search-algorithm setting(s) {unknown}; known: {sorted(known)}")
    missing = [s for s in entry.build_settings if s not in settings]
    if missing:
        raise TypeError(f"search algorithm {name!r} needs the setting(s) {missing}")
    return entry.build(problem, center_init, **{s: settings[s] for s in entry.build_settings})


def _registered(name: str) -> RegisteredAlgorithm:
    return ALGORITHMS.lookup(name)


def decay_learning_rate(searcher: SearchAlgorithm, factor: float) -> None:
    """Multiply the center learning rate (and ClipUp's max speed) by ``factor``; no-op without an optimiser."""
    optimizer = getattr(searcher, "optimizer", None)
    if optimizer is None or factor == 1.0:
        return
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * factor
        if "max_speed" in group:
            group["max_speed"] = group["max_speed"] * factor


def center_of(searcher: SearchAlgorithm):
    """The search distribution's center (the current best estimate), or None if the algorithm has none."""
    status = searcher.status
    for key in ("center", "m"):
        if key in status:
            return status[key]
    return None


def stdev_norm(searcher: SearchAlgorithm) -> float:
    status = searcher.status
    for key in ("stdev", "sigma", "stepsize"):
        if key in status:
            value = status[key]
            return float(value.norm()) if hasattr(value, "norm") else float(value)
    return float("nan")
