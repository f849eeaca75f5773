"""``evohebb evaluate --readout-figure``: how the plastic readout changes during one episode.

While the genome plays the report's first seed, the output layer's weights are recorded at every step and
drawn as one row per output neuron at a few moments of the episode (as images of the observation when the readout
sees the pixels, e.g. the 8×8 frame of the pixel readout), beside the relative change ``|W(t) − W(1)| / |W(1)|``
of each neuron's weights over the episode. Both start at step 1, after the first update: with
``network.weight_norm`` that update also divides the evolved weights by their max |w|, a change of scale that would
otherwise hide what the rule does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["readout_recorder", "write_readout_figure"]


def readout_recorder(network) -> Callable[[], np.ndarray]:
    """For :func:`evohebb.es.rollout.run_episodes`'s ``record``: the first individual's output-layer weights
    ``[n_out, n_in]`` before each step's update (the rollout's ``frames`` then stack to ``[T, n_out, n_in]``)."""
    return lambda: network.weights()[-1][0].detach().cpu().numpy().copy()


def write_readout_figure(weights: np.ndarray, obs_shape: tuple[int, ...], path: Path,
                         output_names: tuple[str, ...] | None = None, moments: int = 5) -> Path:
    """Draw ``weights`` ``[T, n_out, n_in]`` (see the module doc) to ``path``; ``output_names`` label the rows (the
    environment entry's names of its actions; default ``output i``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = 1 if len(weights) > 1 else 0
    weights = weights[first:]
    steps, n_out, n_in = weights.shape
    names = output_names if output_names is not None else tuple(f"output {i}" for i in range(n_out))
    as_image = len(obs_shape) == 3 and obs_shape[0] == 1 and n_in == int(np.prod(obs_shape))
    picks = np.unique(np.linspace(0, steps - 1, moments).round().astype(int))
    limit = float(np.abs(weights).max()) or 1.0
    fig, axes = plt.subplots(n_out, len(picks) + 1, figsize=(1.6 * len(picks) + 3.2, 1.6 * n_out + 0.4),
                             gridspec_kw={"width_ratios": [1] * len(picks) + [2]}, squeeze=False)
    for row in range(n_out):
        for col, t in enumerate(picks):
            ax = axes[row, col]
            w = weights[t, row].reshape(obs_shape[1:]) if as_image else weights[t, row][None, :]
            image = ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="equal" if as_image else "auto")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"step {t + first}", fontsize=8)
            if col == 0:
                ax.set_ylabel(names[row], fontsize=9)
        start = np.linalg.norm(weights[0, row]) or 1.0
        change = np.linalg.norm(weights[:, row] - weights[0, row], axis=1) / start
        ax = axes[row, -1]
        ax.plot(np.arange(first, first + steps), change)
        ax.set_ylabel(f"|W(t)−W({first})| / |W({first})|", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[-1, -1].set_xlabel("step", fontsize=8)
    fig.colorbar(image, ax=axes[:, :-1], shrink=0.8).ax.set_title("w", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
