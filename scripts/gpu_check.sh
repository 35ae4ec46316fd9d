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
python -m benchmark.bench --models resnet20,resnet56,resnet56-B,resnet56-D,vgg16 --steps 50 --warmup 5 \
    --repeats 3 --pack 1,2,4 --pack-models resnet56-B --pack-seconds 15 --out "$OUT"

# 2. Accuracy: the same three-seed comparison with the fast path on (compiled from the first step)
#    and off. The identity leaves `fast` out (it must not change results beyond noise), so each
#    side has its own cache.
CELLS=(+experiment=demo dataset.train_size=20000 schedule=clr pruner=l1 seed.baseline=0,1,2 device=cuda
       progress=log compile_min_steps=0)
python benchmark/run.py -m "${CELLS[@]}" fast=true paths.cache="$OUT/cache-fast" hydra.sweep.dir="$OUT/fast"
python benchmark/run.py -m "${CELLS[@]}" fast=false paths.cache="$OUT/cache-fp32" hydra.sweep.dir="$OUT/fp32"
python - "$OUT" <<'EOF'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
lines = ["| path | baseline top-1 | retrained top-1 (CLR) | retrain s |", "|---|---|---|---|"]
for side in ("fast", "fp32"):
    recs = [json.loads(p.read_text()) for p in sorted((out / side).rglob("record.json"))]
    cell = lambda key: [r["metrics"][key] for r in recs]
    fmt = lambda xs: f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f} (n={len(xs)})"
    lines.append(f"| {side} | {fmt(cell('baseline_test_top1'))} | {fmt(cell('test_top1'))} | "
                 f"{statistics.mean(r['seconds']['retrain'] for r in recs):.1f} |")
(out / "parity.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
