#!/usr/bin/env bash
# run_gpu_tests.sh — the GPU test pass in one command, on a host with a CUDA GPU.
#
#   tests/gpu/run_gpu_tests.sh            # from the repository root
#
# Configures and builds into build-gpu (reused when present, e.g. carried
# over), runs `ctest -L gpu`, then compute-sanitizer memcheck and racecheck
# on the CUDA op test. Everything is logged to ${OUT:-.}/gpu-tests.log.
# Exit status: 0 when all steps passed, 1 otherwise.
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-gpu}"
LOGDIR="${OUT:-.}"
mkdir -p "$LOGDIR"
LOG="$LOGDIR/gpu-tests.log"
: > "$LOG"
fail=0
step() { # name, command...
    local name="$1"; shift
    echo "=== $name: $*" | tee -a "$LOG"
    if "$@" >> "$LOG" 2>&1; then
        echo "=== $name: OK" | tee -a "$LOG"
    else
        echo "=== $name: FAILED (rc $?)" | tee -a "$LOG"
        fail=1
    fi
}
{ echo "host: $(hostname)"; date; nvidia-smi 2>&1 | head -15; } >> "$LOG"

NVCC=/usr/local/cuda/bin/nvcc
[ -x "$NVCC" ] || NVCC="$(command -v nvcc || true)"
SAN=/usr/local/cuda/bin/compute-sanitizer
[ -x "$SAN" ] || SAN="$(command -v compute-sanitizer || true)"

step configure cmake -B "$BUILD" -S "$ROOT" ${NVCC:+-DCMAKE_CUDA_COMPILER=$NVCC}
step build cmake --build "$BUILD" -j"$(nproc)"
step ctest-gpu ctest --test-dir "$BUILD" -L gpu --output-on-failure
tail -n 80 "$LOG" | grep -E "norm-err|FAILED|passed|SKIPPED" | tail -n 20

TEST="$BUILD/test_cuda_ops"
if [ -n "$SAN" ] && [ -x "$TEST" ]; then
    # the sanitizers are slow: they run the same test (sizes are modest).
    # No --leak-check: the backend keeps its stream, cuBLAS handles, Lt
    # workspace, scratch and span table for the life of the process by
    # design, and leaks count as errors for --error-exitcode.
    step memcheck "$SAN" --tool memcheck --error-exitcode 3 "$TEST"
    step racecheck "$SAN" --tool racecheck --error-exitcode 3 "$TEST"
else
    echo "=== sanitizers: skipped (compute-sanitizer or $TEST missing)" | tee -a "$LOG"
    fail=1
fi
echo "log: $LOG"
exit $fail
