"""``evohebb plot <kind> runs/<name> [runs/<other> ...]``: draw a figure of finished (or running) runs on demand.

    evohebb plot fields      runs/<name> [--sample N] [--out DIR]
    evohebb plot activations runs/<name> [--images 0 5 7]
    evohebb plot competition runs/<a> runs/<b> ... [--sample N]   (several runs: also a table and a comparison)
    evohebb plot curves      runs/<a> runs/<b> ... [--metric KEY]
    evohebb plot weights | accuracy | maps | fitness | readout | matrix | comparison  runs/<name>

Every kind writes PNGs into ``runs/<name>/figures/`` (or ``--out``) and, where the run has TensorBoard events, the
same images into them. The kinds are registered in :data:`evohebb.pipelines.plot_runs.KINDS` by
:mod:`evohebb.pipelines.plot_network` (drawn from a softhebb network) and :mod:`evohebb.pipelines.plot_end_of_run`
(the pipelines' own end-of-run figures, and curves); each names the pipelines it applies to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evohebb.pipelines import plot_end_of_run, plot_network  # noqa: F401  (they register the kinds)
from evohebb.pipelines.plot_runs import KINDS, PlotError, PlotRequest, kinds_for, open_run

__all__ = ["KINDS", "PlotError", "plot"]


def plot(kind: str, run_dirs: Sequence[str | Path], out: str | Path | None = None, images: Sequence[int] = (0, 1, 2),
         sample: int = 1000, metric: str | None = None) -> list[Path]:
    """Draw ``kind`` for the runs in ``run_dirs``; returns the files written."""
    if kind not in KINDS:
        raise PlotError(f"plot kind {kind!r} is unknown; allowed: {', '.join(sorted(KINDS))}")
    spec = KINDS[kind]
    runs = [open_run(path) for path in run_dirs]
    for run in runs:
        if run.pipeline not in spec.pipelines:
            raise PlotError(f"plot kind {kind!r} does not apply to {run.path} (a {run.pipeline} run; it applies to "
                            f"{', '.join(spec.pipelines)} runs); kinds for a {run.pipeline} run: "
                            f"{', '.join(kinds_for(run.pipeline))}")
    if sample < 1:
        raise PlotError(f"--sample {sample}: allowed: at least 1 test image")
    request = PlotRequest(runs, None if out is None else Path(out), tuple(images), sample, metric)
    try:
        spec.draw(request)
    finally:
        request.close()
    return request.written
