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


# ------------------------------------------------------------------ frozen settings (nn) embedded in a config
def test_settings_are_checked_once_the_same_way_built_directly_or_loaded():
    """A Settings dataclass runs its option checks on construction; the loader reports the same message with
    the section in front, and a loaded one is frozen and round-trips exactly."""
    import dataclasses

    from evohebb.nn.softhebb_settings import MODES, HebbianSettings
    from evohebb.pipelines.softhebb_config import SoftHebbConfig

    with pytest.raises(ConfigError) as direct:
        HebbianSettings(mode="nope")
    with pytest.raises(ConfigError) as loaded:
        load_config(SoftHebbConfig, None, ["hebbian.mode=nope"])
    assert str(loaded.value) == "hebbian." + str(direct.value)
    assert "'nope'" in str(direct.value) and all(repr(m) in str(direct.value) for m in MODES)
    with pytest.raises(ConfigError, match=r"hebbian\.alpha: 1\.5 is out of range; allowed: \[0\.0, 1\.0\]"):
        load_config(SoftHebbConfig, None, ["hebbian.alpha=1.5"])

    cfg = load_config(SoftHebbConfig, None, ["hebbian.mode=bcm", "hebbian.sharing=median"])
    assert isinstance(cfg.hebbian, HebbianSettings) and cfg.hebbian.mode == "bcm"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hebbian.mode = "soft"
    assert config_from_dict(SoftHebbConfig, yaml.safe_load(dump_config(cfg))) == cfg


def test_sharing_aggregations_are_the_weight_sharing_engines():
    from evohebb.config import check_options
    from evohebb.nn.softhebb_settings import HebbianSettings
    from evohebb.plasticity.weight_sharing import AGGREGATIONS

    for aggregation in AGGREGATIONS:
        check_options(HebbianSettings(sharing=aggregation))
    with pytest.raises(ConfigError, match=r"sharing: 'avg' is not allowed; allowed: 'max', 'min', 'median', 'mean'"):
        HebbianSettings(sharing="avg")


# ------------------------------------------------------------------------------ the run section, shared
def _pipeline_configs():
    from evohebb.pipelines.evolve_config import EvolveConfig
    from evohebb.pipelines.softhebb_config import SoftHebbConfig
    return [EvolveConfig, SoftHebbConfig]


@pytest.mark.parametrize("cls", _pipeline_configs(), ids=lambda c: c.__name__)
def test_every_pipeline_reads_the_same_run_section(cls):
    from evohebb.run_io.run_settings import RunSettings

    assert issubclass(cls, RunSettings)
    cfg = load_config(cls, None, ["name=r1", "seed=7", "device=auto", "checkpoint.every=4", "checkpoint.keep=2"])
    assert (cfg.name, cfg.seed, cfg.device, cfg.checkpoint.every, cfg.checkpoint.keep) == ("r1", 7, "auto", 4, 2)
    assert list(config_to_dict(cfg))[:4] == ["name", "seed", "device", "checkpoint"]
    with pytest.raises(ConfigError) as err:
        load_config(cls, None, ["device=gpu"])
    assert str(err.value) == "device: 'gpu' is not allowed; allowed: 'auto', 'cpu', 'cuda', 'cuda:<index>'"
    with pytest.raises(ConfigError, match=r"seed: -1 is out of range"):
        load_config(cls, None, ["seed=-1"])
    with pytest.raises(ConfigError, match=r"checkpoint\.keep_last: unknown key.*checkpoint\.keep"):
        load_config(cls, None, ["checkpoint.keep_last=3"])


def test_checkpoint_interval_keeps_each_pipelines_unit_and_default():
    from evohebb.pipelines.evolve_config import EvolveConfig
    from evohebb.pipelines.softhebb_config import SoftHebbConfig

    evolve, softhebb = EvolveConfig(), SoftHebbConfig()
    assert evolve.checkpoint.every == 5 and softhebb.checkpoint.every == 1000
    assert evolve.checkpoint.keep == softhebb.checkpoint.keep == 3
    with pytest.raises(ConfigError, match=r"unsupervised\.checkpoint_every: unknown key"):
        load_config(SoftHebbConfig, None, ["unsupervised.checkpoint_every=20"])


def test_auto_device_and_seed_everything():
    import random

    import numpy as np
    import torch

    from evohebb.run_io.run_settings import resolve_device, seed_everything

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"device: 'cuda:1' is not available here"):
            resolve_device("cuda:1")

    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(3)
    first = draws()
    seed_everything(3)
    assert draws() == first
    seed_everything(4)
    assert all(a != b for a, b in zip(draws(), first))


