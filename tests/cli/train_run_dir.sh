#!/usr/bin/env bash
# The run directory is one run's (issue 15 points 8 and 9):
#   1. a fresh run (checkpoint.resume: none) into a non-empty run dir is
#      refused (exit 2) naming the folder and what is in it, and leaves the
#      old run's files as they were;
#   2. checkpoint.overwrite=true clears the old run first: its metrics,
#      later checkpoints and `best` are gone, a file it did not write stays;
#   3. a save over an existing step folder replaces it (it used to keep the
#      OLD folder while logging that it saved the new one): resumed from
#      step 6 with another lr, the new step-12 holds the new weights;
#   4. a second run in a run dir that a live run holds is refused naming
#      the holder's PID (even with resume=auto, which skips check 1); once
#      the holder is gone (kill -9, the lock file stays) a run proceeds.
. "$(dirname "$0")/lib/common.sh"

synthetic "$T/data" --train 120 --dev 24 --seed 17
tiny_sets "$T/data"
SETS+=(--set logging.every=1 --set schedule.warmup_ratio=0 --set schedule.decay=constant
       --set checkpoint.every=6 --set checkpoint.keep_last=0 --set eval.every=0 --quiet)
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=")
done
train() { "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" "$@"; }
R=$T/run

# ---- the old run: 12 steps, checkpoints at 6 and 12
train --set "train.run_dir=$R" --set train.steps=12 >"$T/stdout" 2>"$T/stderr" || fail "first run: exit $?"
[ -d "$R/step-0000012" ] || fail "first run wrote no step-0000012"
sum_before=$(cd "$R" && cat metrics.jsonl config.yaml latest step-0000012/model.safetensors | md5sum)

# ---- 1. a fresh run into it is refused
train --set "train.run_dir=$R" --set train.steps=6 >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 2 ] || fail "fresh run into a non-empty run dir: exit $rc, expected 2"
grep -qF "$R: the run directory is not empty" "$T/stderr" || fail "the refusal does not name the run dir"
for e in config.yaml metrics.jsonl step-0000006/ latest; do
    grep -qF -- "$e" "$T/stderr" || fail "the refusal does not list $e"
done
grep -qF "checkpoint.overwrite=true" "$T/stderr" || fail "the refusal does not say how to overwrite"
sum_after=$(cd "$R" && cat metrics.jsonl config.yaml latest step-0000012/model.safetensors | md5sum)
[ "$sum_before" = "$sum_after" ] || fail "the refused run changed the old run's files"

# ---- 2. overwrite: the old run is cleared first, a foreign file stays
echo "my notes" >"$R/notes.txt"
train --set "train.run_dir=$R" --set train.steps=6 --set checkpoint.overwrite=true --set optimizer.lr=3e-3 \
    >"$T/stdout" 2>"$T/stderr" || fail "overwrite run: exit $?"
[ -e "$R/step-0000012" ] && fail "overwrite: the old run's step-0000012 survived"
[ -d "$R/step-0000006" ] || fail "overwrite: no step-0000006 of the new run"
[ "$(cat "$R/latest")" = step-0000006 ] || fail "overwrite: latest names $(cat "$R/latest")"
[ "$(grep -c '"event": "train"' "$R/metrics.jsonl")" = 6 ] || fail "overwrite: metrics.jsonl does not hold exactly the new run's 6 records"
grep -q 'lr: 0.003' "$R/config.yaml" || fail "overwrite: config.yaml is not the new run's"
[ "$(cat "$R/notes.txt")" = "my notes" ] || fail "overwrite removed a file the run did not write"
grep -qF "left alone: notes.txt" "$T/stderr" || fail "overwrite does not say what it left alone"

# ---- 3. a save over an existing folder of the same name replaces it
R3=$T/run3
train --set "train.run_dir=$R3" --set train.steps=12 >"$T/stdout" 2>"$T/stderr" || fail "run 3: exit $?"
cp "$R3/step-0000012/model.safetensors" "$T/old12.safetensors"
train --set "train.run_dir=$R3" --set train.steps=12 --set "checkpoint.resume=$R3/step-0000006" \
    --set optimizer.lr=5e-3 --set logging.every=100 >"$T/stdout" 2>"$T/stderr" || fail "run 3 resumed with another lr: exit $?"
grep -qF "resumed from $R3/step-0000006 at step 6" "$T/stderr" || fail "run 3 did not resume from step 6"
grep -qF "warning: $R3 holds checkpoints past step 6 (the newest: step-0000012)" "$T/stderr" \
    || fail "run 3: no warning about the later checkpoints of the run dir"
cmp -s "$T/old12.safetensors" "$R3/step-0000012/model.safetensors" \
    && fail "step-0000012 still holds the OLD weights after a new save of step 12"
grep -q 'lr: 0.005' "$R3/step-0000012/config.yaml" || fail "step-0000012/config.yaml is not the new run's"
ls -A "$R3" | grep -q '^\.step-' && fail "temporary or old folders left: $(ls -A "$R3" | tr '\n' ' ')"

# ---- 4. the lock: a second run while the first is alive
R4=$T/run4
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$R4" --set train.steps=1000000 \
    --set checkpoint.every=0 --set logging.every=1000000 >"$T/stdout4" 2>"$T/stderr4" &
holder=$!
for _ in $(seq 1 200); do [ -s "$R4/config.yaml" ] && break; sleep 0.1; done
[ -s "$R4/config.yaml" ] || { FAIL_LOG=$T/stderr4; fail "the first run did not start"; }
train --set "train.run_dir=$R4" --set train.steps=6 --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr"
rc=$?
kill -0 $holder 2>/dev/null || { FAIL_LOG=$T/stderr4; fail "the first run ended early"; }
[ $rc -eq 2 ] || fail "a second run in a locked run dir: exit $rc, expected 2"
grep -qF "in use by another training run (PID $holder" "$T/stderr" || fail "the refusal does not name the holder's PID $holder"
kill -9 $holder
wait $holder 2>/dev/null
# the holder is gone (its lock file and PID remain): the run dir is free again
train --set "train.run_dir=$R4" --set train.steps=6 --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr" \
    || fail "a run after the holder died: exit $?"
echo "train_run_dir: ok (fresh run refused, overwrite cleared the old run, same-name save replaced, second run refused naming PID $holder)"
