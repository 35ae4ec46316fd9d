#!/usr/bin/env bash
# Stop the cluster that scripts/slurm_up.sh started under $ROOT, daemon by daemon through its
# PID file (about 10 s: slurmdbd and mariadbd are the slowest). Leaves $ROOT on disk.
ROOT=${ROOT:-${TMPDIR:-/tmp}/slurm-ci}
for pf in run/slurmd.pid run/slurmctld.pid run/slurmdbd.pid mysql/mysqld.pid munge/munged.pid; do
  [ -f "$ROOT/$pf" ] || continue
  pid=$(cat "$ROOT/$pf")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
done
