#!/bin/bash
# conv.sh <part> <overrides...>: one part of findings_converged, one thread, from this clone at a fixed commit
cd /tmp/run-conv
part=$1; shift
echo "start $part $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)" >> conv_$part.log
PYTHONPATH=/tmp/run-conv OMP_NUM_THREADS=1 WANDB_MODE=offline WANDB_SILENT=true python benchmark/run.py -m +experiment=findings_converged \
  dataset.root=/tmp/cifar dataset.download=false progress=log paths.cache=/tmp/conv-cache \
  hydra.sweep.dir=outputs/findings_converged/$part "$@" >> conv_$part.log 2>&1
rc=$?
echo "end $part $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) rc $rc" >> conv_$part.log
