"""The continual pipeline end to end on small synthetic data sets written in the CIFAR-10 / CIFAR-100 pickle
formats: V / M / KP / KPM, the comparison command, resume, the CLI and config errors."""

import json
import pickle
import shutil
import time

import numpy as np
import pytest
import torch

from evohebb.cli import main
from evohebb.config import ConfigError, load_config
from evohebb.pipelines.continual import run_continual
from evohebb.pipelines.continual_compare import run_comparison
from evohebb.pipelines.continual_config import ContinualConfig
from evohebb.run_io import CheckpointManager


def _images(rng: np.random.Generator, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Class c: a grating at one of 5 orientations and 2 frequencies, in one of n_classes/10 colour pairs."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    out = np.empty((len(labels), 3 * 32 * 32), dtype=np.uint8)
    for i, c in enumerate(labels):
        angle = np.pi * (c % 5) / 5
        freq = 0.6 if (c // 5) % 2 == 0 else 1.3
        wave = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 2 * np.pi))
        colour = np.random.default_rng(c // 10 + 7).uniform(0.2, 1.0, 3)
        img = 0.5 + 0.4 * wave[None] * colour[:, None, None] + 0.05 * rng.standard_normal((3, 32, 32))
        out[i] = np.clip(img * 255, 0, 255).astype(np.uint8).reshape(-1)
    return out


def write_cifar10(root, per_class_train: int = 20, per_class_test: int = 10, seed: int = 0) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    train = np.repeat(np.arange(10), per_class_train)
    rng.shuffle(train)
    parts = np.array_split(train, 5)
    test = np.repeat(np.arange(10), per_class_test)
    rng.shuffle(test)
    for name, labels in [(f"data_batch_{i + 1}", p) for i, p in enumerate(parts)] + [("test_batch", test)]:
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": _images(rng, labels, 10), b"labels": labels.tolist(),
                         b"batch_label": name.encode()}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, fh)


def write_cifar100(root, per_class_train: int = 10, per_class_test: int = 5, seed: int = 0) -> None:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    with open(folder / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
                     b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}, fh)
    for name, per_class in (("train", per_class_train), ("test", per_class_test)):
        fine = np.repeat(np.arange(100), per_class)
        rng.shuffle(fine)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": _images(rng, fine, 100), b"fine_labels": fine.tolist(),
                         b"coarse_labels": (fine // 5).tolist(), b"batch_label": name.encode()}, fh)


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root)
    return root


def run_cut_at(run, dest, step):
    """A copy of a finished run as if it had been killed after ``step``: later checkpoints and the results gone."""
    shutil.copytree(run, dest)
    for path in (dest / "checkpoints").glob("ckpt-*.pt"):
        if int(path.stem.split("-")[1]) > step:
            path.unlink()
    (dest / "results.json").unlink()
    return dest


SMALL = ["model.channels=[8,16,32]", "stream.n_tasks=4", "stream.classes_per_task=2", "readout.epochs=3",
         "readout.batch_size=16", "readout.feature_dtype=float32", "unsupervised.log_every=2",
         "continual.kp.delta_w_interval=2", "checkpoint.every=2", "checkpoint.keep=200", "readout.lr=0.01"]


def _config(root, *extra) -> ContinualConfig:
    return load_config(ContinualConfig, None, ["stream.name=cifar10", f"stream.data_dir={root}", *SMALL, *extra])


