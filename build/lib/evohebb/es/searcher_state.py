"""The state of an evotorch search algorithm as tensors and plain containers, and its restoration.

A checkpoint must load with ``torch.load(weights_only=True)``, so it cannot hold the evotorch object itself.
:func:`searcher_state` takes out everything the next ``step()`` depends on; :func:`restore_searcher_state`
gives it to a searcher rebuilt from the config exactly as a fresh one (same algorithm, settings, problem
and center), after which it continues as the saved one would have: the same populations, the same evals.

What is saved (evotorch 0.6.1; its private attributes, since evotorch has no state-dict API):

- every algorithm: the step count (CMA-ES's evolution-path damping and decomposition schedule read it)
  and the problem's state: its own torch generator (every sample is drawn from it) and the best and worst
  solutions seen so far (``status["best"]``);
- the Gaussian algorithms (``PGPE``, hence ``pgpe`` and ``openai_es``; ``SNES``; ``CEM``): the search
  distribution's parameters (``mu``, ``sigma`` and the constants beside them), the center optimizer's state
  (ClipUp: its velocity and ``lr`` / ``max_speed`` / ``momentum``, which the learning-rate decay changes; a
  torch optimizer such as SGD: its ``state_dict()``), the learning rates, the current population (values
  and evals: the next step's gradient is computed from it), whether the first step is still to come and
  the last mean eval;
- ``CMAES``: the center ``m``, step size ``sigma``, covariance ``C`` and its factor ``A``, the evolution
  paths ``p_sigma`` and ``p_c``, and the current population.

The constants an algorithm derives from its settings (recombination weights, learning-rate schedules,
population size) are not saved: they come from the config, like the rest of the fresh searcher.
"""

from __future__ import annotations

import logging
from typing import Any

import evotorch
import torch
from evotorch import Problem, SolutionBatch
from evotorch.algorithms import CMAES
from evotorch.algorithms.distributed.gaussian import GaussianSearchAlgorithm
from evotorch.algorithms.searchalgorithm import SearchAlgorithm
from evotorch.optimizers import ClipUp, TorchOptimizer

from evohebb.run_io import CheckpointError

log = logging.getLogger(__name__)

FORMAT = 1


class SearcherStateError(CheckpointError):
    """A saved search-algorithm state does not fit the searcher built from this run's config."""


# ---- saving --------------------------------------------------------------------------------------------
def searcher_state(searcher: SearchAlgorithm) -> dict:
    """Everything ``searcher``'s next ``step()`` depends on, as CPU tensors and plain containers."""
    if isinstance(searcher, GaussianSearchAlgorithm):
        algorithm = _gaussian_state(searcher)
    elif isinstance(searcher, CMAES):
        algorithm = _cmaes_state(searcher)
    else:
        raise TypeError(
            f"searcher_state does not know {type(searcher).__name__}; it handles evotorch's PGPE, SNES, CEM "
            f"(Gaussian search algorithms) and CMAES: add the new algorithm's state in {__name__}"
        )
    return {
        "format": FORMAT,
        "algorithm": type(searcher).__name__,
        "evotorch": evotorch.__version__,
        "step_count": int(searcher.step_count),
        "problem": _problem_state(searcher.problem),
        "state": algorithm,
    }


def _gaussian_state(searcher: GaussianSearchAlgorithm) -> dict:
    return {
        "distribution": {key: _plain(value, f"distribution.{key}")
                         for key, value in searcher._distribution.parameters.items()},
        "optimizer": _optimizer_state(searcher._optimizer),
        "center_learning_rate": float(searcher._center_learning_rate),
        "stdev_learning_rate": float(searcher._stdev_learning_rate),
        "population": _batch_state(searcher._population),
        "first_iter": bool(searcher._first_iter),
        "mean_eval": None if searcher._mean_eval is None else float(searcher._mean_eval),
    }


def _cmaes_state(searcher: CMAES) -> dict:
    state = {name: _plain(getattr(searcher, name), name) for name in _CMAES_TENSORS}
    state["population"] = _batch_state(searcher._population)
    return state


