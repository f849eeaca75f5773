"""The continual pipeline's head selection study and batch-norm modes, end to end on small synthetic data sets
written in the CIFAR-10 pickle format (the real loaders, the real pipeline)."""

import json

import pytest
import torch

from evohebb.config import ConfigError, load_config
from evohebb.nn.batch_norm_tasks import load_batch_norm_statistics
from evohebb.nn.multi_head import HEAD_SCORES, MultiHead
from evohebb.pipelines.continual import build_model, build_stream, run_continual
from evohebb.pipelines.continual_config import ContinualConfig
from evohebb.pipelines.continual_selection import UNITS
from evohebb.pipelines.softhebb import extract_features
from evohebb.run_io import CheckpointManager
from tests.pipelines.test_continual_pipeline import SMALL, run_cut_at, write_cifar10


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root)
    return root


def _config(root, *extra) -> ContinualConfig:
    return load_config(ContinualConfig, None, ["stream.name=cifar10", f"stream.data_dir={root}", *SMALL, *extra])


def _checkpoint(run_dir, step: int) -> dict:
    path = run_dir / "checkpoints" / f"ckpt-{step:08d}.pt"
    return torch.load(path, weights_only=True)


def _bn(model_state: dict) -> dict:
    return {k: v for k, v in model_state.items() if ".bn." in k}


def test_every_score_is_studied_per_group_and_per_image_and_the_configured_one_is_r(cifar_root, tmp_path):
    results = run_continual(_config(cifar_root, "stream.n_tasks=3", "continual.head_score=gaussian"), tmp_path)
    study = results["head_selection_study"]
    assert set(study) == {f"{s}/{u}" for s in HEAD_SCORES for u in UNITS}
    chosen = study["gaussian/group"]                   # the configured score and unit (0: the whole test set)
    assert chosen["accuracy_matrix"] == results["accuracy_matrix"]
    assert chosen["head_selection_matrix"] == results["head_selection_matrix"]
    for entry in study.values():
        final = [a for a in entry["head_selection_matrix"][-1] if a is not None]
        assert entry["head_selection_accuracy"] == pytest.approx(sum(final) / 3)
        assert all(0 <= a <= 1 for row in entry["accuracy_matrix"] for a in row if a is not None)
    # per group every image of a task gets one head: the fraction is 0 or 1
    assert all(a in (0.0, 1.0) for row in study["energy/group"]["head_selection_matrix"] for a in row if a is not None)


@pytest.mark.parametrize("mode", ["shared", "frozen", "per_task"])
def test_each_batch_norm_mode_keeps_the_statistics_it_promises_after_a_second_task(cifar_root, tmp_path, mode):
    cfg = _config(cifar_root, "stream.n_tasks=2", f"continual.bn={mode}")
    results = run_continual(cfg, tmp_path)
    first, second = (_checkpoint(tmp_path, step) for step in results["task_end_steps"])
    after_1, after_2 = _bn(first["model"]), _bn(second["model"])
    assert len(after_1) == 9   # running mean, variance, batches seen of 3 blocks
    kept = second["batch_norm"]["kept"]
    if mode == "shared":     # the statistics follow the second task
        assert kept == [] and not torch.equal(after_1["blocks.0.bn.running_mean"], after_2["blocks.0.bn.running_mean"])
        assert after_2["blocks.0.bn.num_batches_tracked"] == 2 * after_1["blocks.0.bn.num_batches_tracked"]
    if mode == "frozen":     # the first task's, tensor by tensor
        assert len(kept) == 1 and all(torch.equal(after_1[k], after_2[k]) and torch.equal(kept[0][k], after_1[k])
                                      for k in after_1)
    if mode == "per_task":   # each task's own, and the model holds the latest
        assert len(kept) == 2
        assert all(torch.equal(kept[0][k], after_1[k]) and torch.equal(kept[1][k], after_2[k]) for k in after_1)
        assert not torch.equal(kept[0]["blocks.1.bn.running_var"], kept[1]["blocks.1.bn.running_var"])
        # the first task's head saw the first task's statistics: its own-head accuracy after task 2, re-computed
        tasks = build_stream(cfg)
        model = build_model(cfg, tasks[0].train.image_shape, 2, "cpu")
        model.load_state_dict(second["model"])
        heads = MultiHead(model.feature_dim, cfg.model.dropout)
        for size in second["head_sizes"]:
            heads.add_head(size)
        heads.load_state_dict(second["heads"])
        accuracies = []
        for statistics in kept:
            load_batch_norm_statistics(model, statistics)
            x = extract_features(model, tasks[0].test, cfg, "cpu", "test")
            right = heads.all_logits(x)[0].argmax(-1) == tasks[0].local(tasks[0].test.labels)
            accuracies.append(right.float().mean().item())
        assert results["own_head_accuracy_matrix"][1][0] == accuracies[0]


