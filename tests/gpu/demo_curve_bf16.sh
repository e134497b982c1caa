#!/usr/bin/env bash
# 200 training steps of the demo config (configs/demo.yaml on synthetic data)
# on the GPU in bf16 against the CPU in fp32: the logged training loss (every
# 10 steps, the mean over those steps) must agree within 2% at every logged
# step. Both runs see the same batches and the same dropout masks (both are
# functions of seed and step), so the curves differ only by arithmetic.
# Exit 77 (skipped) without a usable CUDA GPU.
#
# Self-check on a CPU host: CURVE_B_BACKEND=cpu CURVE_B_PRECISION=fp32 runs
# the second curve on the CPU too (must pass); adding
# CURVE_B_EXTRA="--set optimizer.lr=2e-3" must fail.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
SRC=${MTBERT_SOURCE:-.}
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
B_BACKEND=${CURVE_B_BACKEND:-cuda}
B_PRECISION=${CURVE_B_PRECISION:-bf16}
STEPS=${CURVE_STEPS:-200}
TOL=${CURVE_TOL:-0.02}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; for e in "$T"/a.err "$T"/b.err; do [ -f "$e" ] && tail -n 8 "$e" | sed 's/^/  | /'; done; exit 1; }

"$BIN" prepare --synthetic "$T/data" >/dev/null 2>&1 || fail "prepare --synthetic"
SETS=(--set "model.vocab=$T/data/vocab.txt" --set train.epochs= --set train.steps=$STEPS --set logging.every=10
      --set eval.every=0 --set checkpoint.every=0 --set checkpoint.keep_last=1 --set checkpoint.keep_best=false)
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval="); done

# the GPU run first: without a GPU the test skips at once
# shellcheck disable=SC2086
if ! "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set train.backend="$B_BACKEND" \
        --set train.precision="$B_PRECISION" --set "train.run_dir=$T/b" ${CURVE_B_EXTRA:-} --quiet >/dev/null 2>"$T/b.err"; then
    grep -q "no CUDA GPU is available" "$T/b.err" && { echo "SKIPPED: no CUDA GPU is available"; exit 77; }
    grep -q "this build has no CUDA backend" "$T/b.err" && { echo "SKIPPED: this build has no CUDA backend"; exit 77; }
    fail "$B_BACKEND/$B_PRECISION run exit"
fi
grep -q "mtbert: ${B_BACKEND}" "$T/b.err" || fail "the second run did not use the $B_BACKEND backend: $(grep backend "$T/b.err")"
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set train.backend=cpu --set train.precision=fp32 \
    --set "train.run_dir=$T/a" --quiet >/dev/null 2>"$T/a.err" || fail "CPU run exit $?"

losses() { sed -n 's/.*"event": "train", "step": \([0-9]*\), "loss": \([-0-9.eE+]*\).*/\1 \2/p' "$1/metrics.jsonl"; }
losses "$T/a" >"$T/a.loss"
losses "$T/b" >"$T/b.loss"
n=$(wc -l <"$T/a.loss")
[ "$n" -eq $((STEPS / 10)) ] || fail "the CPU run logged $n losses, expected $((STEPS / 10))"
[ "$(cut -d' ' -f1 "$T/b.loss" | tr '\n' ' ')" = "$(cut -d' ' -f1 "$T/a.loss" | tr '\n' ' ')" ] ||
    fail "the two runs logged different steps"
echo "step  cpu-fp32  $B_BACKEND-$B_PRECISION  rel.diff"
paste -d' ' "$T/a.loss" "$T/b.loss" | awk -v tol="$TOL" '
    { $3 = $4; d = $3 - $2; if (d < 0) d = -d; r = d / ($2 < 0 ? -$2 : $2); if (r > worst) worst = r
      flag = (r > tol) ? "  > tol" : ""
      printf "%5d  %8.5f  %8.5f  %.4f%s\n", $1, $2, $3, r, flag; if (r > tol) bad++ }
    END { printf "worst relative difference %.4f over %d logged steps (tolerance %.2f)\n", worst, NR, tol
          exit bad > 0 || NR == 0 }' ||
    fail "the $B_BACKEND/$B_PRECISION loss curve leaves the CPU curve by more than $TOL"
echo "demo_curve_bf16: ok"
