#!/usr/bin/env bash
# train.gradient_checkpointing: the demo's three tasks (topic, sentiment,
# NER) on a 3-layer model with dropout on train to byte-identical weights,
# heads and optimizer state, and identical loss records, with and without
# recomputing the layers in backward; bench reports the smaller model
# memory (model_mib) with it on.
. "$(dirname "$0")/lib/common.sh"
synthetic "$T/d" --train 64 --dev 16 --seed 5
tiny_sets "$T/d"
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/d/train-*.h5" --set "tasks.$k.data.eval=$T/d/dev-*.h5"); done
SETS+=(--set model.num_layers=3 --set model.max_position_embeddings=64 --set data.max_len=64 --set train.steps=5
       --set eval.every=5 --set logging.every=1 --set train.grad_accum=2)
for g in false true; do
    "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$T/run-$g" \
        --set "train.gradient_checkpointing=$g" --quiet >"$T/stdout" 2>"$T/stderr" || fail "train (checkpointing $g)"
    grep -q "^  gradient_checkpointing: $g$" "$T/run-$g/config.yaml" || fail "config.yaml does not record gradient_checkpointing: $g"
done
for f in model.safetensors mtbert_heads.safetensors optimizer.safetensors; do
    a=$(sha256sum <"$T/run-false/step-0000005/$f") b=$(sha256sum <"$T/run-true/step-0000005/$f")
    [ "$a" = "$b" ] || fail "$f differs with gradient checkpointing"
done
strip() { sed -e 's/"tokens_per_s": [0-9.e+-]*//' -e 's/"elapsed_s": [0-9.e+-]*//' "$1"; }
diff <(strip "$T/run-false/metrics.jsonl") <(strip "$T/run-true/metrics.jsonl") >"$T/diff" ||
    { FAIL_LOG=$T/diff; fail "metrics.jsonl differs with gradient checkpointing"; }
grep -q '"loss.ner"' "$T/run-true/metrics.jsonl" || fail "no NER loss logged"
mib() { "$BIN" bench "$SRC/configs/demo.yaml" "${SETS[@]}" --set bench.steps=1 --set bench.warmup=0 --set bench.seq_len=32 \
            --set bench.batch_size=8 --set "train.gradient_checkpointing=$1" --quiet 2>"$T/stderr" | tail -1 |
        grep -oE '"model_mib": [0-9.]+' | grep -oE '[0-9.]+$'; }
m0=$(mib false) m1=$(mib true)
[ -n "$m0" ] && [ -n "$m1" ] || fail "bench printed no model_mib"
awk -v a="$m0" -v b="$m1" 'BEGIN { exit !(b < a) }' || fail "bench: model_mib $m1 with checkpointing, $m0 without"
echo "PASS: identical training with and without gradient checkpointing; model memory $m0 -> $m1 MiB"
