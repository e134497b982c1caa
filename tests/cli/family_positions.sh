#!/usr/bin/env bash
# RoBERTa-style position tables (issue 19): position ids start at
# pad_token_id + 1, so a model with max_position_embeddings P holds
# sequences of P - (pad + 1) tokens. The fixture roberta_pooler has P = 20,
# pad 1: 18 tokens. Training on shards of max_len 32 is refused at set-up
# naming the usable 18 positions (it used to pass the shard check, which
# compared with 20, and fail later in the model with another number);
# data.max_len 18 cuts the batches and trains; data.max_len 19 is refused
# the same way.
. "$(dirname "$0")/lib/common.sh"

M="$T/m"
cp -r "$SRC/tests/fixtures/families/roberta_pooler" "$M"
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'; for c in a b c d e f g h i j k l m n o p q r s t u v w x y z; do echo $c; done; } >"$M/vocab.txt"
for i in $(seq 1 20); do printf 'pos\ta b c d e f g h i j k l m n o p q r s t u v w x y\nneg\tz y x\n'; done >"$T/train.tsv"
"$BIN" prepare --format lines --vocab "$M/vocab.txt" --task sent --out "$T/data" --name train --max-len 32 \
    "$T/train.tsv" >"$T/stdout" 2>"$T/stderr" || fail "prepare: $(cat "$T/stderr")"
cat >"$T/c.yaml" <<YAML
model:
  path: $M
tasks:
  - name: sent
    type: sentence_classification
    num_labels: 2
    data:
      train: $T/data/train-*.h5
train:
  steps: 2
  threads: 1
  run_dir: $T/run
YAML

"$BIN" train "$T/c.yaml" >"$T/stdout" 2>"$T/stderr"; rc=$?
[ $rc = 2 ] || fail "max_len 32 on 18 usable positions: exit $rc, expected 2: $(tail -2 "$T/stderr")"
grep -qF "shards were prepared with max_len 32, beyond the model's 18 positions (after the padding offset)" "$T/stderr" \
    || fail "no message naming the 18 usable positions: $(tail -2 "$T/stderr")"

"$BIN" train "$T/c.yaml" --set data.max_len=19 --set "train.run_dir=$T/run19" >"$T/stdout" 2>"$T/stderr"; rc=$?
[ $rc = 2 ] && grep -qF "beyond the model's 18 positions" "$T/stderr" || fail "data.max_len 19: exit $rc: $(tail -2 "$T/stderr")"

"$BIN" train "$T/c.yaml" --set data.max_len=18 --set "train.run_dir=$T/run18" >"$T/stdout" 2>"$T/stderr" \
    || fail "data.max_len 18: exit $?: $(tail -3 "$T/stderr")"
grep -q '"step": *2' "$T/run18/metrics.jsonl" || fail "data.max_len 18: step 2 not logged"
echo "family_positions: ok"
