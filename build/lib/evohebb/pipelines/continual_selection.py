"""Head selection measured for every registered score at once, from one run (no re-training).

After every task the continual pipeline tests each task so far with the configured score and selection unit (that
gives ``R``); beside it, :func:`selection_study` chooses the heads again with **every** score of
:data:`~evohebb.nn.multi_head.HEAD_SCORES`, per test group (a task's whole test set at once, the thesis's protocol)
and per single image, from the same logits and features. Each ``<score>/<unit>`` gets the fraction of right head
choices and the accuracy they give; :func:`study_results` summarises the matrices for ``results.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import fmean
from typing import Any

from torch import Tensor

from evohebb.nn.multi_head import HEAD_SCORES, HeadEvidence, chosen_class, select_heads

__all__ = ["UNITS", "selection_study", "study_results"]

#: the selection units studied: a task's whole test set, one image
UNITS = {"group": 0, "sample": 1}


def selection_study(evidence: HeadEvidence, task: int,
                    right: Callable[[Tensor, Tensor], Tensor]) -> dict[str, tuple[float, float]]:
    """``{"<score>/<unit>": (fraction of images whose head is ``task``'s, accuracy)}`` on one task's test images;
    ``right(chosen heads, their classes)`` says which images are classified right."""
    out = {}
    for score in sorted(HEAD_SCORES):
        for unit_name, unit in UNITS.items():
            chosen = select_heads(evidence, score, unit)
            correct = right(chosen, chosen_class(evidence.logits, chosen))
            out[f"{score}/{unit_name}"] = ((chosen == task).float().mean().item(), correct.float().mean().item())
    return out


def study_results(selection: dict[str, list[list[float | None]]],
                  accuracy: dict[str, list[list[float | None]]]) -> dict[str, Any]:
    """Per ``<score>/<unit>``: head-selection accuracy and average accuracy after the last task, and both matrices."""
    out = {}
    for key in selection:
        last_sel, last_acc = selection[key][-1], accuracy[key][-1]
        out[key] = {"head_selection_accuracy": fmean(s for s in last_sel if s is not None),
                    "average_accuracy": fmean(a for a in last_acc if a is not None),
                    "head_selection_matrix": selection[key], "accuracy_matrix": accuracy[key]}
    return out
