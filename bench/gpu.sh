#!/usr/bin/env bash
# The one prepared run for a lent GPU machine (the network-drives issue, item 7; the `device` tool's README).
# From a session whose task is lent one (its `status` says can_start_another: true):
#   run(command="bash bench/gpu.sh", timeout_s=540)
# Everything it measures comes back under $OUT (at most 8 files): machine.txt, tests.txt, softhebb.json,
# unrolled.json, evolve.txt. Here, on the CPU, the same script checks itself: DEVICE=cpu IMAGES=100 POPULATION=8
# PY=.venv/bin/python OUT=/tmp/gpu bash bench/gpu.sh
#
# What that machine has (the device tool's KINDS.md): Python 3.12 with torch (CUDA), torchvision, numpy, pyyaml,
# tqdm, matplotlib, tensorboard and pytest, and no network. It lacks ray, evotorch (which imports ray), gymnasium
# and envpool. Carried packages must fit the 64 MiB that travels with the working tree, and ray 2.60.0's wheel alone
# is 79 MB (envpool's 53 MB): so step 4, a short evolution with one Ray actor per core, runs only where those
# packages are importable, and otherwise says so in evolve.txt. Steps 1-3 need nothing beyond the image.
set -uo pipefail
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
IMAGES=${IMAGES:-50000}          # SoftHebb: the full unsupervised epoch (target < 60 s on an H100)
POPULATION=${POPULATION:-64}     # thesis policies stepping together on the device against the CPU
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

# 0. the machine
{ nvidia-smi 2>&1 || echo "no nvidia-smi"; nproc
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else '')"; } > "$OUT/machine.txt"

# 1. the CUDA tests: GPU against CPU for the plastic population, SoftHebb and the reward classifier
timeout 240 "$PY" -m pytest -q -p no:cacheprovider tests/nn/test_cuda_equivalence.py \
    "tests/nn/test_reward_classifier.py::test_cuda_step_matches_cpu" > "$OUT/tests.txt" 2>&1
echo "tests: rc $?" >> "$OUT/tests.txt"

# 2. one SoftHebb epoch (96 -> 384 -> 1536, batch 10, every layer plastic) and a readout epoch
timeout 180 "$PY" bench/softhebb.py --device "$DEVICE" --images "$IMAGES" > "$OUT/softhebb.json" 2>&1

# 3. the thesis policy (173 284 genes each): the population stepping on the device against the CPU
timeout 120 "$PY" bench/unrolled.py --device "$DEVICE" --population "$POPULATION" > "$OUT/unrolled.json" 2>&1

# 4. a short CarRacing evolution, one Ray actor per core (needs ray, evotorch, gymnasium, envpool)
if "$PY" -c "import ray, evotorch, gymnasium, envpool" 2> "$OUT/evolve.txt"; then
    timeout 240 "$PY" -m evohebb.cli evolve configs/evolve_carracing.yaml "evaluation.num_actors=$(nproc)" \
        generations=5 --name gpu-evolve --overwrite >> "$OUT/evolve.txt" 2>&1
    echo "evolve: rc $?" >> "$OUT/evolve.txt"
else
    echo "evolve: not run; ray, evotorch, gymnasium or envpool is not importable here (see above)" >> "$OUT/evolve.txt"
fi
tail -n 3 "$OUT"/*.txt "$OUT"/*.json
