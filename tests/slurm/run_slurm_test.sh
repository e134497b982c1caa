#!/usr/bin/env bash
# Slurm integration test: a private one-node Slurm cluster on this machine,
# then the real launchers on it.
#
#   bash tests/slurm/run_slurm_test.sh          (as root, or with sudo for apt)
#
# 1. Installs munge, slurmctld, slurmd and slurm-client with apt when missing
#    (skips, exit 77, only when they are missing and apt cannot install them).
# 2. Starts a private munged (own key, socket and log in a temp dir) and a
#    private slurmctld + slurmd (slurm.conf in the temp dir, SLURM_CONF points
#    at it; own ports, state and spool dirs): one node = this host with
#    CPUs=nproc, no cgroups (proctrack/linuxproc, task/none), MpiDefault=pmix
#    when srun has it, else pmi2, else none. Nothing under /etc is touched.
# 3. train.sbatch with 2 ranks (srun + Open MPI through PMIx) on a tiny config
#    over synthetic data: the job must be COMPLETED with exit 0, its output
#    must show 2 ranks, the run dir must hold a latest checkpoint and
#    metrics.jsonl with one train record per step.
# 4. A 2x2 sweep (mtbert sweep expand) as a job array of 4 (sweep.sbatch):
#    every task COMPLETED, every run finished its steps, `mtbert sweep report`
#    lists 4 runs.
# 5. On exit (pass or fail): cancels its jobs, stops the daemons it started
#    (by their pids), removes the temp dir.
#
# Exit 0 pass, 1 fail, 77 skipped. Environment: MTBERT_BIN (default
# build/mtbert; must be an MPI build), MTBERT_SLURM_KEEP=1 keeps the temp dir.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
BIN=${MTBERT_BIN:-$ROOT/build/mtbert}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
START=$(date +%s)
say() { echo "slurm-test: [$(($(date +%s) - START))s] $*"; }
skip() { echo "SKIPPED: slurm-test: $*"; exit 77; }

[ -x "$BIN" ] || { echo "FAIL: slurm-test: $BIN not built"; exit 1; }

# ---- 1. packages -------------------------------------------------------------
need=()
for p in munge slurmctld slurmd slurm-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || skip "Slurm is not installed and there is no apt-get (missing: ${need[*]})"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo -n true 2>/dev/null || skip "Slurm is not installed and apt-get needs root (missing: ${need[*]})"
        sudo="sudo -n"
    fi
    say "installing ${need[*]}"
    # the packages' own services must not start (we run private daemons)
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
            $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/tmp/slurm-test-apt.$$ 2>&1; then
        tail -n 5 /tmp/slurm-test-apt.$$; rm -f /tmp/slurm-test-apt.$$
        skip "apt-get could not install ${need[*]} (no network or no repository?)"
    fi
    rm -f /tmp/slurm-test-apt.$$
fi
for c in munged slurmctld slurmd sbatch srun squeue sinfo scontrol scancel; do
    command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || { echo "FAIL: slurm-test: $c not found after install"; exit 1; }
done
export PATH=$PATH:/usr/sbin
# the daemons run as the invoking user; as non-root slurmd cannot start jobs
[ "$(id -u)" -eq 0 ] || skip "slurmd must run as root to launch jobs (run as root)"