def test_kpm_run_writes_matrix_metrics_checkpoints_and_figure(cifar_root, tmp_path):
    results = run_continual(_config(cifar_root, "continual.model=KPM"), tmp_path)
    r = results["accuracy_matrix"]
    assert len(r) == 4 and all(len(row) == 4 for row in r)
    assert all((row[j] is None) == (j > i) for i, row in enumerate(r) for j in range(4))
    assert results["n_train_per_task"] == [40] * 4 and results["n_test_per_task"] == [20] * 4
    assert results["classes"] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert results["learned_accuracy"][0] > 0.7   # two of the synthetic classes, chance 0.5
    expected_bwt = np.mean([r[3][j] - r[j][j] for j in range(3)])
    assert results["backward_transfer"] == pytest.approx(expected_bwt)
    assert 0 <= results["head_selection_accuracy"] <= 1
    own = results["own_head_accuracy_matrix"]   # a task's own head: what R is wherever its head was chosen
    for i, row in enumerate(results["head_selection_matrix"]):
        for j, chosen in enumerate(row):
            assert (chosen is None) == (j > i) and (chosen != 1.0 or own[i][j] == r[i][j])
    assert results["own_head_average_accuracy"] == pytest.approx(np.mean(own[3]))
    assert results["kernel_plasticity"]["tasks_done"] == 4
    assert all(0 < f <= 1 for f in results["kernel_plasticity"]["important_fraction"])
    assert (tmp_path / "figures" / "accuracy_matrix.png").stat().st_size > 1000
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [rec for rec in lines if "eval/average_accuracy" in rec]
    assert [rec["step"] for rec in evals] == results["task_end_steps"]
    assert "eval/backward_transfer" in evals[-1] and "eval/head_selection_accuracy" in evals[-1]
    assert json.loads((tmp_path / "results.json").read_text())["accuracy_matrix"] == r
    # checkpoints: weights-only, inside the unsupervised epoch (4 updates per task, every 2) and after tasks
    ckpt = CheckpointManager(tmp_path / "checkpoints", keep_last=200)
    steps = [int(p.stem.split("-")[1]) for p in ckpt.checkpoint_paths()]
    assert 2 in steps and set(results["task_end_steps"]) <= set(steps)


def test_resume_after_task_2_of_4_gives_the_uninterrupted_matrix(cifar_root, tmp_path):
    cfg = _config(cifar_root, "continual.model=KPM")
    full = run_continual(cfg, tmp_path / "full")
    end_of_task_2 = full["task_end_steps"][1]
    for cut, where in ((end_of_task_2, "after task 2"), (end_of_task_2 + 2, "inside task 3's unsupervised epoch")):
        part = run_cut_at(tmp_path / "full", tmp_path / f"part{cut}", cut)
        saved = CheckpointManager(part / "checkpoints", keep_last=200).load_latest()
        assert saved["step"] == cut and saved["state"]["task"] == 2 and saved["state"]["stage"] == "unsupervised"
        resumed = run_continual(cfg, part, resume=True)
        assert resumed["accuracy_matrix"] == full["accuracy_matrix"], where
        assert resumed["head_selection_matrix"] == full["head_selection_matrix"], where
        steps = [json.loads(line)["step"] for line in (part / "metrics.jsonl").read_text().splitlines()]
        assert steps == sorted(steps), where


def test_four_model_comparison_runs_end_to_end_in_under_a_minute(cifar_root, tmp_path):
    cfg = _config(cifar_root, "checkpoint.every=1000", "checkpoint.keep=1")
    t0 = time.perf_counter()
    comparison = run_comparison(cfg, tmp_path, models=["V", "M", "KP", "KPM"], seeds=[0])
    seconds = time.perf_counter() - t0
    assert seconds < 60, seconds
    assert list(comparison["models"]) == ["V", "M", "KP", "KPM"]
    assert comparison["models"]["V"]["head_selection_accuracy"] is None
    assert comparison["models"]["M"]["head_selection_accuracy"] is not None
    assert comparison["models"]["KP"]["own_head_average_accuracy"] is None
    table = (tmp_path / "comparison.md").read_text()
    assert all(f"| {m} |" in table for m in ("V", "M", "KP", "KPM"))
    assert (tmp_path / "figures" / "comparison.png").stat().st_size > 1000
    for model in ("V", "M", "KP", "KPM"):
        results = json.loads((tmp_path / f"{model}-seed0" / "results.json").read_text())
        assert results["model"] == model and results["tasks_done"] == 4
    # V and M share their Hebbian network (its unsupervised epochs draw no random numbers); KP changes it
    v, m = (CheckpointManager(tmp_path / f"{model}-seed0" / "checkpoints").load_latest()["model"] for model in "VM")
    assert all(torch.equal(v[k], m[k]) for k in v if k.startswith("blocks."))
    kp = CheckpointManager(tmp_path / "KP-seed0" / "checkpoints").load_latest()["model"]
    assert not all(torch.equal(v[k], kp[k]) for k in v if k.endswith("layer.weight"))


