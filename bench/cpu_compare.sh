#!/usr/bin/env bash
# CPU training throughput of mtbert against PyTorch + Hugging Face on the same
# shapes, in one run. Usage: bench/cpu_compare.sh [CONFIG] [PYTHON]
#   CONFIG defaults to configs/bench/bert-mini.yaml; PYTHON is an interpreter
#   with torch and transformers (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/bench/bert-mini.yaml}
py=${2:-python3}
bin=${MTBERT_BIN:-build/mtbert}
[ -x "$bin" ] || { cmake -B build -S . >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; }

echo "== mtbert bench $config"
ours=$("$bin" bench "$config" --quiet | tail -n 1)
echo "$ours"
args=$(python3 - "$ours" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(" ".join(f"--{k} {r[k]}" for k in ["layers", "hidden", "heads", "intermediate", "vocab",
                                          "seq", "batch", "threads", "steps", "warmup", "dropout"]))
PY
)
echo "== PyTorch ($py) with: $args"
theirs=$($py bench/torch_bench.py $args | tail -n 1)
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'':10s} {'tokens/s':>10s} {'step ms':>9s}")
print(f"{'mtbert':10s} {o['tokens_per_s']:10.0f} {o['step_ms']:9.1f}")
print(f"{'pytorch':10s} {t['tokens_per_s']:10.0f} {t['step_ms']:9.1f}   (torch {t['torch']})")
print(f"ratio mtbert/pytorch: {o['tokens_per_s'] / t['tokens_per_s']:.2f}x with {o['threads']} threads")
PY
