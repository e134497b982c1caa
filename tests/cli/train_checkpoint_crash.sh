#!/usr/bin/env bash
# A crash while the second checkpoint of a run is written
# (MTBERT_FAULT_AT = model, optimizer, state, rename, latest): the process
# exits 3; `latest` still names the first, complete checkpoint; no
# half-written folder is taken for a checkpoint; a resume from `latest`
# succeeds and ends exactly where an uninterrupted run ends; after a crash
# between the rename and `latest`, resume takes the renamed (newest
# complete) checkpoint although `latest` names the older one.
. "$(dirname "$0")/lib/common.sh"
N=6

synthetic "$T/data" --train 120 --dev 24 --seed 13
tiny_sets "$T/data"
SETS+=(--set logging.every=1
      --set schedule.warmup_ratio=0 --set schedule.decay=constant --set checkpoint.every=$N
      --set checkpoint.keep_last=0 --quiet)
for k in topic sentiment ner; do
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=$T/data/dev-*.h5")
done
train() { "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" "$@"; }
C1=$(printf 'step-%07d' $N) C2=$(printf 'step-%07d' $((2 * N)))

# reference: 2N steps without a crash
train --set "train.run_dir=$T/ref" --set train.steps=$((2 * N)) >"$T/stdout" 2>"$T/stderr" || fail "reference run"
[ "$(cat "$T/ref/latest")" = "$C2" ] || fail "reference latest: $(cat "$T/ref/latest")"

for stage in model optimizer state rename latest; do
    R="$T/run-$stage"
    # the first checkpoint, written normally
    train --set "train.run_dir=$R" --set train.steps=$N >"$T/stdout" 2>"$T/stderr" || fail "$stage: first run"
    [ "$(cat "$R/latest")" = "$C1" ] || fail "$stage: latest after the first run: $(cat "$R/latest")"
    # the second checkpoint of the run crashes at $stage
    MTBERT_FAULT_AT=$stage train --set "train.run_dir=$R" --set train.steps=$((3 * N)) \
        --set checkpoint.resume=auto >"$T/stdout" 2>"$T/stderr"
    rc=$?
    [ $rc -eq 3 ] || fail "$stage: exit $rc, expected 3 (simulated crash)"
    grep -qF "MTBERT_FAULT_AT=$stage" "$T/stderr" || fail "$stage: no simulated-crash message"
    grep -qF "resumed from $R/$C1 at step $N" "$T/stderr" || fail "$stage: the crashing run did not resume from $C1"
    [ "$(cat "$R/latest")" = "$C1" ] || fail "$stage: latest names '$(cat "$R/latest")' after the crash, expected $C1"
    for f in model.safetensors mtbert_heads.safetensors optimizer.safetensors trainer_state.json config.yaml; do
        [ -s "$R/$C1/$f" ] || fail "$stage: $C1/$f missing after the crash"
    done
    case $stage in
    model|optimizer|state)
        # only a temporary folder, which must not look like a checkpoint
        [ -e "$R/$C2" ] && fail "$stage: $C2 exists although the crash came before the rename"
        ls -A "$R" | grep -q "^\.$C2" || fail "$stage: no temporary folder left (was the stage reached?)"
        ;;
    rename|latest)
        # complete on disk, but `latest` was not (yet) moved to it
        [ -s "$R/$C2/trainer_state.json" ] || fail "$stage: $C2 not complete after the rename"
        ;;
    esac
    # resume from the newest complete checkpoint and finish the 2N steps:
    # $C1 when the crash came before the rename; $C2 after it, although
    # `latest` still names $C1 (issue 15 point 10: the crash between the
    # rename and `latest` must not lose $C2)
    train --set "train.run_dir=$R" --set train.steps=$((2 * N)) --set checkpoint.resume=auto \
        >"$T/stdout" 2>"$T/stderr" || fail "$stage: resume after the crash: exit $?"
    case $stage in
    model|optimizer|state) grep -qF "resumed from $R/$C1 at step $N" "$T/stderr" || fail "$stage: resume did not start from $C1" ;;
    rename|latest) grep -qF "resumed from $R/$C2 at step $((2 * N))" "$T/stderr" \
            || fail "$stage: resume did not start from the complete $C2 (latest named $C1)" ;;
    esac
    [ "$(cat "$R/latest")" = "$C2" ] || fail "$stage: latest after the resume: $(cat "$R/latest")"
    for f in model.safetensors mtbert_heads.safetensors optimizer.safetensors; do
        cmp -s "$T/ref/$C2/$f" "$R/$C2/$f" || fail "$stage: $f after crash + resume differs from the uninterrupted run"
    done
    ls -A "$R" | grep -q "^\.step-.*\.tmp" && fail "$stage: temporary files left after the resume: $(ls -A "$R" | tr '\n' ' ')"
done

# a step-* folder that `latest` does not name is never loaded: a broken one
# next to a good `latest` does not disturb the resume
R="$T/run-latest"
mkdir "$R/step-9999999"
echo garbage >"$R/step-9999999/model.safetensors"
train --set "train.run_dir=$R" --set train.steps=$((2 * N + 1)) --set checkpoint.resume=auto \
    >"$T/stdout" 2>"$T/stderr" || fail "resume beside a broken step folder: exit $?"
grep -qF "resumed from $R/$C2" "$T/stderr" || fail "did not resume from $C2 beside a broken step folder"
echo "train_checkpoint_crash: ok"