def test_class_incremental_on_cifar100_format(tmp_path):
    write_cifar100(tmp_path / "data")
    for model in ("V", "M"):
        cfg = load_config(ContinualConfig, None, [
            "stream.name=cifar100", f"stream.data_dir={tmp_path / 'data'}", *SMALL, "stream.n_tasks=3",
            "stream.scenario=class", "stream.order_seed=5", f"continual.model={model}",
            "continual.head_score=min_entropy", "continual.selection_unit=5"])
        results = run_continual(cfg, tmp_path / model)
        classes = results["classes"]
        assert len(classes) == 3 and len({c for task in classes for c in task}) == 6
        assert classes != [[0, 1], [2, 3], [4, 5]]           # shuffled with order_seed
        assert results["n_test_per_task"] == [10, 10, 10]
        assert all(0 <= a <= 1 for row in results["accuracy_matrix"] for a in row if a is not None)
        assert (results["head_selection_accuracy"] is None) == (model == "V")


def test_cli_runs_and_resumes_a_finished_run(cifar_root, tmp_path):
    args = ["continual", *SMALL, f"stream.data_dir={cifar_root}", "stream.name=cifar10", "stream.n_tasks=2",
            "continual.model=M", "--runs-root", str(tmp_path), "--name", "cli"]
    assert main(args) == 0
    first = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert main(["continual", "--resume", str(tmp_path / "cli")]) == 0   # nothing left to do: same results
    assert json.loads((tmp_path / "cli" / "results.json").read_text())["accuracy_matrix"] == first["accuracy_matrix"]
    assert main(["continual", "stream.n_tasks=11", "--runs-root", str(tmp_path)]) == 2   # a ConfigError


@pytest.mark.parametrize("overrides, field", [
    (["stream.n_tasks=11"], "stream.n_tasks"),
    (["stream.n_tasks=6", "stream.classes_per_task=2"], "stream.classes_per_task"),
    (["continual.model=X"], "continual.model"),
    (["continual.head_score=loss"], "continual.head_score"),
    (["continual.kp.low_lr=2"], "continual.kp.low_lr"),
    (["model.n_layers=2"], "model.n_layers"),
    (["hebbian.alpha=0.5"], "hebbian.alpha"),
    (["stream.class_order=[0,1,1,2]"], "stream.class_order"),
])
def test_config_errors_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(ContinualConfig, None, ["stream.name=mnist", *overrides])


def test_deeper_network_and_thesis_kp_variant(cifar_root, tmp_path):
    """Depth 6 (the thesis's best): KP tracks every Hebbian layer; the thesis's replacing ranking with a lock."""
    cfg = _config(cifar_root, "model.n_layers=6", "model.channels=[8,8,16,16,16,32]", "stream.n_tasks=2",
                  "continual.model=KP", "continual.kp.accumulate=false", "continual.kp.lock=true")
    results = run_continual(cfg, tmp_path)
    fractions = results["kernel_plasticity"]["important_fraction"]
    assert len(fractions) == 6 and all(0 < f <= 0.5 for f in fractions)
    assert results["tasks_done"] == 2 and results["head_selection_accuracy"] is None


@pytest.mark.parametrize("preset", ["continual_split_mnist", "continual_split_fashion_mnist",
                                    "continual_split_cifar10"])
