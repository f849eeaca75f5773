"""The EnvPool CarRacing backend beside gymnasium's: one interface, the same rules, comparable statistics.

Real envs only (gymnasium's Box2D CarRacing-v3 and EnvPool's C++ port). The two backends generate different tracks
for the same seed, so they are compared exactly on everything that does not depend on the track (spaces, image
pipeline, termination and autoreset timing) and statistically over 20 tracks on what does (returns, episode lengths,
pixel statistics). gymnasium's env runs ~130-170 steps/s here, so its runs are kept to a few thousand steps; the
full 1000-frame comparison is marked slow.

``EVOHEBB_WRITE_FIGURES=1`` makes the frame-pair test also write ``envs/figures/backend_frames.png``.
"""

import os
import pathlib
import time

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from PIL import Image, ImageDraw

from envs import CAR_RACING_BACKENDS, EpisodeReturns, make_car_racing, make_car_racing_vector
from envs.envpool_car_racing import EnvPoolCarRacing
from evohebb.es.rollout import run_random_episodes

GAS = np.array([0.0, 1.0, 0.0], dtype=np.float32)
BRAKE = np.array([0.0, 0.0, 1.0], dtype=np.float32)
TRACKS = list(range(100, 120))  # 20 tracks for the distribution comparisons
FIGURE = pathlib.Path(__file__).resolve().parents[2] / "envs" / "figures" / "backend_frames.png"


def vector(backend, num_envs, **kwargs):
    """The vector env of ``backend``; gymnasium's in one process (``sync``), as inside an evaluation actor."""
    extra = {"vectorization": "sync"} if backend == "gymnasium" else {}
    return make_car_racing_vector(num_envs, backend=backend, **extra, **kwargs)


