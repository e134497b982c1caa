#!/usr/bin/env bash
# Cased NER from scratch: a cased WordPiece tokenizer.json trained with the
# Hugging Face `tokenizers` library on CoNLL-2003 train text (lowercase off,
# accents kept), CoNLL-2003 shards prepared with it (IOB1 -> IOB2, first
# piece of each word labelled), and a small randomly initialised BERT
# (4 layers, hidden 256) trained on NER alone on the CPU; entity F1 on dev
# (= eng.testa, seqeval's default rules) at the end. Results: docs/quality.md,
# "Cased NER from scratch".
#
#   bench/cased_conll.sh
#
# Environment:
#   VENV         Python with `tokenizers` (default /opt/refvenv)
#   MTBERT_BIN   the binary (default build/mtbert)
#   MTBERT_SHARED  the shared data folder (default ../shared beside the tree)
#   CASED_OUT    tokenizer, shards and run (default checkpoints/cased-conll)
#   CASED_VOCAB  tokenizer vocabulary size (default 8000)
#   CASED_STEPS  training steps (default 1200: about 2.7 epochs of 439 batches of 32)
#   CASED_THREADS  threads (default 2)
# Exit 77 (SKIPPED) without the shared data or the venv's `tokenizers`, 2 on
# a set-up error, 1 when training fails.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 2
VENV=${VENV:-/opt/refvenv}
PY=$VENV/bin/python
BIN=${MTBERT_BIN:-$SRC/build/mtbert}
DS=${MTBERT_SHARED:-$SRC/../shared}/datasets/conll2003
OUT=${CASED_OUT:-checkpoints/cased-conll}
VOCAB=${CASED_VOCAB:-8000}
STEPS=${CASED_STEPS:-1200}
THREADS=${CASED_THREADS:-2}
export TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=$THREADS
die() { echo "error: $*" >&2; exit 2; }

for f in train.txt dev.txt; do
    [ -f "$DS/$f" ] || { echo "SKIPPED: $DS/$f not found (the shared data folder is absent)"; exit 77; }
done
"$PY" -c "import tokenizers" 2>/dev/null || { echo "SKIPPED: $PY lacks tokenizers"; exit 77; }
[ -x "$BIN" ] || die "no mtbert binary at $BIN (build it, or set MTBERT_BIN)"
mkdir -p "$OUT" || die "cannot make $OUT"

# ---- a cased WordPiece tokenizer.json on the training sentences (words joined by spaces)
"$PY" - "$DS/train.txt" "$OUT/tokenizer.json" "$VOCAB" <<'PY' || die "tokenizer training failed"
import sys
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

src, out, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
sents, cur = [], []
for line in open(src, encoding="utf-8"):
    f = line.split()
    if not f or f[0] == "-DOCSTART-":
        if cur:
            sents.append(" ".join(cur))
        cur = []
        continue
    cur.append(f[0])
if cur:
    sents.append(" ".join(cur))
tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                            lowercase=False)
tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
tok.train_from_iterator(sents, trainers.WordPieceTrainer(vocab_size=vocab, special_tokens=specials))
cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                   special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
tok.decoder = decoders.WordPiece()
tok.save(out)
print(f"tokenizer: {tok.get_vocab_size()} pieces from {len(sents)} sentences, cased -> {out}")
PY

# ---- shards
LABELS=O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC
rm -f "$OUT"/*.h5
for split in train dev; do
    "$BIN" prepare --format conll --iob1-to-iob2 --task ner:token --labels "$LABELS" --vocab "$OUT/tokenizer.json" \
        --max-len 128 --out "$OUT" --name "conll-$split" "$DS/$split.txt" 2>&1 | sed -n '1,3p' ||
        die "prepare $split failed"
    ls "$OUT"/conll-"$split"-*.h5 >/dev/null 2>&1 || die "prepare $split wrote no shard"
done

# ---- the run: a 4-layer, hidden-256 BERT from random weights, NER alone
cat >"$OUT/cased-ner.yaml" <<YAML
model:
  vocab: $OUT/tokenizer.json
  vocab_size: $VOCAB
  hidden_size: 256
  num_layers: 4
  num_heads: 4
  intermediate_size: 1024
  max_position_embeddings: 128
  hidden_dropout: 0.1
  attention_dropout: 0.1
  pooling: mean
tasks:
  - name: ner
    type: token_classification
    labels: [O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC, B-MISC, I-MISC]
    tag_scheme: conlleval
    metric: entity_f1
    dropout: 0.1
    data:
      train: $OUT/conll-train-*.h5
      eval: $OUT/conll-dev-*.h5
data:
  max_len: 128
  batch_size: 32
  length_bucketing: true
optimizer:
  lr: 1.0e-3
  weight_decay: 0.01
schedule:
  warmup_ratio: 0.06
  decay: linear
train:
  steps: $STEPS
  seed: 42
  threads: $THREADS
  backend: cpu
  run_dir: $OUT/run
eval:
  every: 0
  best_metric: ner.entity_f1
logging:
  every: 50
checkpoint:
  every: 0
  keep_last: 1
  overwrite: true
YAML
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores visible; $THREADS thread(s)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
"$BIN" train "$OUT/cased-ner.yaml" >"$OUT/train.log" 2>&1 || { tail -5 "$OUT/train.log"; echo "training failed"; exit 1; }
t1=$(date +%s.%N)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v a="$t0" -v b="$t1" -v s="$STEPS" 'BEGIN { printf "wall: %.1f s for %d steps\n", b - a, s }'
grep '"eval' "$OUT/run/metrics.jsonl" | tail -1
