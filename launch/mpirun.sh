#!/usr/bin/env bash
# Data-parallel training with Open MPI, on one node or several.
#
#   launch/mpirun.sh [--hosts h1,h2,...] [--per-node N] [--gpu] [--bin PATH] [--dry-run] \
#       CONFIG [mtbert train options, e.g. --set data.batch_size=32]
#
#   --hosts     comma list of nodes (default: this node only); passwordless ssh
#               between them and the same paths (build, data, run_dir) on all
#   --per-node  ranks per node (default: GPUs on this node with --gpu, else 1)
#   --gpu       one GPU per rank: rank with local rank L sees only GPU L
#               (CUDA_VISIBLE_DEVICES=L), and train.backend=cuda
#   --bin       the mtbert binary (default: build/mtbert of this checkout)
#   --dry-run   print the working directory and the mpirun command instead
#               of running it
#
# Every rank runs in the directory this script is called from (mpirun
# --wdir), as `mtbert train` run by hand would: CONFIG, --bin, and the
# relative paths inside the config (data, vocab, run_dir) resolve there,
# the same on every node (which must have that path).
# data.batch_size is per rank: the global batch is batch_size x ranks x
# train.grad_accum. Every rank reads only its own share of the shards.
# Ctrl-C or SIGTERM to this script: every rank finishes its step, saves a
# checkpoint and the script exits 3 (mpirun itself would kill the ranks on
# SIGTERM/SIGINT, so the script passes SIGUSR1 on instead; mpirun runs in its
# own process group). A second Ctrl-C/SIGTERM ends the job at once.
# Environment: MPIRUN (default mpirun), MPIRUN_ARGS (extra mpirun options,
# e.g. "--mca btl_tcp_if_include eth0"). See docs/distributed.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
wdir=$PWD
hosts="" per_node="" gpu=0 bin=$root/build/mtbert dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --hosts) hosts=$2; shift 2 ;;
        --per-node) per_node=$2; shift 2 ;;
        --gpu) gpu=1; shift ;;
        --bin) bin=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) echo "launch/mpirun.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: launch/mpirun.sh [--hosts h1,h2] [--per-node N] [--gpu] CONFIG [train options]" >&2; exit 2; }
if [ -z "$per_node" ]; then
    per_node=1
    if [ $gpu = 1 ] && command -v nvidia-smi >/dev/null; then per_node=$(nvidia-smi -L | wc -l); fi
fi
[[ "$per_node" =~ ^[1-9][0-9]*$ ]] || { echo "launch/mpirun.sh: --per-node must be a positive integer" >&2; exit 2; }
[ -x "$bin" ] || [ $dry = 1 ] || { echo "launch/mpirun.sh: $bin not built (cmake --build build)" >&2; exit 2; }
[ -f "$1" ] || [ $dry = 1 ] || { echo "launch/mpirun.sh: $1: no such config file (relative to $wdir)" >&2; exit 2; }

nodes=1 hostlist=()
if [ -n "$hosts" ]; then
    IFS=, read -r -a hl <<<"$hosts"
    nodes=${#hl[@]}
    for h in "${hl[@]}"; do hostlist+=("$h:$per_node"); done
fi
np=$((nodes * per_node))
cmd=(${MPIRUN:-mpirun} -np "$np" --map-by "ppr:$per_node:node" --bind-to none --wdir "$wdir")
[ -n "$hosts" ] && cmd+=(-H "$(IFS=,; echo "${hostlist[*]}")")
[ "$(id -u)" = 0 ] && cmd+=(--allow-run-as-root)
# pass the threading and NCCL/UCX settings of this shell to every rank
for v in OMP_NUM_THREADS OMP_WAIT_POLICY MTBERT_DUMP_PARAMS NCCL_DEBUG NCCL_SOCKET_IFNAME; do
    [ -n "${!v:-}" ] && cmd+=(-x "$v")
done
cmd+=(--stdin none)   # no rank reads stdin (and mpirun, in the background, must not)
# shellcheck disable=SC2206
cmd+=(${MPIRUN_ARGS:-})
train=("$bin" train "$@")
if [ $gpu = 1 ]; then
    train+=(--set train.backend=cuda)
    # local rank -> GPU: each rank sees one device
    cmd+=(bash -c 'export CUDA_VISIBLE_DEVICES=${OMPI_COMM_WORLD_LOCAL_RANK:-0}; exec "$@"' mtbert-rank)
fi
cmd+=("${train[@]}")
echo "launch/mpirun.sh: $np ranks ($nodes node(s) x $per_node), working directory $wdir" >&2
if [ $dry = 1 ]; then printf 'cd %q && ' "$wdir"; printf '%q ' "${cmd[@]}"; echo; exit 0; fi

# mpirun in the background, in its own process group (set -m), reading no
# stdin; the first INT/TERM becomes USR1 for the ranks (checkpoint and stop)
set -m
"${cmd[@]}" </dev/null &
pid=$!
set +m
asked=0
stop() {
    if [ $asked = 0 ]; then
        asked=1
        echo "launch/mpirun.sh: asking the ranks to checkpoint and stop (again to stop at once)" >&2
        kill -USR1 "$pid" 2>/dev/null
    else
        kill -TERM "$pid" 2>/dev/null
    fi
}
trap stop INT TERM
set +e
rc=0
wait "$pid"; rc=$?
# a wait interrupted by the trap returns >128: wait for mpirun itself
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done
exit $rc
