"""``evohebb plot``: every kind rendered from tiny real runs of each pipeline (a few updates on synthetic digits
written in MNIST's idx format and read by the real loader); each PNG exists, has a plausible size and is not
blank; clear errors for runs a kind cannot draw."""

import json
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

from evohebb.cli import main
from evohebb.pipelines.plot import KINDS, PlotError, plot
from evohebb.run_io import CheckpointError


def _idx(array: np.ndarray) -> bytes:
    return (struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
            + array.astype(np.uint8).tobytes())


def write_digits(root, n_train: int = 300, n_test: int = 100, seed: int = 0) -> None:
    """Ten classes of 28x28 images: a bar at one of ten orientations through a jittered centre, plus noise."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.empty((n, 28, 28), np.float32)
        for i, c in enumerate(labels):
            angle = np.pi * c / 10
            cy, cx = 14 + rng.integers(-3, 4, 2)
            distance = np.abs(np.cos(angle) * (yy - cy) - np.sin(angle) * (xx - cx))
            images[i] = np.clip((distance < 1.5) * rng.uniform(0.7, 1.0) + rng.uniform(0, 0.15, (28, 28)), 0, 1)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx((images * 255).astype(np.uint8)))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(labels))


def assert_png(path, min_size=(150, 100), max_size=(4000, 4000)):
    """The file is a PNG of a plausible size whose pixels are not all alike (not a blank canvas)."""
    assert path.is_file(), path
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert min_size[0] <= width <= max_size[0] and min_size[1] <= height <= max_size[1], (path, image.size)
    assert pixels.var() > 100, (path, pixels.var())   # a white canvas with a frame stays far below
    return width, height


def _tags(run_dir, kind: str) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in run_dir.glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"images": 0, "histograms": 0})
        acc.Reload()
        tags |= set(acc.Tags()[kind])
    return tags


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_digits(root)
    return root


TINY = ["data.name=mnist", "model.channels=[8,16,32]", "data.train_subset=100", "data.test_subset=60",
        "readout.epochs=2", "readout.feature_dtype=float32", "unsupervised.log_every=5", "checkpoint.every=4",
        "logging.figures_every=5", "receptive_fields=false"]


@pytest.fixture(scope="module")
def softhebb_runs(digits, tmp_path_factory):
    """Two seeds of one config and a BCM run: 10 Hebbian updates and 2 readout epochs each."""
    root = tmp_path_factory.mktemp("runs")
    for name, extra in (("soft-s0", ["seed=0"]), ("soft-s1", ["seed=1"]), ("bcm-s0", ["hebbian.mode=bcm"])):
        assert main(["softhebb", *TINY, f"data.data_dir={digits}", *extra, "--runs-root", str(root),
                     "--name", name]) == 0
    return root


def test_training_logs_fields_norms_and_win_frequencies_to_tensorboard(softhebb_runs):
    run = softhebb_runs / "soft-s0"
    assert "train/receptive_fields/layer1" in _tags(run, "images")
    histograms = _tags(run, "histograms")
    for layer in ("blocks.0.layer", "blocks.1.layer", "blocks.2.layer"):
        assert {f"train/weight_norms/{layer}", f"train/win_frequency/{layer}"} <= histograms


@pytest.mark.parametrize("kind, files", [
    ("fields", ["receptive_fields_layer1", "receptive_fields_layer2", "receptive_fields_layer3",
                "top_patches_layer1", "top_patches_layer2", "top_patches_layer3"]),
    ("activations", ["activations"]),
    ("competition", ["competition"]),
    ("weights", ["weight_norms"]),
    ("accuracy", ["test_accuracy"]),
    ("curves", ["curves"]),
])
def test_network_kinds_render_into_the_run_and_its_events(softhebb_runs, tmp_path, kind, files):
    run = tmp_path / "run"
    shutil.copytree(softhebb_runs / "soft-s0", run)
    for png in (run / "figures").glob("*.png"):
        png.unlink()
    written = plot(kind, [run], images=[0, 3], sample=50)
    for name in files:
        assert_png(run / "figures" / f"{name}.png")
    assert {p.name for p in written} >= {f"{name}.png" for name in files}
    assert any(tag.startswith(("plot/", "receptive_fields/", "readout/")) for tag in _tags(run, "images"))


def test_competition_of_several_runs_writes_table_and_comparison(softhebb_runs, tmp_path):
    runs = [softhebb_runs / name for name in ("soft-s0", "bcm-s0")]
    assert main(["plot", "competition", *map(str, runs), "--out", str(tmp_path), "--sample", "40"]) == 0
    for name in ("soft-s0_competition", "bcm-s0_competition", "competition_comparison"):
        assert_png(tmp_path / f"{name}.png")
    bcm = json.loads((tmp_path / "bcm-s0_competition.json").read_text())
    assert bcm["sample"] == 40 and set(bcm["layers"]) == {"blocks.0.layer", "blocks.1.layer", "blocks.2.layer"}
    for layer in bcm["layers"].values():
        assert 0 <= layer["win_entropy_normalised"] <= 1 and 0 <= layer["dead_fraction"] <= 1
    table = (tmp_path / "competition.md").read_text().splitlines()
    assert len(table) == 2 + 2 * 3 and table[2].startswith("| soft-s0 | 1 (blocks.0.layer) | 8 |")
    # the BCM run's figure has a third column (its thresholds): wider than the soft run's
    assert assert_png(tmp_path / "bcm-s0_competition.png")[0] > assert_png(tmp_path / "soft-s0_competition.png")[0]


def test_curves_band_seeds_of_one_config(softhebb_runs, tmp_path):
    runs = [softhebb_runs / name for name in ("soft-s0", "soft-s1", "bcm-s0")]
    plot("curves", runs, out=tmp_path / "a")
    plot("curves", runs[:1] + runs[2:], out=tmp_path / "b")
    banded, plain = (np.asarray(Image.open(tmp_path / d / "curves.png").convert("L")) for d in ("a", "b"))
    assert_png(tmp_path / "a" / "curves.png")
    assert (banded < 250).sum() > (plain < 250).sum()   # the shaded band covers more of the canvas


def test_curves_table_lists_every_seed_last_and_highest(softhebb_runs, tmp_path):
    runs = [softhebb_runs / name for name in ("soft-s0", "soft-s1", "bcm-s0")]
    written = plot("curves", runs, out=tmp_path)
    assert tmp_path / "curves.md" in written
    rows = (tmp_path / "curves.md").read_text().splitlines()
    assert rows[0] == "| run | seed | last readout/test_accuracy (at) | highest (at) |" and len(rows) == 2 + 3
    for row, run in zip(rows[2:], runs):
        accuracy = [r["readout/test_accuracy"] for r in map(json.loads, (run / "metrics.jsonl").open())
                    if "readout/test_accuracy" in r]
        best = max(range(len(accuracy)), key=lambda i: (accuracy[i], -i))
        seed = 1 if run.name == "soft-s1" else 0
        assert row == (f"| {run.name} | {seed} | {accuracy[-1]:.5g} ({len(accuracy)}) | "
                       f"{accuracy[best]:.5g} ({best + 1}) |")


def test_errors_say_what_applies(softhebb_runs, tmp_path):
    run = softhebb_runs / "soft-s0"
    with pytest.raises(PlotError, match="fitness.*does not apply.*kinds for a softhebb run: accuracy, "
                                        "activations, competition, curves, fields, weights"):
        plot("fitness", [run])
    with pytest.raises(PlotError, match="unknown; allowed: accuracy, activations"):
        plot("receptive", [run])
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        plot("fields", [tmp_path])
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run / "config.yaml", bare / "config.yaml")
    with pytest.raises(CheckpointError, match="holds no checkpoints"):
        plot("competition", [bare])
    with pytest.raises(PlotError, match="--images \\[500\\]: soft-s0 has test images 0..59"):
        plot("activations", [run], images=[500], out=tmp_path)
    assert main(["plot", "fitness", str(run)]) == 2


def test_reward_kinds(digits, tmp_path):
    assert main(["reward", f"data.data_dir={digits}", "data.classes=[0,1,2]", "data.train_subset=60",
                 "data.test_subset=30", "network.variant=conv", "network.conv_maps=4", "network.feedf_neurons=6",
                 "training.n_epi_crit=1", "training.n_epi_dopa=1", "baseline.epochs=0", "figures=false",
                 "--runs-root", str(tmp_path), "--name", "r"]) == 0
    run = tmp_path / "r"
    plot("maps", [run])
    plot("accuracy", [run])
    plot("curves", [run])
    for name in ("conv_maps", "feedf_projective_fields", "test_accuracy", "curves"):
        assert_png(run / "figures" / f"{name}.png", min_size=(100, 60))


def test_continual_kinds(digits, tmp_path):
    small = ["stream.name=mnist", f"stream.data_dir={digits}", "model.channels=[4,8,16]", "stream.n_tasks=2",
             "stream.classes_per_task=2", "readout.epochs=1", "readout.feature_dtype=float32",
             "checkpoint.every=2"]
    assert main(["continual", *small, "--runs-root", str(tmp_path), "--name", "c"]) == 0
    plot("matrix", [tmp_path / "c"])
    plot("curves", [tmp_path / "c"])
    assert_png(tmp_path / "c" / "figures" / "accuracy_matrix.png")
    assert_png(tmp_path / "c" / "figures" / "curves.png")
    assert main(["continual-compare", *small, "--models", "V", "M", "--seeds", "0", "--runs-root", str(tmp_path),
                 "--name", "cmp"]) == 0
    (tmp_path / "cmp" / "figures" / "comparison.png").unlink()
    plot("comparison", [tmp_path / "cmp"])
    assert_png(tmp_path / "cmp" / "figures" / "comparison.png")


def test_evolve_kinds(digits, tmp_path):
    assert main(["evolve", "task=classification", "classification.dataset=mnist",
                 f"classification.data_dir={digits}", "algorithm.popsize=4", "evaluation.max_steps=20",
                 "evaluation.num_actors=0", "generations=2", "--runs-root", str(tmp_path), "--name", "e"]) == 0
    run = tmp_path / "e"
    for kind in ("fitness", "readout", "curves"):
        plot(kind, [run], out=tmp_path / "out")
    for name in ("fitness", "readout", "curves"):
        assert_png(tmp_path / "out" / f"{name}.png")


def test_every_kind_is_tested():
    tested = {"fields", "activations", "competition", "weights", "accuracy", "curves", "maps", "matrix",
              "comparison", "fitness", "readout"}
    assert set(KINDS) == tested


def test_top_activating_patches_are_each_channels_best_images(softhebb_runs):
    import torch

    from evohebb.pipelines.plot_network import load_network, top_activating
    from evohebb.pipelines.plot_runs import open_run

    model, test = load_network(open_run(softhebb_runs / "soft-s0"))
    x = test.to_float()
    for b, (values, where) in enumerate(top_activating(model, x, channels=4, k=3)):
        with torch.no_grad():
            out = model.features(x, upto=b + 1)[:, :4]
        per_image = out.flatten(2).max(dim=2).values.t()                      # [4, N]
        assert torch.allclose(values, per_image.topk(3, dim=1).values)
        for c in range(4):
            assert len(set(where[c, :, 0].tolist())) == 3                     # three different images
            for (image, row, col), value in zip(where[c].tolist(), values[c]):
                assert out[image, c, row, col] == value
