#!/usr/bin/env bash
# logging.tensorboard: rank 0 writes RUN_DIR/events.out.tfevents.* beside
# metrics.jsonl, read back by build/tb_read (tests/tools/tb_read.c: TFRecord
# framing, both masked CRC-32Cs recomputed bit by bit, every record unpacked
# as a tensorflow.Event) and compared with metrics.jsonl by
# tests/tools/tb_compare.py: every train, eval and unfreeze field is a scalar
# "EVENT/KEY" at its step, equal to what jsonl prints, and nothing else is.
#   - a fresh run (uncertainty weighting for `objective`, an unfreeze, two
#     evaluations): one event file, SessionLog START at step 1 first,
#     scalars == metrics.jsonl;
#   - resumed from its step-4 checkpoint: a second event file whose first
#     event after file_version is SessionLog START at step 5; the first file
#     is left byte for byte; with TensorBoard's purge on START the two files
#     give exactly the final metrics.jsonl (without it, steps 6 and 8 twice);
#   - logging.tensorboard=false: no event file, metrics.jsonl as with it;
#   - a write error (MTBERT_TB_FAULT_AFTER=3): one warning, training goes on,
#     exit 0, metrics.jsonl complete, the event file cut after file_version
#     and 3 records (START, step 2, the unfreeze).
#   - with a python3 that imports tensorboard (MTBERT_TB_PYTHON, default
#     python3), tests/reference/check_tensorboard.py --compare as well
#     (TensorBoard's EventAccumulator on both files of the resumed run).
. "$(dirname "$0")/lib/common.sh"
TB_READ=${MTBERT_TB_READ:-$(dirname "$BIN")/tb_read}
[ -x "$TB_READ" ] || fail "$TB_READ not built (the tb_read target of CMakeLists.txt)"
command -v python3 >/dev/null || { echo "SKIP: no python3 for tests/tools/tb_compare.py"; exit 77; }
COMPARE="python3 $SRC/tests/tools/tb_compare.py"

synthetic "$T/data" --train 96 --dev 24 --seed 11
tiny_sets "$T/data"
SETS+=(--set train.steps=8 --set logging.every=2 --set eval.every=4 --set checkpoint.every=4
       --set checkpoint.keep_last=0 --set loss_weighting=uncertainty --set freeze.backbone=true
       --set "freeze.unfreeze_at_step={backbone: 3}" --quiet)
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=$T/data/dev-*.h5")
done
train() { "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" "$@" >"$T/stdout" 2>"$T/stderr"; }
events() { find "$1" -maxdepth 1 -name 'events.out.tfevents.*' | sort; }
# metrics.jsonl without the timing (tokens_per_s), for comparing runs
untimed() { sed -E 's/"tokens_per_s": [0-9.e+-]+/"tokens_per_s": T/' "$1"; }

# ---- a fresh run ---------------------------------------------------------
R=$T/run
train --set "train.run_dir=$R" || fail "training run (exit $?)"
[ "$(events "$R" | wc -l)" = 1 ] || fail "expected one event file in $R: $(ls "$R")"
E1=$(events "$R")
basename "$E1" | grep -qE '^events\.out\.tfevents\.[0-9]{10}\.[!-~]+$' || fail "event file name $(basename "$E1")"
M=$R/metrics.jsonl
grep -q '"event": "unfreeze", "step": 4, "group": "backbone"' "$M" || fail "no unfreeze record in $M"
[ "$(grep -c '"event": "eval"' "$M")" = 2 ] || fail "expected 2 eval records in $M"
grep -q '"objective": ' "$M" || fail "no objective in $M"
"$TB_READ" "$E1" >"$T/tb1" 2>"$T/stderr" || fail "tb_read $E1"
# a fresh run starts at step 1: START at 1 (drops nothing), then the records
[ "$(sed -n 3p "$T/tb1")" = "session 1 START" ] || fail "a fresh run's file does not start with START at step 1"
[ "$(grep -c '^session' "$T/tb1")" = 1 ] || fail "more than one SessionLog in the fresh run's file"
$COMPARE "$M" "$T/tb1" --require train/loss --require train/objective --require train/loss.ner \
    --require train/lr --require train/grad_norm --require train/tokens_per_s \
    --require train/nonfinite_skipped --require eval/topic.accuracy --require eval/ner.entity_f1 \
    --require unfreeze/backbone >"$T/cmp" || { cat "$T/cmp"; fail "fresh run: event file != metrics.jsonl"; }
sum1=$(sha256sum <"$E1")
untimed "$M" >"$T/fresh.untimed"

