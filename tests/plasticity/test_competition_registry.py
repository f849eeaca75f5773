"""The registered competition variants: each equals its formula, owns its state, and a new one is one class."""

from types import SimpleNamespace

import pytest
import torch

from evohebb.plasticity.bcm import BCMThreshold
from evohebb.plasticity.competition import (
    Competition,
    hard_wta,
    soft_wta,
    threshold_competition,
    top_k_wta,
)
from evohebb.plasticity.competition_registry import COMPETITIONS, make_competition, register_competition

SETTINGS = SimpleNamespace(t_inv=2.0, anti_hebbian=True, top_k=2, competition_k=0.5, bcm_decay=0.5,
                           temporal_window=3)


def test_the_built_in_variants_are_registered_by_their_mode_names():
    assert list(COMPETITIONS) == ["soft", "hard", "topk", "basic", "bcm", "temporal", "threshold"]


@pytest.mark.parametrize(("name", "formula"), [
    ("soft", lambda a: soft_wta(a, 2.0, dim=1, anti_hebbian=True)),
    ("hard", lambda a: hard_wta(a, dim=1)),
    ("topk", lambda a: top_k_wta(a, 2, dim=1)),
    ("basic", lambda a: a),
    ("threshold", lambda a: threshold_competition(a, 0.5, dim=1)),
])
def test_stateless_variants_equal_their_formula_and_hold_no_state(name, formula):
    a = torch.randn(4, 5, 3, 3)
    competition = make_competition(name, SETTINGS, 5)
    assert torch.equal(competition.signal(a, dim=1), formula(a))
    assert competition.state_dict() == {}
    with pytest.raises(ValueError, match="has no state"):
        competition.load_state_dict({"theta": torch.zeros(5)})


def test_bcm_variant_is_soft_wta_modulated_by_its_sliding_threshold():
    torch.manual_seed(0)
    competition, reference = make_competition("bcm", SETTINGS, 5), BCMThreshold(5, 0.5)
    for _ in range(3):
        a = torch.randn(4, 5, 3, 3)
        y = soft_wta(a, 2.0, dim=1, anti_hebbian=False)
        reference.update(y)
        assert torch.equal(competition.signal(a, dim=1), reference.modulate(y))
    assert torch.equal(competition.state_dict()["theta"], reference.theta)


@pytest.mark.parametrize("name", ["bcm", "temporal"])
def test_stateful_variants_resume_from_their_state_dict(name):
    torch.manual_seed(0)
    batches = [torch.randn(4, 5, 3, 3) for _ in range(6)]
    straight, first = make_competition(name, SETTINGS, 5), make_competition(name, SETTINGS, 5)
    for a in batches[:3]:
        straight.signal(a)
        first.signal(a)
    resumed = make_competition(name, SETTINGS, 5)
    resumed.load_state_dict(first.state_dict())
    assert any(not torch.equal(v, torch.zeros_like(v)) for v in resumed.state_dict().values()
               if isinstance(v, torch.Tensor))
    for a in batches[3:]:
        assert torch.equal(resumed.signal(a), straight.signal(a))


def test_a_new_variant_is_one_registered_class_and_an_unknown_name_lists_the_registered_ones():
    class Silent(Competition):
        def signal(self, a, dim=1):
            return torch.zeros_like(a)

    register_competition("silent")(Silent)
    try:
        assert torch.equal(make_competition("silent", SETTINGS, 3)(torch.ones(2, 3)), torch.zeros(2, 3))
        with pytest.raises(ValueError, match="already registered"):
            register_competition("silent")(Silent)
    finally:
        COMPETITIONS.pop("silent")
    with pytest.raises(ValueError, match=r"competition 'silent' is unknown; registered: basic, bcm, hard"):
        make_competition("silent", SETTINGS, 3)
