#!/usr/bin/env bash
# mtbert eval CONFIG --checkpoint DIR on a trained checkpoint: exit 0, one
# JSON object on stdout with every task's metrics, equal to the evaluation
# the training run logged for the same weights; a checkpoint lacking a
# configured task's head, a missing folder and a missing --checkpoint are
# refused with exit 2.
. "$(dirname "$0")/lib/common.sh"

synthetic "$T/data" --train 200 --dev 48 --seed 19
tiny_sets "$T/data"
SETS+=(--set logging.every=5 --quiet)
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=$T/data/dev-*.h5")
done
RUN="$T/run"
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set train.steps=30 --set "train.run_dir=$RUN" \
    >"$T/stdout" 2>"$T/stderr" || fail "training run: exit $?"
CK="$RUN/$(cat "$RUN/latest")"
[ -s "$CK/model.safetensors" ] || fail "no checkpoint at $CK"

# evaluate with the run's resolved config (it must load back)
"$BIN" eval "$RUN/config.yaml" --checkpoint "$CK" >"$T/stdout" 2>"$T/stderr" || fail "eval: exit $?"
[ "$(wc -l <"$T/stdout")" -eq 1 ] || fail "eval printed $(wc -l <"$T/stdout") lines on stdout, expected 1"
OUT=$(cat "$T/stdout")
case $OUT in "{"*"}") ;; *) fail "not a JSON object: $OUT" ;; esac
for key in topic.accuracy topic.macro_f1 topic.loss sentiment.accuracy sentiment.macro_f1 \
           ner.entity_f1 ner.entity_precision ner.entity_recall ner.token_accuracy ner.loss; do
    echo "$OUT" | grep -q "\"$key\": [0-9.e+-]*[,}]" || fail "no numeric $key in: $OUT"
done
# the same numbers as the run's own final evaluation (same weights, same data)
EV=$(grep '"event": "eval"' "$RUN/metrics.jsonl" | tail -1)
[ -n "$EV" ] || fail "the training run logged no evaluation"
if command -v python3 >/dev/null; then
    python3 - "$OUT" "$EV" <<'PY' || fail "eval output and the logged evaluation disagree"
import json, sys
out, ev = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert all(isinstance(v, (int, float)) for v in out.values()), out
assert 0 <= out["topic.accuracy"] <= 1 and 0 <= out["ner.entity_f1"] <= 1, out
keys = set(ev) - {"event", "step"}
assert keys == set(out), (sorted(keys ^ set(out)))
bad = {k: (out[k], ev[k]) for k in keys if out[k] != ev[k]}
assert not bad, bad
PY
else
    for key in topic.accuracy sentiment.accuracy ner.entity_f1 ner.loss; do
        a=$(echo "$OUT" | sed "s/.*\"$key\": \([^,}]*\).*/\1/")
        b=$(echo "$EV" | sed "s/.*\"$key\": \([^,}]*\).*/\1/")
        [ "$a" = "$b" ] || fail "$key: eval says $a, the training run logged $b"
    done
fi

# a checkpoint without the head of a configured task is refused, naming it
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set train.steps=2 --set "train.run_dir=$T/two" \
    --set "tasks=[{name: topic, type: sentence_classification, num_labels: 5, data: {train: \"$T/data/train-*.h5\"}}]" \
    >"$T/stdout" 2>"$T/stderr" || fail "one-task run: exit $?"
"$BIN" eval "$RUN/config.yaml" --checkpoint "$T/two/step-0000002" >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 2 ] || fail "eval of a checkpoint lacking heads: exit $rc, expected 2"
grep -q "no head for task 'sentiment'" "$T/stderr" || fail "the missing head is not named"
[ -s "$T/stdout" ] && fail "metrics printed for a checkpoint lacking heads"

"$BIN" eval "$RUN/config.yaml" --checkpoint "$T/nope" >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 2 ] || fail "eval of a missing folder: exit $rc, expected 2"
grep -qF "$T/nope" "$T/stderr" || fail "the missing folder is not named"
"$BIN" eval "$RUN/config.yaml" >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 2 ] || fail "eval without --checkpoint: exit $rc, expected 2"
grep -q "usage: mtbert eval" "$T/stderr" || fail "no usage without --checkpoint"
echo "train_eval: ok"
