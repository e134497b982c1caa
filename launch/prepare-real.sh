#!/usr/bin/env bash
# Prepares the real corpora of ../shared/datasets for configs/real-multitask.yaml:
# CoNLL-2003 NER, SST-2 sentiment and TREC question type (coarse), tokenized
# with the bert-base-uncased vocabulary into HDF5 shards under
# checkpoints/real-data/ (max_len 128).
#
#   bash launch/prepare-real.sh            # uses build/mtbert
#   MTBERT_BIN=build-real/mtbert bash launch/prepare-real.sh
#
# The shared folder is found beside the clone ("$(dirname "$0")/../../shared",
# as CI has it); without it the script exits 77 (skipped). Nothing of the
# corpora is copied into the project: only shards under checkpoints/ (ignored).
#
# Splits:
#   ner        train.txt -> train, dev.txt (eng.testa) -> dev. The files use the
#              original IOB1 scheme (I- starts an entity, B- only between two
#              adjacent entities of one type: 70 B- tags in train), so both are
#              converted with --iob1-to-iob2 (the config reads them as iob2).
#   sentiment  SST-2 train.txt -> train, dev.txt -> dev.
#   qtype      TREC train.txt has no dev file: its LAST 500 LINES (lines
#              4953-5452) are held out as dev, the first 4952 lines are train.
#              Both are written under checkpoints/real-data/raw/ first. The
#              held-out part has all six coarse classes (ABBR 10, DESC 104,
#              ENTY 101, HUM 114, LOC 80, NUM 91).
# Label sets are given explicitly so that train and dev shards agree.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED="$HERE/../../shared"
D="$SHARED/datasets"
V="$SHARED/vocab/bert-base-uncased/vocab.txt"
BIN=${MTBERT_BIN:-$REPO/build/mtbert}
OUT=${REAL_DATA_OUT:-$REPO/checkpoints/real-data}

if [ ! -d "$D" ] || [ ! -f "$V" ]; then
    echo "prepare-real: SKIPPED: needs $D and $V (../shared beside the clone)" >&2
    exit 77
fi
for f in conll2003/train.txt conll2003/dev.txt sst2/train.txt sst2/dev.txt trec/train.txt; do
    [ -f "$D/$f" ] || { echo "prepare-real: SKIPPED: missing $D/$f" >&2; exit 77; }
done
[ -x "$BIN" ] || { echo "prepare-real: no mtbert binary at $BIN (set MTBERT_BIN)" >&2; exit 2; }

TREC_DEV_LINES=500
mkdir -p "$OUT/raw"

# TREC: fixed split, last $TREC_DEV_LINES lines -> dev (byte copies, latin-1 kept).
n=$(wc -l < "$D/trec/train.txt")
head -n $((n - TREC_DEV_LINES)) "$D/trec/train.txt" > "$OUT/raw/trec-train.txt"
tail -n "$TREC_DEV_LINES" "$D/trec/train.txt" > "$OUT/raw/trec-dev.txt"

NER_LABELS=O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC
SST_LABELS=0,1
TREC_LABELS=ABBR,DESC,ENTY,HUM,LOC,NUM

prep() { # name args...
    local name=$1; shift
    echo "== $name"
    "$BIN" prepare --vocab "$V" --max-len 128 --out "$OUT" --name "$name" "$@"
}

prep conll-train --format conll --iob1-to-iob2 --task ner:token --labels "$NER_LABELS" \
    --shards 4 "$D/conll2003/train.txt"
prep conll-dev --format conll --iob1-to-iob2 --task ner:token --labels "$NER_LABELS" \
    "$D/conll2003/dev.txt"
prep sst2-train --format lines --sep space --task sentiment --labels "$SST_LABELS" \
    --shards 2 "$D/sst2/train.txt"
prep sst2-dev --format lines --sep space --task sentiment --labels "$SST_LABELS" \
    "$D/sst2/dev.txt"
prep trec-train --format lines --sep space --label-part coarse --encoding latin-1 \
    --task qtype --labels "$TREC_LABELS" "$OUT/raw/trec-train.txt"
prep trec-dev --format lines --sep space --label-part coarse --encoding latin-1 \
    --task qtype --labels "$TREC_LABELS" "$OUT/raw/trec-dev.txt"

echo "prepare-real: shards in $OUT"
