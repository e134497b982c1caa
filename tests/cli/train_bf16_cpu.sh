#!/usr/bin/env bash
# The CPU bf16 mode (train.precision bf16 on the cpu backend: the cpu-bf16
# table, fp32 compute with activations rounded to bf16, the numerics
# reference of the bf16 GPU path; docs/precision.md):
#   - the demo (configs/demo.yaml on prepare --synthetic data), 60 steps
#     logged every 5, on the CPU in bf16 and in fp32: the logged training
#     loss agrees within 2% (relative) at every logged step, as
#     tests/gpu/demo_curve_bf16.sh compares the GPU; both runs see the same
#     batches and dropout masks, so the curves differ only by arithmetic;
#   - the runs are not the same run: the bf16 one says it used cpu-bf16, the
#     fp32 one cpu, and their final weights differ (bf16 really rounds);
#   - encode --backend cpu --precision bf16 writes embeddings (.npy) whose
#     every value is a bf16 value (the l2norm output is an activation), while
#     fp32 encode's are not, and the two agree within bf16 rounding;
#   - predict --backend cpu --precision bf16 works, its probabilities within
#     0.02 of fp32 predict's;
#   - with mpirun and an MPI build: 2 ranks train in cpu-bf16 (host memory:
#     the MPI all-reduce, no NCCL asked for).
# Prints the worst relative loss difference.
# Self-check: BF16_CURVE_EXTRA="--set optimizer.lr=2e-3" (added to the bf16
# run) must fail the curve comparison; BF16_CURVE_TOL changes the tolerance.
. "$(dirname "$0")/lib/common.sh"
STEPS=60
EVERY=5
TOL=${BF16_CURVE_TOL:-0.02}

synthetic "$T/data"
SETS=(--set "model.vocab=$T/data/vocab.txt" --set train.epochs= --set train.steps=$STEPS --set logging.every=$EVERY
      --set eval.every=0 --set checkpoint.every=0 --set checkpoint.keep_last=1 --set checkpoint.keep_best=false
      --set train.threads=2 --set train.backend=cpu)
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/data/train-*.h5" --set "tasks.$k.data.eval="); done

FAIL_LOG=$T/a.err
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set train.precision=fp32 --set "train.run_dir=$T/a" \
    --quiet >/dev/null 2>"$T/a.err" || fail "the fp32 run failed"
FAIL_LOG=$T/b.err
# shellcheck disable=SC2086
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set train.precision=bf16 --set "train.run_dir=$T/b" \
    ${BF16_CURVE_EXTRA:-} --quiet >/dev/null 2>"$T/b.err" || fail "the bf16 run failed"
grep -q "^mtbert: cpu-bf16 backend" "$T/b.err" || fail "the bf16 run did not use the cpu-bf16 table"
grep -q "^mtbert: cpu backend" "$T/a.err" || fail "the fp32 run did not use the cpu table"

losses() { sed -n 's/.*"event": "train", "step": \([0-9]*\), "loss": \([-0-9.eE+]*\).*/\1 \2/p' "$1/metrics.jsonl"; }
losses "$T/a" >"$T/a.loss"
losses "$T/b" >"$T/b.loss"
n=$(wc -l <"$T/a.loss")
[ "$n" -eq $((STEPS / EVERY)) ] || fail "the fp32 run logged $n losses, expected $((STEPS / EVERY))"
[ "$(cut -d' ' -f1 "$T/b.loss" | tr '\n' ' ')" = "$(cut -d' ' -f1 "$T/a.loss" | tr '\n' ' ')" ] ||
    fail "the two runs logged different steps"
echo "step  cpu-fp32  cpu-bf16  rel.diff"
paste -d' ' "$T/a.loss" "$T/b.loss" | awk -v tol="$TOL" '
    { d = $4 - $2; if (d < 0) d = -d; r = d / ($2 < 0 ? -$2 : $2); if (r > worst) worst = r
      flag = (r > tol) ? "  > tol" : ""
      printf "%5d  %8.5f  %8.5f  %.6f%s\n", $1, $2, $4, r, flag; if (r > tol) bad++ }
    END { printf "worst relative difference %.6f over %d logged steps (tolerance %.2f)\n", worst, NR, tol
          exit bad > 0 || NR == 0 }' || fail "the cpu-bf16 loss curve leaves the fp32 curve by more than $TOL"

