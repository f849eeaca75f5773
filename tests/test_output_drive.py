"""``python -m runners.output_drive``: how far into tanh's saturation a zoo driver's outputs sit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners.output_drive import TANH_NEAR_BOUND, main, output_drive

ZOO = Path(__file__).resolve().parent.parent / "zoo"


def test_the_conv_readout_steers_bang_bang_and_the_pixel_readout_does_not():
    # docs/results.md: the centred conv readout steers at full lock on 94 % of steps, the pixel driver on 0.1 %
    conv = output_drive(ZOO / "carracing_conv_readout_centred_seed2.json", [], tracks=2, first=50, steps=110)
    pixels = output_drive(ZOO / "carracing_pixels_centred_seed2.json", [], tracks=2, first=50, steps=110)
    assert conv["preactivation"]["steer"]["median"] > 3 * TANH_NEAR_BOUND
    assert pixels["preactivation"]["steer"]["median"] < 0.5
    assert conv["input"]["fan_in"] == 392 and pixels["input"]["fan_in"] == 64
    assert conv["input"]["mean_abs"] > 2 * pixels["input"]["mean_abs"]
    assert conv["steps"] == [50, 110] and len(conv["returns"]) == 2
    for report in (conv, pixels):
        clip = report["weights"]["at_clip"]
        assert set(clip) == {"first", "last"} and all(0 <= f <= 1 for f in clip["last"].values())
        assert 0 < report["weights"]["mean_abs"]["first"] <= 1.0       # weight_clip 1.0


def test_the_cli_prints_the_report_and_refuses_an_empty_window(capsys):
    main([str(ZOO / "carracing_pixels_centred_seed2.json"), "--tracks", "1", "--from", "50", "--steps", "55"])
    report = json.loads(capsys.readouterr().out)
    assert list(report["preactivation"]) == ["steer", "gas", "brake"] and report["seeds"] == [2**30 + 2**29]
    with pytest.raises(SystemExit):
        main([str(ZOO / "carracing_pixels_centred_seed2.json"), "--from", "80", "--steps", "80"])
    assert "--from must be in [0, --steps); got --from 80 with --steps 80" in capsys.readouterr().err
