#!/usr/bin/env bash
# Data-parallel failure (CPU, MPI): 4 ranks, a shard with one corrupt label
# (topic label 99 for global example 5, which only rank 2 reads: blocks of
# 2 examples dealt round-robin) -> rank 2 names itself, the file and the
# element; the whole job ends non-zero within seconds, no rank left waiting
# in a collective (the trainer agrees on setup errors with an all-reduce,
# then ends the job with MPI_Abort), and no checkpoint is written.
# Skipped (77) without mpirun, h5repack/h5dump, or an MPI build.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
SRC=${MTBERT_SOURCE:-.}
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
for t in h5repack h5dump; do command -v $t >/dev/null || { echo "SKIP: $t not found (install hdf5-tools)"; exit 77; }; done
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && tail -n 20 "$T/err" | sed 's/^/  | /'; exit 1; }

"$BIN" prepare --synthetic "$T/data" --train 160 --dev 16 --seed 5 >/dev/null 2>&1 || fail "prepare --synthetic"
SH="$T/data/train-00000-of-00001.h5"
# uncompressed, contiguous copy, then overwrite labels/topic[5] in place
h5repack -l CONTI "$SH" "$T/flat.h5" || fail "h5repack"
off=$(h5dump -p -H -d /labels/topic "$T/flat.h5" | awk '/OFFSET/ { print $2; exit }')
[ -n "$off" ] || fail "no OFFSET for /labels/topic in the repacked shard"
printf '\x63\x00\x00\x00' | dd of="$T/flat.h5" bs=1 seek=$((off + 5 * 4)) conv=notrunc status=none
h5dump -d /labels/topic -s 5 -c 1 "$T/flat.h5" | grep -q '(5): 99' || fail "patching labels/topic[5] did not take"
mv "$T/flat.h5" "$SH"
"$BIN" prepare --write-manifest "$SH" >/dev/null || fail "prepare --write-manifest (the patched shard)"

SETS=(--set "model.vocab=$T/data/vocab.txt" --set model.hidden_size=16 --set model.num_layers=1
      --set model.num_heads=2 --set model.intermediate_size=32 --set data.batch_size=2 --set data.shuffle=false
      --set train.epochs= --set train.steps=5 --set train.threads=1 --set train.backend=cpu --set eval.every=0
      --set "train.run_dir=$T/run")
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval="); done
start=$(date +%s)
timeout 60 mpirun --oversubscribe -np 4 "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" >"$T/out" 2>"$T/err"
rc=$?
took=$(( $(date +%s) - start ))
grep -q "this build has no MPI" "$T/err" && { echo "SKIP: mtbert built without MPI"; exit 77; }
[ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "the job hung (killed by timeout after ${took}s)"
[ $rc -ne 0 ] || fail "the job exited 0 with a corrupt shard"
grep -q "mtbert: rank 2: .*train-00000-of-00001.h5: dataset 'labels/topic' element 5 is 99" "$T/err" ||
    fail "rank 2 did not report the corrupt element"
for r in 0 1 3; do grep -q "mtbert: rank $r: " "$T/err" && fail "rank $r reported an error it does not have"; done
[ "$took" -le 30 ] || fail "the job took ${took}s to end"
[ -e "$T/run/latest" ] && fail "a checkpoint was written"
echo "mpi_failure: ok (exit $rc after ${took}s; rank 2 named the corrupt element)"
