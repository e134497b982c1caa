#!/usr/bin/env bash
# The NCCL wall-clock limit on one GPU: test_nccl's "timeout" mode holds the
# NCCL stream for 12 s (MTBERT_NCCL_TEST_STALL_S, a test hook in
# comm/comm_nccl.c, standing in for a dead peer) under a 2 s limit
# (MTBERT_NCCL_TIMEOUT_S). The message naming the all-reduce and the limit
# must appear soon after the limit (< 8 s), and the process must end by
# itself with exit status 1 (ncclCommAbort may wait for the stalled stream,
# so the end can come after the stall). Exit 77 (skipped) without a GPU or
# without NCCL in the build.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
T="$(dirname "$BIN")/test_nccl"
[ -x "$T" ] || { echo "SKIP: $T not built"; exit 77; }
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
MSG="NCCL all-reduce did not finish within 2 s (MTBERT_NCCL_TIMEOUT_S)"
t0=$(date +%s.%N)
MTBERT_NCCL_TIMEOUT_S=2 MTBERT_NCCL_TEST_STALL_S=12 timeout 60 "$T" timeout >"$LOG" 2>&1 &
pid=$!
seen=""
while kill -0 $pid 2>/dev/null; do
    if [ -z "$seen" ] && grep -q "$MSG" "$LOG"; then seen=$(date +%s.%N); fi
    sleep 0.2
done
wait $pid
rc=$?
t1=$(date +%s.%N)
[ -z "$seen" ] && grep -q "$MSG" "$LOG" && seen=$t1
sed 's/^/  | /' "$LOG" | tail -n 12
[ $rc -eq 77 ] && { echo "SKIPPED: $(grep -m1 SKIPPED "$LOG")"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
[ $rc -eq 124 ] && fail "the process did not end by itself (killed by timeout 60)"
[ $rc -eq 3 ] && fail "the all-reduce came back instead of ending the process"
[ $rc -eq 1 ] || fail "exit status $rc, want 1"
[ -n "$seen" ] || fail "no message naming the all-reduce and the 2 s limit"
msg_s=$(awk -v a="$t0" -v b="$seen" 'BEGIN { printf "%.1f", b - a }')
end_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
awk -v m="$msg_s" 'BEGIN { exit !(m < 8) }' || fail "the message came after ${msg_s} s for a 2 s limit"
echo "nccl_timeout: ok (message after ${msg_s} s, process ended after ${end_s} s with exit 1)"
