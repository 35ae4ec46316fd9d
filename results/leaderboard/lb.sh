#!/bin/bash
# leaderboard_small in parts, one 1-thread process per core. Usage: lb.sh <core> <name> <overrides...>
core=$1; name=$2; shift 2
cd /tmp/run-lb
echo "=== $name start $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse HEAD) core $core"
PYTHONPATH=/tmp/run-lb WANDB_MODE=offline OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c $core python benchmark/run.py -m +experiment=leaderboard_small \
  dataset.root=/tmp/cifar dataset.download=false progress=log paths.cache=/tmp/conv-cache \
  hydra.sweep.dir=outputs/leaderboard_small/$name "$@"
echo "=== $name end rc $? $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
