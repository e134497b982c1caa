#!/usr/bin/env bash
# Runs the configs of an expanded sweep one after another on this machine
# (no Slurm), then prints the report.
#
#   build/mtbert sweep expand sweep.yaml --out sweeps/lr
#   launch/sweep-local.sh sweeps/lr [mtbert train options]
#
# Each DIR/NNN.yaml already names its run_dir (DIR/runs/NNN); with
# checkpoint.resume=auto a re-run after an interruption continues each run
# from its newest checkpoint. A failed run is reported and the sweep
# goes on; the exit code is 1 if any run failed. Training output goes to
# stderr, the report to stdout. MTBERT_BIN (default
# build/mtbert); MTBERT_LAUNCH, e.g. "mpirun -np 2", runs each config
# data-parallel.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: launch/sweep-local.sh SWEEP_DIR [train options]" >&2; exit 2; }
dir=$1; shift
BIN=${MTBERT_BIN:-build/mtbert}
shopt -s nullglob
cfgs=("$dir"/[0-9][0-9][0-9].yaml)
[ ${#cfgs[@]} -gt 0 ] || { echo "sweep-local.sh: no NNN.yaml in $dir (run mtbert sweep expand first)" >&2; exit 2; }
failed=0
for c in "${cfgs[@]}"; do
    n=$(basename "$c" .yaml)
    echo "sweep-local.sh: run $n: $c" >&2
    # shellcheck disable=SC2086
    if ! ${MTBERT_LAUNCH:-} "$BIN" train "$c" --set checkpoint.resume=auto "$@" >&2; then
        echo "sweep-local.sh: run $n failed" >&2
        failed=1
    fi
done
"$BIN" sweep report "$dir"
exit $failed
