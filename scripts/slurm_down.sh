#!/usr/bin/env bash
# Stop the cluster that scripts/slurm_up.sh started under $ROOT: cancel its jobs, then stop each
# daemon through its PID file (about 10 s: slurmdbd and mariadbd are the slowest). $ROOT stays.
ROOT=${ROOT:-${TMPDIR:-/tmp}/slurm-ci}
if [ -f "$ROOT/run/slurmctld.pid" ] && kill -0 "$(cat "$ROOT/run/slurmctld.pid")" 2>/dev/null; then
  export SLURM_CONF=$ROOT/etc/slurm.conf
  scancel --user="$(id -un)" 2>/dev/null
  for _ in $(seq 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
fi
for pf in run/slurmd.pid run/slurmctld.pid run/slurmdbd.pid mysql/mysqld.pid munge/munged.pid; do
  [ -f "$ROOT/$pf" ] || continue
  pid=$(cat "$ROOT/$pf")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
done
