#!/usr/bin/env bash
# An mtbert export loads in sentence-transformers and transformers and gives
# the same embeddings as `mtbert encode` (max abs difference < 1e-4, fp32).
# Needs a Python with torch, transformers and sentence-transformers:
# $MTBERT_PYTHON, else python3; skipped when they are absent (as in CI).
set -u
bin=${MTBERT_BIN:?}
src=${MTBERT_SOURCE:?}
py=${MTBERT_PYTHON:-python3}
if ! "$py" -c "import torch, transformers, sentence_transformers" 2>/dev/null; then
  echo "SKIPPED: $py lacks torch/transformers/sentence-transformers (set MTBERT_PYTHON)"
  exit 77
fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" prepare --synthetic "$work/data" --train 300 --dev 50 >/dev/null 2>&1 || { echo "FAIL: prepare"; exit 1; }
tiny=(--set model.hidden_size=32 --set model.num_layers=2 --set model.num_heads=2 --set model.intermediate_size=64
      --set model.embedding_dim=24 --set model.normalize=true --set model.pooling=mean)
data=()
for t in 0 1 2; do
  data+=(--set "tasks.$t.data.train=$work/data/train-*.h5" --set "tasks.$t.data.eval=$work/data/dev-*.h5")
done
"$bin" train "$src/configs/demo.yaml" "${tiny[@]}" "${data[@]}" --set "model.vocab=$work/data/vocab.txt" \
  --set train.epochs=0 --set train.steps=20 --set eval.every=0 --set "train.run_dir=$work/run" --quiet >/dev/null 2>&1 \
  || { echo "FAIL: train"; exit 1; }
"$bin" export --checkpoint "$work/run/step-0000020" --out "$work/export" 2>/dev/null || { echo "FAIL: export"; exit 1; }
python3 - "$work/data/dev.jsonl" > "$work/sent.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    print(" ".join(json.loads(line)["tokens"]))
PY
"$bin" encode --model "$work/export" --input "$work/sent.txt" --out "$work/ours.npy" || { echo "FAIL: encode"; exit 1; }
"$py" "$src/tests/export/compare_st.py" "$work/export" "$work/sent.txt" "$work/ours.npy"
