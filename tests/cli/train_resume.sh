#!/usr/bin/env bash
# Exact resume on the CPU backend, dropout on, two data sources (so the
# task sampler and two loader positions must be restored):
#   run A: 2N steps in one go, checkpoint every N;
#   run B: N steps, then a second invocation with checkpoint.resume=auto
#          and train.steps=2N.
# B's logged train records for steps N+1..2N must equal A's (text equality
# of losses, lr and gradient norm) and the final model, heads and optimizer
# files must be byte-identical. Then: resuming with a different task set
# fails naming the field, and a truncated model.safetensors in the latest
# checkpoint fails naming the file.
# The schedule is constant after a fixed warm-up: a linear decay to
# train.steps would give B's first invocation (train.steps=N) different
# learning rates than A, by design.
. "$(dirname "$0")/lib/common.sh"
N=10

synthetic "$T/data" --train 200 --dev 40 --seed 11
# write_config FILE RUN_DIR [notask]: topic+sentiment read the shards by glob,
# ner by file name: two training sources. "notask" drops sentiment.
write_config() {
    {
        tiny_model_yaml "$T/data"
        cat <<EOF2
tasks:
  - name: topic
    type: sentence_classification
    num_labels: 5
    dropout: 0.2
    data: {train: "$T/data/train-*.h5", eval: "$T/data/dev-*.h5"}
EOF2
        [ "${3:-}" = notask ] || cat <<EOF2
  - name: sentiment
    type: sentence_classification
    num_labels: 3
    data: {train: "$T/data/train-*.h5"}
EOF2
        cat <<EOF2
  - name: ner
    type: token_classification
    num_labels: 9
    data: {train: "$T/data/train-00000-of-00001.h5"}
data: {max_len: 64, batch_size: 8}
sampling: {strategy: temperature, temperature: 2.0}
optimizer: {lr: 2.0e-3, weight_decay: 0.01}
schedule: {warmup_steps: 3, decay: constant}
train: {steps: $((2 * N)), seed: 7, threads: 2, backend: cpu, run_dir: "$2"}
logging: {every: 1}
checkpoint: {every: $N, keep_last: 0}
bench: {seq_len: 64}
EOF2
    } >"$1"
}
write_config "$T/a.yaml" "$T/A"
write_config "$T/b.yaml" "$T/B"

"$BIN" train "$T/a.yaml" --quiet >"$T/stdout" 2>"$T/stderr" || fail "run A exit $?"
"$BIN" train "$T/b.yaml" --quiet --set train.steps=$N >"$T/stdout" 2>"$T/stderr" || fail "run B (first half) exit $?"
[ "$(cat "$T/B/latest")" = "step-00000$N" ] || fail "B's latest after the first half: $(cat "$T/B/latest")"
"$BIN" train "$T/b.yaml" --quiet --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr" \
    || fail "run B (resumed) exit $?"
grep -qF "resumed from $T/B/step-00000$N at step $N" "$T/stderr" || fail "B did not say it resumed at step $N"
grep -qF "done: $N steps" "$T/stderr" || fail "the resumed run did not train exactly $N steps"

# train records without the throughput (wall-clock dependent)
records() { grep '"event": "train"' "$1" | sed 's/, "tokens_per_s": [^,}]*//'; }
records "$T/A/metrics.jsonl" >"$T/a.rec"
records "$T/B/metrics.jsonl" >"$T/b.rec"
[ "$(wc -l <"$T/a.rec")" -eq $((2 * N)) ] || fail "A logged $(wc -l <"$T/a.rec") train records, expected $((2 * N))"
# B: steps 1..2N exactly once each (a silent fresh restart would repeat or truncate)
steps=$(sed 's/.*"step": \([0-9]*\),.*/\1/' "$T/b.rec" | tr '\n' ' ')
[ "$steps" = "$(seq 1 $((2 * N)) | tr '\n' ' ')" ] || fail "B's train steps: $steps"
grep -q '"loss": ' "$T/a.rec" || fail "no loss in A's records"
if ! diff <(sed -n "$((N + 1)),\$p" "$T/a.rec") <(sed -n "$((N + 1)),\$p" "$T/b.rec") >"$T/diff"; then
    cat "$T/diff"
    fail "B's resumed train records differ from A's"
fi
# the first halves agree too (same schedule), and the records are not all alike
cmp -s <(head -n $N "$T/a.rec") <(head -n $N "$T/b.rec") || fail "first halves differ"
[ "$(sed 's/"step": [0-9]*,//' "$T/a.rec" | sort -u | wc -l)" -gt 1 ] || fail "all train records identical"

FA="$T/A/step-00000$((2 * N))" FB="$T/B/step-00000$((2 * N))"
for f in model.safetensors mtbert_heads.safetensors optimizer.safetensors; do
    [ -s "$FA/$f" ] || fail "A has no $f"
    cmp "$FA/$f" "$FB/$f" || fail "$f differs between the straight and the resumed run"
done
# and the weights moved during the second half (the comparison is not vacuous)
cmp -s "$T/A/step-00000$N/model.safetensors" "$FA/model.safetensors" && fail "model unchanged by steps $((N + 1))..$((2 * N))"
# loader positions saved alike
la=$(tr -d ' \n' <"$FA/trainer_state.json" | sed 's/.*"loaders"://')
lb=$(tr -d ' \n' <"$FB/trainer_state.json" | sed 's/.*"loaders"://')
[ "$la" = "$lb" ] || fail "loader positions differ: $la vs $lb"

# a different task set: refused, naming the field
write_config "$T/c.yaml" "$T/B" notask
"$BIN" train "$T/c.yaml" --quiet --set checkpoint.resume=auto --set train.steps=$((3 * N)) \
    >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -ne 0 ] || fail "resume with a task dropped succeeded"
grep -qF 'field "tasks"' "$T/stderr" || fail "the task-set error does not name the field \"tasks\""
grep -q "^step " "$T/stderr" && fail "training started with a different task set"

# a truncated model.safetensors in the latest checkpoint: refused, naming the file
cp -r "$T/B" "$T/D"
write_config "$T/d.yaml" "$T/D"
M="$T/D/step-00000$((2 * N))/model.safetensors"
truncate -s $(( $(stat -c %s "$M") / 2 )) "$M"
"$BIN" train "$T/d.yaml" --quiet --set checkpoint.resume=auto --set train.steps=$((3 * N)) \
    >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -ne 0 ] || fail "resume from a truncated model.safetensors succeeded"
grep -qF "$M" "$T/stderr" || fail "the error does not name $M"
echo "train_resume: ok"
