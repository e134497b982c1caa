#!/usr/bin/env bash
# Contrastive tasks (type: contrastive, issue 18) end to end on synthetic
# sentence pairs (b = a without every third word; the eval set mixes such
# pairs with pairs of unrelated sentences, scored by word Jaccard):
#   1. MNRL alone, 30 steps: the training loss goes down (mean of the last
#      3 logged losses < half the mean of the first 3); the evaluation
#      record has spearman, pearson, top1 in [-1, 1] / [0, 1] and a finite
#      loss; its retrieval MRR@10 equals one recomputed here (awk) from
#      `mtbert encode` of the eval sentences with the final checkpoint;
#      ndcg_10, recall_1, recall_10 in [0, 1];
#   2. CoSENT beside a sentence classifier and a token tagger in one run
#      (each task its own source): every task's loss is logged and goes
#      down from its first value, the run ends 0; scores on 0..5 draw
#      no cosine-range warning for a contrastive task (they do for a
#      sentence_similarity task);
#   3. refusals (exit 2, the key named): a contrastive key on another task
#      kind, symmetric with cosent, an unknown loss, contrastive pairs in
#      mixed batches, mini_batch on shared data or with uncertainty weighting;
#   4. cached steps (mini_batch): equal to the uncached run with dropout
#      off (logs, evaluation, weights); the model is built for the chunks
#      (a batch refused for memory uncached fits cached).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/pairs.sh"
export OMP_NUM_THREADS=1

synthetic "$T/data" --train 64 --dev 32 --seed 3
D=$T/data
mkpairs "$D/train.jsonl" pos >"$T/train.tsv"
mkpairs "$D/dev.jsonl" mixed >"$T/dev.tsv"
pair_shards "$T/train.tsv" "$T/p" train "$D/vocab.txt"
pair_shards "$T/dev.tsv" "$T/p" dev "$D/vocab.txt"
ctr_yaml "$D" "$T/p/train-*.h5" "$T/p/dev-*.h5" >"$T/c.yaml"


# ---- 1. MNRL alone ------------------------------------------------------
"$BIN" train "$T/c.yaml" --set "train.run_dir=$T/r1" >/dev/null 2>"$T/stderr" || fail "MNRL run"
read -r first last <<<"$(loss_drop "$T/r1/metrics.jsonl" loss.pairs)"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 0 && b < a / 2) }' || fail "MNRL loss did not halve: $first -> $last"
ev=$(grep '"event": "eval"' "$T/r1/metrics.jsonl" | tail -1)
for k in spearman pearson top1 loss; do
    v=$(grep -o "\"pairs.$k\": [0-9.e+-]*" <<<"$ev" | awk '{ print $2 }')
    [ -n "$v" ] || fail "no pairs.$k in the eval record: $ev"
    case $k in
        top1) lo=0 ;;
        loss) lo=0 ;;
        *) lo=-1 ;;
    esac
    awk -v v="$v" -v lo="$lo" -v k="$k" 'BEGIN { exit !(v >= lo && (k == "loss" ? v < 1e6 : v <= 1)) }' ||
        fail "pairs.$k = $v out of range"
