#!/usr/bin/env bash
# Stop on a signal, then resume (trainer/train/stop_signal.h):
#   1. exactness: run A trains S steps straight; run B gets SIGUSR1 at step K
#      (MTBERT_SIGNAL_AT=K raises it in-process as step K begins), must exit 3
#      with a checkpoint at step K and no periodic checkpoint configured, and
#      a resumed run must end byte-identical to A (model, heads, optimizer)
#      with the same logged train records;
#   2. a real asynchronous SIGTERM from outside, mid-run: exit 3 within
#      seconds, `latest` names the saved step;
#   3. MPI (2 ranks), the signal on rank 1 only: both ranks stop after the
#      same step, one checkpoint, exit 3; the resumed 2-rank run matches a
#      straight 2-rank run byte for byte. Skipped without mpirun / MPI build;
#   4. launch/mpirun.sh gets SIGTERM: it passes SIGUSR1 to the ranks, which
#      checkpoint and stop; the script exits 3.
. "$(dirname "$0")/lib/common.sh"
bg=
S=24 K=9

synthetic "$T/data" --train 200 --dev 40 --seed 3
# write_config FILE RUN_DIR STEPS
write_config() {
    {
        tiny_model_yaml "$T/data"
        cat <<EOF2
tasks:
  - name: topic
    type: sentence_classification
    num_labels: 5
    data: {train: "$T/data/train-*.h5"}
  - name: ner
    type: token_classification
    num_labels: 9
    data: {train: "$T/data/train-*.h5"}
data: {max_len: 64, batch_size: 8}
sampling: {strategy: proportional}
optimizer: {lr: 2.0e-3, weight_decay: 0.01}
schedule: {warmup_steps: 3, decay: linear}
train: {steps: $3, seed: 5, threads: 1, backend: cpu, run_dir: "$2"}
logging: {every: 1}
checkpoint: {every: 0, keep_last: 0}
EOF2
    } >"$1"
}
records() { grep '"event": "train"' "$1" | sed 's/, "tokens_per_s": [^,}]*//'; }
same_final() { # DIR_A DIR_B STEP
    local a="$1/step-$(printf %07d "$3")" b="$2/step-$(printf %07d "$3")" f
    for f in model.safetensors mtbert_heads.safetensors optimizer.safetensors; do
        [ -s "$a/$f" ] || fail "$a has no $f"
        cmp -s "$a/$f" "$b/$f" || fail "$f differs between the straight run and the stopped+resumed run"
    done
    diff <(records "$1/metrics.jsonl") <(records "$2/metrics.jsonl") >"$T/diff" ||
        { head "$T/diff"; fail "train records differ between the straight run and the stopped+resumed run"; }
}

# ---- 1. exactness, single process
write_config "$T/a.yaml" "$T/A" $S
write_config "$T/b.yaml" "$T/B" $S
"$BIN" train "$T/a.yaml" --quiet >/dev/null 2>"$T/stderr" || fail "run A exit $?"
MTBERT_SIGNAL_AT=$K "$BIN" train "$T/b.yaml" --quiet >/dev/null 2>"$T/stderr"
rc=$?
[ $rc -eq 3 ] || fail "run B stopped on SIGUSR1: exit $rc, expected 3"
grep -qF "SIGUSR1 received: stopping after this step" "$T/stderr" || fail "no notice that the signal was received"
grep -qF "stopped on SIGUSR1 after step $K of $S; checkpoint $T/B/latest" "$T/stderr" ||
    fail "no 'stopped on SIGUSR1 after step $K' line"
[ "$(cat "$T/B/latest")" = "step-$(printf %07d $K)" ] || fail "B's latest: $(cat "$T/B/latest" 2>&1)"
[ "$(ls -d "$T"/B/step-* | wc -l)" -eq 1 ] || fail "B has $(ls -d "$T"/B/step-* | wc -l) checkpoints, expected 1"
grep -q '"event": "eval"' "$T/B/metrics.jsonl" && fail "the stopped run evaluated"
"$BIN" train "$T/b.yaml" --quiet --set checkpoint.resume=auto >/dev/null 2>"$T/stderr" || fail "resumed B exit $?"
grep -qF "done: $((S - K)) steps" "$T/stderr" || fail "the resumed run did not train exactly $((S - K)) steps"
same_final "$T/A" "$T/B" $S

# ---- 2. a real SIGTERM from outside, mid-run
write_config "$T/c.yaml" "$T/C" 1000000
"$BIN" train "$T/c.yaml" --quiet >/dev/null 2>"$T/stderr" &
bg=$!
for _ in $(seq 1 600); do   # until a few steps are logged (at most 60 s)
    [ "$(grep -c '"event": "train"' "$T/C/metrics.jsonl" 2>/dev/null)" -ge 3 ] 2>/dev/null && break
    kill -0 $bg 2>/dev/null || break
    sleep 0.1
