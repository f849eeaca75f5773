"""The cheap figures of a SoftHebb network while it learns, to TensorBoard every ``logging.figures_every``
Hebbian updates: the first layer's kernels, every layer's weight-norm distribution and its win frequencies over
the training batches since the last log (counted by :class:`~evohebb.nn.competition_stats.WinCounter`; a layer
that did not run, e.g. a later block of a ``layerwise`` schedule, is left out)."""

from __future__ import annotations

from evohebb.nn.competition_stats import WinCounter
from evohebb.nn.softhebb_blocks import HebbianConvNet
from evohebb.pipelines.softhebb_figures import receptive_field_images
from evohebb.run_io import MetricsLogger


class TrainingFigures:
    """Pass :meth:`on_update` as ``train_unsupervised``'s ``on_update``; :meth:`remove` when the phase is over.
    ``every=0`` logs nothing (and counts nothing)."""

    def __init__(self, model: HebbianConvNet, metrics: MetricsLogger, every: int):
        self.model, self.metrics, self.every = model, metrics, every
        self.counter = WinCounter(model) if every else None

    def on_update(self, done: int) -> None:
        if self.counter is None or done % self.every:
            return
        kernels = receptive_field_images(self.model)
        if kernels.shape[1] in (1, 3):
            self.metrics.log_images("train/receptive_fields/layer1", kernels, done)
        writer = self.metrics.writer
        for name, layer in self.counter.layers.items():
            writer.add_histogram(f"train/weight_norms/{name}", layer.weight.detach().flatten(1).norm(dim=1), done)
            counts = self.counter.counts[name]
            if counts.sum() > 0:
                writer.add_histogram(f"train/win_frequency/{name}", counts / counts.sum(), done)
        self.counter.reset()

    def remove(self) -> None:
        if self.counter is not None:
            self.counter.remove()
