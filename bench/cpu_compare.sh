#!/usr/bin/env bash
# CPU training throughput of mtbert against PyTorch 2.x on the same shapes,
# in one run, with the machine's fp32 GEMM peak measured in the same run on
# the same threads. Usage: bench/cpu_compare.sh [CONFIG] [PYTHON]
#   CONFIG defaults to configs/bench/bert-mini.yaml; PYTHON is an interpreter
#   with torch and transformers (default: python3).
# Prints: CPU model and SIMD flags; sgemm GFLOP/s of OpenBLAS as this
# environment configures it (OPENBLAS_CORETYPE honoured), of OpenBLAS
# choosing its kernels itself (OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for
# that one command only) and of mtbert's own GEMM, the best shape and the
# mix of the step's own 12 layer products (sgemm_peak THREADS shapes: what
# the GEMMs of the step could reach on their own); then mtbert bench,
# bench/torch_bench.py (transformers BertModel) and bench/torch_plain_bert.py
# (own nn.Module, SDPA), each with dropout 0.1 and 0; then a table of
# tokens/s, ratios and the share of the sgemm peak, and where mtbert's step
# goes (bench's per-op timings: matrix products at their in-model rate,
# attention, the other ops) against those peaks.
# Environment: MTBERT_BIN (default build/mtbert), ROUNDS (default 1: each
# measurement once; with more, the best of ROUNDS alternating runs is kept,
# for a machine that other jobs share), STEPS (timed steps, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/bench/bert-mini.yaml}
py=${2:-python3}
bin=${MTBERT_BIN:-build/mtbert}
rounds=${ROUNDS:-1}
steps=${STEPS:-10}
[ -x "$bin" ] || { cmake -B build -S . >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== machine"
model=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_fp16|avx512_vnni|avx_vnni|amx_tile|amx_bf16' | tr '\n' ' ')
echo "cpu: $model, $(nproc) cores; SIMD: $flags"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
read -r threads tokens hidden inter < <("$bin" bench "$config" --quiet --set bench.steps=1 --set bench.warmup=0 |
  tail -n 1 | python3 -c 'import json,sys; r = json.loads(sys.stdin.read())
print(r["threads"], r["batch"] * r["seq"], r["hidden"], r["intermediate"])')

echo "== sgemm peak, $threads threads"
# the flags of the Release build (CMakeLists.txt), so that mtbert's GEMM here is the binary's
cc -O3 -march=native -fopenmp -DWITH_MTBERT_GEMM -I. -Ikernels bench/sgemm_peak.c kernels/cpu/cpu_gemm.c \
   $(pkg-config --cflags --libs openblas) -lm -o "$tmp/sgemm_peak"
"$tmp/sgemm_peak" "$threads" blas | tee "$tmp/peak_env.json"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$tmp/sgemm_peak" "$threads" blas | tee "$tmp/peak_auto.json"
OMP_NUM_THREADS=$threads "$tmp/sgemm_peak" "$threads" mtbert | tee "$tmp/peak_own.json"
OMP_NUM_THREADS=$threads "$tmp/sgemm_peak" "$threads" shapes "$tokens" "$hidden" "$inter" |
  tee "$tmp/peak_shapes.json"
# the same 12 products through OpenBLAS threaded by itself, and, where Debian's
# BLIS is installed (libblis-openmp-dev: not needed by mtbert), BLIS's peak
# and products: the side-by-side the choice of GEMM rests on
"$tmp/sgemm_peak" "$threads" blas-shapes "$tokens" "$hidden" "$inter" | tee "$tmp/shapes_openblas.json"
blis_inc=/usr/include/x86_64-linux-gnu/blis-openmp blis_lib=/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so
if [ -f "$blis_inc/cblas.h" ] && [ -f "$blis_lib" ]; then
  cc -O3 -march=native -fopenmp -DWITH_MTBERT_GEMM -I. -Ikernels -I"$blis_inc" bench/sgemm_peak.c \
     kernels/cpu/cpu_gemm.c "$blis_lib" -lm -o "$tmp/sgemm_blis"
  "$tmp/sgemm_blis" "$threads" blas | tee "$tmp/peak_blis.json"
  "$tmp/sgemm_blis" "$threads" blas-shapes "$tokens" "$hidden" "$inter" | tee "$tmp/shapes_blis.json"
else
  echo "BLIS not installed (apt-get install libblis-openmp-dev to compare it)"
fi

nodrop="--set model.hidden_dropout=0 --set model.attention_dropout=0"
ntasks=$(python3 - "$config" <<'PY'
import re, sys
# count "- name:" entries under tasks: (the bench configs list tasks that way)
t = open(sys.argv[1]).read().split("tasks:", 1)
print(len(re.findall(r"^\s*-\s*name:", t[1].split("\n\n")[0], re.M)) if len(t) > 1 else 0)
PY
)
for ((i = 0; i < ntasks; i++)); do nodrop+=" --set tasks.$i.dropout=0"; done

# best (highest tokens/s) of $rounds runs of a command printing JSON last;
# mtbert bench's per-op line (the one before, "impl": "mtbert-ops") is kept
# under "op_timings"
best() {
  local out=$1; shift
  for ((r = 0; r < rounds; r++)); do "$@" | tail -n 2 | paste -sd '\t' >>"$out.all"; done
  python3 - "$out.all" >"$out" <<'PY'
import json, sys
rows = []
for l in open(sys.argv[1]):
    parts = [json.loads(p) for p in l.split("\t") if p.strip().startswith("{")]
    if not parts:
        continue
    r = parts[-1]
    if len(parts) > 1 and parts[0].get("impl") == "mtbert-ops":
        r["op_timings"] = parts[0]
    rows.append(r)
print(json.dumps(max(rows, key=lambda r: r["tokens_per_s"])))
PY
}

echo "== mtbert bench $config (dropout 0.1, then 0)"
best "$tmp/m1.json" "$bin" bench "$config" --quiet --set bench.steps="$steps"
cat "$tmp/m1.json"
# shellcheck disable=SC2086
best "$tmp/m0.json" "$bin" bench "$config" --quiet --set bench.steps="$steps" $nodrop
cat "$tmp/m0.json"
args=$(python3 - "$tmp/m1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(" ".join(f"--{k} {r[k]}" for k in ["layers", "hidden", "heads", "intermediate", "vocab",
                                          "seq", "batch", "threads", "steps", "warmup"]))