done
# retrieval: MRR@10 of the final evaluation (the final weights) recomputed here from `mtbert encode`
# of the eval sentences: cosines of each first sentence against every second sentence, relevant =
# the same text as its own (ties by index), 1 / rank of the first relevant within the top 10
cut -f2 "$T/dev.tsv" | "$BIN" encode --model "$T/r1/latest" >"$T/ea" 2>"$T/stderr" || fail "encode dev a"
cut -f3 "$T/dev.tsv" | "$BIN" encode --model "$T/r1/latest" >"$T/eb" 2>"$T/stderr" || fail "encode dev b"
mrr=$(cut -f3 "$T/dev.tsv" | awk -v A="$T/ea" -v B="$T/eb" '
    { txt[NR] = $0 }
    END {
        n = NR
        for (i = 1; i <= n; i++) { getline la < A; na = split(la, x, " "); for (c = 1; c <= na; c++) a[i, c] = x[c]
                                   getline lb < B; split(lb, y, " "); for (c = 1; c <= na; c++) b[i, c] = y[c] }
        for (i = 1; i <= n; i++) { s = 0; for (c = 1; c <= na; c++) s += b[i, c] * b[i, c]; nb[i] = sqrt(s) }
        tot = 0
        for (q = 1; q <= n; q++) {
            s = 0; for (c = 1; c <= na; c++) s += a[q, c] * a[q, c]; nq = sqrt(s)
            for (j = 1; j <= n; j++) { s = 0; for (c = 1; c <= na; c++) s += a[q, c] * b[j, c]; sc[j] = s / (nq * nb[j]) }
            best = 0
            for (j = 1; j <= n; j++) {
                if (txt[j] != txt[q]) continue
                r = 1; for (o = 1; o <= n; o++) if (sc[o] > sc[j] || (sc[o] == sc[j] && o < j)) r++
                if (r <= 10 && 1 / r > best) best = 1 / r
            }
            tot += best
        }
        printf "%.6f\n", tot / n
    }')
got=$(grep '"event": "eval"' "$T/r1/metrics.jsonl" | tail -1 | grep -o '"pairs.mrr_10": [0-9.e+-]*' | awk '{ print $2 }')
awk -v a="$mrr" -v b="$got" 'BEGIN { d = a - b; exit !(b != "" && (d < 0 ? -d : d) <= 1e-4) }' ||
    fail "eval pairs.mrr_10 $got, recomputed from mtbert encode: $mrr"
for k in ndcg_10 recall_1 recall_10; do
    grep '"event": "eval"' "$T/r1/metrics.jsonl" | tail -1 | grep -qE "\"pairs.$k\": (0|1|0\.[0-9e-]+)[,}]" ||
        fail "pairs.$k missing or outside [0, 1]"
done
printf 'the data was good\nhello world\n' | "$BIN" encode --model "$T/r1/latest" >"$T/emb" 2>"$T/stderr" ||
    fail "encode of the contrastive checkpoint"
[ "$(wc -l <"$T/emb")" = 2 ] && [ "$(head -1 "$T/emb" | wc -w)" = 32 ] || fail "encode wrote $(wc -l <"$T/emb") lines"
echo "mnrl: loss $first -> $last; $(grep -o '"pairs.spearman": [0-9.e+-]*' <<<"$ev"); mrr_10 $got (recomputed $mrr)"

# ---- 2. CoSENT beside two other tasks -----------------------------------
cat >"$T/m.yaml" <<EOF
$(tiny_model_yaml "$D")
tasks:
  - name: pairs
    type: contrastive
    loss: cosent
    data: {train: "$T/p/train-*.h5", eval: "$T/p/dev-*.h5"}
  - name: topic
    type: sentence_classification
    num_labels: 5
    data: {train: "$D/train-*.h5", eval: "$D/dev-*.h5"}
  - name: ner
    type: token_classification
    num_labels: 9
    data: {train: "$D/dev-*.h5"}
data: {batch_size: 16, max_len: 32}
sampling: {strategy: round_robin}
optimizer: {lr: 1e-3}
train: {steps: 30, threads: 1, backend: cpu}
logging: {every: 3}
EOF
"$BIN" train "$T/m.yaml" --set "train.run_dir=$T/r2" >/dev/null 2>"$T/stderr" || fail "multi-task run"
for k in pairs topic ner; do
    read -r first last <<<"$(loss_drop "$T/r2/metrics.jsonl" "loss.$k")"
    [ "$first" != none ] || fail "task $k: fewer than 6 logged losses"
    awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "task $k: loss did not go down: $first -> $last"
done
grep '"event": "eval"' "$T/r2/metrics.jsonl" | tail -1 | grep -q '"pairs.spearman"' || fail "multi-task eval has no pairs.spearman"
grep '"event": "eval"' "$T/r2/metrics.jsonl" | tail -1 | grep -q '"topic.accuracy"' || fail "multi-task eval has no topic.accuracy"
echo "multi-task: pairs, topic and ner losses go down"

# scores on 0..5 (STS style): fine for CoSENT (only their order counts), so no warning about the
# cosine's [-1, 1] range (which a sentence_similarity task gets)
"$BIN" prepare --format pairs --pair-columns 0,1,2 --task pairs:similarity --vocab "$D/vocab.txt" --max-len 32 \
    --score-scale 5 --out "$T/p5" --name train --quiet "$T/train.tsv" >/dev/null 2>&1 || fail "prepare --score-scale 5"
"$BIN" train "$T/c.yaml" --set tasks.pairs.loss=cosent --set "tasks.pairs.data.train=$T/p5/train-*.h5" \
    --set train.steps=1 --set "train.run_dir=$T/r5" >/dev/null 2>"$T/stderr" || fail "cosent on 0..5 scores"
grep -q "outside the \[-1, 1\]" "$T/stderr" && fail "a contrastive task was warned about the cosine's score range"
"$BIN" train "$T/c.yaml" --set tasks.pairs.type=sentence_similarity --set "tasks.pairs.data.train=$T/p5/train-*.h5" \
    --set tasks.pairs.loss=mnrl --set train.steps=1 --set "train.run_dir=$T/r6" >/dev/null 2>"$T/stderr" ||
    fail "similarity on 0..5 scores"
grep -q "outside the \[-1, 1\]" "$T/stderr" || fail "the similarity task on 0..5 scores was not warned"

# ---- 3. refusals ---------------------------------------------------------
refuse() { # message-fragment, --set options...
    local want=$1
    shift
    "$BIN" train "$T/m.yaml" --set "train.run_dir=$T/bad" --set train.steps=1 "$@" >/dev/null 2>"$T/stderr"
    local rc=$?
    [ $rc = 2 ] || fail "$* : exit $rc, expected 2"
    grep -q -- "$want" "$T/stderr" || fail "$* : no '$want' in the message"
}
refuse "tasks.1.scale: only a contrastive task" --set tasks.topic.scale=5
refuse "tasks.1.loss: only a contrastive task" --set tasks.topic.loss=cosent
refuse "tasks.0.symmetric: the symmetric term belongs to loss mnrl" --set tasks.pairs.symmetric=true
refuse "tasks.0.loss" --set tasks.pairs.loss=infonce
refuse "mixed_batches cannot include" --set data.mixed_batches=true
refuse "tasks.1.mini_batch: only a contrastive task" --set tasks.topic.mini_batch=4
refuse "tasks.0.mini_batch: a cached (mini_batch) task needs data of its own" --set tasks.pairs.mini_batch=4 \
    --set "tasks.ner.data.eval=$T/p/dev-*.h5"
refuse "tasks.0.mini_batch: a cached (mini_batch) task cannot use loss_weighting" --set tasks.pairs.mini_batch=4 \
    --set loss_weighting=uncertainty

# ---- 4. cached steps (tasks[].mini_batch, GradCache) ---------------------
# dropout off: 16 pairs in chunks of 5 (5 + 5 + 5 + 1) = the uncached step:
# the same logged losses and gradient norms (clipping off, AdamW eps 1e-3
# so that the update follows the gradient's size) and the same evaluation
# (chunked too), to 1e-5 relative; weights within 1e-5 relative
CS=(--set model.hidden_dropout=0 --set model.attention_dropout=0 --set train.steps=4 --set eval.every=2
    --set optimizer.eps=1e-3 --set optimizer.max_grad_norm=0)
mkdir -p "$T/du" "$T/dc"
MTBERT_DUMP_PARAMS=$T/du "$BIN" train "$T/c.yaml" "${CS[@]}" --set "train.run_dir=$T/ru" >/dev/null 2>"$T/stderr" ||
    fail "uncached run"
MTBERT_DUMP_PARAMS=$T/dc "$BIN" train "$T/c.yaml" "${CS[@]}" --set tasks.pairs.mini_batch=5 --set "train.run_dir=$T/rc" \
    >/dev/null 2>"$T/stderr" || fail "cached run"
recs() { grep -E '"event": "(train|eval)"' "$1/metrics.jsonl" | sed 's/"tokens_per_s": [^,]*, //'; }
[ "$(recs "$T/ru" | grep -c eval)" = 2 ] || fail "expected 2 eval records: $(recs "$T/ru")"
# the same records and keys; every number within 1e-5 relative (the eval cosines are fp32 sums)
[ "$(recs "$T/ru" | sed 's/: [0-9.e+-]*/: N/g')" = "$(recs "$T/rc" | sed 's/: [0-9.e+-]*/: N/g')" ] ||
    fail "cached and uncached logs differ in their records:$(diff <(recs "$T/ru") <(recs "$T/rc"))"
paste -d' ' <(recs "$T/ru" | grep -oE ': [0-9.e+-]+' | cut -c3-) <(recs "$T/rc" | grep -oE ': [0-9.e+-]+' | cut -c3-) |
    awk '{ d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (m < 1e-3) m = 1e-3; if (d / m > 1e-5) bad = 1 }
         END { exit bad }' || fail "cached and uncached logged numbers differ:$(diff <(recs "$T/ru") <(recs "$T/rc"))"
res=$(paste <(od -An -v -tf4 -w4 "$T/du/rank-0.bin") <(od -An -v -tf4 -w4 "$T/dc/rank-0.bin") | awk '
    { a = $1 + 0; b = $2 + 0; d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a; if ((b < 0 ? -b : b) > m) m = b < 0 ? -b : b
      if (m < 1e-2) m = 1e-2; r = d / m; if (r > mx) mx = r; n++ }
    END { printf "%d %.3g\n", n, mx; exit !(n > 1000 && mx <= 1e-5) }') || fail "cached weights differ (n, max rel): $res"
# memory: the model is built for 2 x mini_batch rows (set-up's estimate, MTBERT_MEM_AVAILABLE_MIB):
# 64 pairs need ~26 MiB uncached, ~2 MiB in chunks of 4
MEM=(--set data.batch_size=64 --set train.steps=1 --set eval.every=0 --set tasks.pairs.data.eval=)
MTBERT_MEM_AVAILABLE_MIB=10 "$BIN" train "$T/c.yaml" "${MEM[@]}" --set "train.run_dir=$T/rm1" >/dev/null 2>"$T/stderr"
rc=$?
[ $rc = 2 ] && grep -q "the model needs" "$T/stderr" || fail "64 uncached pairs in 10 MiB: exit $rc, expected 2"
MTBERT_MEM_AVAILABLE_MIB=10 "$BIN" train "$T/c.yaml" "${MEM[@]}" --set tasks.pairs.mini_batch=4 \
    --set "train.run_dir=$T/rm2" >/dev/null 2>"$T/stderr" || fail "64 pairs in chunks of 4 do not fit 10 MiB"
echo "cached: logs equal to the uncached run, weights within $(echo "$res" | cut -d' ' -f2); 64 pairs fit in 10 MiB"
echo "train_contrastive: ok"
