#!/usr/bin/env bash
# Data-parallel equivalence (CPU, MPI): `mpirun -np 4` with per-rank batch 2
# and one process with batch 8 -- same seed and data, dropout and shuffling
# off, tiny model, 10 steps -- log the same losses at every step, end with
# the same parameters (within 1e-5 relative), and all 4 ranks' parameters
# are bit-identical. Needs the loader's block share (docs/data-format.md)
# and the global per-task normalisation of losses (docs/distributed.md).
# Skipped (77) without mpirun or without an MPI build.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
SRC=${MTBERT_SOURCE:-.}
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpirun --oversubscribe -np 4)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; for e in "$T"/e1 "$T"/e4; do [ -f "$e" ] && tail -n 15 "$e" | sed 's/^/  | /'; done; exit 1; }

"$BIN" prepare --synthetic "$T/data" --train 160 --dev 16 --seed 5 >/dev/null 2>&1 || fail "prepare --synthetic"
SETS=(--set "model.vocab=$T/data/vocab.txt" --set model.hidden_size=16 --set model.num_layers=1
      --set model.num_heads=2 --set model.intermediate_size=32 --set model.hidden_dropout=0
      --set model.attention_dropout=0 --set data.shuffle=false --set train.epochs= --set train.steps=10
      --set train.threads=1 --set train.backend=cpu --set logging.every=1 --set eval.every=0 --set train.seed=7)
for k in topic sentiment ner; do   # ner is a token task: ranks hold different numbers of labels
    SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval=" --set "tasks.$k.dropout=0")
done
mkdir -p "$T/d1" "$T/d4"
MTBERT_DUMP_PARAMS="$T/d1" timeout 120 "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set data.batch_size=8 \
    --set "train.run_dir=$T/r1" >"$T/o1" 2>"$T/e1" || fail "1-process run exit $?"
# an MPI build? (without MPI the 4 processes would each run alone)
if ! MTBERT_DUMP_PARAMS="$T/d4" timeout 120 "${MPIRUN[@]}" -x MTBERT_DUMP_PARAMS -x OMP_WAIT_POLICY "$BIN" train \
        "$SRC/configs/demo.yaml" "${SETS[@]}" --set data.batch_size=2 --set "train.run_dir=$T/r4" >"$T/o4" 2>"$T/e4"; then
    grep -q "this build has no MPI" "$T/e4" && { echo "SKIP: mtbert built without MPI"; exit 77; }
    fail "4-rank run exit"
fi
grep -q "4 ranks, global batch 8 = 2 per rank x 4 ranks" "$T/e4" || fail "the 4-rank run does not report 4 ranks x 2"

# losses: the same at every one of the 10 steps (the logged values, %.6g)
l1=$(grep '"event": "train"' "$T/r1/metrics.jsonl" | sed 's/"tokens_per_s": [^,]*, //')
l4=$(grep '"event": "train"' "$T/r4/metrics.jsonl" | sed 's/"tokens_per_s": [^,]*, //')
[ "$(printf '%s\n' "$l1" | wc -l)" -eq 10 ] || fail "expected 10 train records, got: $l1"
[ "$l1" = "$l4" ] || fail "losses differ:$(diff <(printf '%s\n' "$l1") <(printf '%s\n' "$l4") | head -8)"

# parameters: every rank bit-identical to rank 0; rank 0 within 1e-5 of the 1-process run
for r in 0 1 2 3; do [ -s "$T/d4/rank-$r.bin" ] || fail "rank $r wrote no parameters"; done
[ -s "$T/d1/rank-0.bin" ] || fail "the 1-process run wrote no parameters"
for r in 1 2 3; do cmp -s "$T/d4/rank-0.bin" "$T/d4/rank-$r.bin" || fail "rank $r's parameters differ from rank 0's"; done
[ "$(stat -c %s "$T/d1/rank-0.bin")" = "$(stat -c %s "$T/d4/rank-0.bin")" ] || fail "parameter counts differ"
# elementwise |a-b| <= 1e-5 * max(|a|, |b|, 1e-2): relative, with a floor for weights near zero
res=$(paste <(od -An -v -tf4 -w4 "$T/d1/rank-0.bin") <(od -An -v -tf4 -w4 "$T/d4/rank-0.bin") | awk '
    { a = $1 + 0; b = $2 + 0; d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a; if ((b < 0 ? -b : b) > m) m = b < 0 ? -b : b
      if (m < 1e-2) m = 1e-2; r = d / m; if (r > mx) { mx = r; at = NR - 1 } n++ }
    END { printf "%d %.3g %d\n", n, mx, at; exit !(n > 0 && mx <= 1e-5) }') || fail "parameters differ: n, max rel, index = $res"
# evaluation with several ranks: rank 0 evaluates while the others wait for
# its numbers (a run with eval sets must not hang, periodic or final)
EV=()
for k in topic sentiment ner; do EV+=(--set "tasks.$k.data.eval=$T/data/dev-*.h5"); done
timeout 120 mpirun --oversubscribe -np 2 -x OMP_WAIT_POLICY "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" \
    "${EV[@]}" --set data.batch_size=2 --set eval.every=5 --set "train.run_dir=$T/re" >"$T/oe" 2>"$T/ee" \
    || { cp "$T/ee" "$T/e4"; fail "2-rank run with evaluation: exit $? (124 = hung)"; }
[ "$(grep -c '"event": "eval"' "$T/re/metrics.jsonl")" = 2 ] || fail "2-rank run: expected eval records at steps 5 and 10"
echo "mpi_equivalence: ok ($(echo "$res" | cut -d' ' -f1) parameters, max relative difference $(echo "$res" | cut -d' ' -f2); losses equal at 10 steps)"