# not the same run: the final weights differ
wa=$(cat "$T/a/$(cat "$T/a/latest")/model.safetensors" | sha256sum)
wb=$(cat "$T/b/$(cat "$T/b/latest")/model.safetensors" | sha256sum)
[ "$wa" != "$wb" ] || fail "bf16 and fp32 training gave the same weights (nothing was rounded)"

# inference in bf16 on the CPU, on the fp32 model
printf 'Pedro Larsen visited Lake Geneva .\nthe match was great\nstocks fell sharply in Berlin\n' >"$T/in.txt"
FAIL_LOG=$T/enc.err
for p in fp32 bf16; do
    "$BIN" encode --model "$T/a" --input "$T/in.txt" --backend cpu --precision $p --normalize \
        --out "$T/emb-$p.npy" 2>"$T/enc.err" || fail "encode --precision $p"
    "$BIN" predict --model "$T/a" --input "$T/in.txt" --backend cpu --precision $p \
        >"$T/pred-$p.jsonl" 2>"$T/enc.err" || fail "predict --precision $p"
done
python3 - "$T" <<'PY' || fail "bf16 inference outputs"
import json, struct, sys
t = sys.argv[1]
def npy(path):
    b = open(path, "rb").read()
    assert b[:6] == b"\x93NUMPY", path
    hl = struct.unpack("<H", b[8:10])[0]
    raw = b[10 + hl:]
    return struct.unpack("<%dI" % (len(raw) // 4), raw), struct.unpack("<%df" % (len(raw) // 4), raw)
bits32, v32 = npy(t + "/emb-fp32.npy")
bits16, v16 = npy(t + "/emb-bf16.npy")
assert len(v32) == len(v16) and len(v32) > 0, (len(v32), len(v16))
low16 = sum(1 for u in bits16 if u & 0xffff)
low32 = sum(1 for u in bits32 if u & 0xffff)
print("encode: %d values; not bf16 values: %d in bf16 mode, %d in fp32" % (len(v16), low16, low32))
assert low16 == 0, "bf16 embeddings are not all bf16 values"
assert low32 > 0, "fp32 embeddings are all bf16 values"
worst = max(abs(a - b) for a, b in zip(v32, v16))
print("encode: worst |bf16 - fp32| %.3g (unit-norm rows)" % worst)
assert worst < 2e-2, worst
p32 = [json.loads(l) for l in open(t + "/pred-fp32.jsonl")]
p16 = [json.loads(l) for l in open(t + "/pred-bf16.jsonl")]
assert len(p32) == len(p16) == 3
dp = 0.0
for a, b in zip(p32, p16):
    for task in ("topic", "sentiment"):
        for lab, pa in a[task]["probs"].items():
            dp = max(dp, abs(pa - b[task]["probs"][lab]))
    for pa, pb in zip(a["ner"]["probs"], b["ner"]["probs"]):
        if pa is not None:
            dp = max(dp, abs(pa - pb))
print("predict: worst |bf16 - fp32| probability %.3g" % dp)
assert dp < 2e-2, dp
PY
# data parallel over MPI ranks: cpu-bf16 gradients are in host memory
if command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    FAIL_LOG=$T/m.err
    timeout 120 mpirun --oversubscribe -np 2 -x OMP_WAIT_POLICY "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" \
        --set train.steps=2 --set train.threads=1 --set train.precision=bf16 --set "train.run_dir=$T/m" \
        --quiet >/dev/null 2>"$T/m.err"; rc=$?
    if grep -q "this build has no MPI" "$T/m.err"; then
        echo "(MPI part skipped: mtbert built without MPI)"
    else
        [ $rc = 0 ] || fail "2 MPI ranks in cpu-bf16: exit $rc"
        grep -q "cpu-bf16 backend, 2 ranks" "$T/m.err" || fail "the MPI run did not use cpu-bf16 on 2 ranks"
        echo "mpi: 2 ranks trained in cpu-bf16"
    fi
fi
echo "train_bf16_cpu: ok"