done
kill -TERM $bg 2>/dev/null || fail "the run ended before it was signalled"
t0=$(date +%s)
wait $bg
rc=$?
bg=
took=$(($(date +%s) - t0))
[ $rc -eq 3 ] || fail "SIGTERM: exit $rc, expected 3"
[ $took -le 30 ] || fail "SIGTERM: the run took ${took}s to stop"
st=$(sed -n 's/.*stopped on SIGTERM after step \([0-9]*\) of.*/\1/p' "$T/stderr")
[ -n "$st" ] || fail "no 'stopped on SIGTERM' line"
[ "$(cat "$T/C/latest")" = "step-$(printf %07d "$st")" ] || fail "C's latest $(cat "$T/C/latest") is not step $st"
grep -q "\"step\": $st," "$T/C/step-$(printf %07d "$st")/trainer_state.json" || fail "C's trainer_state is not at step $st"

# ---- 3. MPI: the signal reaches rank 1 only
if ! command -v mpirun >/dev/null; then echo "train_signal: ok (single process; MPI part skipped: no mpirun)"; exit 0; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(timeout 120 mpirun --oversubscribe -np 2 -x OMP_WAIT_POLICY)
write_config "$T/d.yaml" "$T/D" $S
write_config "$T/e.yaml" "$T/E" $S
if ! "${MPIRUN[@]}" "$BIN" train "$T/d.yaml" --quiet >/dev/null 2>"$T/stderr"; then
    grep -q "this build has no MPI" "$T/stderr" && { echo "train_signal: ok (MPI part skipped: no MPI build)"; exit 0; }
    fail "2-rank straight run exit"
fi
"${MPIRUN[@]}" -x MTBERT_SIGNAL_AT=$K:1 "$BIN" train "$T/e.yaml" --quiet >/dev/null 2>"$T/stderr"
rc=$?
[ $rc -eq 3 ] || fail "2-rank run with SIGUSR1 on rank 1: exit $rc, expected 3"
[ "$(grep -c 'SIGUSR1 received' "$T/stderr")" -eq 1 ] || fail "expected exactly one rank to receive the signal"
grep -qF "stopped on SIGUSR1 after step $K of $S" "$T/stderr" || fail "the ranks did not stop after step $K"
[ "$(cat "$T/E/latest")" = "step-$(printf %07d $K)" ] || fail "E's latest: $(cat "$T/E/latest" 2>&1)"
"${MPIRUN[@]}" "$BIN" train "$T/e.yaml" --quiet --set checkpoint.resume=auto >/dev/null 2>"$T/stderr" ||
    fail "resumed 2-rank run exit $?"
same_final "$T/D" "$T/E" $S

# ---- 4. launch/mpirun.sh turns SIGTERM into a checkpoint-and-stop for all ranks
write_config "$T/f.yaml" "$T/F" 1000000
MPIRUN_ARGS="--oversubscribe" bash "$SRC/launch/mpirun.sh" --bin "$BIN" --per-node 2 "$T/f.yaml" --quiet \
    >/dev/null 2>"$T/stderr" &
bg=$!
for _ in $(seq 1 600); do
    [ "$(grep -c '"event": "train"' "$T/F/metrics.jsonl" 2>/dev/null)" -ge 3 ] 2>/dev/null && break
    kill -0 $bg 2>/dev/null || break
    sleep 0.1
done
kill -TERM $bg 2>/dev/null || fail "launch/mpirun.sh ended before it was signalled"
wait $bg
rc=$?
bg=
[ $rc -eq 3 ] || fail "launch/mpirun.sh after SIGTERM: exit $rc, expected 3"
grep -q "2 ranks, global batch" "$T/stderr" || fail "launch/mpirun.sh did not start 2 ranks"
sf=$(sed -n 's/.*stopped on SIGUSR1 after step \([0-9]*\) of.*/\1/p' "$T/stderr" | head -1)
[ -n "$sf" ] || fail "launch/mpirun.sh: the ranks did not stop on the forwarded SIGUSR1"
[ "$(cat "$T/F/latest")" = "step-$(printf %07d "$sf")" ] || fail "F's latest $(cat "$T/F/latest") is not step $sf"
echo "train_signal: ok (SIGUSR1 at step $K: exit 3, resumed byte-identical; SIGTERM mid-run stopped after step $st in ${took}s; 2 ranks, signal on rank 1: both stopped after step $K, resumed byte-identical; launch/mpirun.sh + SIGTERM: both ranks stopped after step $sf)"
