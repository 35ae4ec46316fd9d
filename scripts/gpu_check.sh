#!/usr/bin/env bash
# The device check of issue 7, for a session or a user with one CUDA GPU (about 10 minutes on an
# H100-class GPU): throughput of the CUDA fast path and of packed cells, and accuracy of the fast
# path (bf16 autocast, channels_last, torch.compile) against plain fp32, three seeds each.
# Usage: OUT=results/gpu bash scripts/gpu_check.sh    (writes bench.{md,json} and parity.md there)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
export WANDB_MODE=disabled
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

# 1. Images/s: suite against the reference pipeline (dense and pruned), then 1, 2, 4 packed processes.
python -m benchmark.speed.bench --models resnet20,resnet56,resnet56-B,resnet56-D,vgg16 --steps 50 --warmup 5 \
    --repeats 3 --pack 1,2,4 --pack-models resnet56-B --pack-seconds 15 --out "$OUT"

# 2. Accuracy: the fast path against plain fp32, three seeds each.
DEVICE=cuda OUT="$OUT" bash scripts/fastpath_parity.sh
