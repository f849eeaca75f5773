"""``python -m runners.start_actions``: the search's initial centre played from its seed, reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evohebb.config import load_config
from evohebb.pipelines.evolve_config import EvolveConfig
from runners.start_actions import main, start_actions

PIXELS = Path(__file__).resolve().parent.parent / "configs" / "evolve_carracing_pixels.yaml"


def test_a_start_is_reproducible_and_differs_between_seeds():
    cfg = load_config(EvolveConfig, PIXELS)
    first = start_actions(cfg, range(2), tracks=2, first=50, steps=60)
    again = start_actions(cfg, range(2), tracks=2, first=50, steps=60)
    assert first == again
    assert [row["seed"] for row in first] == [0, 1]
    assert first[0]["outputs"] == ["steer", "gas", "brake"]
    assert first[0]["mean_action"] != first[1]["mean_action"]       # each seed draws its own centre
    assert all(-1.0 <= a <= 1.0 for row in first for a in row["mean_action"])
    assert all(0.0 <= f <= 1.0 for row in first for f in row["saturated"])


def test_a_start_at_full_lock_is_reported_saturated():
    # the pixel recipe's seed 3 starts at steer -1.00 with the brake down (docs/results.md): both saturated
    row = start_actions(load_config(EvolveConfig, PIXELS), range(3, 4), tracks=2, first=50, steps=60)[0]
    assert row["mean_action"][0] < -0.95 and row["saturated"][0] > 0.9 and row["saturated"][2] > 0.9


def test_the_cli_prints_one_json_line_per_seed_and_refuses_an_empty_window(capsys):
    main([str(PIXELS), "--seeds", "1", "--tracks", "1", "--steps", "55"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["seed"] == 0
    with pytest.raises(SystemExit):
        main([str(PIXELS), "--from", "80", "--steps", "80"])
    assert "--from must be in [0, --steps); got --from 80 with --steps 80" in capsys.readouterr().err