_CMAES_TENSORS = ("m", "sigma", "C", "A", "p_sigma", "p_c")  # p_sigma and p_c are 0.0 before the first step


def _optimizer_state(optimizer: Any) -> dict | None:
    if optimizer is None:
        return None
    if isinstance(optimizer, ClipUp):
        return {"kind": "clipup", "velocity": _tensor(optimizer._velocity),
                "param_group": {key: float(value) for key, value in optimizer.param_groups[0].items()}}
    if isinstance(optimizer, TorchOptimizer):
        torch_optimizer = optimizer.contained_optimizer
        return {"kind": type(torch_optimizer).__name__,
                "state_dict": _plain(torch_optimizer.state_dict(), "optimizer.state_dict")}
    raise TypeError(f"searcher_state does not know the optimizer {type(optimizer).__name__}")


def _problem_state(problem: Problem) -> dict:
    def solutions(found):
        if found is None:
            return None
        return [None if s is None else {"values": _tensor(s.values), "evals": _tensor(s.evals)} for s in found]

    return {
        "generator": problem.generator.get_state() if problem.has_own_generator else None,
        "store_solution_stats": problem._store_solution_stats,
        "best_evals": None if problem._best_evals is None else _tensor(problem._best_evals),
        "worst_evals": None if problem._worst_evals is None else _tensor(problem._worst_evals),
        "best": solutions(problem._best),
        "worst": solutions(problem._worst),
    }


def _batch_state(batch: SolutionBatch | None) -> dict | None:
    if batch is None:
        return None
    return {"values": _tensor(batch.values), "evals": _tensor(batch.evals)}


def _tensor(value: torch.Tensor) -> torch.Tensor:
    """A plain CPU copy (evotorch's read-only tensors are a subclass, which weights-only loading refuses)."""
    return value.detach().as_subclass(torch.Tensor).cpu().clone()


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, torch.Tensor):
        return _tensor(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {key: _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item, f"{where}[{i}]") for i, item in enumerate(value))
    raise TypeError(f"searcher_state: {where} is a {type(value).__name__}, not a tensor or plain value")


# ---- restoring -----------------------------------------------------------------------------------------
def restore_searcher_state(searcher: SearchAlgorithm, state: dict) -> None:
    """Give ``searcher`` (built from the config like a fresh one) the state saved by :func:`searcher_state`.

    Raises :class:`SearcherStateError` when the saved state does not fit ``searcher``.
    """
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SearcherStateError(
            f"the checkpoint's search-algorithm state is not of format {FORMAT} "
            f"(got {state.get('format') if isinstance(state, dict) else type(state).__name__!r}); "
            f"it was written by another evohebb version: start a new run"
        )
    name = type(searcher).__name__
    if state["algorithm"] != name:
        raise SearcherStateError(
            f"the checkpoint holds the state of {state['algorithm']}, but this run's config builds {name}: "
            f"resume with the algorithm.* settings the run was started with (its config.yaml)"
        )
    if state.get("evotorch") != evotorch.__version__:
        log.warning("the checkpoint's search state was written with evotorch %s, this is %s",
                    state.get("evotorch"), evotorch.__version__)
    if isinstance(searcher, GaussianSearchAlgorithm):
        _restore_gaussian(searcher, state["state"])
    else:
        _restore_cmaes(searcher, state["state"])
    _restore_problem(searcher.problem, state["problem"])
    searcher._steps_count = int(state["step_count"])


def _restore_gaussian(searcher: GaussianSearchAlgorithm, state: dict) -> None:
    distribution = searcher._distribution
    saved = state["distribution"]
    if set(saved) != set(distribution.parameters):
        raise SearcherStateError(
            f"the checkpoint's search distribution has the parameters {sorted(saved)}, this run's "
            f"{type(distribution).__name__} has {sorted(distribution.parameters)}: resume with the "
            f"algorithm.* settings the run was started with (its config.yaml)"
        )
    for key, value in saved.items():
        current = distribution.parameters[key]
        if isinstance(current, torch.Tensor):
            _check_shape(value, current, f"distribution.{key}")
    searcher._distribution = distribution.modified_copy(**saved)
    _restore_optimizer(searcher._optimizer, state["optimizer"])
    searcher._center_learning_rate = float(state["center_learning_rate"])
    searcher._stdev_learning_rate = float(state["stdev_learning_rate"])
    searcher._population = _restore_batch(searcher.problem, state["population"], searcher._distribution.device)
    searcher._first_iter = bool(state["first_iter"])
    searcher._mean_eval = state["mean_eval"]


