#!/usr/bin/env bash
# `mtbert tokenize` against the original BERT tokenizer: every line of
# ../shared/tokenizer-cases/input.txt must give the ids of expected.txt
# (bert-base-uncased vocabulary, lowercasing). Skips (77) without ../shared.
#
# The cases come from google-research/bert's tokenization.py, whose
# WordpieceTokenizer keeps words of up to 200 characters (Hugging Face's
# BertTokenizer, and mtbert's default, stop at 100): line 2708 is one
# 120-character word that the reference splits into 30 pieces, so the run
# uses --max-word-chars 200.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
SRC=${MTBERT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=$SRC/../shared
CASES=$SHARED/tokenizer-cases
VOCAB=$SHARED/vocab/bert-base-uncased/vocab.txt
for f in "$CASES/input.txt" "$CASES/expected.txt" "$VOCAB"; do
    [ -f "$f" ] || { echo "SKIPPED: $f not found (the shared data folder is absent)"; exit 77; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$BIN" tokenize --vocab "$VOCAB" --max-word-chars 200 <"$CASES/input.txt" >"$T/got.txt" 2>"$T/err.txt"
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: mtbert tokenize exited $rc: $(head -5 "$T/err.txt")"
    exit 1
fi
# compare line by line (expected.txt: one line of ids per input line)
total=$(wc -l <"$CASES/expected.txt")
got_lines=$(wc -l <"$T/got.txt")
same=$(paste -d '\n' "$T/got.txt" "$CASES/expected.txt" | awk 'NR % 2 == 1 { a = $0; next } a == $0 { n++ } END { print n + 0 }')
echo "tokenizer parity: $same of $total lines match ($got_lines lines written)"
if [ "$same" -ne "$total" ] || [ "$got_lines" -ne "$total" ]; then
    echo "first differences (< mtbert, > expected):"
    diff "$T/got.txt" "$CASES/expected.txt" | head -20
    exit 1
fi
exit 0