def test_batch_norm_modes_leave_the_first_task_alone_and_shared_is_the_default(cifar_root, tmp_path):
    rows = {mode: run_continual(_config(cifar_root, "stream.n_tasks=2", f"continual.bn={mode}"), tmp_path / mode)
            for mode in ("shared", "frozen")}
    assert rows["shared"]["accuracy_matrix"][0] == rows["frozen"]["accuracy_matrix"][0]
    assert _config(cifar_root).continual.bn == "shared"


def test_resume_inside_task_3_with_per_task_statistics_and_a_feature_score(cifar_root, tmp_path):
    cfg = _config(cifar_root, "continual.bn=per_task", "continual.head_score=mahalanobis", "continual.selection_unit=1")
    full = run_continual(cfg, tmp_path / "full")
    end_of_task_2 = full["task_end_steps"][1]
    for cut, where in ((end_of_task_2 + 2, "inside task 3's unsupervised epoch"),
                       (end_of_task_2 + 4 + 1, "after task 3's first readout epoch")):
        part = run_cut_at(tmp_path / "full", tmp_path / f"part{cut}", cut)
        saved = CheckpointManager(part / "checkpoints", keep_last=200).load_latest()
        assert saved["step"] == cut and saved["state"]["task"] == 2, where
        assert len(saved["batch_norm"]["kept"]) == (2 if cut == end_of_task_2 + 2 else 3), where
        assert len(saved["head_statistics"]["means"]) == 2, where
        resumed = run_continual(cfg, part, resume=True)
        for key in ("accuracy_matrix", "head_selection_matrix", "own_head_accuracy_matrix", "head_selection_study"):
            assert resumed[key] == full[key], (key, where)


@pytest.mark.parametrize("overrides, message", [
    (["continual.bn=running"], r"continual\.bn.*allowed:.*'frozen'"),
    (["continual.bn=per_task", "continual.model=KP"], r"continual\.bn.*'per_task'.*multi"),
    (["continual.feature_shrinkage=1.5"], r"continual\.feature_shrinkage"),
])
def test_batch_norm_and_shrinkage_errors_name_the_field_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ContinualConfig, None, ["stream.name=mnist", *overrides])


def test_comparison_tables_every_score_for_the_models_with_multiple_heads(cifar_root, tmp_path):
    from evohebb.pipelines.continual_compare import run_comparison
    cfg = _config(cifar_root, "stream.n_tasks=2", "checkpoint.every=1000", "checkpoint.keep=1")
    comparison = run_comparison(cfg, tmp_path, models=["V", "M"], seeds=[0, 1])
    assert "selection_study" not in comparison["models"]["V"]
    study = comparison["models"]["M"]["selection_study"]
    assert set(study) == {f"{s}/{u}" for s in HEAD_SCORES for u in UNITS}
    runs = [json.loads((tmp_path / f"M-seed{seed}" / "results.json").read_text()) for seed in (0, 1)]
    assert study["gaussian/sample"]["average_accuracy"]["values"] == [
        100 * r["head_selection_study"]["gaussian/sample"]["average_accuracy"] for r in runs]
    table = (tmp_path / "comparison.md").read_text()
    assert all(f"| M | {score} |" in table for score in HEAD_SCORES) and "| V | energy |" not in table
    # the choices each model ran with are named (V has no head score: only its batch-norm mode)
    assert "M: head score gaussian, selection unit 0 (a task's whole test set), bn shared, feature shrinkage 0.5" \
        in table and "V: bn shared;" in table
    # the figure gains the head-score panel: wider than the two-panel one of the same models without M
    import matplotlib.image

    from evohebb.pipelines.continual_figures import write_bar_figure
    write_bar_figure({**comparison, "models": {"V": comparison["models"]["V"]}}, tmp_path / "v_only.png")
    three, two = (matplotlib.image.imread(tmp_path / name) for name in ("figures/comparison.png", "v_only.png"))
    assert three.shape[1] > 1.5 * two.shape[1]


def test_with_one_test_image_per_task_selection_per_image_is_selection_per_group(cifar_root, tmp_path):
    results = run_continual(_config(cifar_root, "stream.n_tasks=3", "stream.test_per_task=1"), tmp_path)
    study = results["head_selection_study"]
    assert results["n_test_per_task"] == [1, 1, 1]
    for score in HEAD_SCORES:
        assert study[f"{score}/sample"]["head_selection_matrix"] == study[f"{score}/group"]["head_selection_matrix"]
        assert study[f"{score}/sample"]["accuracy_matrix"] == study[f"{score}/group"]["accuracy_matrix"]
