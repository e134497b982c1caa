#!/usr/bin/env bash
# Every model family (bert, distilbert, roberta, xlm-roberta, electra): a
# random tiny transformers model saved with save_pretrained and a fixture
# tokenizer.json, `mtbert encode` on it and on its `mtbert export`, against
# transformers AutoModel (mean pooling by hand) and sentence-transformers:
# max abs difference < 1e-5; the export loads in AutoModel as the family's
# class (config.json architectures / model_type, no missing or unexpected
# weights). tests/export/family_parity.py does the work.
# Needs a Python with torch, transformers and sentence-transformers:
# $MTBERT_PYTHON, else python3; skipped when they are absent (as in CI).
. "$(dirname "$0")/lib/common.sh"
py=${MTBERT_PYTHON:-python3}
if ! "$py" -c "import torch, transformers, sentence_transformers" 2>/dev/null; then
  echo "SKIPPED: $py lacks torch/transformers/sentence-transformers (set MTBERT_PYTHON)"
  exit 77
fi
"$py" "$SRC/tests/export/family_parity.py" "$BIN" "$SRC" "$T/work" > "$T/out" 2>"$T/stderr"
rc=$?
cat "$T/out"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || FAIL_LOG="$T/stderr" fail "family parity (exit $rc)"
grep -q '^all families pass$' "$T/out" || fail "no summary line"
for f in bert distilbert roberta xlm-roberta electra; do
  [ "$(grep -c "^$f: .*  ok$" "$T/out")" -eq 5 ] || fail "$f: expected 5 passing comparisons"
done
echo "PASS"
