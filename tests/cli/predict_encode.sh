#!/usr/bin/env bash
# predict, encode and export on a trained checkpoint: predict writes one
# JSON object per line with labels from the task's label set and one tag per
# word; encode gives one row of floats per line and the same embeddings
# after export; bad input gets a named error and exit 2.
. "$(dirname "$0")/lib/common.sh"
bin=$BIN src=$SRC work=$T
"$bin" prepare --synthetic "$work/d" --train 300 --dev 30 >/dev/null 2>&1 || fail "prepare"
args=(--set model.hidden_size=32 --set model.num_layers=1 --set model.num_heads=2 --set model.intermediate_size=64
      --set "model.vocab=$work/d/vocab.txt" --set train.epochs=0 --set train.steps=15 --set eval.every=0
      --set "train.run_dir=$work/run" --quiet)
for t in 0 1 2; do args+=(--set "tasks.$t.data.train=$work/d/train-*.h5" --set "tasks.$t.data.eval=$work/d/dev-*.h5"); done
"$bin" train "$src/configs/demo.yaml" "${args[@]}" >/dev/null 2>&1 || fail "train"
ck="$work/run/step-0000015"
printf 'Pedro Larsen visited Lake Geneva .\nthe match was great\n' > "$work/in.txt"
"$bin" predict --model "$ck" --input "$work/in.txt" > "$work/pred.jsonl" || fail "predict"
python3 - "$work/pred.jsonl" <<'PY' || fail "predict output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2, rows
topics = {"sports", "politics", "science", "business", "weather"}
for r in rows:
    assert r["topic"]["label"] in topics, r["topic"]
    assert abs(sum(r["topic"]["probs"].values()) - 1) < 1e-4
    assert r["sentiment"]["label"] in {"positive", "negative", "neutral"}
    assert len(r["ner"]["tags"]) == len(r["ner"]["words"]) == len(r["text"].split())
    for e in r["ner"]["entities"]:
        assert 0 <= e["start"] <= e["end"] < len(r["ner"]["words"])
PY
"$bin" encode --model "$ck" --input "$work/in.txt" > "$work/a.txt" || fail "encode"
[ "$(wc -l < "$work/a.txt")" = 2 ] || fail "encode: not one line per sentence"
[ "$(head -1 "$work/a.txt" | wc -w)" = 32 ] || fail "encode: not 32 values"
"$bin" export --checkpoint "$ck" --out "$work/exp" 2>/dev/null || fail "export"
"$bin" encode --model "$work/exp" --input "$work/in.txt" > "$work/b.txt" || fail "encode export"
cmp -s "$work/a.txt" "$work/b.txt" || fail "export changed the embeddings"
printf "ok\t\xff\n" | "$bin" predict --model "$ck" > /dev/null 2> "$work/err"; rc=$?
[ $rc = 2 ] && grep -q "<stdin>:1: invalid UTF-8 at byte 3" "$work/err" || fail "invalid UTF-8: rc $rc: $(cat "$work/err")"
"$bin" encode --model "$work/nowhere" < "$work/in.txt" > /dev/null 2> "$work/err"; rc=$?
[ $rc = 2 ] && grep -q "nowhere: No such file or directory" "$work/err" || fail "missing model: rc $rc: $(cat "$work/err")"
echo "predict_encode: ok"
