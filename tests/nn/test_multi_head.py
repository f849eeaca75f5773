"""Multi-head readout and unsupervised head selection on synthetic tasks with well-separated classes."""

import pytest
import torch
import torch.nn.functional as F

from evohebb.nn.multi_head import HEAD_SCORES, MultiHead, select_heads

N_TASKS, DIM, PER_CLASS = 4, 16, 60


def _task_data(task: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Task t's two classes live on features 4t and 4t+1 (mean 4, noise 0.3); the other features are noise."""
    x = 0.3 * torch.randn(2 * PER_CLASS, DIM, generator=generator)
    y = torch.arange(2).repeat_interleave(PER_CLASS)
    x[torch.arange(len(y)), 4 * task + y] += 4.0
    return x, y


def _trained_heads() -> tuple[MultiHead, list[tuple[torch.Tensor, torch.Tensor]]]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    heads = MultiHead(DIM, dropout=0.0)
    tests = []
    for task in range(N_TASKS):
        x, y = _task_data(task, g)
        index = heads.add_head(2)
        optimizer = torch.optim.Adam(heads.heads[index].parameters(), lr=0.05)
        readout = heads.readout(index)
        readout.train()
        for _ in range(100):
            optimizer.zero_grad()
            F.cross_entropy(readout(x), y).backward()
            optimizer.step()
        heads.record_statistics(index, x, y)   # the task is over: what it leaves for choosing its head
        tests.append(_task_data(task, g))
    return heads, tests


@pytest.mark.parametrize("score", sorted(HEAD_SCORES))
def test_selection_picks_the_right_head_on_well_separated_tasks(score):
    heads, tests = _trained_heads()
    for task, (x, y) in enumerate(tests):
        chosen, predicted = heads.predict(x, score=score)                  # the whole test set is one unit
        assert (chosen == task).all(), (score, task, chosen.unique())
        assert (predicted == y).float().mean() > 0.95
        chosen, _ = heads.predict(x, score=score, unit=10)                 # 10 images per choice
        assert (chosen == task).float().mean() >= 0.9, (score, task)


def test_selection_is_restricted_to_the_heads_so_far():
    heads, tests = _trained_heads()
    x, _ = tests[3]
    chosen, _ = heads.predict(x, upto=2)
    assert chosen.max() <= 1


def test_select_heads_sums_scores_per_unit():
    # 2 heads, 4 images: head 0 confident on images 0-1, head 1 on 2-3
    logits = torch.zeros(2, 4, 2)
    logits[0, :2, 0] = 5.0
    logits[1, 2:, 1] = 6.0
    assert select_heads(logits, "max_abs_logit", unit=2).tolist() == [0, 0, 1, 1]
    assert select_heads(logits, "max_abs_logit", unit=0).tolist() == [1, 1, 1, 1]   # 12 > 10 over all four
    assert select_heads(logits, "min_entropy", unit=1).tolist() == [0, 0, 1, 1]


def test_all_logits_equal_each_head_in_eval_mode_and_state_round_trips():
    heads, tests = _trained_heads()
    x, _ = tests[0]
    heads.eval()
    stacked = heads.all_logits(x)
    for i in range(N_TASKS):
        assert torch.allclose(stacked[i], heads(x, i), atol=1e-5)
    again = MultiHead(DIM)
    for size in heads.sizes:
        again.add_head(size)
    again.load_state_dict(heads.state_dict())
    assert torch.equal(again.all_logits(x), stacked)


def test_unknown_score_lists_the_registered_ones():
    with pytest.raises(ValueError, match="max_abs_logit"):
        select_heads(torch.zeros(1, 2, 2), "lowest_loss")
