"""One batched rollout: N plastic networks (one tensor population) living in N vectorised envs at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from envs.episode_returns import EpisodeReturns
from evohebb.run_io.progress import progress_bar


@dataclass
class RolloutResult:
    returns: np.ndarray      # [N] undiscounted return of each env's first episode
    lengths: np.ndarray      # [N] steps until that episode ended (or max_steps)
    env_steps: int           # env steps taken in total (what the envs computed, ended episodes included)
    rewards: np.ndarray      # [T, N] reward of every step (0 once an env's first episode has ended)
    frames: list | None = None  # frames of env 0 when recording
    saturated: np.ndarray | None = None  # [N, A] fraction of each first episode's steps with action a at a nonzero
    #                                      bound of the action space (see saturation_bounds); None: no Box bounds


def saturation_bounds(vector_env) -> tuple[np.ndarray, np.ndarray] | None:
    """Where each action component of ``vector_env`` counts as saturated: at its action space's low bound (a
    nonzero one; +inf where the bound is 0, the component's rest, e.g. a pedal off) or its high bound (likewise),
    within 1 % of the range. None without finite Box bounds (e.g. a classifier's discrete choice)."""
    space = getattr(vector_env, "single_action_space", None)
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    if low is None or high is None or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        return None
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    tol = 0.01 * (high - low)
    return np.where(low != 0, low + tol, -np.inf), np.where(high != 0, high - tol, np.inf)


def at_bound(actions: np.ndarray, bounds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Where ``actions [..., A]`` sit at a nonzero bound (``bounds`` from :func:`saturation_bounds`)."""
    return (actions <= bounds[0]) | (actions >= bounds[1])


def saturation_by_output(output_names, fractions) -> dict[str, float]:
    """``output name -> saturated fraction`` (empty without fractions, or where they do not match the outputs)."""
    if fractions is None or len(fractions) != len(output_names):
        return {}
    return {name: float(f) for name, f in zip(output_names, fractions)}


def observation_batch(obs: np.ndarray, device: torch.device | str, contiguous: bool = False) -> torch.Tensor:
    """Vector-env observations -> float tensor ``[N, C, H, W]`` (uint8 HWC images are scaled to [0, 1]; colour
    images come laid out ``[H, W, N, C]`` in memory, the layout of the population's grouped conv, see
    :func:`~evohebb.nn.unrolled.population_conv2d`, or in ``[N, C, H, W]`` order where ``contiguous`` (the native
    conv's, :func:`~evohebb.nn.native_forward.conv_tanh`): transposed as bytes, before the conversion to float,
    which costs less than transposing the floats there)."""
    tensor = torch.as_tensor(obs, device=device)
    if tensor.dtype == torch.uint8:
        if tensor.ndim == 4 and contiguous:
            return tensor.permute(0, 3, 1, 2).contiguous().div(255.0)
        if tensor.ndim == 4:        # [N, H, W, C] -> memory [H, W, N, C] -> view [N, C, H, W]
            return tensor.permute(1, 2, 0, 3).contiguous().div(255.0).permute(2, 3, 0, 1)
        tensor = tensor.div(255.0)
        if tensor.ndim == 3:        # grayscale [N, H, W]
            tensor = tensor.unsqueeze(1)
    return tensor.float().contiguous()


@torch.no_grad()
def run_episodes(network, vector_env, genomes: torch.Tensor, seeds: list[int], weight_seed: int,
                 max_steps: int, to_action: Callable[[torch.Tensor], np.ndarray],
                 record: Callable[[], np.ndarray] | None = None, progress: str | None = None) -> RolloutResult:
    """Play one episode in each of the N envs with N genomes, learning online at every step.

    ``genomes`` [N, G] (one row per env), ``seeds`` N env seeds. The networks' weights are re-initialised
    from ``weight_seed``; after each step every network receives its reward (``network.update``). The
    envs autoreset on their own (gymnasium's next-step mode): an env's reward only counts until its first
    episode ends (``envs.EpisodeReturns``), and the loop stops when every first episode has ended or
    after ``max_steps``. ``progress``: the label of a progress bar over the steps (None: no bar).
    """
    n = genomes.shape[0]
    if len(seeds) != n or vector_env.num_envs != n:
        raise ValueError(f"{n} genomes, {len(seeds)} seeds and {vector_env.num_envs} envs must be equal")
    device = genomes.device
    network.load_genomes(genomes)
    network.reset(weight_seed, noise_seeds=seeds)
    obs, _ = vector_env.reset(seed=[int(s) for s in seeds])
    episodes = EpisodeReturns(n)
    frames = [] if record is not None else None
    rewards = []
    env_steps = 0
    bounds = saturation_bounds(vector_env)
    saturated_steps = None
    contiguous = getattr(network, "contiguous_input", False)
    for _ in _steps(max_steps, progress, episodes):
        output = network(observation_batch(obs, device, contiguous))
        actions = to_action(output)
        if bounds is not None:
            counted = (at_bound(actions, bounds) & episodes.active[:, None]).astype(np.int64)
            saturated_steps = counted if saturated_steps is None else saturated_steps + counted
        obs, reward, terminated, truncated, _ = vector_env.step(actions)
        if frames is not None and episodes.active[0]:
            frames.append(record())
        env_steps += n
        rewards.append(np.where(episodes.active, reward, 0.0))
        episodes.update(reward, terminated, truncated)
        network.update(torch.as_tensor(reward, dtype=torch.float32, device=device))
        if episodes.all_done:
            break
    saturated = None if saturated_steps is None else saturated_steps / np.maximum(episodes.lengths, 1)[:, None]
    return RolloutResult(returns=episodes.returns, lengths=episodes.lengths, env_steps=env_steps,
                         rewards=np.stack(rewards) if rewards else np.zeros((0, n)), frames=frames,
                         saturated=saturated)


def run_policy_episodes(vector_env, seeds: list[int], max_steps: int, policy: Callable[[np.ndarray], np.ndarray],
                        progress: str | None = None) -> RolloutResult:
    """A fixed policy (``obs -> actions``, e.g. :mod:`envs.baseline_policies`) for one episode per env on
    ``seeds``, with the same seeds, cap, first-episode accounting and progress bar as :func:`run_episodes`."""
    n = vector_env.num_envs
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds and {n} envs must be equal")
    obs, _ = vector_env.reset(seed=[int(s) for s in seeds])
    episodes = EpisodeReturns(n)
    rewards = []
    env_steps = 0
    for _ in _steps(max_steps, progress, episodes):
        obs, reward, terminated, truncated, _ = vector_env.step(policy(obs))
        env_steps += n
        rewards.append(np.where(episodes.active, reward, 0.0))
        episodes.update(reward, terminated, truncated)
        if episodes.all_done:
            break
    return RolloutResult(returns=episodes.returns, lengths=episodes.lengths, env_steps=env_steps,
                         rewards=np.stack(rewards) if rewards else np.zeros((0, n)))


def run_random_episodes(vector_env, seeds: list[int], max_steps: int, action_seed: int,
                        progress: str | None = None) -> RolloutResult:
    """The random-policy baseline: uniformly sampled actions (reproducible from ``action_seed``)."""
    vector_env.action_space.seed(int(action_seed))
    return run_policy_episodes(vector_env, seeds, max_steps, lambda _obs: vector_env.action_space.sample(), progress)


def _steps(max_steps: int, progress: str | None, episodes: EpisodeReturns):
    """``range(max_steps)``, shown as a progress bar labelled ``progress`` with the episodes still running."""
    if progress is None:
        yield from range(max_steps)
        return
    with progress_bar(total=max_steps, desc=progress, unit="step") as bar:
        for step in range(max_steps):
            yield step
            bar.update()
            bar.set_postfix(running=int(episodes.active.sum()), refresh=False)