def test_presets_load(preset):
    from pathlib import Path
    cfg = load_config(ContinualConfig, Path(__file__).parents[2] / "configs" / f"{preset}.yaml")
    assert cfg.stream.n_tasks * cfg.stream.classes_per_task <= 10 and cfg.continual.model == "KPM"


# ------------------------------------------------------------------------------------------------ plug-ins
class SynapticImportance:
    """A synaptic-intelligence-like strategy, defined here only: each kernel's importance is its weight path length
    during a task times its share of the task's activity, summed over finished tasks; a kernel's updates are
    scaled by ``1 / (1 + strength · Ω_k / mean Ω)``."""

    def __init__(self, strength: float = 10.0):
        self.strength, self.tasks_done = strength, 0
        self.omega: list[torch.Tensor] = []      # [C] per layer, over finished tasks
        self.path: list[torch.Tensor] = []       # [C] per layer, this task
        self.activity: list[torch.Tensor] = []   # [C] per layer, this task
        self.previous: list[torch.Tensor] = []   # weights after the last update

    def begin_task(self, weights):
        self.path = [torch.zeros(w.shape[0]) for w in weights]
        self.activity = [torch.zeros(w.shape[0]) for w in weights]
        self.previous = [w.detach().clone() for w in weights]

    def observe(self, layer, activation):
        self.activity[layer] += activation.detach().abs().sum((0, 2, 3))

    def on_update(self, done, total, weights):
        for layer, w in enumerate(weights):
            self.path[layer] += (w.detach() - self.previous[layer]).abs().flatten(1).sum(1)
            self.previous[layer] = w.detach().clone()

    def end_task(self):
        task = [p * a / a.sum().clamp_min(1e-30) for p, a in zip(self.path, self.activity)]
        self.omega = task if not self.omega else [o + t for o, t in zip(self.omega, task)]
        self.tasks_done += 1

    def factor(self, layer, delta):
        if not self.omega:
            return None
        omega = self.omega[layer]
        f = 1.0 / (1.0 + self.strength * omega / omega.mean().clamp_min(1e-30))
        return f.to(delta).view(1, -1, *([1] * (delta.dim() - 2)))

    def state_dict(self):
        return {"tasks_done": self.tasks_done, "omega": self.omega, "path": self.path, "activity": self.activity,
                "previous": self.previous}

    def load_state_dict(self, state):
        self.tasks_done, self.omega, self.path = int(state["tasks_done"]), list(state["omega"]), list(state["path"])
        self.activity, self.previous = list(state["activity"]), list(state["previous"])

    def summary(self):
        return {"synaptic_importance": {"tasks_done": self.tasks_done,
                                        "mean_importance": [float(o.mean()) for o in self.omega]}}


@pytest.fixture
def registered():
    """Register test-defined methods; unregister them afterwards."""
    from evohebb.pipelines.continual_strategies import CONTINUAL_METHODS
    names = []

    def register(name, builder):
        CONTINUAL_METHODS.register(name)(builder)
        names.append(name)
    yield register
    for name in names:
        CONTINUAL_METHODS.pop(name)