def scripted_actions(num_steps, num_envs):
    """Full gas, then alternating steering with part throttle: the car leaves the straight and turns."""
    actions = [GAS] * 25 + [np.array([0.8 * (-1) ** (t // 8), 0.4, 0.0], np.float32) for t in range(num_steps - 25)]
    return [np.stack([a] * num_envs) for a in actions[:num_steps]]


def play(env, seed, actions):
    observation, _ = env.reset(seed=seed)
    observations, rewards, dones = [observation], [], []
    for action in actions:
        observation, reward, terminated, truncated, _ = env.step(action)
        observations.append(observation)
        rewards.append(reward)
        dones.append(terminated | truncated)
    return np.stack(observations), np.stack(rewards), np.stack(dones)


# ---------------------------------------------------------------- interface


@pytest.mark.parametrize("size,grayscale", [(64, False), (64, True), (96, False), (32, True)])
def test_envpool_spaces_and_types_match_gymnasium(size, grayscale):
    reference = make_car_racing(size=size, grayscale=grayscale)
    env = vector("envpool", 3, size=size, grayscale=grayscale)
    assert env.single_observation_space == reference.observation_space
    assert env.single_action_space == reference.action_space
    assert env.observation_space == batch_space(reference.observation_space, 3)
    assert env.action_space == batch_space(reference.action_space, 3)
    assert env.num_envs == 3 and env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    observations, info = env.reset(seed=[1, 2, 3])
    assert env.observation_space.contains(observations) and isinstance(info, dict)
    env.action_space.seed(0)
    actions = env.action_space.sample()
    assert actions.shape == (3, 3)
    observations, rewards, terminated, truncated, info = env.step(actions)
    assert env.observation_space.contains(observations)
    assert rewards.dtype == np.float64 and rewards.shape == (3,)
    assert terminated.dtype == bool and truncated.dtype == bool and terminated.shape == truncated.shape == (3,)
    env.close()
    reference.close()


def test_bad_backend_arguments_are_named():
    with pytest.raises(ValueError, match=r"backend='cpp'.*\('gymnasium', 'envpool'\)"):
        make_car_racing_vector(2, backend="cpp")
    with pytest.raises(ValueError, match="vectorization='sync' applies to backend='gymnasium' only"):
        make_car_racing_vector(2, "sync", backend="envpool")
    with pytest.raises(ValueError, match="autoreset_mode='same_step' is not allowed with backend='envpool'"):
        make_car_racing_vector(2, autoreset_mode="same_step", backend="envpool")
    with pytest.raises(ValueError, match="render_mode='rgb_array'.*backend='gymnasium'"):
        make_car_racing_vector(1, backend="envpool", render_mode="rgb_array")
    with pytest.raises(ValueError, match="frame_skip must be an int >= 1, got 0"):
        make_car_racing_vector(2, backend="envpool", frame_skip=0)
    with pytest.raises(ValueError, match="negative_patience must be an int >= 1 or None, got 0"):
        make_car_racing_vector(2, backend="envpool", negative_patience=0)
    env = EnvPoolCarRacing(2)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(np.stack([GAS, GAS]))
    with pytest.raises(ValueError, match=r"seed 2147483648 is not allowed.*\[0, 2147483647\]"):
        env.reset(seed=[1, 2**31])
    with pytest.raises(ValueError, match="num_envs=2 ints, got 3 seeds"):
        env.reset(seed=[1, 2, 3])
    env.reset(seed=[1, 2])
    with pytest.raises(ValueError, match=r"actions must have shape \(2, 3\)"):
        env.step(GAS)
    env.close()


# ---------------------------------------------------------------- reproducible tracks, within each backend


@pytest.mark.parametrize("backend", CAR_RACING_BACKENDS)
def test_same_seeds_same_frames_and_returns_different_seeds_different_tracks(backend):
    env = vector(backend, 3, size=48)
    actions = scripted_actions(60, 3)
    obs_a, rewards_a, _ = play(env, [7, 7, 8], actions)
    obs_b, rewards_b, _ = play(env, [7, 7, 8], actions)  # the same object, re-seeded after 60 steps
    assert np.array_equal(obs_a, obs_b) and np.array_equal(rewards_a, rewards_b)
    assert np.array_equal(obs_a[:, 0], obs_a[:, 1]) and np.array_equal(rewards_a[:, 0], rewards_a[:, 1])
    assert not np.array_equal(obs_a[0, 0], obs_a[0, 2])  # seed 8: another track from the first frame on
    first_int_seeded, _ = env.reset(seed=7)  # one int seeds [7, 8, 9], as gymnasium's vector envs do
    assert np.array_equal(first_int_seeded[0], obs_a[0, 0]) and np.array_equal(first_int_seeded[1], obs_a[0, 2])
    unseeded, _ = env.reset()  # no seed: every env's next track
    assert not np.array_equal(unseeded[0], obs_a[0, 0])
    env.close()
    fresh = vector(backend, 1, size=48)  # a separate object seeded 7 plays the same track
    obs_c, rewards_c, _ = play(fresh, [7], [a[:1] for a in actions])
    assert np.array_equal(obs_c[:, 0], obs_a[:, 0]) and np.array_equal(rewards_c[:, 0], rewards_a[:, 0])
    fresh.close()


# ---------------------------------------------------------------- EnvPool's wrappers do what gymnasium's do


def test_envpool_frame_skip_sums_rewards_and_shows_the_last_frame():
    repeats, steps = 3, 40
    actions = scripted_actions(steps, 2)
    skipping = vector("envpool", 2, size=96, frame_skip=repeats, negative_patience=None)
    obs_skip, rewards_skip, _ = play(skipping, [11, 12], actions)
    every_frame = vector("envpool", 2, size=96, frame_skip=1, negative_patience=None)
    obs_all, rewards_all, _ = play(every_frame, [11, 12], [a for a in actions for _ in range(repeats)])
    assert np.array_equal(obs_skip, obs_all[::repeats])
    np.testing.assert_array_equal(rewards_skip, rewards_all.reshape(steps, repeats, 2).sum(axis=1))
    skipping.close()
    every_frame.close()


def test_envpool_image_pipeline_is_the_gymnasium_backends():
    """Resize (Pillow box filter) and grayscale applied by the gymnasium backend's own wrappers to EnvPool's raw frames
    give exactly what the EnvPool backend returns."""
    actions = scripted_actions(30, 2)
    raw_env = vector("envpool", 2, size=96)
    raw, _, _ = play(raw_env, [5, 6], actions)
    processed_env = vector("envpool", 2, size=40, grayscale=True)
    processed, _, _ = play(processed_env, [5, 6], actions)
    gymnasium_pipeline = make_car_racing(size=40, grayscale=True)  # GrayscaleObservation(TransformObservation(...))
    expected = np.stack([[gymnasium_pipeline.observation(gymnasium_pipeline.env.observation(frame)) for frame in step]
                         for step in raw])  # fmt: skip
    assert processed.shape == expected.shape == (31, 2, 40, 40, 1)
    assert np.array_equal(processed, expected)
    for env in (raw_env, processed_env, gymnasium_pipeline):
        env.close()


def test_envpool_env_ending_inside_a_frame_repeat_leaves_the_others_exact():
    # env 0 brakes: patience 4 after 6 grace frames ends it at frame 10, the first frame of agent step 4 (frames 10-12)
    env = vector("envpool", 2, size=96, frame_skip=3, negative_patience=4, grace_steps=6)
    actions = [np.stack([BRAKE, GAS])] * 12
    observations, rewards, dones = play(env, [21, 22], actions)
    # step 5 is env 0's autoreset (new first frame, reward 0); its next episode's frame 10 falls in step 9
    assert dones[:, 0].tolist() == [False] * 3 + [True] + [False] * 4 + [True] + [False] * 3
    assert rewards[4, 0] == 0.0 and rewards[5, 0] != 0.0
    alone = vector("envpool", 1, size=96, frame_skip=3, negative_patience=4, grace_steps=6)
    obs_alone, rewards_alone, _ = play(alone, [22], [a[1:] for a in actions])
    assert np.array_equal(observations[:, 1], obs_alone[:, 0]) and np.array_equal(rewards[:, 1], rewards_alone[:, 0])
    env.close()
    alone.close()


# ---------------------------------------------------------------- the same rules on both backends


@pytest.mark.parametrize("backend", CAR_RACING_BACKENDS)
def test_negative_patience_ends_after_the_zoom_in_then_autoresets(backend):
    # braking from the start earns -0.1 every frame after the first; grace 50 + patience 20 = frame 70
    env = vector(backend, 2, size=32, negative_patience=20)
    env.reset(seed=[1, 2])
    ends, flagged, reset_rewards = [], [], []
    for step in range(1, 142):
        _, rewards, terminated, truncated, info = env.step(np.stack([BRAKE, BRAKE]))
        assert not truncated.any()
        if step == 71:
            reset_rewards.append(rewards.tolist())
        if terminated.any():
            ends.append((step, terminated.tolist()))
            flagged.append(info["negative_reward_termination"].tolist())
    # step 71 is the autoreset (reward 0); the new episode's frame 70 is step 141
    assert ends == [(70, [True, True]), (141, [True, True])]
    assert flagged == [[True, True], [True, True]] and reset_rewards[0] == [0.0, 0.0]
    env.close()


@pytest.mark.parametrize("backend", CAR_RACING_BACKENDS)
def test_negative_patience_counts_frames_under_frame_skip(backend):
    env = vector(backend, 1, size=32, negative_patience=4, grace_steps=6, frame_skip=2)
    env.reset(seed=[1])
    ended = [step for step in range(1, 12) if env.step(BRAKE[None])[2][0]]
    assert ended == [5, 11]  # frames 7-10 negative: agent step 5 holds frames 9, 10; step 6 resets; 6 + 5 = 11
    env.close()


@pytest.mark.parametrize("backend", CAR_RACING_BACKENDS)
@pytest.mark.parametrize("frame_skip,steps_per_episode", [(1, 10), (3, 4)])
def test_max_steps_truncates_at_the_frame_limit(backend, frame_skip, steps_per_episode):
    env = vector(backend, 2, size=32, max_steps=10, negative_patience=None, frame_skip=frame_skip)
    env.reset(seed=[3, 4])
    tracker = EpisodeReturns(2)
    flags = []
    for _ in range(2 * steps_per_episode + 1):
        _, rewards, terminated, truncated, _ = env.step(np.stack([GAS, GAS]))
        tracker.update(rewards, terminated, truncated)
        flags.append((bool(truncated.all()), bool(terminated.any()), bool((rewards == 0).all())))
    truncation_steps = [i + 1 for i, (trunc, _, _) in enumerate(flags) if trunc]
    assert truncation_steps == [steps_per_episode, 2 * steps_per_episode + 1]  # the autoreset step in between
    assert flags[steps_per_episode] == (False, False, True)
    assert not any(term for _, term, _ in flags) and tracker.lengths.tolist() == [steps_per_episode] * 2
    env.close()


# ---------------------------------------------------------------- statistics over 20 tracks


def _play_first_episodes(backend, policy):
    """One first episode per track (patience 20, CarRacing's 1000-frame limit), size 64; observation moments."""
    env = vector(backend, len(TRACKS), size=64)
    env.action_space.seed(0)
    observations, _ = env.reset(seed=TRACKS)
    episodes = EpisodeReturns(len(TRACKS))
    pixel_sum, pixel_square_sum, frames = np.zeros(3), np.zeros(3), 0
    while not episodes.all_done:
        active = episodes.active.copy()
        pixels = observations[active].reshape(-1, 3).astype(np.float64)
        pixel_sum += pixels.sum(axis=0)
        pixel_square_sum += (pixels**2).sum(axis=0)
        frames += len(pixels)
        actions = np.stack([GAS] * len(TRACKS)) if policy == "gas" else env.action_space.sample()
        observations, rewards, terminated, truncated, _ = env.step(actions)
        episodes.update(rewards, terminated, truncated)
    env.close()
    mean = pixel_sum / frames
    return {"returns": episodes.returns, "lengths": episodes.lengths, "pixel_mean": mean,
            "pixel_std": np.sqrt(pixel_square_sum / frames - mean**2)}  # fmt: skip


@pytest.fixture(scope="module")
def first_episodes():
    """{(backend, policy): statistics} over the 20 tracks; ~40 s, nearly all of it gymnasium's Box2D."""
    start = time.perf_counter()
    results = {(b, p): _play_first_episodes(b, p) for b in CAR_RACING_BACKENDS for p in ("gas", "random")}
    print(f"20-track first episodes on both backends: {time.perf_counter() - start:.1f} s")
    return results


def assert_same_distribution(a, b, what):
    """Tolerance: the two samples come from different track generators, so equal values are not expected. A shift of
    the means by more than 3 standard errors of their difference (a two-sided z-test at ~0.3 %), or a two-sample
    Kolmogorov-Smirnov distance above its 1 % critical value (1.628 * sqrt((n + m) / (n m)) = 0.515 for 20 and 20),
    would say the backends score the same driving differently (e.g. a lost frame-skip sum or another reward scale);
    KS rather than a ratio of standard deviations because a single extra tile on one track dominates a 20-track std."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    standard_error = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    message = f"{what}: means {a.mean():.2f} vs {b.mean():.2f}, 3 SE = {3 * standard_error:.2f}"
    assert abs(a.mean() - b.mean()) <= 3 * standard_error, message
    critical = 1.628 * np.sqrt((len(a) + len(b)) / (len(a) * len(b)))
    assert ks_distance(a, b) <= critical, f"{what}: KS distance {ks_distance(a, b):.3f} > {critical:.3f}"


def ks_distance(a, b):
    """Largest gap between the two empirical distribution functions."""
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), points, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), points, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def test_full_gas_returns_and_episode_lengths_agree(first_episodes):
    envpool, gymnasium = first_episodes["envpool", "gas"], first_episodes["gymnasium", "gas"]
    assert_same_distribution(envpool["returns"], gymnasium["returns"], "full-gas returns")
    assert_same_distribution(envpool["lengths"], gymnasium["lengths"], "full-gas lengths")
    for stats in (envpool, gymnasium):  # full gas drives straight off the first bend: patience ends every episode
        assert stats["returns"].min() > 20 and stats["lengths"].max() < 1000


def test_random_action_returns_and_episode_lengths_agree(first_episodes):
    envpool, gymnasium = first_episodes["envpool", "random"], first_episodes["gymnasium", "random"]
    assert_same_distribution(envpool["returns"], gymnasium["returns"], "random-action returns")
    assert_same_distribution(envpool["lengths"], gymnasium["lengths"], "random-action lengths")
    for stats in (envpool, gymnasium):  # the patience rule ends random driving too, at frame 70 at the earliest
        assert stats["lengths"].min() >= 70 and stats["lengths"].max() < 1000


def test_observation_statistics_agree(first_episodes):
    """Per-channel pixel mean and std over every frame of the first episodes (RGB 0-255): within 5 levels (2 % of
    the range; measured differences are ~1-2 levels, from the tracks and the two renderers' edge pixels)."""
    for policy in ("gas", "random"):
        envpool, gymnasium = first_episodes["envpool", policy], first_episodes["gymnasium", policy]
        np.testing.assert_allclose(envpool["pixel_mean"], gymnasium["pixel_mean"], atol=5.0, err_msg=policy)
        np.testing.assert_allclose(envpool["pixel_std"], gymnasium["pixel_std"], atol=5.0, err_msg=policy)
        assert gymnasium["pixel_mean"][1] > gymnasium["pixel_mean"][0] + 50  # green grass dominates, a real check


def test_frame_pair_same_camera_and_palette(tmp_path):
    """The two backends' frames at step 60 (full gas, seed 100): the car drawn at the same place, the same indicator
    bar; the pair is written side by side to a PNG (``envs/figures/backend_frames.png`` with EVOHEBB_WRITE_FIGURES)."""
    frames = {}
    for backend in CAR_RACING_BACKENDS:
        env = vector(backend, 1, size=96, negative_patience=None)
        observations, _, _ = play(env, [100], [GAS[None]] * 60)
        frames[backend] = observations[-1, 0]
        env.close()
    for frame in frames.values():
        car = frame[64:80, 42:54].astype(int)
        red = (car[..., 0] > 150) & (car[..., 1] < 60) & (car[..., 2] < 60)
        assert red.sum() >= 10  # the red car body below the screen centre
        assert (frame[86:, :, :] == 0).all(axis=-1).mean() > 0.8  # the black indicator bar at the bottom
    pair = np.concatenate([frames["gymnasium"], np.full((96, 4, 3), 255, np.uint8), frames["envpool"]], axis=1)
    frames_image = Image.fromarray(pair).resize((pair.shape[1] * 4, 96 * 4), Image.Resampling.NEAREST)
    image = Image.new("RGB", (frames_image.width, frames_image.height + 20), "white")
    image.paste(frames_image, (0, 20))
    caption = ImageDraw.Draw(image)
    caption.text((4, 4), "gymnasium CarRacing-v3 (reference)", fill="black")
    caption.text((100 * 4 + 4, 4), "EnvPool CarRacing-v3", fill="black")
    caption.text((frames_image.width - 150, 4), "seed 100, step 60, full gas", fill="gray")
    image.save(tmp_path / "backend_frames.png")
    if os.environ.get("EVOHEBB_WRITE_FIGURES"):
        FIGURE.parent.mkdir(exist_ok=True)
        image.save(FIGURE)


# ---------------------------------------------------------------- the consumer


def test_rollout_random_episodes_reproducible_on_envpool():
    env = vector("envpool", 4, size=32, max_steps=120)
    first = run_random_episodes(env, [9, 9, 10, 11], max_steps=200, action_seed=3)
    second = run_random_episodes(env, [9, 9, 10, 11], max_steps=200, action_seed=3)
    assert np.array_equal(first.returns, second.returns) and np.array_equal(first.rewards, second.rewards)
    assert np.array_equal(first.lengths, second.lengths) and first.lengths.max() <= 120
    assert first.returns[0] != first.returns[2]  # another track: another tile reward (1000 / number of tiles)
    env.close()


@pytest.mark.slow
def test_full_random_episodes_truncate_at_1000_frames_on_both():
    """20 tracks of CarRacing's full 1000 frames without early termination (~3 min of gymnasium)."""
    results = {}
    for backend in CAR_RACING_BACKENDS:
        env = vector(backend, len(TRACKS), size=32, negative_patience=None)
        env.action_space.seed(1)
        env.reset(seed=TRACKS)
        episodes = EpisodeReturns(len(TRACKS))
        terminated_any = False
        while not episodes.all_done:
            _, rewards, terminated, truncated, _ = env.step(env.action_space.sample())
            terminated_any |= bool(terminated.any())
            episodes.update(rewards, terminated, truncated)
        env.close()
        assert not terminated_any and episodes.lengths.tolist() == [1000] * len(TRACKS)
        results[backend] = episodes.returns
    assert_same_distribution(results["envpool"], results["gymnasium"], "1000-frame random-action returns")
