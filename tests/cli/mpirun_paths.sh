#!/usr/bin/env bash
# launch/mpirun.sh resolves paths against the caller's directory (issue 15
# point 22; it used to change into the repository root): called from a
# work folder with a relative CONFIG, a relative --bin and a config whose
# data, vocabulary and run_dir are relative, 2 ranks train and the run
# lands in the work folder (nothing in the repository); --dry-run shows
# the working directory (cd DIR && mpirun --wdir DIR ...); a missing
# relative config is named with the folder it was looked for in.
# Skipped (77) without mpirun or an MPI build.
. "$(dirname "$0")/lib/common.sh"
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found"; exit 77; }
export MPIRUN_ARGS="--oversubscribe" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
LAUNCH=$(cd "$SRC" && pwd)/launch/mpirun.sh
W=$T/work
mkdir -p "$W/bin"
synthetic "$W/data" --train 64 --dev 16 --seed 31
ln -s "$BIN" "$W/bin/mtbert"
{
    tiny_model_yaml data
    cat <<'EOF'
tasks:
  - {name: topic, type: sentence_classification, num_labels: 5, data: {train: "data/train-*.h5"}}
data: {max_len: 64, batch_size: 4}
train: {steps: 2, threads: 1, backend: cpu, run_dir: runs/rel}
logging: {every: 1}
EOF
} >"$W/cfg.yaml"
grep -q 'vocab: data/vocab.txt' "$W/cfg.yaml" || fail "the test config has no relative vocab path"
before=$(ls -A "$SRC" | sort | tr '\n' ' ')

# --dry-run: where the ranks will run
(cd "$W" && bash "$LAUNCH" --bin bin/mtbert --per-node 2 --dry-run cfg.yaml --quiet) >"$T/dry" 2>"$T/stderr" \
    || fail "--dry-run: exit $?"
grep -qF "cd $W && " "$T/dry" || fail "--dry-run does not show the working directory: $(cat "$T/dry")"
grep -qF -- "--wdir $W " "$T/dry" || fail "--dry-run: no --wdir $W: $(cat "$T/dry")"
grep -qF "working directory $W" "$T/stderr" || fail "--dry-run: the working directory is not reported"

# the run itself
(cd "$W" && timeout 120 bash "$LAUNCH" --bin bin/mtbert --per-node 2 cfg.yaml --quiet) >"$T/stdout" 2>"$T/stderr"
rc=$?
grep -q "this build has no MPI" "$T/stderr" && { echo "SKIP: mtbert built without MPI"; exit 77; }
[ $rc -eq 0 ] || fail "relative config from $W: exit $rc"
grep -q "2 ranks, global batch" "$T/stderr" || fail "did not train with 2 ranks"
[ -d "$W/runs/rel/step-0000002" ] || fail "the relative run_dir did not land in the caller's folder: $(ls -R "$W/runs" 2>&1 | head)"
[ "$(ls -A "$SRC" | sort | tr '\n' ' ')" = "$before" ] || fail "something was written into the repository"

# a relative config that is not there: named with the folder it was looked for in
(cd "$W" && bash "$LAUNCH" --bin bin/mtbert --per-node 2 nothere.yaml) >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 2 ] || fail "missing config: exit $rc, expected 2"
grep -qF "nothere.yaml: no such config file (relative to $W)" "$T/stderr" || fail "missing config: not named with $W"
echo "mpirun_paths: ok (relative CONFIG, --bin, data, vocab and run_dir resolved in the caller's folder)"
