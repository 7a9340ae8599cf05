#!/usr/bin/env bash
# The Slurm profile against a real Slurm: a single-node cluster on localhost (Debian's slurmctld, slurmd, munge),
# a representative part of the test-scale workflow (sharded model runs, data preparation, figures) submitted
# through `--profile profiles/slurm`, its outputs and verdicts checked against a local run of the same targets.
# The daemons are stopped by PID whatever happens. Runs as root (CI and the project's machines are root).
#
#   bash tests/slurm/slurm_test.sh [PYTHON]      (PYTHON: the interpreter with assocmem, Snakemake and the plugin)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${1:-$REPO/.venv/bin/python}
WORK=$(mktemp -d -t assocmem-slurm.XXXXXX)  # under $TMPDIR, else /tmp
PIDS=()
log() { echo "[slurm-test] $*"; }

ETC=/etc/slurm/slurm.conf
stop() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    if [ -e "$WORK/etc-slurm.conf.saved" ]; then mv "$WORK/etc-slurm.conf.saved" "$ETC"; else rm -f "$ETC"; fi
    log "daemons stopped (${PIDS[*]:-none}); work folder $WORK"
    exit $rc
}
trap stop EXIT

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    log "installing Debian's slurmctld slurmd slurm-client munge"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

# munge: a key, its run folder owned by munge, the daemon (its PID from the pid file).
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
rm -f /run/munge/munged.pid
runuser -u munge -- munged --pid-file=/run/munge/munged.pid --socket=/run/munge/munge.socket.2
for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
PIDS+=("$(cat /run/munge/munged.pid)")

# A one-node cluster: NodeName must be `hostname -s`; no cgroups, no accounting, squeue keeps finished jobs for
# MinJobAge seconds (the profile's status checks rely on it).
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 3 / 4 ))
mkdir -p "$WORK/spool" "$WORK/state"
cat >"$WORK/slurm.conf" <<EOF
ClusterName=assocmem
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=120
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# Job steps (srun inside a batch job) look for the config in /etc/slurm: put it there for the test, restoring
# whatever was there before on exit.
mkdir -p /etc/slurm
[ -e "$ETC" ] && cp -p "$ETC" "$WORK/etc-slurm.conf.saved"
cp "$WORK/slurm.conf" "$ETC"
export SLURM_CONF=$ETC
slurmctld -f "$SLURM_CONF"
for _ in $(seq 50); do [ -s "$WORK/slurmctld.pid" ] && break; sleep 0.2; done
PIDS+=("$(cat "$WORK/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
for _ in $(seq 50); do [ -s "$WORK/slurmd.pid" ] && break; sleep 0.2; done
PIDS+=("$(cat "$WORK/slurmd.pid")")
for _ in $(seq 60); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o "%P %D %t %c" | sed 's/^/[slurm-test] sinfo: /'
sinfo -h -o %t | grep -q idle || { log "the node did not come up"; cat "$WORK"/slurm*.log; exit 1; }

# The same targets at the test scale with every shard as its own job: through Slurm, and locally.
MIRROR=$(cd "$REPO/.test" && "$PY" -c "import yaml; print(yaml.safe_load(open('config/config.yaml'))['data']['mirror'])")
MIRROR=$(cd "$REPO/.test" && realpath "$MIRROR")
sed "s|^  mirror: .*|  mirror: $MIRROR|" "$REPO/.test/config/config.yaml" >"$WORK/test.yaml"
TARGETS=(fig_kde_capacity fig_capacity_vs_feature_dim fig_spherical_code_bounds)
SNAKE=("$PY" -m snakemake --snakefile "$REPO/Snakefile" --configfile "$WORK/test.yaml" --config shards=on)
log "submitting ${TARGETS[*]} through profiles/slurm"
# A hung Snakemake ignores SIGTERM: stop it with SIGINT.
timeout --signal=INT -k 30 900 "${SNAKE[@]}" --directory "$WORK/slurm" --profile "$REPO/profiles/slurm" \
    --slurm-init-seconds-before-status-checks 5 --jobs 4 "${TARGETS[@]}" >"$WORK/slurm-run.log" 2>&1 \
    || { log "the Slurm run failed"; tail -40 "$WORK/slurm-run.log"; exit 1; }
submitted=$(grep -c "Job .* has been submitted with SLURM jobid" "$WORK/slurm-run.log" || true)
log "Slurm jobs submitted: $submitted"
[ "$submitted" -ge 8 ] || { log "expected the shards and figures as Slurm jobs"; tail -40 "$WORK/slurm-run.log"; exit 1; }
log "the same targets locally"
timeout --signal=INT -k 30 900 "${SNAKE[@]}" --directory "$WORK/local" --cores 2 "${TARGETS[@]}" \
    >"$WORK/local-run.log" 2>&1 || { log "the local run failed"; tail -40 "$WORK/local-run.log"; exit 1; }

"$PY" - "$WORK" "${TARGETS[@]}" <<'EOF'
import json, sys
from pathlib import Path
from assocmem import registry

work, names = Path(sys.argv[1]), sys.argv[2:]
for name in names:
    t = registry.get(name)
    a, b = (work / side / t.prefix("results") for side in ("slurm", "local"))
    for ext in ("png", "pdf", "csv", "json"):
        assert a.with_suffix(f".{ext}").is_file(), f"{a}.{ext} missing"
    ja, jb = (json.loads(p.with_suffix(".json").read_text()) for p in (a, b))
    assert ja["verdict"] == jb["verdict"], (name, ja["verdict"], jb["verdict"])
    assert a.with_suffix(".csv").read_bytes() == b.with_suffix(".csv").read_bytes(), f"{name}: tables differ"
    print(f"[slurm-test] {name}: {ja['verdict']} through Slurm, the same table and verdict as locally")
EOF
log "passed"
