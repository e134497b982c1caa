#!/usr/bin/env bash
# bench/sgemm_peak.c's "shapes" mode (bench/cpu_compare.sh runs it): the 12
# layer products of a training step for the tokens, hidden and intermediate
# sizes given, each timed on mtbert's GEMM. Built as cpu_compare.sh builds
# it; the JSON must name exactly the products of those sizes (so the
# arguments take effect) with a rate each (a number >= 0: products this
# small, on a loaded machine, may print 0.0). Skips (77) without a C
# compiler, OpenBLAS's pkg-config file, or an AVX2/AVX-512 CPU.
set -u
src=${MTBERT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || exit 1
command -v cc >/dev/null && pkg-config --exists openblas 2>/dev/null || { echo "SKIP: no cc or openblas.pc"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cc -O2 -fopenmp -DWITH_MTBERT_GEMM -I. -Ikernels bench/sgemm_peak.c kernels/cpu/cpu_gemm.c \
   $(pkg-config --cflags --libs openblas) -lm -o "$T/sgemm_peak" || fail "build"
rc=0
OMP_NUM_THREADS=1 "$T/sgemm_peak" 1 shapes 96 32 80 >"$T/out.json" 2>"$T/err" || rc=$?
if [ "$rc" = 2 ] && grep -q 'no mtbert GEMM kernel' "$T/err"; then echo "SKIP: no AVX2/AVX-512"; exit 77; fi
[ "$rc" = 0 ] || fail "exit $rc: $(cat "$T/err")"
# and mode blas-shapes: the same products through the linked BLAS (OpenBLAS
# here, threaded by itself), named by its core
"$T/sgemm_peak" 1 blas-shapes 96 32 80 >"$T/blas.json" 2>"$T/err" || fail "blas-shapes: $(cat "$T/err")"
for f in out blas; do
python3 - "$T/$f.json" "$f" <<'PY' || exit 1
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
if sys.argv[2] == "blas" and r["core"].startswith("mtbert"):
    sys.exit(f"FAIL: blas-shapes ran mtbert's GEMM: {r['core']}")
T, H, FF = 96, 32, 80
want = []
for C, OC in ((H, 3 * H), (H, H), (H, FF), (FF, H)):
    want += [f"fwd {T}x{OC}x{C}", f"dinp {T}x{C}x{OC}", f"dw {OC}x{C}x{T}"]
got = list(r["shapes"])
if got != want:
    sys.exit(f"FAIL: products {got}, want {want}")
bad = [k for k, v in r["shapes"].items() if not (isinstance(v, (int, float)) and v >= 0)]
if bad or not r["all_gflops"] >= 0 or r["threads"] != 1:
    sys.exit(f"FAIL: rates {r}")
print("ok:", r["core"], f"{r['all_gflops']} GFLOP/s over the 12 products")
PY
done