def _restore_cmaes(searcher: CMAES, state: dict) -> None:
    for name in _CMAES_TENSORS:
        value, current = state[name], getattr(searcher, name)
        if isinstance(value, torch.Tensor):
            if isinstance(current, torch.Tensor):
                _check_shape(value, current, name)
            value = value.to(device=searcher.problem.device, dtype=searcher.problem.dtype)
        setattr(searcher, name, value)
    searcher._population = _restore_batch(searcher.problem, state["population"], searcher.problem.device)


def _restore_optimizer(optimizer: Any, state: dict | None) -> None:
    kind = None if optimizer is None else ("clipup" if isinstance(optimizer, ClipUp)
                                           else type(optimizer.contained_optimizer).__name__)
    saved_kind = None if state is None else state["kind"]
    if kind != saved_kind:
        raise SearcherStateError(
            f"the checkpoint's center optimizer is {saved_kind}, this run's is {kind}: resume with the "
            f"algorithm.* settings the run was started with (its config.yaml)"
        )
    if state is None:
        return
    if kind == "clipup":
        _check_shape(state["velocity"], optimizer._velocity, "optimizer velocity")
        optimizer._velocity = state["velocity"].to(device=optimizer._velocity.device, dtype=optimizer._velocity.dtype)
        for key, value in state["param_group"].items():
            optimizer.param_groups[0][key] = value
    else:
        optimizer.contained_optimizer.load_state_dict(state["state_dict"])


def _restore_problem(problem: Problem, state: dict) -> None:
    if (state["generator"] is None) != (not problem.has_own_generator):
        raise SearcherStateError(
            "the checkpoint's problem and this run's problem differ in having their own random generator"
        )
    if state["generator"] is not None:
        problem.generator.set_state(state["generator"])

    def solutions(saved):
        if saved is None:
            return None
        return [None if s is None else _restore_batch(problem, {"values": s["values"][None],
                                                                "evals": s["evals"][None]}, problem.device)[0].clone()
                for s in saved]

    problem._store_solution_stats = state["store_solution_stats"]
    device = problem.device
    problem._best_evals = None if state["best_evals"] is None else state["best_evals"].to(device)
    problem._worst_evals = None if state["worst_evals"] is None else state["worst_evals"].to(device)
    problem._best = solutions(state["best"])
    problem._worst = solutions(state["worst"])


def _restore_batch(problem: Problem, state: dict | None, device: Any) -> SolutionBatch | None:
    if state is None:
        return None
    values, evals = state["values"], state["evals"]
    if values.dim() != 2 or values.shape[1] != problem.solution_length:
        raise SearcherStateError(
            f"the checkpoint's population has shape {tuple(values.shape)}, this run's solutions have length "
            f"{problem.solution_length}: the genome layout differs; resume with the run's own config"
        )
    batch = SolutionBatch(problem, popsize=values.shape[0], device=device, empty=True)
    batch.set_values(values.to(device=device, dtype=problem.dtype))
    batch.access_evals()[:] = evals.to(device=device, dtype=batch.access_evals().dtype)
    return batch


def _check_shape(saved: Any, current: torch.Tensor, what: str) -> None:
    if not isinstance(saved, torch.Tensor) or saved.shape != current.shape:
        shape = tuple(saved.shape) if isinstance(saved, torch.Tensor) else type(saved).__name__
        raise SearcherStateError(
            f"the checkpoint's {what} has shape {shape}, this run's has {tuple(current.shape)}: the genome "
            f"layout or population differs; resume with the run's own config"
        )
