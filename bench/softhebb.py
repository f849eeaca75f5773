"""Benchmark of the SoftHebb pipeline's two costs on 32x32x3 (CIFAR-shaped) inputs, device-agnostic.

    python bench/softhebb.py                    # CPU, 300 images (a few minutes on 2 shared cores)
    python bench/softhebb.py --device cuda --images 50000   # the full unsupervised epoch (target < 60 s on an H100)

JSON lines ``{"name", "value", "unit", "baseline", "ratio"}``:
- ``unsupervised_images_per_s``: Hebbian updates (batch 10, all 3 layers plastic) per second, after warm-up;
  baseline = the H100 target, 50 000 images in 60 s (833 images/s);
- ``unsupervised_epoch_seconds``: measured when ``--images`` is 50 000, else 50 000 / images_per_s (projected);
- ``readout_epoch_seconds``: one readout epoch (Dropout + Linear on cached float16 features, Adam, batch 64)
  over ``--readout-images`` feature vectors, scaled to 50 000 when fewer;
- ``peak_memory``: peak resident set (CPU) or peak allocated CUDA memory (MiB).
Random inputs: the cost of SoftHebb does not depend on the pixel values.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evohebb.nn.architectures import get_model

TARGET_EPOCH_S = 60.0
EPOCH_IMAGES = 50_000


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def emit(name: str, value: float, unit: str, baseline: float | None) -> None:
    ratio = value / baseline if baseline else None
    print(json.dumps({"name": name, "value": round(value, 4), "unit": unit, "baseline": baseline,
                      "ratio": round(ratio, 4) if ratio is not None else None}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--images", type=int, default=300, help="images in the timed unsupervised pass")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--readout-images", type=int, default=5000)
    p.add_argument("--architecture", default="softhebb")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = get_model(args.architecture, input_shape=(3, 32, 32), n_classes=10, device=device)
    model.train()
    pool = torch.rand(1000, 3, 32, 32, device=device)

    def step(i: int) -> None:
        start = (i * args.batch_size) % (len(pool) - args.batch_size)
        with torch.no_grad():
            model.features(pool[start:start + args.batch_size])
        model.hebbian_step()

    for i in range(5):  # warm-up
        step(i)
    sync(device)
    n_steps = max(1, args.images // args.batch_size)
    t0 = time.perf_counter()
    for i in range(n_steps):
        step(i)
    sync(device)
    seconds = time.perf_counter() - t0
    ips = n_steps * args.batch_size / seconds
    emit("unsupervised_images_per_s", ips, "images/s", EPOCH_IMAGES / TARGET_EPOCH_S)
    epoch_s = seconds if n_steps * args.batch_size >= EPOCH_IMAGES else EPOCH_IMAGES / ips
    emit("unsupervised_epoch_seconds" + ("" if n_steps * args.batch_size >= EPOCH_IMAGES else "_projected"),
         epoch_s, "s", TARGET_EPOCH_S)

    feats = torch.randn(args.readout_images, model.feature_dim, device=device).half()
    labels = torch.randint(0, 10, (args.readout_images,), device=device)
    head = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(model.feature_dim, 10)).to(device)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    sync(device)
    t0 = time.perf_counter()
    order = torch.randperm(args.readout_images, device=device)
    for i in range(0, args.readout_images, 64):
        idx = order[i:i + 64]
        loss = F.cross_entropy(head(feats[idx].float()), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    readout_s = (time.perf_counter() - t0) * EPOCH_IMAGES / args.readout_images
    emit("readout_epoch_seconds", readout_s, "s", None)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit("peak_memory", peak, "MiB", None)


if __name__ == "__main__":
    main()
