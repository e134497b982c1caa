#!/usr/bin/env bash
# mtbert bench resolves its CPU threads as training does (train.threads;
# 0: OMP_NUM_THREADS, else the usable cores; never above the cores, with a
# warning): for the same config, bench's JSON "threads" and train's
# "N CPU threads per rank" line agree, and both are the count expected here.
set -u
bin=${MTBERT_BIN:?}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$bin" prepare --synthetic "$T/d" --train 60 --dev 10 >/dev/null 2>&1 || fail "prepare"
cat >"$T/c.yaml" <<EOF
model:
  vocab: $T/d/vocab.txt
  vocab_size: 600
  hidden_size: 16
  num_layers: 1
  num_heads: 2
  intermediate_size: 32
  max_position_embeddings: 64
tasks:
  - name: topic
    type: sentence_classification
    num_labels: 5
    data: {train: "$T/d/train-*.h5"}
data: {batch_size: 4, max_len: 32}
train: {steps: 1, threads: 0, backend: cpu}
eval: {every: 0}
bench: {seq_len: 16, batch_size: 2, steps: 1, warmup: 0}
EOF
cores=$(nproc)

# check NAME WANT ENV... -- SETS...: train and bench agree on WANT threads
check() {
    local name=$1 want=$2
    shift 2
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$bin" train "$T/c.yaml" --set "train.run_dir=$T/run-$name" --quiet "$@" \
        >/dev/null 2>"$T/train.err" || fail "$name: train: $(cat "$T/train.err")"
    env "${envs[@]}" "$bin" bench "$T/c.yaml" --quiet "$@" >"$T/bench.out" 2>"$T/bench.err" \
        || fail "$name: bench: $(cat "$T/bench.err")"
    local tr bj
    tr=$(sed -n 's/^mtbert: \([0-9]*\) CPU threads\? per rank.*/\1/p' "$T/train.err")
    bj=$(tail -1 "$T/bench.out" | grep -o '"threads": [0-9]*' | grep -o '[0-9]*$')
    [ "$tr" = "$want" ] || fail "$name: train uses '$tr' threads, expected $want"
    [ "$bj" = "$want" ] || fail "$name: bench uses '$bj' threads, expected $want (train: $tr)"
    grep -q "^mtbert: $want CPU threads\? per rank" "$T/bench.err" || fail "$name: bench does not say why: $(cat "$T/bench.err")"
}

check omp1 1 OMP_NUM_THREADS=1 --                       # threads 0: OMP_NUM_THREADS
check explicit 1 OMP_NUM_THREADS=$cores -- --set train.threads=1
check capped "$cores" OMP_NUM_THREADS=1 -- --set train.threads=4096
grep -q "warning: train.threads asks for 4096 threads, more than the $cores core" "$T/bench.err" \
    || fail "capped: bench gave no warning: $(cat "$T/bench.err")"
echo "bench_threads: ok"
