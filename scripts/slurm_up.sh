#!/usr/bin/env bash
# Start a single-node Slurm cluster (Debian 12, slurm-wlm 22.05) as root without systemd, for CI
# and for running tests/test_slurm.py by hand. All state lives under $ROOT; nothing in /etc changes.
#
#   ROOT=/tmp/slurm bash scripts/slurm_up.sh      # then: export SLURM_CONF=/tmp/slurm/etc/slurm.conf
#   ROOT=/tmp/slurm bash scripts/slurm_down.sh
#
# WITH_DBD=1 (default) adds slurmdbd + MariaDB so that `sacct` works: without accounting, submitit
# cannot see a job that died without a result and the sweep would wait forever.
# FAKE_GPUS=N advertises N fake "gpu" GRES so that gpus_per_node jobs can be scheduled.
# Installs the Debian packages when they are missing (needs apt and the network once).
set -euo pipefail
ROOT=${ROOT:-${TMPDIR:-/tmp}/slurm-ci}
WITH_DBD=${WITH_DBD:-1}
FAKE_GPUS=${FAKE_GPUS:-0}
# The node's CPUs, not this process's affinity: a shell pinned to one core (taskset) would
# otherwise describe a 1-CPU node, and every job asking for 2 CPUs would wait forever.
NCPU=$(nproc --all)
MEM_MB=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 1024 ))

# 1. packages
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null \
   || { [ "$WITH_DBD" = 1 ] && ! command -v slurmdbd >/dev/null; }; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  pkgs="slurmctld slurmd slurm-client munge"
  [ "$WITH_DBD" = 1 ] && pkgs="$pkgs slurmdbd mariadb-server mariadb-client"
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

# The ports are fixed: a cluster still running would answer in place of this one.
for port in 6817 6818 6819 3307; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "slurm_up: port $port is in use: is a cluster already up? Stop it with ROOT=<its root> bash scripts/slurm_down.sh" >&2
    exit 1
  fi
done

# 2. munge: a private key and socket; the socket dir must be o+x, the key 0400
mkdir -p "$ROOT"/{etc,munge,state,spool,log,run,mysql}
chmod 755 "$ROOT" "$ROOT/munge"
if [ ! -f "$ROOT/munge/munge.key" ]; then
  dd if=/dev/urandom of="$ROOT/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$ROOT/munge/munge.key"
fi
SOCK=$ROOT/munge/munge.socket.2

# 3. slurm.conf (no cgroups here: linuxproc tracking, no task plugin)
cat > "$ROOT/etc/slurm.conf" <<CONF
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# private munge socket; cred_expire=10: a requeued job restarts after ~10 s instead of 120 s
AuthInfo=socket=$SOCK,cred_expire=10
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/run/slurmctld.pid
SlurmdPidFile=$ROOT/run/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
MailProg=/bin/true
CONF
if [ "$WITH_DBD" = 1 ]; then
cat >> "$ROOT/etc/slurm.conf" <<CONF
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
# connections to slurmdbd take the munge socket from here, not from AuthInfo
AccountingStoragePass=$SOCK
CONF
else
cat >> "$ROOT/etc/slurm.conf" <<CONF
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
CONF
fi
GRES=""
if [ "$FAKE_GPUS" -gt 0 ]; then
  # gres/gpu needs device files (Count= alone drains the node): char devices cloned from /dev/null
  echo "GresTypes=gpu" >> "$ROOT/etc/slurm.conf"
  mkdir -p "$ROOT/dev"
  for i in $(seq 0 $((FAKE_GPUS - 1))); do [ -e "$ROOT/dev/gpu$i" ] || mknod "$ROOT/dev/gpu$i" c 1 3; done
  echo "NodeName=localhost Name=gpu File=$ROOT/dev/gpu[0-$((FAKE_GPUS - 1))]" > "$ROOT/etc/gres.conf"
  GRES="Gres=gpu:$FAKE_GPUS"
fi
cat >> "$ROOT/etc/slurm.conf" <<CONF
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB $GRES State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$ROOT/etc/slurm.conf

# 4. daemons, in this order: munged, mariadbd, slurmdbd, slurmctld, slurmd
munged --key-file="$ROOT/munge/munge.key" --socket="$SOCK" --pid-file="$ROOT/munge/munged.pid" \
       --log-file="$ROOT/munge/munged.log" --seed-file="$ROOT/munge/munged.seed"

if [ "$WITH_DBD" = 1 ]; then
  if [ ! -d "$ROOT/mysql/data" ]; then
    mariadb-install-db --user=root --datadir="$ROOT/mysql/data" --auth-root-authentication-method=socket \
                       --skip-test-db >"$ROOT/log/mariadb-install.log" 2>&1
  fi
  # setsid: its own session, so a CI step that kills its process group leaves the database up
  setsid mariadbd --user=root --datadir="$ROOT/mysql/data" --socket="$ROOT/mysql/mysqld.sock" \
         --pid-file="$ROOT/mysql/mysqld.pid" --bind-address=127.0.0.1 --port=3307 \
         --log-error="$ROOT/log/mariadb.err" --innodb-buffer-pool-size=64M </dev/null >/dev/null 2>&1 &
  for _ in $(seq 100); do mariadb-admin --socket="$ROOT/mysql/mysqld.sock" ping >/dev/null 2>&1 && break; sleep 0.2; done
  mariadb --socket="$ROOT/mysql/mysqld.sock" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
     CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
     GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  # slurmdbd reads slurmdbd.conf beside $SLURM_CONF; it must be mode 600 and owned by SlurmUser
  cat > "$ROOT/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$SOCK
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$ROOT/run/slurmdbd.pid
LogFile=$ROOT/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
CONF
  chmod 600 "$ROOT/etc/slurmdbd.conf"
  slurmdbd
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.2; done
fi

slurmctld
slurmd -N localhost  # the node name must match NodeName; this machine's hostname is not "localhost"
for _ in $(seq 150); do sinfo -h -o %T 2>/dev/null | grep -qx idle && break; sleep 0.2; done
if ! sinfo -h -o %T | grep -qx idle; then
  echo "slurm_up: node did not become idle; see $ROOT/log/" >&2
  sinfo >&2 || true
  exit 1
fi
sinfo
echo "export SLURM_CONF=$SLURM_CONF"
