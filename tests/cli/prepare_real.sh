#!/usr/bin/env bash
# Prepares the real corpora of ../shared/datasets with the bert-base-uncased
# vocabulary and checks the example counts (CoNLL-2003 train 14,041; SST-2
# train 6,920; STS-B train 5,749; TREC 5,452). Skipped without ../shared.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
SRC=${MTBERT_SOURCE:-.}
S="$SRC/../shared"
D="$S/datasets"
V="$S/vocab/bert-base-uncased/vocab.txt"
if [ ! -f "$V" ] || [ ! -f "$D/conll2003/train.txt" ]; then
    echo "SKIPPED: needs $S (datasets and bert-base-uncased vocab)"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
count() { # prepare output -> "tokenized N examples"
    sed -n 's/^tokenized \([0-9]*\) examples.*/\1/p' "$1"
}
run() { # name expected args...
    local name=$1 want=$2; shift 2
    local t0=$(date +%s.%N)
    "$BIN" prepare --vocab "$V" --out "$T" --name "$name" "$@" >"$T/$name.out" 2>"$T/$name.err" \
        || fail "$name: exit $? $(cat "$T/$name.err")"
    local t1=$(date +%s.%N)
    local got=$(count "$T/$name.out")
    [ "$got" = "$want" ] || fail "$name: $got examples, expected $want"
    printf '%-8s %6s examples  %5.2f s  %s\n' "$name" "$got" "$(echo "$t1 - $t0" | bc)" \
        "$(grep -h truncated "$T/$name.out" "$T/$name.err" | head -1)"
}
run conll 14041 --format conll --iob1-to-iob2 --task ner:token --shards 4 "$D/conll2003/train.txt"
run sst2 6920 --format lines --sep space --task sentiment "$D/sst2/train.txt"
run stsb 5749 --format pairs --task sts:similarity --score-scale 0.2 "$D/stsb/sts-train.csv"
run trec 5452 --format lines --sep space --label-part coarse --encoding latin-1 --task qtype "$D/trec/train.txt"
grep -q "9 labels: O B-LOC I-LOC B-MISC I-MISC B-ORG I-ORG B-PER I-PER" "$T/conll.out" || fail "conll labels: $(cat "$T/conll.out")"
grep -q "6 labels: ABBR DESC ENTY HUM LOC NUM" "$T/trec.out" || fail "trec labels"
echo "prepare_real: ok"
