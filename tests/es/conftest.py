"""Shared fixtures of the ES tests: a small learnable data set in the real MNIST idx format, local Ray."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest


def _idx(array: np.ndarray) -> bytes:
    codes = {np.uint8: 0x08}
    header = struct.pack(">HBB", 0, codes[array.dtype.type], array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """10 classes, each a bright 6x6 block at its own place on a noisy 28x28 background."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for c in range(10):
        r, q = 2 + 8 * (c // 3), 2 + 8 * (c % 3)
        images[labels == c, r:r + 6, q:q + 6] = 255
    return images, labels


@pytest.fixture(scope="session")
def mnist_like_dir(tmp_path_factory):
    """A data dir holding MNIST/raw/*.gz in the exact idx format, read by the real loader."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n, seed in (("train", 2000, 0), ("t10k", 500, 1)):
        images, labels = synthetic_digits(n, seed)
        (raw / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
        (raw / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))
    return root


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray instance with 2 CPUs (loopback only, dashboard off), shared by the session's tests."""
    import ray

    from evohebb.es.ray_cluster import connect_ray
    connect_ray(num_cpus=2)
    yield ray
    ray.shutdown()
