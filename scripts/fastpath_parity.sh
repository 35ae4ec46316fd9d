#!/usr/bin/env bash
# Accuracy of the fast path (on CUDA: bf16 autocast and channels_last; on both devices the compiled
# step, here from the first step) against the plain fp32 eager path: the same three seeds of a short
# synthetic cell (the demo's, $TRAIN_SIZE = 5000 training images, CLR after L1) each way, into $OUT/parity.md.
# The identity leaves `fast` out (it must not change results beyond noise), so each side has its own cache.
# Usage: DEVICE=cuda OUT=results/gpu bash scripts/fastpath_parity.sh    (DEVICE=cpu: about 10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/parity}
DEVICE=${DEVICE:-auto}
export WANDB_MODE=${WANDB_MODE:-disabled}
CELLS=(+experiment=demo "dataset.train_size=${TRAIN_SIZE:-5000}" schedule=clr pruner=l1 seed.baseline=0,1,2 "device=$DEVICE"
       progress=log compile_min_steps=0)
python benchmark/run.py -m "${CELLS[@]}" fast=true paths.cache="$OUT/cache-fast" hydra.sweep.dir="$OUT/fast"
python benchmark/run.py -m "${CELLS[@]}" fast=false paths.cache="$OUT/cache-fp32" hydra.sweep.dir="$OUT/fp32"
python - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
lines = ["| path | baseline top-1 | retrained top-1 (CLR) | baseline s | retrain s |", "|---|---|---|---|---|"]
for side in ("fast", "fp32"):
    recs = [json.loads(p.read_text()) for p in sorted((out / side).rglob("record.json"))]
    fmt = lambda xs: f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f} (n={len(xs)})"
    mean = lambda key: statistics.mean(r["seconds"][key] for r in recs)
    lines.append(f"| {side} | {fmt([r['metrics']['baseline_test_top1'] for r in recs])} | "
                 f"{fmt([r['metrics']['test_top1'] for r in recs])} | {mean('baseline'):.1f} | {mean('retrain'):.1f} |")
(out / "parity.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
