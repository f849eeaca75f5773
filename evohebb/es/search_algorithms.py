"""Search algorithms from evotorch, chosen by name (a registry, like torchvision's models).

- ``pgpe`` (default): PGPE with the ClipUp optimiser, following evotorch's neuroevolution recipe
  (centered ranking, symmetric sampling, max_speed = 2 x center_lr, stdev_max_change 0.2).
- ``snes``, ``cem``, ``cmaes`` (separable CMA-ES) as evotorch provides them.
- ``openai_es``: the seeds' rank-based OpenAI-ES (sigma 0.1, lr 0.2, lr decay 0.995) expressed with
  evotorch's PGPE: fixed sigma (stdev_learning_rate 0), centered ranks, symmetric (mirrored) samples and
  plain SGD on the center; the per-generation learning-rate decay is applied by :func:`decay_learning_rate`.
"""

from __future__ import annotations

from collections.abc import Callable

from evotorch import Problem
from evotorch.algorithms import CEM, CMAES, PGPE, SNES
from evotorch.algorithms.searchalgorithm import SearchAlgorithm

ALGORITHMS: dict[str, Callable[..., SearchAlgorithm]] = {}


def register_algorithm(name: str):
    def decorator(builder):
        ALGORITHMS[name] = builder
        return builder
    return decorator


@register_algorithm("pgpe")
def _pgpe(problem: Problem, *, popsize: int, stdev_init: float, center_lr: float, stdev_lr: float,
          center_init=None, **_) -> SearchAlgorithm:
    return PGPE(problem, popsize=popsize, center_learning_rate=center_lr, stdev_learning_rate=stdev_lr,
                stdev_init=stdev_init, center_init=center_init, optimizer="clipup",
                optimizer_config={"max_speed": 2 * center_lr},
                ranking_method="centered", symmetric=True, stdev_max_change=0.2)


@register_algorithm("openai_es")
def _openai_es(problem: Problem, *, popsize: int, stdev_init: float, center_lr: float, center_init=None,
               **_) -> SearchAlgorithm:
    return PGPE(problem, popsize=popsize, center_learning_rate=center_lr, stdev_learning_rate=0.0,
                stdev_init=stdev_init, center_init=center_init, optimizer="sgd", ranking_method="centered",
                symmetric=True)


@register_algorithm("snes")
def _snes(problem: Problem, *, popsize: int, stdev_init: float, center_init=None, **_) -> SearchAlgorithm:
    return SNES(problem, popsize=popsize, stdev_init=stdev_init, center_init=center_init)


@register_algorithm("cem")
def _cem(problem: Problem, *, popsize: int, stdev_init: float, parenthood_ratio: float, center_init=None,
         **_) -> SearchAlgorithm:
    return CEM(problem, popsize=popsize, stdev_init=stdev_init, parenthood_ratio=parenthood_ratio,
               center_init=center_init)


@register_algorithm("cmaes")
def _cmaes(problem: Problem, *, popsize: int, stdev_init: float, center_init=None, **_) -> SearchAlgorithm:
    return CMAES(problem, popsize=popsize, stdev_init=stdev_init, separable=True, center_init=center_init)


def make_search_algorithm(name: str, problem: Problem, **hyperparameters) -> SearchAlgorithm:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown search algorithm {name!r}; allowed: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name](problem, **hyperparameters)


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
