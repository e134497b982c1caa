#!/usr/bin/env bash
# Mixed batches: with two sources that label different tasks (topic from a
# TSV, NER from CoNLL), data.mixed_batches=true puts rows of both in every
# batch (every logged step has both task losses); with false each step
# trains one source (one task loss per step).
. "$(dirname "$0")/lib/common.sh"
bin=$BIN src=$SRC work=$T
"$bin" prepare --synthetic "$work/syn" --train 400 --dev 40 >/dev/null 2>&1 || fail "prepare --synthetic"
python3 - "$work/syn/train.jsonl" > "$work/topic.tsv" <<'PY' || fail "tsv"
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    print(o["topic"] + "\t" + " ".join(o["tokens"]))
PY
"$bin" prepare --format lines --task topic --vocab "$work/syn/vocab.txt" --out "$work/t" --name topic --max-len 64 --quiet \
  "$work/topic.tsv" || fail "prepare topic"
"$bin" prepare --format conll --task ner --vocab "$work/syn/vocab.txt" --out "$work/n" --name ner --max-len 64 --quiet \
  "$work/syn/train.conll" || fail "prepare ner"
cat > "$work/cfg.yaml" <<YAML
model: {vocab: $work/syn/vocab.txt, vocab_size: 600, hidden_size: 32, num_layers: 1, num_heads: 2,
        intermediate_size: 64, max_position_embeddings: 64}
tasks:
  - {name: topic, type: sentence_classification, num_labels: 5, data: {train: $work/t/topic-*.h5}}
  - {name: ner, type: token_classification, num_labels: 9, data: {train: $work/n/ner-*.h5}}
data: {max_len: 64, batch_size: 32}
sampling: {strategy: uniform}
train: {steps: 10, threads: 2, seed: 3}
logging: {every: 1}
YAML
both() { grep '"event": "train"' "$1" | grep '"loss.topic"' | grep -c '"loss.ner"'; }
"$bin" train "$work/cfg.yaml" --set "train.run_dir=$work/mixed" --set data.mixed_batches=true --quiet 2>"$work/err1" \
  || { cat "$work/err1"; fail "mixed run"; }
n=$(both "$work/mixed/metrics.jsonl")
[ "$n" = 10 ] || fail "mixed: $n of 10 steps had both tasks"
"$bin" train "$work/cfg.yaml" --set "train.run_dir=$work/single" --quiet 2>"$work/err2" || { cat "$work/err2"; fail "single run"; }
n=$(both "$work/single/metrics.jsonl")
[ "$n" = 0 ] || fail "single-source batches: $n steps had both tasks"
echo "train_mixed: ok"