# ------------------------------------------------------------------ settings that do not apply are refused
def test_algorithm_setting_of_another_algorithm_is_refused():
    from evohebb.pipelines.evolve_config import EvolveConfig

    with pytest.raises(ConfigError) as err:
        load_config(EvolveConfig, None, ["algorithm.name=pgpe", "algorithm.parenthood_ratio=0.5"])
    msg = str(err.value)
    assert msg.startswith("algorithm.parenthood_ratio: 0.5 does not apply to the search algorithm 'pgpe'")
    assert "allowed: the default 0.25, or an algorithm that reads it: 'cem'" in msg
    with pytest.raises(ConfigError, match=r"algorithm\.lr_decay: 0\.9 does not apply to the search algorithm "
                                          r"'snes' .*'pgpe', 'openai_es'"):
        load_config(EvolveConfig, None, ["algorithm.name=snes", "algorithm.lr_decay=0.9"])
    # a setting the algorithm reads, or one left at its default, is fine
    assert load_config(EvolveConfig, None, ["algorithm.name=cem", "algorithm.parenthood_ratio=0.5"]) \
        .algorithm.parenthood_ratio == 0.5
    assert load_config(EvolveConfig, None, ["algorithm.name=cmaes", "algorithm.parenthood_ratio=0.25"])


def test_each_algorithm_declares_what_it_reads_and_is_built_from_it():
    import torch
    from evotorch import Problem

    from evohebb.es.search_algorithms import ALGORITHMS, make_search_algorithm, settings_of
    from evohebb.pipelines.evolve_config import AlgorithmConfig

    assert settings_of("pgpe") == ("popsize", "stdev_init", "center_lr", "stdev_lr", "lr_decay")
    assert settings_of("cem") == ("popsize", "stdev_init", "parenthood_ratio")
    section = {k: v for k, v in config_to_dict(AlgorithmConfig()).items() if k != "name"}
    assert {s for name in ALGORITHMS for s in settings_of(name)} == set(section)   # every setting is read somewhere
    problem = Problem("max", lambda x: -x.pow(2).sum(), solution_length=3, initial_bounds=(-1, 1))
    for name in ALGORITHMS:
        searcher = make_search_algorithm(name, problem, center_init=torch.zeros(3), **{**section, "popsize": 6})
        searcher.step()
        assert len(searcher.population) == 6
    with pytest.raises(TypeError, match="stdev_lrr"):
        make_search_algorithm("pgpe", problem, **section, stdev_lrr=0.1)


@pytest.mark.parametrize("overrides, message", [
    (["model.architecture=lagani_short", "model.n_layers=4"],
     "model.n_layers: 4 does not apply to the architecture 'lagani_short' (it reads channels, eta0, dropout); "
     "allowed: the default 3"),
    (["model.architecture=lagani_deep", "model.t_inv=[1, 1, 1, 1]"],
     "model.t_inv: [1.0, 1.0, 1.0, 1.0] does not apply to the architecture 'lagani_deep'"),
    (["model.architecture=lagani_short", "model.power=[1, 1, 1]"],
     "model.power: [1.0, 1.0, 1.0] does not apply to the architecture 'lagani_short' (it reads channels, eta0, "
     "dropout); allowed: the default null, or an architecture that reads it: 'backprop', 'softhebb'"),
    (["hebbian.t_inv=2"], "hebbian.t_inv: 2.0 is set by the architecture 'softhebb' itself (set model.t_inv, "
                          "one value per layer); allowed: the default 1.0"),
    (["model.architecture=backprop", "hebbian.alpha=0.5", "unsupervised.bp_lr=0.1"],
     "hebbian.alpha: 0.5 is set by the architecture 'backprop' itself (fixed); allowed: the default 1.0"),
    (["model.channels=[8, 16]"], "model.channels: [8, 16] has 2 values; allowed: one per layer (n_layers=3)"),
])
def test_architecture_settings_that_do_not_apply_are_refused(overrides, message):
    from evohebb.pipelines.softhebb_config import SoftHebbConfig

    with pytest.raises(ConfigError) as err:
        load_config(SoftHebbConfig, None, overrides)
    assert str(err.value).startswith(message)


def test_lagani_reads_its_per_layer_rates_and_the_softhebb_family_its_depth():
    from evohebb.pipelines.softhebb import build_model
    from evohebb.pipelines.softhebb_config import SoftHebbConfig

    cfg = load_config(SoftHebbConfig, None, ["model.architecture=lagani_short", "model.channels=[4, 6, 8]",
                                             "model.eta0=[0.1, 0.2, 0.3]"])
    model = build_model(cfg, (3, 32, 32), 10, "cpu")
    assert [layer.settings.eta0 for layer in model.hebbian_layers()] == [0.1, 0.2, 0.3]
    assert [layer.out_channels for layer in model.hebbian_layers()] == [4, 6, 8]
    cfg = load_config(SoftHebbConfig, None, ["model.n_layers=4", "model.channels=[4, 6, 8, 10]",
                                             "model.t_inv=[1, 2, 3, 4]"])
    model = build_model(cfg, (1, 28, 28), 10, "cpu")
    assert [layer.settings.t_inv for layer in model.hebbian_layers()] == [1, 2, 3, 4]