def test_a_strategy_defined_in_a_test_is_selected_by_name_from_a_config_and_compared(cifar_root, tmp_path,
                                                                                    registered):
    registered("si", lambda settings: SynapticImportance())
    config = tmp_path / "si.yaml"
    config.write_text("continual:\n  method: si\n  heads: multi\n")
    cfg = load_config(ContinualConfig, config, ["stream.name=cifar10", f"stream.data_dir={cifar_root}", *SMALL,
                                                "checkpoint.every=1000", "checkpoint.keep=1"])
    assert (cfg.continual.method_name, cfg.continual.heads_name, cfg.continual.name) == ("si", "multi", "si-multi")
    comparison = run_comparison(cfg, tmp_path / "cmp", models=["M", "si-multi"], seeds=[0])
    assert list(comparison["models"]) == ["M", "si-multi"]
    assert (tmp_path / "cmp" / "figures" / "comparison.png").stat().st_size > 1000
    m, si = (json.loads((tmp_path / "cmp" / f"{name}-seed0" / "results.json").read_text())
             for name in ("M", "si-multi"))
    assert (si["model"], si["method"], si["heads"]) == ("si-multi", "si", "multi")
    assert si["synaptic_importance"]["tasks_done"] == 4
    assert len(si["synaptic_importance"]["mean_importance"]) == 3   # one per Hebbian layer
    assert si["head_selection_accuracy"] is not None                 # multiple heads, chosen without labels
    # the factor is None until the first task ends: task 1 is M's; afterwards the importance slows kernels down
    assert si["accuracy_matrix"][0] == m["accuracy_matrix"][0]
    final = [CheckpointManager(tmp_path / "cmp" / f"{name}-seed0" / "checkpoints").load_latest()["model"]
             for name in ("M", "si-multi")]
    assert not all(torch.equal(final[0][k], final[1][k]) for k in final[0] if k.endswith("layer.weight"))
    logged = [json.loads(line) for line in (tmp_path / "cmp" / "si-multi-seed0" / "metrics.jsonl").read_text()
              .splitlines()]
    assert "si/layer2/mean_importance" in logged[-1]


def test_the_worked_example_of_docs_extending_runs_through_the_pipeline(cifar_root, tmp_path, registered):
    from pathlib import Path

    from evohebb.pipelines.continual_strategies import CONTINUAL_METHODS
    doc = (Path(__file__).parents[2] / "docs" / "extending.md").read_text()
    section = doc.split("## Add a continual method", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/extending.md", "exec"), namespace)
    registered("anneal", CONTINUAL_METHODS.pop("anneal"))   # unregistered again after the test
    cfg = _config(cifar_root, "continual.method=anneal", "continual.heads=single", "stream.n_tasks=2")
    results = run_continual(cfg, tmp_path / "full")
    assert (results["model"], results["method"], results["heads"]) == ("anneal-single", "anneal", "single")
    assert results["task_annealing"] == {"tasks_done": 2, "updates": 8}   # 40 images per task, batch 10
    # its state travels through the checkpoints: resumed inside task 2's unsupervised epoch, the same run
    cut = results["task_end_steps"][0] + 2
    shutil.copytree(tmp_path / "full", tmp_path / "part")
    for path in (tmp_path / "part" / "checkpoints").glob("ckpt-*.pt"):
        if int(path.stem.split("-")[1]) > cut:
            path.unlink()
    resumed = run_continual(cfg, tmp_path / "part", resume=True)
    assert resumed["task_annealing"] == results["task_annealing"]
    assert resumed["accuracy_matrix"] == results["accuracy_matrix"]


@pytest.mark.parametrize("overrides, field", [
    (["continual.method=bogus"], "continual.method"),
    (["continual.heads=two"], "continual.heads"),
])
def test_method_and_heads_errors_name_the_field_and_what_is_allowed(overrides, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.") + ".*allowed:.*"):
        load_config(ContinualConfig, None, ["stream.name=mnist", *overrides])


def test_thesis_names_are_method_and_heads_pairs_and_the_parts_can_be_replaced():
    def pair(*overrides):
        c = load_config(ContinualConfig, None, ["stream.name=mnist", *overrides]).continual
        return c.method_name, c.heads_name, c.name
    assert pair() == ("kp", "multi", "KPM")
    assert pair("continual.model=V") == ("none", "single", "V")
    assert pair("continual.model=M") == ("none", "multi", "M")
    assert pair("continual.model=KP") == ("kp", "single", "KP")
    assert pair("continual.model=V", "continual.method=kp") == ("kp", "single", "KP")
    assert pair("continual.heads=single") == ("kp", "single", "KP")


def test_compare_refuses_an_unknown_model_name_with_exit_status_2(tmp_path):
    assert main(["continual-compare", "stream.name=mnist", "--models", "V", "X-multi", "--runs-root",
                 str(tmp_path), "--name", "cmp"]) == 2