PY
)
echo "== PyTorch ($py) with: $args"
for d in 0.1 0; do
  # shellcheck disable=SC2086
  best "$tmp/hf$d.json" $py bench/torch_bench.py $args --dropout $d
  cat "$tmp/hf$d.json"
  # shellcheck disable=SC2086
  best "$tmp/pl$d.json" $py bench/torch_plain_bert.py $args --dropout $d
  cat "$tmp/pl$d.json"
done

python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
j = lambda n: json.load(open(f"{d}/{n}"))
pe, pa, po = j("peak_env.json"), j("peak_auto.json"), j("peak_own.json")
ps, pso = j("peak_shapes.json"), j("shapes_openblas.json")
import os
blis = j("peak_blis.json") if os.path.exists(f"{d}/peak_blis.json") else None
psb = j("shapes_blis.json") if blis else None
peak = max(pe["peak_gflops"], pa["peak_gflops"], po["peak_gflops"], blis["peak_gflops"] if blis else 0)
print()
print(f"sgemm peak ({pe['threads']} threads): OpenBLAS {pe['core']} (as configured) {pe['peak_gflops']:.0f}, "
      f"OpenBLAS {pa['core']} (own choice) {pa['peak_gflops']:.0f}, mtbert GEMM ({po['core']}) "
      f"{po['peak_gflops']:.0f}"
      + (f", {blis['blas']} ({blis['core']}) {blis['peak_gflops']:.0f}" if blis else "")
      + f" GFLOP/s; peak used below: {peak:.0f}")
print(f"{'':30s} {'tokens/s':>9s} {'step ms':>8s} {'GFLOP/s':>8s} {'% peak':>7s}")
for drop, tag in (("0.1", "1"), ("0", "0")):
    m = j(f"m{tag}.json")
    hf, pl = j(f"hf{drop}.json"), j(f"pl{drop}.json")
    print(f"{'mtbert, dropout ' + drop:30s} {m['tokens_per_s']:9.0f} {m['step_ms']:8.1f} "
          f"{m['gflops_per_s']:8.1f} {100 * m['gflops_per_s'] / peak:6.0f}%")
    for name, r in (("transformers BertModel", hf), ("plain nn.Module BERT", pl)):
        print(f"{name + ', dropout ' + drop:30s} {r['tokens_per_s']:9.0f} {r['step_ms']:8.1f}"
              f"   mtbert/this: {m['tokens_per_s'] / r['tokens_per_s']:.2f}x")
print(f"(torch {hf['torch']}, {m['threads']} threads; best of the rounds run)")
print(f"the step's 12 layer products stand-alone (same threads): mtbert GEMM {ps['all_gflops']:.0f} GFLOP/s "
      f"({100 * ps['all_gflops'] / peak:.0f}% of the peak), OpenBLAS {pso['core']} {pso['all_gflops']:.0f}"
      + (f", BLIS {psb['core']} {psb['all_gflops']:.0f}" if psb else ""))
# where the step goes: bench's per-op timings (each op synchronised and
# timed, so their sum exceeds the plain step a little; shares are what count)
for drop, tag in (("0.1", "1"), ("0", "0")):
    o = j(f"m{tag}.json").get("op_timings")
    if not o:
        continue
    ops, tot = o["ops"], sum(v["ms"] for v in o["ops"].values())
    mm = ops.get("matmul_forward", {"ms": 0})["ms"] + ops.get("matmul_backward", {"ms": 0})["ms"]
    att = ops.get("attention_forward", {"ms": 0})["ms"] + ops.get("attention_backward", {"ms": 0})["ms"]
    fl = sum(s["gflops_per_s"] * s["ms"] for s in o["matmul_shapes"]) / 1e3  # GFLOP
    mms = sum(s["ms"] for s in o["matmul_shapes"])
    rest = sorted(((v["ms"], k) for k, v in ops.items() if not k.startswith(("matmul", "attention"))), reverse=True)
    print(f"dropout {drop}, op shares: matrix products {100 * mm / tot:.0f}% "
          f"({fl / (mms / 1e3) if mms else 0:.0f} GFLOP/s in the model), attention {100 * att / tot:.0f}%, "
          f"other ops {100 * (tot - mm - att) / tot:.0f}% (largest: "
          + ", ".join(f"{k} {100 * ms / tot:.1f}%" for ms, k in rest[:5]) + ")")
PY
