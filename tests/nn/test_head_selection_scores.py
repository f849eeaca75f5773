"""The head scores that use what each task's training left behind (its feature statistics), the energy score, and
selection per single image."""

import math

import pytest
import torch

from evohebb.nn.head_statistics import FeatureStatistics
from evohebb.nn.multi_head import HEAD_SCORES, HeadEvidence, MultiHead, select_heads

N_TASKS, DIM, PER_CLASS = 4, 12, 50
FEATURE_SCORES = ("gaussian", "mahalanobis")


def _task_data(task: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Every task's two classes differ on feature 0 only (±2); the task shows on feature 1 + task (mean 3) and in
    the spread of features 5.. (task t: standard deviation 0.3 · (1 + t))."""
    y = torch.arange(2).repeat_interleave(PER_CLASS)
    x = 0.3 * torch.randn(len(y), DIM, generator=generator)
    x[:, 0] += 4.0 * y - 2.0
    x[:, 1 + task] += 3.0
    x[:, 5:] *= 1 + task
    return x, y


def _heads_blind_to_tasks() -> tuple[MultiHead, list[tuple[torch.Tensor, torch.Tensor]]]:
    """One identical head per task, reading feature 0 only: the logits cannot tell the tasks apart, the
    statistics of each task's training features can."""
    g = torch.Generator().manual_seed(3)
    heads = MultiHead(DIM, dropout=0.0, shrinkage=0.2)
    tests = []
    for task in range(N_TASKS):
        index = heads.add_head(2)
        with torch.no_grad():
            heads.heads[index].weight.zero_()
            heads.heads[index].weight[:, 0] = torch.tensor([-1.0, 1.0])
            heads.heads[index].bias.zero_()
        heads.record_statistics(index, *_task_data(task, g))
        tests.append(_task_data(task, g))
    return heads, tests


@pytest.mark.parametrize("score", FEATURE_SCORES)
def test_feature_statistics_pick_the_right_head_where_the_logits_cannot(score):
    heads, tests = _heads_blind_to_tasks()
    for task, (x, y) in enumerate(tests):
        chosen, predicted = heads.predict(x, score=score)                  # the task's whole test set
        assert (chosen == task).all(), (score, task)
        assert (predicted == y).float().mean() > 0.95
        chosen, _ = heads.predict(x, score=score, unit=1)                  # every image alone
        assert (chosen == task).float().mean() > 0.95, (score, task)


@pytest.mark.parametrize("score", sorted(set(HEAD_SCORES) - set(FEATURE_SCORES)))
def test_logit_scores_fail_on_those_tasks(score):
    heads, tests = _heads_blind_to_tasks()
    right = [(heads.predict(x, score=score)[0] == task).float().mean().item() for task, (x, _) in enumerate(tests)]
    assert sum(right) <= 1.0, (score, right)    # every head scores alike: at most one task gets its own


@pytest.mark.parametrize("score", sorted(HEAD_SCORES))
def test_selection_per_image_equals_selection_of_one_image_groups(score):
    heads, tests = _heads_blind_to_tasks()
    with torch.no_grad():   # heads that differ, so that the logit scores choose too
        for h, head in enumerate(heads.heads):
            head.weight[:, 1 + h] = torch.tensor([0.5, 0.7])
    x = torch.cat([x[::10] for x, _ in tests])
    evidence = heads.evidence(x)
    per_image = select_heads(evidence, score, unit=1)
    alone = torch.cat([select_heads(heads.evidence(x[i:i + 1]), score, unit=0) for i in range(len(x))])
    assert torch.equal(per_image, alone)
    assert len(per_image.unique()) > 1


def test_feature_statistics_are_class_means_and_shrunk_pooled_variances_and_round_trip():
    g = torch.Generator().manual_seed(0)
    x, y = _task_data(2, g)
    stats = FeatureStatistics(shrinkage=0.25, eps=0.0)
    stats.record(0, x, y, 2)
    means = torch.stack([x[y == c].mean(0) for c in range(2)])
    pooled = torch.cat([x[y == c] - means[c] for c in range(2)]).pow(2).sum(0) / (len(x) - 2)
    assert torch.allclose(stats.means[0], means, atol=1e-5)
    assert torch.allclose(stats.variances[0], 0.75 * pooled + 0.25 * pooled.mean(), atol=1e-5)
    again = FeatureStatistics()
    again.load_state_dict(stats.state_dict())
    assert again.shrinkage == 0.25 and torch.equal(again.variances[0], stats.variances[0])
    with pytest.raises(ValueError, match="head 2 recorded before head 1"):
        stats.record(2, x, y, 2)


def test_feature_scores_without_statistics_say_what_is_missing():
    with pytest.raises(ValueError, match="FeatureStatistics.record"):
        select_heads(HeadEvidence(torch.zeros(2, 3, 2)), "mahalanobis")


def test_energy_is_the_log_sum_exp_of_the_logits():
    logits = torch.tensor([[[0.0, 0.0]], [[1.0, -5.0]]])
    expected = torch.tensor([[math.log(2.0)], [math.log(math.e + math.exp(-5.0))]])
    assert torch.allclose(HEAD_SCORES["energy"](HeadEvidence(logits)), expected, atol=1e-6)
