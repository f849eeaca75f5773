"""What ``evohebb plot`` draws from, and where it draws to: run folders, the registry of figure kinds, saving.

A run folder is recognised by its ``config.yaml``: the pipeline is the one whose config class loads it (a
``comparison.json`` beside it marks a ``continual-compare`` folder). A figure kind is a function of a
:class:`PlotRequest` registered in :data:`KINDS` with the pipelines it applies to; it saves PNGs with
:meth:`PlotRequest.save` into ``runs/<name>/figures/`` (or ``--out``) and, where the run has TensorBoard
events, the same image into them (at the run's last logged step).
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from evohebb.config import ConfigError, load_config
from evohebb.registry import Registry
from evohebb.run_io import CheckpointError, CheckpointManager, MetricsLogger, read_metrics, read_results
from evohebb.run_io.metrics_logger import METRICS_NAME

#: pipeline -> (config module, config class), tried in this order on a run's config.yaml
PIPELINE_CONFIGS = {
    "softhebb": ("evohebb.pipelines.softhebb_config", "SoftHebbConfig"),
    "continual": ("evohebb.pipelines.continual_config", "ContinualConfig"),
    "reward": ("evohebb.pipelines.reward_config", "RewardConfig"),
    "evolve": ("evohebb.pipelines.evolve_config", "EvolveConfig"),
}
COMPARISON_PIPELINE = "continual-compare"   # a continual config with comparison.json beside it


class PlotError(ValueError):
    """A figure that cannot be drawn from these runs (the message says why and what would do)."""


@dataclass
class PlotRun:
    """One run folder: its pipeline and its config (loaded and validated like the pipeline does)."""

    path: Path
    pipeline: str
    config: Any

    @property
    def name(self) -> str:
        return self.path.name

    def results(self) -> dict:
        return read_results(self.path) if (self.path / "results.json").exists() else {}

    def metrics(self) -> list[dict]:
        return read_metrics(self.path)

    def last_step(self) -> int:
        return max((int(r["step"]) for r in self.metrics()), default=0)

    def has_events(self) -> bool:
        return any(self.path.glob("events.out.tfevents.*"))

    def checkpoints(self) -> CheckpointManager:
        return CheckpointManager(self.path / "checkpoints")

    def latest_checkpoint(self) -> dict:
        saved = self.checkpoints().load_latest() if (self.path / "checkpoints").is_dir() else None
        if saved is None:
            raise CheckpointError(f"{self.path} holds no checkpoints/ckpt-*.pt, and this figure is drawn from the "
                                  f"trained network; let the run save one (it does every checkpoint.every steps) "
                                  f"or resume it: evohebb {self.pipeline} --resume {self.path}")
        return saved


def open_run(path: str | Path) -> PlotRun:
    """The run in ``path``; FileNotFoundError without config.yaml, ConfigError if no pipeline's config fits."""
    path = Path(path)
    config_path = path / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{path} is not a run folder (no config.yaml); pass runs/<name> of a finished or "
                                f"running job")
    errors = []
    for pipeline, (module, name) in PIPELINE_CONFIGS.items():
        try:
            cfg = load_config(getattr(importlib.import_module(module), name), config_path)
        except ConfigError as error:
            errors.append(f"{pipeline}: {error}")
            continue
        if pipeline == "continual" and (path / "comparison.json").exists():
            pipeline = COMPARISON_PIPELINE
        return PlotRun(path, pipeline, cfg)
    raise ConfigError(f"{config_path} is the config of no pipeline ({', '.join(PIPELINE_CONFIGS)}):\n  "
                      + "\n  ".join(errors))


class _NoEvents:
    """The TensorBoard side of a run without events: nothing is written."""

    def log_images(self, tag: str, images: Any, step: int, nrow: int = 8, *, scale_each: bool = True) -> None:
        pass

    def log_figure(self, tag: str, figure: Any, step: int, *, close: bool = True) -> None:
        if close:
            pyplot().close(figure)

    def close(self) -> None:
        pass


@dataclass
class PlotRequest:
    """One ``evohebb plot`` call: the runs, where the PNGs go, and the options of the kinds."""

    runs: list[PlotRun]
    out: Path | None = None
    images: Sequence[int] = (0, 1, 2)
    sample: int = 1000
    metric: str | None = None
    written: list[Path] = field(default_factory=list, init=False)          # every file written, in order
    _sinks: dict[Path, Any] = field(default_factory=dict, init=False, repr=False)

    def figures_dir(self, run: PlotRun) -> Path:
        folder = self.out if self.out is not None else run.path / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def file_name(self, run: PlotRun, name: str) -> str:
        """``name``, prefixed with the run's name when several runs draw into one ``--out`` folder."""
        return f"{run.name}_{name}" if self.out is not None and len(self.runs) > 1 else name

    def tensorboard(self, run: PlotRun):
        """The run's TensorBoard writer (``log_images`` / ``log_figure``), or a no-op without events."""
        if run.path not in self._sinks:
            self._sinks[run.path] = MetricsLogger(run.path) if run.has_events() else _NoEvents()
        return self._sinks[run.path]

    def save(self, run: PlotRun, fig, name: str, tag: str, across_runs: bool = False) -> Path:
        """Write ``fig`` as ``<figures>/<name>.png`` (a figure of one of several runs prefixed with its name unless
        it shows them all: ``across_runs``) and to the run's TensorBoard events as ``plot/<tag>``; the figure is
        closed."""
        path = self.figures_dir(run) / (f"{name}.png" if across_runs else self.file_name(run, f"{name}.png"))
        fig.savefig(path, dpi=100, bbox_inches="tight")
        self.tensorboard(run).log_figure(f"plot/{tag}", fig, run.last_step())
        self.written.append(path)
        return path

    @contextmanager
    def staged(self, run: PlotRun) -> Iterator[Path]:
        """A stand-in run folder (holding a copy of the run's ``metrics.jsonl``) for an end-of-run figure function
        that writes into ``<run>/figures/``; its PNGs are then moved into this request's folder."""
        with tempfile.TemporaryDirectory(prefix="evohebb-plot-") as stage:
            stage = Path(stage)
            if (run.path / METRICS_NAME).exists():
                shutil.copy(run.path / METRICS_NAME, stage / METRICS_NAME)
            yield stage
            for png in sorted((stage / "figures").glob("*.png")):
                self.written.append(Path(shutil.move(png, self.figures_dir(run) / self.file_name(run, png.name))))

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()


@dataclass(frozen=True)
class PlotKind:
    draw: Callable[[PlotRequest], None]
    pipelines: tuple[str, ...]
    summary: str
    several_runs: bool = False    # draws all runs into one figure (else each run on its own)


KINDS: Registry[PlotKind] = Registry("plot kind")


def plot_kind(name: str, pipelines: Sequence[str], summary: str, several_runs: bool = False):
    """Register ``draw(request)`` as the figure kind ``name`` for runs of ``pipelines``."""
    def decorator(draw: Callable[[PlotRequest], None]) -> Callable[[PlotRequest], None]:
        KINDS.register(name)(PlotKind(draw, tuple(pipelines), summary, several_runs))
        return draw
    return decorator


def kinds_for(pipeline: str) -> list[str]:
    return sorted(name for name, kind in KINDS.items() if pipeline in kind.pipelines)


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def as_image(image: torch.Tensor):
    """``[C, H, W]`` -> what ``imshow`` takes (``[H, W]`` for one channel, ``[H, W, 3]`` for three)."""
    image = image.detach().cpu().float()
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()
