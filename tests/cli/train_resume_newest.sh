#!/usr/bin/env bash
# Resume finds the newest complete checkpoint, and metrics.jsonl is cut
# back to it (issue 15 points 10 and 12):
#   1. the FIRST save of a run crashes between its rename and `latest`
#      (MTBERT_FAULT_AT=rename): there is no `latest`; resume=auto must
#      continue from step-0000006 (it used to restart from step 0);
#   2. `latest` stale (names step 6 while step 12 is complete) or naming a
#      folder that is gone: resume=auto takes step 12 and says so, and
#      `latest` is put right;
#   3. a save that fails (crash before the rename, MTBERT_FAULT_AT=model)
#      after steps 7..12 were logged, then resume=auto from step 6: the
#      metrics log holds steps 1..12 once each (records 7..12 of the failed
#      attempt dropped), identical to an uninterrupted run's, and a line cut
#      short by a crash is dropped too.
. "$(dirname "$0")/lib/common.sh"

synthetic "$T/data" --train 120 --dev 24 --seed 19
tiny_sets "$T/data"
SETS+=(--set logging.every=1 --set schedule.warmup_ratio=0 --set schedule.decay=constant
       --set checkpoint.every=6 --set checkpoint.keep_last=0 --set eval.every=0 --quiet)
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=")
done
train() { "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" "$@"; }
records() { grep '"event": "train"' "$1" | sed 's/, "tokens_per_s": [^,}]*//'; }
steps_of() { records "$1" | sed 's/.*"step": \([0-9]*\),.*/\1/' | tr '\n' ' '; }

# reference: 12 steps uninterrupted
train --set "train.run_dir=$T/ref" --set train.steps=12 >"$T/stdout" 2>"$T/stderr" || fail "reference run: exit $?"

# ---- 1. the first checkpoint renamed, `latest` never written
R=$T/r1
MTBERT_FAULT_AT=rename train --set "train.run_dir=$R" --set train.steps=6 >"$T/stdout" 2>"$T/stderr"
[ $? -eq 3 ] || fail "1: the simulated crash did not happen"
[ -e "$R/latest" ] && fail "1: latest exists although the crash came before it"
[ -s "$R/step-0000006/trainer_state.json" ] || fail "1: step-0000006 is not complete after the rename"
train --set "train.run_dir=$R" --set train.steps=12 --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr" \
    || fail "1: resume: exit $?"
grep -qF "resumed from $R/step-0000006 at step 6" "$T/stderr" || fail "1: did not resume from step-0000006 (latest missing)"
grep -qF "latest is missing" "$T/stderr" || fail "1: no word that latest was missing"
[ "$(steps_of "$R/metrics.jsonl")" = "$(seq 1 12 | tr '\n' ' ')" ] || fail "1: metrics steps: $(steps_of "$R/metrics.jsonl")"
cmp -s "$T/ref/step-0000012/model.safetensors" "$R/step-0000012/model.safetensors" \
    || fail "1: the resumed run's weights differ from the uninterrupted run's"

# ---- 2. `latest` stale, then naming a folder that is gone
printf 'step-0000006\n' >"$R/latest"
train --set "train.run_dir=$R" --set train.steps=13 --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr" \
    || fail "2: resume with a stale latest: exit $?"
grep -qF "resumed from $R/step-0000012 at step 12" "$T/stderr" || fail "2: did not resume from step-0000012 (latest stale)"
grep -qF "latest names step-0000006" "$T/stderr" || fail "2: no word that latest was stale"
[ "$(cat "$R/latest")" = step-0000013 ] || fail "2: latest after the run: $(cat "$R/latest")"
printf 'step-0000099\n' >"$R/latest"
train --set "train.run_dir=$R" --set train.steps=13 --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr" \
    || fail "2: resume with latest naming a missing folder: exit $?"
grep -qF "resumed from $R/step-0000013 at step 13" "$T/stderr" || fail "2: did not resume from step-0000013 (latest names a missing folder)"
# an incomplete folder (no trainer_state.json) is not a checkpoint
mkdir "$R/step-0000050" && cp "$R/step-0000013/model.safetensors" "$R/step-0000050/"
train --set "train.run_dir=$R" --set train.steps=13 --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr" \
    || fail "2: resume beside an incomplete folder: exit $?"
grep -qF "resumed from $R/step-0000013 at step 13" "$T/stderr" || fail "2: an incomplete step-0000050 was taken for a checkpoint"

# ---- 3. a failed save, then resume: records past the checkpoint dropped
R=$T/r3
train --set "train.run_dir=$R" --set train.steps=6 >"$T/stdout" 2>"$T/stderr" || fail "3: first run: exit $?"
MTBERT_FAULT_AT=model train --set "train.run_dir=$R" --set train.steps=12 --set checkpoint.resume=auto \
    >"$T/stdout" 2>"$T/stderr"
[ $? -eq 3 ] || fail "3: the simulated crash did not happen"
[ "$(steps_of "$R/metrics.jsonl")" = "$(seq 1 12 | tr '\n' ' ')" ] || fail "3: before the resume, steps $(steps_of "$R/metrics.jsonl")"
printf '{"event": "train", "step": 1' >>"$R/metrics.jsonl"   # a record cut short by the crash
train --set "train.run_dir=$R" --set train.steps=12 --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr" \
    || fail "3: resume: exit $?"
grep -qF "resumed from $R/step-0000006 at step 6" "$T/stderr" || fail "3: did not resume from step 6"
[ "$(steps_of "$R/metrics.jsonl")" = "$(seq 1 12 | tr '\n' ' ')" ] || fail "3: after the resume, steps $(steps_of "$R/metrics.jsonl")"
diff <(records "$T/ref/metrics.jsonl") <(records "$R/metrics.jsonl") >"$T/diff" \
    || { cat "$T/diff"; fail "3: the metrics differ from the uninterrupted run's"; }
grep -vq '^{.*}$' "$R/metrics.jsonl" && fail "3: a line that is not a whole JSON object is left"
echo "train_resume_newest: ok (no latest, stale latest, missing latest target, incomplete folder; metrics cut back to the resumed step)"
