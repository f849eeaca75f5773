"""Config: YAML + key=value overrides, validated, round-trips; errors name key, value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml

from evohebb.config import (
    ConfigError,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    option,
    parse_overrides,
)


@dataclass
class Inner:
    epochs: int = option(50, low=1, help="readout epochs")
    lr: float = option(1e-3, low=0.0, low_inclusive=False)
    halve_at: list[float] = option([0.5, 0.75], low=0.0, high=1.0)


@dataclass
class Outer:
    name: str = option("run")
    mode: str = option("soft", choices=("soft", "hard", "bcm"))
    sigma: float | None = option(None, low=0.0)
    verbose: bool = option(False)
    inner: Inner = field(default_factory=Inner)


def test_defaults_yaml_and_overrides_combine(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("mode: hard\ninner:\n  epochs: 7\n")
    cfg = load_config(Outer, path, ["inner.lr=0.5", "sigma=0.1", "verbose=true", "inner.halve_at=[0.2, 0.9]"])
    assert cfg.mode == "hard" and cfg.inner.epochs == 7 and cfg.inner.lr == 0.5
    assert cfg.sigma == 0.1 and cfg.verbose is True and cfg.inner.halve_at == [0.2, 0.9]
    assert cfg.name == "run"


def test_round_trip_through_yaml_is_exact(tmp_path):
    cfg = load_config(Outer, None, ["inner.lr=1e-4", "sigma=2"])
    again = config_from_dict(Outer, yaml.safe_load(dump_config(cfg)))
    assert again == cfg
    assert config_to_dict(again) == config_to_dict(cfg)
    assert isinstance(again.sigma, float)


def test_misspelt_key_names_key_and_suggests():
    with pytest.raises(ConfigError) as err:
        load_config(Outer, None, ["inner.epohcs=3"])
    msg = str(err.value)
    assert "inner.epohcs" in msg and "'epochs'" in msg and "Allowed keys" in msg and "inner.lr" in msg


def test_wrong_type_names_key_value_and_type():
    with pytest.raises(ConfigError) as err:
        load_config(Outer, None, ["inner.epochs=many"])
    msg = str(err.value)
    assert "inner.epochs" in msg and "'many'" in msg and "int" in msg


def test_out_of_range_names_key_value_and_range():
    with pytest.raises(ConfigError) as err:
        load_config(Outer, None, ["inner.lr=0"])
    msg = str(err.value)
    assert "inner.lr" in msg and "0" in msg and "allowed: (0.0, inf)" in msg
    with pytest.raises(ConfigError, match=r"inner.halve_at.*1.5.*\[0.0, 1.0\]"):
        load_config(Outer, None, ["inner.halve_at=[0.5, 1.5]"])


def test_bad_choice_lists_allowed_values_and_suggests():
    with pytest.raises(ConfigError) as err:
        load_config(Outer, None, ["mode=hrad"])
    msg = str(err.value)
    assert "mode" in msg and "'hrad'" in msg and "'soft', 'hard', 'bcm'" in msg and "did you mean 'hard'" in msg


def test_bad_override_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["mode"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, tmp_path / "nope.yaml")
