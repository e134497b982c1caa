#!/usr/bin/env bash
# Set-up refuses what cannot fit and stops on a signal (issue 15 point 4):
#   1. data.batch_size 1000000 (on 120 examples) used to be allocated
#      lazily and grow until the OOM killer came; now it is refused at once
#      with "needs X GiB ..., Y GiB available", X at least the encoder's
#      activations (2 layers x 10 x B x T x hidden floats), Y no more than
#      the machine's memory;
#   2. under a (test) memory limit, MTBERT_MEM_AVAILABLE_MIB, the batch the
#      refusal suggests passes the same check (and trains) while the one
#      asked for does not;
#   3. a SIGTERM during set-up (while it waits for its vocabulary, a FIFO
#      the test writes after the signal) stops the run before its first
#      step: exit 3, no step trained, no checkpoint (the signal used to be
#      acknowledged and set-up carried on: a step was trained and saved).
. "$(dirname "$0")/lib/common.sh"

synthetic "$T/data" --train 120 --dev 24 --seed 29
tiny_sets "$T/data"
SETS+=(--set logging.every=1 --set train.steps=2 --set eval.every=0 --set checkpoint.every=0)
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=")
done
train() { "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" "$@"; }

# ---- 1. batch 10^6
start=$(date +%s)
timeout 120 "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set data.batch_size=1000000 \
    --set "train.run_dir=$T/big" >"$T/stdout" 2>"$T/stderr"
rc=$?
took=$(( $(date +%s) - start ))
[ $rc -eq 2 ] || fail "batch 1000000: exit $rc, expected 2 (124: still running after 120 s)"
[ $took -le 30 ] || fail "batch 1000000: the refusal took ${took}s"
line=$(grep -m1 "data.batch_size 1000000 x 64 tokens: the model needs" "$T/stderr") || fail "batch 1000000: no memory message"
need=$(sed 's/.*needs \([0-9.]*\) GiB.*/\1/' <<<"$line")
avail=$(sed 's/.*), \([0-9.]*\) GiB available.*/\1/' <<<"$line")
total_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
awk -v n="$need" -v a="$avail" -v m="$total_gib" 'BEGIN {
    low = 2 * 10 * 1000000 * 64 * 32 * 4 / 2^30      # 2 layers x 10 (N x C) activations, float32
    exit !(n >= low && n < 20 * low && a > 0 && a <= m + 0.1) }' \
    || fail "batch 1000000: needs $need GiB, $avail GiB available (MemTotal $total_gib GiB): out of range"
ls "$T/big" 2>/dev/null | grep -q . && fail "batch 1000000: files written into the run dir: $(ls "$T/big")"

# ---- 2. the suggested batch passes the same limit
MTBERT_MEM_AVAILABLE_MIB=6 train --set data.batch_size=4096 --set "train.run_dir=$T/lim" >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 2 ] || fail "batch 4096 under a 6 MiB limit: exit $rc, expected 2"
grep -qF "GiB available" "$T/stderr" || fail "batch 4096 under a 6 MiB limit: no memory message"
fits=$(sed -n 's/.*data.batch_size=\([0-9]*\) would just fit.*/\1/p' "$T/stderr" | head -1)
[ -n "$fits" ] && [ "$fits" -gt 0 ] && [ "$fits" -lt 4096 ] || fail "no usable batch suggested (got '$fits')"
MTBERT_MEM_AVAILABLE_MIB=6 train --set "data.batch_size=$fits" --set "train.run_dir=$T/lim2" --quiet \
    >"$T/stdout" 2>"$T/stderr" || fail "the suggested data.batch_size=$fits under the same limit: exit $?"
MTBERT_MEM_AVAILABLE_MIB=6 train --set "data.batch_size=$((fits * 2))" --set "train.run_dir=$T/lim3" \
    >"$T/stdout" 2>"$T/stderr"
[ $? -eq 2 ] || fail "twice the suggested batch ($((fits * 2))) was not refused"

# ---- 3. SIGTERM during set-up: the vocabulary is a FIFO, so set-up blocks
# reading it until the test writes; the signal comes while it waits
mkfifo "$T/vocab.fifo"
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "model.vocab=$T/vocab.fifo" --set "train.run_dir=$T/sig" \
    >"$T/stdout" 2>"$T/stderr" &   # the binary itself, so that $! is its PID
pid=$!
sleep 1
kill -0 $pid 2>/dev/null || fail "SIGTERM during set-up: the run ended before the signal"
grep -q '^step [0-9]' "$T/stderr" && fail "SIGTERM during set-up: training began before the vocabulary was written"
kill -TERM $pid
sleep 0.3
# feed the vocabulary once: set-up reads it once (several writers one after
# another could meet one read and arrive concatenated); gives up after 20 s
( timeout 20 dd if="$T/data/vocab.txt" of="$T/vocab.fifo" status=none ) &
writer=$!
wait $pid
rc=$?
kill $writer 2>/dev/null
timeout 5 cat "$T/vocab.fifo" >/dev/null 2>&1 # a write in progress ends
[ $rc -eq 3 ] || fail "SIGTERM during set-up: exit $rc, expected 3"
grep -qF "stopped on SIGTERM during set-up" "$T/stderr" || fail "SIGTERM during set-up: no message"
grep -q '^step [0-9]' "$T/stderr" && fail "SIGTERM during set-up: a step was trained"
ls "$T/sig" | grep -q '^step-' && fail "SIGTERM during set-up: a checkpoint was written"
# and the run dir does not count as an earlier run: a fresh run starts there
train --set "train.run_dir=$T/sig" --quiet >"$T/stdout" 2>"$T/stderr" || fail "a fresh run after the set-up stop: exit $?"
echo "train_setup_limits: ok (batch 10^6 refused in ${took}s: needs $need GiB, $avail GiB available; suggested batch $fits fits a 6 MiB limit; SIGTERM in set-up stopped before step 1)"