# ---- 2. private cluster --------------------------------------------------------
T=$(mktemp -d /tmp/mtbert-slurm.XXXXXX)
chmod 700 "$T"
PIDS=()            # daemons we started, stopped in reverse order
JOBS=()            # jobs we submitted

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ ${#JOBS[@]} -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
        scancel "${JOBS[@]}" >/dev/null 2>&1
        for _ in $(seq 20); do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    local i p
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        p=${PIDS[i]}
        kill -TERM "$p" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ "${MTBERT_SLURM_KEEP:-0}" = 1 ]; then echo "slurm-test: kept $T"; else rm -rf "$T"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: slurm-test: $*"
    local f
    for f in "$T"/out/*.out "$T"/log/slurmctld.log "$T"/log/slurmd.log "$T"/log/munged.log; do
        [ -s "$f" ] || continue
        echo "  --- $f (last 25 lines)"
        tail -n 25 "$f" | sed 's/^/  | /'
    done
    exit 1
}

mkdir -p "$T"/munge "$T"/log "$T"/state "$T"/spool "$T"/out "$T"/etc "$T"/tmpfs
chmod 700 "$T"/munge

# munge: a private key (never /etc/munge's), socket and pid
KEY=$T/munge/munge.key
if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$KEY" >/dev/null 2>&1 || fail "mungekey --create"
else
    dd if=/dev/urandom of="$KEY" bs=1024 count=1 status=none || fail "cannot create a munge key"
fi
chmod 400 "$KEY"
MSOCK=$T/munge/munge.socket
munged --foreground --force --socket="$MSOCK" --key-file="$KEY" --log-file="$T/log/munged.log" \
    --pid-file="$T/munge/munged.pid" --seed-file="$T/munge/munged.seed" >"$T/log/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$MSOCK" ] && break; sleep 0.1; done
[ -S "$MSOCK" ] || fail "munged did not start: $(cat "$T/log/munged.out")"
if command -v munge >/dev/null && command -v unmunge >/dev/null; then
    munge -S "$MSOCK" -n | unmunge -S "$MSOCK" >/dev/null 2>&1 || fail "munge credential round trip failed"
fi
say "munged up (pid ${PIDS[0]})"

# two free TCP ports (not the default 6817/6818: a site Slurm may use them)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 20000))
        [ "$p" != "${1:-}" ] && port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}
CPORT=$(pick_port) || fail "no free port"
DPORT=$(pick_port "$CPORT") || fail "no free port"

HOST=$(hostname -s)
NCPU=$(nproc)
MEM=$(awk '/^MemTotal:/ { m = int($2 / 1024 * 0.9); print (m > 1 ? m : 1) }' /proc/meminfo)
# MPI plugin for srun: pmix (Debian's Open MPI uses the external PMIx), else pmi2
MPI=none
plugdir=$(dirname "$(find /usr/lib -name 'mpi_none.so' -path '*slurm*' 2>/dev/null | head -1)")
[ -e "$plugdir/mpi_pmi2.so" ] && MPI=pmi2
[ -e "$plugdir/mpi_pmix.so" ] && MPI=pmix
export SLURM_CONF=$T/etc/slurm.conf
cat >"$SLURM_CONF" <<EOF
# private one-node cluster of tests/slurm/run_slurm_test.sh
ClusterName=mtberttest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CPORT
SlurmdPort=$DPORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MSOCK
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool/%n
TmpFS=$T/tmpfs
SlurmctldPidFile=$T/state/slurmctld.pid
SlurmdPidFile=$T/spool/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$T/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=$MPI
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=3600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
: >"$T/etc/plugstack.conf"   # not /etc/slurm/plugstack.conf

slurmctld -D -i -f "$SLURM_CONF" >"$T/log/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N "$HOST" >"$T/log/slurmd.out" 2>&1 &
PIDS+=($!)
say "slurmctld (pid ${PIDS[1]}, port $CPORT), slurmd (pid ${PIDS[2]}, port $DPORT), MpiDefault=$MPI, node $HOST CPUs=$NCPU RealMemory=$MEM"
state=""
for _ in $(seq 120); do
    kill -0 "${PIDS[1]}" 2>/dev/null || { cat "$T/log/slurmctld.out"; fail "slurmctld exited"; }
    kill -0 "${PIDS[2]}" 2>/dev/null || { cat "$T/log/slurmd.out"; fail "slurmd exited"; }
    state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || fail "node $HOST not idle after 60 s (sinfo state '$state')"
say "node $HOST idle; srun --mpi=list: $(srun --mpi=list 2>&1 | tr -s ' \n' ' ')"

# wait_job ID SECONDS: until the job (every array task) has left the queue;
# then each task's JobState and ExitCode must be COMPLETED 0:0
wait_job() {
    local id=$1 limit=$2 t0 left info
    t0=$(date +%s)
    while :; do
        left=$(squeue -h -j "$id" -o %i 2>/dev/null | wc -l)
        [ "$left" -eq 0 ] && break
        [ $(($(date +%s) - t0)) -ge "$limit" ] && { squeue -j "$id"; fail "job $id still queued/running after ${limit} s"; }
        sleep 1
    done
    info=$(scontrol -o show job "$id" 2>&1) || fail "scontrol show job $id: $info"
    [ -n "$info" ] || fail "job $id: no record"
    echo "$info" | awk '{ id = st = ec = "?"
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^JobId=/) id = substr($i, 7)
            if ($i ~ /^ArrayTaskId=/) id = id "(" substr($i, 13) ")"
            if ($i ~ /^JobState=/) st = substr($i, 10)
            if ($i ~ /^ExitCode=/) ec = substr($i, 10) }
        print id, st, ec }' >"$T/jobstates"
    sed 's/^/  job /' "$T/jobstates"
    awk '$2 != "COMPLETED" || $3 != "0:0" { bad = 1 } END { exit bad }' "$T/jobstates" ||
        fail "job $id: not every task COMPLETED with exit 0:0"
}

# ---- tiny config over synthetic data ------------------------------------------
"$BIN" prepare --synthetic "$T/data" --train 64 --dev 16 --seed 5 >"$T/log/prepare.out" 2>&1 ||
    { cat "$T/log/prepare.out"; fail "prepare --synthetic"; }
TINY=(model.vocab="$T/data/vocab.txt" model.hidden_size=16 model.num_layers=1 model.num_heads=2
      model.intermediate_size=32 train.epochs= train.steps=4 train.threads=1 train.backend=cpu
      eval.every=0 logging.every=1 checkpoint.every=2)
SETS=()
for kv in "${TINY[@]}"; do SETS+=(--set "$kv"); done
# The 2-rank jobs evaluate on the dev sets (they once deadlocked there: rank 0
# evaluating while the others were in checkpoint_save's all-reduce; fixed).
# MTBERT_SLURM_EVAL=0 leaves the eval sets out.
EVAL=""
[ "${MTBERT_SLURM_EVAL:-1}" = 1 ] && EVAL="$T/data/dev-*.h5"
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=$EVAL")
done
export OMP_WAIT_POLICY=PASSIVE
# CPU ranks: one core each, no GPUs; sbatch options override the scripts' #SBATCH lines
SB=(sbatch --parsable --gpus-per-task=0 --cpus-per-task=1 --time=10:00)

# ---- 3. train.sbatch, 2 ranks ----------------------------------------------------
say "submitting train.sbatch (2 ranks)"
out=$(MTBERT_BIN="$BIN" MTBERT_SRUN_ARGS="--mpi=$MPI" "${SB[@]}" --nodes=1 --ntasks-per-node=2 \
        --output="$T/out/train-%j.out" launch/slurm/train.sbatch configs/demo.yaml "${SETS[@]}" \
        --set data.batch_size=4 --set "train.run_dir=$T/run" 2>&1) || fail "sbatch train.sbatch: $out"
jid=${out%%;*}
JOBS+=("$jid")
wait_job "$jid" 120
o="$T/out/train-$jid.out"
[ -s "$o" ] || fail "job $jid wrote no output ($o)"
grep -q "train.sbatch: job $jid on .*: 2 ranks" "$o" || fail "job $jid: train.sbatch did not see 2 tasks"
grep -q "2 ranks, global batch 8 = 4 per rank x 2 ranks" "$o" ||
    fail "job $jid: mtbert did not run as 2 MPI ranks (srun --mpi=$MPI)"
grep -q "train.sbatch: srun exited 0" "$o" || fail "job $jid: srun did not exit 0"
[ -e "$T/run/latest" ] || fail "no latest checkpoint in the run dir: $(ls -R "$T/run" 2>&1 | head -20)"
[ -s "$T/run/metrics.jsonl" ] || fail "no metrics.jsonl in the run dir"
n=$(grep -c '"event": "train"' "$T/run/metrics.jsonl")
[ "$n" -eq 4 ] || fail "metrics.jsonl has $n train records, expected 4 (one per step)"
say "train.sbatch: ok (job $jid COMPLETED, 2 ranks, 4 steps, checkpoint + metrics.jsonl)"

# ---- 4. sweep as a job array of 4 ---------------------------------------------------
{
    echo "base: $ROOT/configs/demo.yaml"
    echo "method: grid"
    echo "set:"
    for kv in "${TINY[@]}"; do
        k=${kv%%=*} v=${kv#*=}
        [ -n "$v" ] || v=null
        echo "  $k: $v"
    done
    for k in topic sentiment ner; do
        echo "  tasks.$k.data: {train: \"$T/data/train-*.h5\", eval: \"$T/data/dev-*.h5\"}"
    done
    echo "parameters:"
    echo "  optimizer.lr: [1.0e-4, 3.0e-3]"
    echo "  data.batch_size: [4, 8]"
} >"$T/sweep.yaml"
"$BIN" sweep expand "$T/sweep.yaml" --out "$T/sw" >"$T/log/expand.out" 2>&1 ||
    { cat "$T/log/expand.out"; fail "sweep expand"; }
ncfg=$(ls "$T"/sw/[0-9][0-9][0-9].yaml 2>/dev/null | wc -l)
[ "$ncfg" -eq 4 ] || fail "sweep expand made $ncfg configs, expected 4"
say "submitting sweep.sbatch as an array of $ncfg"
out=$(MTBERT_BIN="$BIN" MTBERT_SRUN_ARGS="--mpi=$MPI" "${SB[@]}" --array=0-$((ncfg - 1)) \
        --output="$T/out/sweep-%A_%a.out" launch/slurm/sweep.sbatch "$T/sw" 2>&1) ||
    fail "sbatch sweep.sbatch: $out"
aid=${out%%;*}
JOBS+=("$aid")
wait_job "$aid" 180
[ "$(wc -l <"$T/jobstates")" -eq 4 ] || fail "array job $aid: expected 4 tasks, got $(wc -l <"$T/jobstates")"
for i in 0 1 2 3; do
    r=$(printf '%s/sw/runs/%03d' "$T" "$i")
    o="$T/out/sweep-${aid}_$i.out"
    grep -q "sweep.sbatch: array task $i: " "$o" 2>/dev/null || fail "array task $i: no output ($o)"
    grep -q "train.sbatch: srun exited 0" "$o" || fail "array task $i: srun did not exit 0"
    [ -e "$r/latest" ] || fail "array task $i: no latest checkpoint in $r"
    n=$(grep -c '"event": "train"' "$r/metrics.jsonl" 2>/dev/null)
    [ "${n:-0}" -eq 4 ] || fail "array task $i: $r/metrics.jsonl has ${n:-no} train records, expected 4"
done
"$BIN" sweep report "$T/sw" >"$T/report" 2>"$T/log/report.err" || { cat "$T/log/report.err"; fail "sweep report"; }
sed 's/^/  | /' "$T/report"
[ "$(wc -l <"$T/report")" -eq 5 ] || fail "sweep report: expected a header and 4 runs"
awk -F'\t' 'NR > 1 && ($4 != 4 || $5 == "-") { bad = 1 } END { exit bad }' "$T/report" ||
    fail "sweep report: a run without 4 steps or without a metric"
say "sweep.sbatch: ok (array job $aid, 4 tasks COMPLETED, report lists 4 runs)"
# ---- 5. time limit warning: USR1 -> checkpoint -> requeue -> resume ----------------
# What --signal=B:USR1@120 does near the time limit, sent by hand: the batch
# script passes USR1 to the ranks, they checkpoint and exit 3, the script
# requeues the job, and restart 1 resumes from that checkpoint. The run is
# long (steps=100000); the test cancels it once the restart has resumed.
say "submitting a long train.sbatch and sending it USR1"
out=$(MTBERT_BIN="$BIN" MTBERT_SRUN_ARGS="--mpi=$MPI" "${SB[@]}" --nodes=1 --ntasks-per-node=2 \
        --output="$T/out/usr1-%j.out" launch/slurm/train.sbatch configs/demo.yaml "${SETS[@]}" \
        --set data.batch_size=4 --set train.steps=100000 --set checkpoint.every=0 --set "train.run_dir=$T/run-usr1" 2>&1) ||
    fail "sbatch train.sbatch (USR1 case): $out"
jid=${out%%;*}
JOBS+=("$jid")
o="$T/out/usr1-$jid.out"
t0=$(date +%s)
until [ "$(grep -c '"event": "train"' "$T/run-usr1/metrics.jsonl" 2>/dev/null)" -ge 3 ] 2>/dev/null; do
    [ $(($(date +%s) - t0)) -ge 120 ] && fail "job $jid: no training progress after 120 s"
    sleep 0.5
done
scancel --batch --signal=USR1 "$jid" || fail "scancel --batch --signal=USR1 $jid"
hurried=0
until grep -q "resumed from .* at step" "$o" 2>/dev/null; do
    [ $(($(date +%s) - t0)) -ge 240 ] && fail "job $jid: not resumed after a requeue within 240 s"
    # Slurm holds a requeued job for about two minutes (BeginTime); the test
    # shortens that to 15 s (at once, the new step's launch raced the old
    # step's clean-up on the node: "task 0 launch failed")
    if [ $hurried = 0 ] && [ "$(squeue -h -j "$jid" -o %t 2>/dev/null)" = PD ]; then
        scontrol update JobId="$jid" StartTime=now+15 >/dev/null 2>&1 && hurried=1
    fi
    sleep 0.5
done
scancel "$jid"
grep -q "train.sbatch: time limit near (USR1)" "$o" || fail "job $jid: the batch script did not see USR1"
k=$(sed -n 's/.*stopped on SIGUSR1 after step \([0-9]*\) of 100000.*/\1/p' "$o" | head -1)
[ -n "$k" ] || fail "job $jid: mtbert did not report stopping on SIGUSR1"
grep -q "train.sbatch: srun exited 3" "$o" || fail "job $jid: srun did not exit 3 after the stop"
grep -q "train.sbatch: requeueing job $jid (restart 1)" "$o" || fail "job $jid: not requeued"
grep -q "train.sbatch: job $jid on .*restart 1" "$o" || fail "job $jid: restart 1 did not start"
grep -q "resumed from $T/run-usr1/step-$(printf %07d "$k") at step $k" "$o" ||
    fail "job $jid: restart 1 did not resume from step $k: $(grep resumed "$o")"
say "USR1: ok (job $jid: checkpoint at step $k, exit 3, requeued, restart 1 resumed at step $k)"
say "PASS"
exit 0