# ---- resumed from step 4 -------------------------------------------------
train --set "train.run_dir=$R" --set "checkpoint.resume=$R/step-0000004" || fail "resumed run (exit $?)"
[ "$(events "$R" | wc -l)" = 2 ] || fail "expected two event files after the resume: $(ls "$R")"
[ "$(sha256sum <"$E1")" = "$sum1" ] || fail "the first event file changed on resume"
E2=$(events "$R" | grep -vxF "$E1")
[ "$(printf '%s\n' "$E1" "$E2" | sort | head -1)" = "$E1" ] || fail "the resumed run's file sorts before the first"
"$TB_READ" "$E2" >"$T/tb2" 2>"$T/stderr" || fail "tb_read $E2"
[ "$(sed -n 3p "$T/tb2")" = "session 5 START" ] ||
    fail "the resumed file does not start with SessionLog START at step 5: $(sed -n 2,3p "$T/tb2" | tr '\n' ' ')"
[ "$(grep -c '^session' "$T/tb2")" = 1 ] || fail "more than one SessionLog in the resumed file"
"$TB_READ" "$E1" "$E2" >"$T/tb12" 2>"$T/stderr" || fail "tb_read both files"
$COMPARE "$M" "$T/tb12" >"$T/cmp" || { cat "$T/cmp"; fail "resume: event files (START applied) != metrics.jsonl"; }
# without the START event the redone steps would be there twice
grep -v '^session' "$T/tb12" >"$T/tb12.nostart"
$COMPARE "$M" "$T/tb12.nostart" >"$T/cmp" && fail "the check passes without the SessionLog START (it cannot fail)"
grep -q 'train/loss @ 6: twice' "$T/cmp" || { cat "$T/cmp"; fail "expected step 6 twice without the START"; }

# ---- logging.tensorboard=false -------------------------------------------
R0=$T/off
train --set "train.run_dir=$R0" --set logging.tensorboard=false || fail "run with logging.tensorboard=false"
[ -z "$(events "$R0")" ] || fail "logging.tensorboard=false: an event file was written: $(events "$R0")"
find "$R0" -name '*tfevents*' | grep -q . && fail "logging.tensorboard=false: a tfevents file somewhere in $R0"
untimed "$R0/metrics.jsonl" | cmp -s - "$T/fresh.untimed" ||
    fail "metrics.jsonl differs between logging.tensorboard true and false"

# ---- a write error -------------------------------------------------------
RF=$T/fault
MTBERT_TB_FAULT_AFTER=3 train --set "train.run_dir=$RF" || fail "run with a TensorBoard write error exited $?"
n=$(grep -c 'TensorBoard log stopped' "$T/stderr")
[ "$n" = 1 ] || fail "expected one 'TensorBoard log stopped' warning, got $n"
grep 'TensorBoard log stopped' "$T/stderr" | grep -qF "$RF/events.out.tfevents." ||
    fail "the warning does not name the event file"
grep -q 'mtbert: done: 8 steps' "$T/stderr" || fail "training did not go on after the write error"
untimed "$RF/metrics.jsonl" | cmp -s - "$T/fresh.untimed" || fail "metrics.jsonl incomplete after a TensorBoard error"
"$TB_READ" "$(events "$RF")" >"$T/tbf" 2>"$T/stderr" || fail "tb_read of the cut file"
# file_version, START, step 2's train record, step 4's unfreeze record; then nothing
n2=$(grep -c '^scalar 2 train/' "$T/tbf")
[ "$n2" -gt 0 ] && [ "$(grep -c '^scalar 4 unfreeze/backbone 1$' "$T/tbf")" = 1 ] &&
    [ "$(grep -c '^scalar' "$T/tbf")" = $((n2 + 1)) ] ||
    fail "the cut event file should hold step 2's train record and the unfreeze only: $(cut -d' ' -f1-2 "$T/tbf" | uniq -c | tr '\n' ' ')"

# ---- TensorBoard's own reader, when there is one -------------------------
PY=${MTBERT_TB_PYTHON:-python3}
if "$PY" -c 'import tensorboard' 2>/dev/null; then
    "$PY" "$SRC/tests/reference/check_tensorboard.py" "$R" --compare --ignore tokens_per_s >"$T/tbpy" 2>&1 ||
        { cat "$T/tbpy"; fail "check_tensorboard.py --compare"; }
    tail -1 "$T/tbpy"
else
    echo "note: $PY has no tensorboard: check_tensorboard.py not run"
fi
echo "PASS: tensorboard"
