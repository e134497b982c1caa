#!/usr/bin/env bash
# A short training run on synthetic data (tiny model, 40 steps, evaluation at
# the end): exit 0; the run directory holds the resolved config.yaml,
# metrics.jsonl with train and eval records, curves.svg, a complete
# step-0000040/ checkpoint and a `latest` file naming it; the loss falls
# from the first to the last logged step.
. "$(dirname "$0")/lib/common.sh"
FAIL_TAIL=30

synthetic "$T/data" --train 320 --dev 64 --seed 5
tiny_sets "$T/data"
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=$T/data/dev-*.h5")
done
RUN="$T/run"
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set train.steps=40 --set logging.every=5 \
    --set "train.run_dir=$RUN" >"$T/stdout" 2>"$T/stderr" || fail "train exit $?"

# the run directory
for f in config.yaml metrics.jsonl curves.svg latest; do [ -s "$RUN/$f" ] || fail "no $RUN/$f"; done
[ "$(cat "$RUN/latest")" = "step-0000040" ] || fail "latest names '$(cat "$RUN/latest")', expected step-0000040"
CK="$RUN/step-0000040"
for f in model.safetensors optimizer.safetensors trainer_state.json config.yaml; do
    [ -s "$CK/$f" ] || fail "checkpoint lacks $f"
done
ls -A "$RUN" | grep -q '\.tmp' && fail "temporary files left in the run directory: $(ls -A "$RUN")"
# the resolved configuration: overrides applied, defaults and derived values written
grep -qx "  hidden_size: 32" "$RUN/config.yaml" || fail "config.yaml does not carry model.hidden_size=32"
grep -qx "  steps: 40" "$RUN/config.yaml" || fail "config.yaml does not carry train.steps=40"
grep -qx "  run_dir: $RUN" "$RUN/config.yaml" || fail "config.yaml lacks the run_dir"
for key in "head_lr:" "num_labels: 9" "metric: entity_f1" "run_name: demo"; do
    grep -qF -- "$key" "$RUN/config.yaml" || fail "config.yaml lacks '$key'"
done
grep -q '"step": 40' "$CK/trainer_state.json" || fail "trainer_state.json does not record step 40"
grep -q '<svg' "$RUN/curves.svg" || fail "curves.svg is not an SVG"

M="$RUN/metrics.jsonl"
if command -v python3 >/dev/null; then
    python3 - "$M" <<'PY' || fail "metrics.jsonl check (python) failed"
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
train = [r for r in recs if r.get("event") == "train"]
ev = [r for r in recs if r.get("event") == "eval"]
steps = [r["step"] for r in train]
assert steps == list(range(5, 41, 5)), f"train steps {steps}"
for r in train:
    for k in ("loss", "loss.topic", "loss.sentiment", "loss.ner", "lr", "grad_norm", "nonfinite_skipped"):
        assert k in r, f"train record lacks {k}: {r}"
    assert math.isfinite(r["loss"]), r
    assert r["nonfinite_skipped"] == 0, r
assert len(ev) == 1 and ev[0]["step"] == 40, f"eval records {ev}"
for k in ("topic.accuracy", "sentiment.accuracy", "ner.entity_f1", "ner.loss"):
    assert k in ev[0], f"eval record lacks {k}"
first, last = train[0]["loss"], train[-1]["loss"]
print(f"loss {first} -> {last}")
assert last < first - 0.05, f"loss did not decrease: {first} -> {last}"
PY
else
    [ "$(grep -c '"event": "train"' "$M")" -eq 8 ] || fail "expected 8 train records"
    [ "$(grep -c '"event": "eval", "step": 40' "$M")" -eq 1 ] || fail "expected 1 eval record at step 40"
    first=$(grep '"event": "train"' "$M" | head -1 | sed 's/.*"loss": \([^,]*\),.*/\1/')
    last=$(grep '"event": "train"' "$M" | tail -1 | sed 's/.*"loss": \([^,]*\),.*/\1/')
    awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.05) }' || fail "loss did not decrease: $first -> $last"
fi
grep -q "mtbert: done: 40 steps" "$T/stderr" || fail "no 'done: 40 steps' line"
echo "train_short_run: ok"
