#!/usr/bin/env bash
# One-thread speed of `mtbert tokenize` (BERT BasicTokenizer + WordPiece) on
# real text: SST-2 train sentences and CoNLL-2003 train sentences (the words
# of each sentence joined with spaces), bert-base-uncased vocabulary.
# The prepared text goes to a temporary folder; timing excludes file reading.
#
#   bench/tokenizer_speed.sh [REPEAT]       (default 50 passes over each file)
#
# MTBERT_BIN: the binary (default build/mtbert); MTBERT_SHARED: the shared
# data folder (default ../shared beside the source tree). Skips (exit 77)
# when that folder is absent.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MTBERT_BIN:-$SRC/build/mtbert}
SHARED=${MTBERT_SHARED:-$SRC/../shared}
REPEAT=${1:-50}
VOCAB=$SHARED/vocab/bert-base-uncased/vocab.txt
SST=$SHARED/datasets/sst2/train.txt
CONLL=$SHARED/datasets/conll2003/train.txt
for f in "$VOCAB" "$SST" "$CONLL"; do
    [ -f "$f" ] || { echo "SKIPPED: $f not found (the shared data folder is absent)"; exit 77; }
done
[ -x "$BIN" ] || { echo "error: $BIN is not an executable (set MTBERT_BIN)" >&2; exit 2; }
T=$(mktemp -d /tmp/mtbert-tokbench.XXXXXX)
trap 'rm -rf "$T"' EXIT

# SST-2: "LABEL sentence" -> sentence
sed 's/^[^ ]* //' "$SST" >"$T/sst2.txt"
# CoNLL-2003: first column, sentences separated by blank lines, no -DOCSTART-
awk '/^-DOCSTART-/ { next }
     NF == 0 { if (n) print s; s = ""; n = 0; next }
     { s = n ? s " " $1 : $1; n++ }
     END { if (n) print s }' "$CONLL" >"$T/conll2003.txt"

echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores visible; one thread used"
for f in sst2 conll2003; do
    echo "== $f"
    "$BIN" tokenize --vocab "$VOCAB" --bench "$T/$f.txt" --repeat "$REPEAT" || exit 1
done
