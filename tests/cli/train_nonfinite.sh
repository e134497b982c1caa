#!/usr/bin/env bash
# train.nonfinite: a NaN planted in the ner head's bias (a checkpoint given
# to --init-from) makes every step that draws the ner data non-finite, while
# steps on the topic/sentiment data (a second source) stay finite.
#   stop: exit 1, a message naming the step and the task, no checkpoint;
#   skip: exit 0, each skipped step reported and counted in metrics.jsonl
#         (which stays valid JSON), trainer_state.json and the final line.
# A control run from the unpoisoned checkpoint skips nothing.
. "$(dirname "$0")/lib/common.sh"
STEPS=16

synthetic "$T/data" --train 160 --dev 32 --seed 17
tiny_sets "$T/data"
SETS+=(--set logging.every=1
      --set sampling.strategy=uniform --set "tasks.ner.data.train=$T/data/train-00000-of-00001.h5")
for k in topic sentiment; do SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5"); done
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.eval=$T/data/dev-*.h5"); done
train() { "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" "$@"; }

# a checkpoint to start from, then a copy with a NaN in heads.ner.bias
train --set "train.run_dir=$T/init" --set train.steps=2 --quiet >"$T/stdout" 2>"$T/stderr" || fail "initial run"
cp -r "$T/init/step-0000002" "$T/poison"
H="$T/poison/mtbert_heads.safetensors"
if command -v python3 >/dev/null; then
    off=$(python3 - "$H" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])["heads.ner.bias"]
assert t["dtype"] == "F32"
print(8 + n + t["data_offsets"][0])
PY
) || fail "cannot find heads.ner.bias in $H"
else
    off=$(( $(stat -c %s "$H") - 4 ))   # the ner bias is the last tensor of the file
fi
printf '\000\000\300\177' | dd of="$H" bs=1 seek="$off" conv=notrunc 2>/dev/null || fail "dd"
cmp -s "$H" "$T/init/step-0000002/mtbert_heads.safetensors" && fail "the heads file was not modified"

# stop
train --set "train.run_dir=$T/stop" --set train.steps=$STEPS --set train.nonfinite=stop \
    --init-from "$T/poison" >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 1 ] || fail "nonfinite=stop: exit $rc, expected 1"
line=$(grep "non-finite" "$T/stderr")
echo "$line" | grep -qE '^mtbert: non-finite loss at step [0-9]+ in task ner; stopping' \
    || fail "nonfinite=stop: message does not name the step and the task: $line"
kstop=$(echo "$line" | sed 's/.* at step \([0-9]*\) .*/\1/')
[ "$(echo "$line" | wc -l)" -eq 1 ] || fail "nonfinite=stop: more than one non-finite message"
grep -q "done:" "$T/stderr" && fail "nonfinite=stop: the run says it is done"
[ -e "$T/stop/latest" ] && fail "nonfinite=stop: a checkpoint was written"

# skip
train --set "train.run_dir=$T/skip" --set train.steps=$STEPS --set train.nonfinite=skip \
    --init-from "$T/poison" >"$T/stdout" 2>"$T/stderr" || fail "nonfinite=skip: exit $?, expected 0"
nskip=$(grep -c "in task ner: step skipped" "$T/stderr")
[ "$nskip" -gt 0 ] && [ "$nskip" -lt $STEPS ] || fail "nonfinite=skip: $nskip of $STEPS steps skipped (expected some, not all)"
kskip=$(grep -m1 "step skipped" "$T/stderr" | sed 's/.* at step \([0-9]*\) .*/\1/')
[ "$kskip" = "$kstop" ] || fail "first skipped step $kskip, but stop stopped at $kstop"
grep -q "mtbert: done: $STEPS steps in .*, $nskip non-finite steps skipped" "$T/stderr" \
    || fail "nonfinite=skip: the final line does not count $nskip skipped steps"
M="$T/skip/metrics.jsonl"
last=$(grep '"event": "train"' "$M" | tail -1)
echo "$last" | grep -q "\"step\": $STEPS," || fail "last train record is not step $STEPS: $last"
echo "$last" | grep -q "\"nonfinite_skipped\": $nskip}" || fail "metrics.jsonl does not count $nskip skipped steps: $last"
tr -d ' \n' <"$T/skip/step-$(printf %07d $STEPS)/trainer_state.json" | grep -q "\"nonfinite_skipped\":$nskip," \
    || fail "trainer_state.json does not count $nskip skipped steps"
if command -v python3 >/dev/null; then
    python3 - "$M" "$nskip" <<'PY' || fail "metrics.jsonl is not valid JSON lines, or the counts disagree"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]      # raises on a bare nan
train = [r for r in recs if r["event"] == "train"]
counts = [r["nonfinite_skipped"] for r in train]
assert counts == sorted(counts) and counts[-1] == int(sys.argv[2]), counts
# a step is counted exactly where its loss is not a number
prev = 0
for r in train:
    bad = not isinstance(r["loss"], (int, float))
    assert (r["nonfinite_skipped"] - prev) == bad, r
    prev = r["nonfinite_skipped"]
PY
fi
[ -s "$T/skip/curves.svg" ] || fail "no curves.svg after skipped steps (metrics.jsonl unreadable by plot?)"

# control: the unpoisoned checkpoint trains without skips
train --set "train.run_dir=$T/ctl" --set train.steps=$STEPS --set train.nonfinite=stop \
    --init-from "$T/init/step-0000002" >"$T/stdout" 2>"$T/stderr" || fail "control run: exit $?"
grep -q "non-finite" "$T/stderr" && fail "control run reports non-finite steps"
echo "train_nonfinite: ok"
