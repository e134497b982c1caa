#!/usr/bin/env bash
# mtbert prepare --synthetic: files, determinism, shard attributes; --help.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" prepare --help >"$T/help" || fail "--help exit $?"
for opt in --format --input --encoding --skip-bad --task --labels --label-part --tag-column --iob1-to-iob2 \
           --sep --label-first --label-last --text-column --text-b-column --label-column --score-column \
           --tokens-key --tags-key --pair-columns --score-scale --vocab --no-lower-case --max-len \
           --label-all-wordpieces --out --name --shards --quiet --synthetic --seed --train --dev; do
    grep -q -- "$opt" "$T/help" || fail "--help does not explain $opt"
done
"$BIN" prepare --no-such-option >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$BIN" prepare --format conll >/dev/null 2>&1; [ $? -eq 2 ] || fail "missing --vocab should exit 2"

"$BIN" prepare --synthetic "$T/a" --seed 5 --train 300 --dev 60 --shards 2 >"$T/out" || fail "synthetic exit $?"
for f in vocab.txt train.conll dev.conll train.jsonl dev.jsonl train-00000-of-00002.h5 train-00001-of-00002.h5 \
         dev-00000-of-00001.h5; do
    [ -s "$T/a/$f" ] || fail "missing $f"
done
head -5 "$T/a/vocab.txt" | tr '\n' ' ' | grep -q '^\[PAD\] \[UNK\] \[CLS\] \[SEP\] \[MASK\]' || fail "special tokens"
n=$(grep -c '^$' "$T/a/train.conll"); [ "$n" -eq 299 ] || fail "train.conll has $((n + 1)) sentences, expected 300"
[ "$(wc -l <"$T/a/dev.jsonl")" -eq 60 ] || fail "dev.jsonl lines"
ls "$T/a" | grep -q "\.tmp\." && fail "temporary files left"

# deterministic from the seed; another seed differs
"$BIN" prepare --synthetic "$T/b" --seed 5 --train 300 --dev 60 --shards 2 --quiet || fail "second run"
cmp -s "$T/a/train.conll" "$T/b/train.conll" || fail "same seed, different train.conll"
cmp -s "$T/a/vocab.txt" "$T/b/vocab.txt" || fail "same seed, different vocab"
"$BIN" prepare --synthetic "$T/c" --seed 6 --train 300 --dev 60 --quiet || fail "third run"
cmp -s "$T/a/train.conll" "$T/c/train.conll" && fail "different seeds, same data"

# the JSONL carries all three tasks: preparing it again gives the same ids and labels
"$BIN" prepare --format jsonl --vocab "$T/a/vocab.txt" --max-len 64 --task topic --task sentiment --task ner:token \
    --label-column topic,sentiment --labels topic=sports,politics,science,business,weather \
    --labels sentiment=negative,neutral,positive --labels ner=O,B-LOC,I-LOC,B-MISC,I-MISC,B-ORG,I-ORG,B-PER,I-PER \
    --out "$T/j" --name dev "$T/a/dev.jsonl" >"$T/jout" || fail "jsonl prepare: $(cat "$T/jout")"
if command -v h5dump >/dev/null; then
    for ds in input_ids lengths offsets labels/topic labels/sentiment labels/ner; do
        h5dump -d "$ds" "$T/a/dev-00000-of-00001.h5" | sed 1d >"$T/x" || fail "h5dump $ds"
        h5dump -d "$ds" "$T/j/dev-00000-of-00001.h5" | sed 1d >"$T/y"
        cmp -s "$T/x" "$T/y" || fail "dataset $ds differs between --synthetic and the JSONL re-prepare"
    done
    h5dump -A "$T/a/train-00001-of-00002.h5" >"$T/attrs" || fail "h5dump -A"
    for a in tokenizer_vocab_hash do_lower_case max_len num_examples total_examples first_example shard_index \
             num_shards tasks task_type label_names; do
        grep -q "ATTRIBUTE \"$a\"" "$T/attrs" || fail "attribute $a missing"
    done
    grep -A6 'ATTRIBUTE "first_example"' "$T/attrs" | grep -q '(0): 150' || fail "first_example of shard 1"
fi
echo "prepare_synthetic: ok"
