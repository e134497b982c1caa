#!/usr/bin/env bash
# Early stopping: eval.patience evaluations in a row that do not beat the
# best selection metric by more than eval.min_delta stop the run after that
# evaluation (exit 0), with the checkpoint of that step as latest and the
# best one as RUN/best, said on stderr and as an "early_stop" record in
# metrics.jsonl. The count is part of the resumable state: a run resumed
# from a middle checkpoint stops at the same step with the same weights.
# eval.patience without eval.every, or with checkpoint.keep_best false, is
# refused naming the keys.
. "$(dirname "$0")/lib/common.sh"
synthetic "$T/d" --train 200 --dev 30 --seed 8
tiny_sets "$T/d"
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/d/train-*.h5" --set "tasks.$k.data.eval=$T/d/dev-*.h5"); done
SETS+=(--set model.max_position_embeddings=64 --set data.max_len=64 --set train.steps=20 --set eval.every=2
       --set logging.every=2)
train() { local rd=$1; shift; "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$rd" "$@" >"$T/stdout" 2>"$T/stderr"; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# 1. nothing beats the first evaluation by 1e9: the evaluations at steps 4
#    and 6 count, and the run stops at step 6; best stays at step 2
R=$T/stop
train "$R" --set eval.patience=2 --set eval.min_delta=1e9 || fail "early-stopping run failed (exit $?)"
grep -q "early stopping at step 6: .* in 2 evaluations; best .* at step 2 ($R/best)" "$T/stderr" || fail "no early-stopping message"
grep -q "done: 6 steps in .* (stopped early)" "$T/stderr" || fail "no done line"
[ "$(cat "$R/latest")" = step-0000006 ] || fail "latest is $(cat "$R/latest"), not step-0000006"
[ "$(readlink "$R/best" 2>/dev/null || cat "$R/best")" = step-0000002 ] || fail "best is not step-0000002"
[ -d "$R/step-0000002" ] || fail "the best checkpoint step-0000002 was not kept"
[ "$(grep -c '"event": "eval"' "$R/metrics.jsonl")" = 3 ] || fail "expected 3 evaluations (steps 2, 4, 6)"
tail -1 "$R/metrics.jsonl" | grep -q '^{"event": "early_stop", "step": 6, "best_step": 2, "best_metric": .*"evals_since_best": 2}$' ||
    fail "last metrics.jsonl record: $(tail -1 "$R/metrics.jsonl")"
[ "$(field "$R/step-0000006/trainer_state.json" evals_since_best)" = 2 ] || fail "trainer_state.json evals_since_best"

# 2. without early stopping the same run goes the whole way
R0=$T/full
train "$R0" --set eval.min_delta=1e9 || fail "run without patience failed"
[ "$(cat "$R0/latest")" = step-0000020 ] || fail "without patience the run stopped at $(cat "$R0/latest")"
grep -q early_stop "$R0/metrics.jsonl" && fail "early_stop record without patience"

# 3. resume: patience 3 stops at step 8 straight; resumed from its step-4
#    checkpoint (one evaluation without improvement so far) in another run
#    directory it stops at step 8 too, with the same weights (a count that is
#    not resumed would stop at step 10)
A=$T/straight B=$T/resumed
train "$A" --set eval.patience=3 --set eval.min_delta=1e9 --set checkpoint.every=2 --set checkpoint.keep_last=0 ||
    fail "straight run"
[ "$(cat "$A/latest")" = step-0000008 ] || fail "straight run stopped at $(cat "$A/latest"), not step 8"
[ "$(field "$A/step-0000004/trainer_state.json" evals_since_best)" = 1 ] || fail "step-4 state: evals_since_best"
train "$B" --set eval.patience=3 --set eval.min_delta=1e9 --set checkpoint.every=2 \
    --set "checkpoint.resume=$A/step-0000004" || fail "resumed run"
[ "$(cat "$B/latest")" = step-0000008 ] || fail "resumed run stopped at $(cat "$B/latest"), not step 8"
for f in model.safetensors mtbert_heads.safetensors optimizer.safetensors; do
    cmp -s "$A/step-0000008/$f" "$B/step-0000008/$f" || fail "$f differs between the straight and the resumed run"
done

# 4. refused set-ups name the keys
train "$T/bad1" --set eval.patience=2 --set eval.every=0; rc=$?
[ "$rc" = 2 ] && grep -q "eval.patience: early stopping needs periodic evaluations" "$T/stderr" ||
    { FAIL_LOG=$T/stderr; fail "patience without eval.every: exit $rc"; }
train "$T/bad2" --set eval.patience=2 --set checkpoint.keep_best=false; rc=$?
[ "$rc" = 2 ] && grep -q "eval.patience: .*checkpoint.keep_best must be true" "$T/stderr" ||
    { FAIL_LOG=$T/stderr; fail "patience with keep_best false: exit $rc"; }
echo "PASS: early stopping (stop step, best, record, resume, refused set-ups)"
