"""A search algorithm saved as tensors and plain containers, loaded weights-only and given to a freshly built
searcher, continues exactly as the uninterrupted one: the same populations and evals, for every algorithm."""

from __future__ import annotations

import pytest
import torch
from evotorch import Problem

from evohebb.es.search_algorithms import ALGORITHMS, decay_learning_rate, make_search_algorithm
from evohebb.es.searcher_state import SearcherStateError, restore_searcher_state, searcher_state
from evohebb.run_io import CheckpointManager

LENGTH = 6


class Sphere(Problem):
    """Maximise -|x - 0.3|^2 (vectorised, in-process, with its own generator like HebbianProblem)."""

    def __init__(self, seed: int = 5):
        super().__init__("max", solution_length=LENGTH, initial_bounds=(-1.0, 1.0), dtype=torch.float32,
                         seed=seed)

    def _evaluate_batch(self, batch):
        batch.set_evals(-(batch.values - 0.3).pow(2).sum(dim=1))


def build(name: str):
    return make_search_algorithm(name, Sphere(), popsize=8, stdev_init=0.4, center_lr=0.1, stdev_lr=0.1,
                                 parenthood_ratio=0.5, center_init=torch.linspace(-1.0, 1.0, LENGTH))


def generation(searcher) -> tuple[torch.Tensor, torch.Tensor]:
    searcher.step()
    decay_learning_rate(searcher, 0.9)   # as the pipeline does: the decayed rates must survive a resume
    return searcher.population.values.clone(), searcher.population.evals.clone()


@pytest.mark.parametrize("done", [0, 1, 3])
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_restored_searcher_continues_exactly(tmp_path, name, done):
    total = done + 3
    straight = build(name)
    expected = [generation(straight) for _ in range(total)]

    interrupted = build(name)
    for _ in range(done):
        generation(interrupted)
    manager = CheckpointManager(tmp_path)
    manager.save({"searcher": searcher_state(interrupted)}, step=done)   # loaded back weights-only below
    del interrupted

    torch.manual_seed(1234)   # the searcher draws from its problem's generator, not from the global one
    resumed = build(name)
    fresh_next = build(name)
    restore_searcher_state(resumed, manager.load_latest()["searcher"])
    assert resumed.step_count == done
    for g in range(done, total):
        values, evals = generation(resumed)
        assert torch.equal(values, expected[g][0]), f"{name}: population of generation {g} differs"
        assert torch.equal(evals, expected[g][1]), f"{name}: evals of generation {g} differ"
    assert resumed.step_count == straight.step_count == total
    for key in ("center", "stdev", "m", "sigma"):
        if key in straight.status:
            assert torch.equal(torch.as_tensor(resumed.status[key]), torch.as_tensor(straight.status[key]))
    assert resumed.status["best_eval"] == straight.status["best_eval"]   # the problem's best so far

    if done:   # the saved state matters: a fresh searcher's next population is another one
        assert not torch.equal(generation(fresh_next)[0], expected[done][0])


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_state_is_tensors_and_plain_containers(tmp_path, name):
    searcher = build(name)
    generation(searcher)
    path = tmp_path / "state.pt"
    torch.save(searcher_state(searcher), path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["algorithm"] == type(searcher).__name__ and loaded["step_count"] == 1


@pytest.mark.parametrize("saved, rebuilt, match", [
    ("pgpe", "snes", "holds the state of PGPE, but this run's config builds SNES"),
    ("pgpe", "openai_es", "center optimizer is clipup, this run's is SGD"),
    ("cem", "pgpe", "holds the state of CEM"),
])
def test_a_state_that_does_not_fit_is_refused(saved, rebuilt, match):
    searcher = build(saved)
    generation(searcher)
    with pytest.raises(SearcherStateError, match=match):
        restore_searcher_state(build(rebuilt), searcher_state(searcher))


def test_a_population_of_another_length_is_refused():
    searcher = build("cmaes")
    generation(searcher)
    state = searcher_state(searcher)
    state["state"]["m"] = torch.zeros(LENGTH + 1)
    with pytest.raises(SearcherStateError, match=r"m has shape \(7,\), this run's has \(6,\)"):
        restore_searcher_state(build("cmaes"), state)
