#!/usr/bin/env bash
# Cross-encoder tasks (types cross_encoder / cross_encoder_regression, issue
# 18) end to end:
#   1. prepare --join-pairs against the tokenizers library: for the
#      committed WordPiece (BERT template, type ids 0/1) and byte-level BPE
#      (RoBERTa template <s> a </s></s> b </s>, type ids 0) tokenizer.json
#      fixtures, the shards' input_ids, token_type_ids and lengths equal the
#      pair encodings tests/fixtures/tokenizers/*.jsonl hold (computed by
#      `tokenizers`; untruncated pairs, and with --max-len 24 the pairs the
#      fixture truncated longest-first to 24); for a vocab.txt, [CLS] a
#      [SEP] b [SEP] built here from `mtbert tokenize` of a and b on their
#      own, type ids 0 up to the first [SEP], 1 after (needs h5dump);
#   2. one run training a sentence classifier (topic), a cross_encoder
#      (rel: is b a variant of a, or of another sentence) and a
#      cross_encoder_regression (sim: their word Jaccard) side by side:
#      rel's accuracy > 0.7 (chance 0.5), sim's spearman > 0.3 on the dev
#      pairs, topic's accuracy above chance (0.2);
#   3. predict --pairs with the final checkpoint: rel's accuracy recomputed
#      from predict's labels on the dev pairs equals the final evaluation's
#      rel.accuracy, sim's pearson recomputed from predict's scores equals
#      sim.pearson (predict encodes the text itself: its pair framing and
#      type ids must be prepare's and the loader's); probabilities sum to
#      1, scores in (0, 1); without --pairs the cross tasks are left out;
#      --pairs on a line without a tab: exit 2 naming the line;
#   4. export --task-models writes both cross-encoder heads as
#      transformers' BertForSequenceClassification (a short run pooling with
#      `pooler`) or the remote-code MtbertForSequenceClassification (the
#      trained run, `cls`), the regression one with one output; predict
#      --pairs on the export equals it on the checkpoint; with torch + transformers
#      (MTBERT_PYTHON, e.g. /opt/refvenv/bin/python) they give predict
#      --pairs' probabilities and scores on tokenizer(a, b) within 1e-5
#      (tests/export/compare_cross_encoder.py);
#   5. refusals, exit 2: a cross_encoder task on shards without joined
#      pairs (naming the task and the file), a sentence_classification task
#      on joined pairs, regression scores outside [0, 1], regression labels
#      without --join-pairs, --join-pairs on input without second sentences,
#      a cross_encoder_regression task in mixed batches, joined pairs with
#      type id 1 for a model with type_vocab_size 1, num_labels 2 on a
#      regression task, a --max-len below the pair template's specials + 2;
#   6. the pairs format under --join-pairs gives a regression task that
#      trains; a cross_encoder trains and evaluates in mixed batches.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/pairs.sh"
export OMP_NUM_THREADS=2
FIX=$SRC/tests/fixtures/tokenizers

# values of dataset DS of shard FILE, one a line
ds_values() { h5dump -d "$2" -y -w 0 -o "$T/dsv" "$1" >/dev/null && echo >>"$T/dsv" && tr -s ', \n' '\n\n\n' <"$T/dsv" | sed '/^$/d'; }

# ---- 1. prepare --join-pairs against the fixtures ------------------------
if command -v h5dump >/dev/null && command -v jq >/dev/null; then
    for tk in wordpiece bpe; do
        for ml in 0 24; do
            # the fixture's pairs encoded with specials at this max_len (0: none)
            jq -c "select(.b != null and .special == true and .max_len == $ml and (.a | length) > 0 and (.b | length) > 0)" \
                "$FIX/$tk.jsonl" >"$T/fx.jsonl"
            n=$(wc -l <"$T/fx.jsonl")
            [ "$n" -ge 2 ] || fail "$tk.jsonl: only $n pair encodings with max_len $ml"
            jq -c '{text: .a, text_b: .b, label: "x"}' "$T/fx.jsonl" >"$T/fx_in.jsonl"
            len=512
            [ "$ml" -gt 0 ] && len=$ml
            "$BIN" prepare --format jsonl --text-b-column text_b --join-pairs --task rel --tokenizer "$FIX/$tk.json" \
                --max-len $len --out "$T/fx_$tk$ml" --name s --quiet "$T/fx_in.jsonl" >"$T/stderr" 2>&1 ||
                fail "prepare --join-pairs with $tk.json"
            f=$T/fx_$tk$ml/s-00000-of-00001.h5
            ds_values "$f" input_ids >"$T/got_ids" || fail "h5dump input_ids"
            ds_values "$f" token_type_ids >"$T/got_types" || fail "h5dump token_type_ids"
            ds_values "$f" lengths >"$T/got_len" || fail "h5dump lengths"
            jq '.ids[]' "$T/fx.jsonl" >"$T/want_ids"
            jq '.type_ids[]' "$T/fx.jsonl" >"$T/want_types"
            jq '.ids | length' "$T/fx.jsonl" >"$T/want_len"
            cmp -s "$T/got_ids" "$T/want_ids" || fail "$tk max_len $ml: joined input_ids differ from tokenizers' pair encoding"
            cmp -s "$T/got_types" "$T/want_types" || fail "$tk max_len $ml: token_type_ids differ from tokenizers' type_ids"
            cmp -s "$T/got_len" "$T/want_len" || fail "$tk max_len $ml: lengths differ"
        done
    done
    grep -q 1 "$T/got_types" && fail "bpe (RoBERTa template) must give type ids 0 only"
else
    echo "train_cross_encoder: no h5dump or jq: the fixture comparison is skipped"
fi

# ---- data: synthetic sentences, pairs as CSV ------------------------------
synthetic "$T/data" --train 2000 --dev 200 --seed 3
D=$T/data
# label,score,a,b: odd lines pair a with the next sentence's variant (no), even ones with its own (yes)
tocsv() { awk -F'\t' 'BEGIN { print "label,score,a,b" }
    { l = (NR % 2) ? "no" : "yes"; gsub(/"/, "\"\""); printf "%s,%s,\"%s\",\"%s\"\n", l, $1, $2, $3 }'; }
for s in train dev; do
    mkpairs "$D/$s.jsonl" mixed >"$T/$s.tsv"
    tocsv <"$T/$s.tsv" >"$T/$s.csv"
done
cut -f2,3 "$T/dev.tsv" >"$T/dev_pairs.tsv"                        # a<TAB>b
awk -F'\t' '{ print ((NR % 2) ? "no" : "yes") "\t" $1 }' "$T/dev.tsv" >"$T/gold" # label<TAB>score
for s in train dev; do
    "$BIN" prepare --format csv --text-column a --text-b-column b --label-column label --join-pairs --task rel \
        --vocab "$D/vocab.txt" --max-len 48 --out "$T/cls" --name $s --quiet "$T/$s.csv" >"$T/stderr" 2>&1 ||
        fail "prepare --join-pairs (classes) $s"
    "$BIN" prepare --format csv --text-column a --text-b-column b --score-column score --join-pairs --task sim \
        --vocab "$D/vocab.txt" --max-len 48 --out "$T/reg" --name $s --quiet "$T/$s.csv" >"$T/stderr" 2>&1 ||
        fail "prepare --join-pairs (scores) $s"
done

# vocab.txt: [CLS] a [SEP] b [SEP] from `mtbert tokenize` of each sentence alone
if command -v h5dump >/dev/null; then
    cls=$(grep -nx '\[CLS\]' "$D/vocab.txt" | cut -d: -f1)
    sep=$(grep -nx '\[SEP\]' "$D/vocab.txt" | cut -d: -f1)
    cut -f1 "$T/dev_pairs.tsv" | "$BIN" tokenize --vocab "$D/vocab.txt" >"$T/ta" || fail "tokenize a"
    cut -f2 "$T/dev_pairs.tsv" | "$BIN" tokenize --vocab "$D/vocab.txt" >"$T/tb" || fail "tokenize b"
    paste -d'|' "$T/ta" "$T/tb" | awk -F'|' -v c=$((cls - 1)) -v s=$((sep - 1)) -v I="$T/want_ids" -v Y="$T/want_types" '
        { na = split($1, a, " "); nb = split($2, b, " ")
          print c > I; print 0 > Y
          for (i = 1; i <= na; i++) { print a[i] > I; print 0 > Y }
          print s > I; print 0 > Y
          for (i = 1; i <= nb; i++) { print b[i] > I; print 1 > Y }
          print s > I; print 1 > Y }'
    f=$T/cls/dev-00000-of-00001.h5
    ds_values "$f" input_ids >"$T/got_ids" || fail "h5dump input_ids"
    ds_values "$f" token_type_ids >"$T/got_types" || fail "h5dump token_type_ids"
    cmp -s "$T/got_ids" "$T/want_ids" || fail "vocab.txt: joined input_ids are not [CLS] a [SEP] b [SEP] of tokenize's ids"
    cmp -s "$T/got_types" "$T/want_types" || fail "vocab.txt: token_type_ids are not 0 through the first [SEP], 1 after"
fi

# ---- 2. three tasks in one run -------------------------------------------
{
    tiny_model_yaml "$D"
    cat <<EOF
  pooling: cls
tasks:
  - name: topic
    type: sentence_classification
    num_labels: 5
    data: {train: "$D/train-*.h5", eval: "$D/dev-*.h5"}
  - name: rel
    type: cross_encoder
    num_labels: 2
    data: {train: "$T/cls/train-*.h5", eval: "$T/cls/dev-*.h5"}
  - name: sim
    type: cross_encoder_regression
    data: {train: "$T/reg/train-*.h5", eval: "$T/reg/dev-*.h5"}
data: {batch_size: 16, max_len: 48}
optimizer: {lr: 2e-3}
train: {steps: 1200, threads: 2, backend: cpu}
eval: {every: 1200}
logging: {every: 100}
EOF
} >"$T/c.yaml"
"$BIN" train "$T/c.yaml" --set "train.run_dir=$T/r" >/dev/null 2>"$T/stderr" || fail "training run"
ev=$(grep '"event": "eval"' "$T/r/metrics.jsonl" | tail -1)
metric() { grep -o "\"$1\": [0-9.e+-]*" <<<"$ev" | awk '{ print $2 }'; }
acc=$(metric rel.accuracy) sp=$(metric sim.spearman) pe=$(metric sim.pearson) ta=$(metric topic.accuracy)
[ -n "$acc" ] && [ -n "$sp" ] && [ -n "$pe" ] && [ -n "$ta" ] || fail "eval record lacks a metric: $ev"
awk -v a="$acc" 'BEGIN { exit !(a > 0.7) }' || fail "cross_encoder rel.accuracy $acc, not above 0.7 (chance 0.5)"
awk -v a="$sp" 'BEGIN { exit !(a > 0.3) }' || fail "cross_encoder_regression sim.spearman $sp, not above 0.3"
awk -v a="$ta" 'BEGIN { exit !(a > 0.3) }' || fail "topic.accuracy $ta beside the cross-encoders, not above 0.3 (chance 0.2)"
echo "train_cross_encoder: rel.accuracy $acc, sim.spearman $sp, sim.pearson $pe, topic.accuracy $ta"

# ---- 3. predict --pairs ---------------------------------------------------
"$BIN" predict --model "$T/r/latest" --pairs --input "$T/dev_pairs.tsv" >"$T/pred" 2>"$T/stderr" || fail "predict --pairs"
[ "$(wc -l <"$T/pred")" -eq 200 ] || fail "predict --pairs: $(wc -l <"$T/pred") lines for 200 pairs"
if command -v jq >/dev/null; then
    jq -r '[.rel.label, (.rel.probs.no + .rel.probs.yes), .sim.score, (.topic == null)] | @tsv' "$T/pred" >"$T/pv" ||
        fail "predict output is not the expected JSON"
    paste "$T/gold" "$T/pv" | awk -F'\t' -v acc="$acc" -v pe="$pe" '
        { n++; ok += ($1 == $3); if ($4 < 0.9999 || $4 > 1.0001) bad = "probabilities sum to " $4
          if (!($5 > 0 && $5 < 1)) bad = "score " $5 " outside (0, 1)"
          if ($6 != "true") bad = "a sentence task in the --pairs output"
          x[n] = $5; y[n] = $2; sx += $5; sy += $2 }
        END { if (bad != "") { print bad; exit 1 }
              if (ok / n - acc > 1e-4 || acc - ok / n > 1e-4) { print "predict accuracy " ok / n " vs eval " acc; exit 1 }
              mx = sx / n; my = sy / n
              for (i = 1; i <= n; i++) { cxy += (x[i] - mx) * (y[i] - my); cxx += (x[i] - mx) ^ 2; cyy += (y[i] - my) ^ 2 }
              r = cxy / sqrt(cxx * cyy)
              if (r - pe > 2e-3 || pe - r > 2e-3) { print "predict pearson " r " vs eval " pe; exit 1 } }' >"$T/why" ||
        fail "predict --pairs disagrees with the evaluation: $(cat "$T/why")"
fi
# pairs are batched as sentences are (sorted by length, cut by the token
# budget, written in input order): the same lines as one pair at a time, to
# the printed digits, and the batches are really several pairs each
"$BIN" predict --model "$T/r/latest" --pairs --batch 1 --input "$T/dev_pairs.tsv" >"$T/pred_b1" 2>"$T/stderr" ||
    fail "predict --pairs --batch 1"
MTBERT_BATCH_STATS=1 "$BIN" predict --model "$T/r/latest" --pairs --max-tokens 300 --input "$T/dev_pairs.tsv" \
    >"$T/pred_bt" 2>"$T/stats" || fail "predict --pairs --max-tokens 300"
grep -q "predict: 200 sentences in" "$T/stats" || fail "predict --pairs: no batch summary: $(tail -2 "$T/stats")"
nbatch=$(sed -n 's/.*200 sentences in \([0-9]*\) batches.*/\1/p' "$T/stats")
[ -n "$nbatch" ] && [ "$nbatch" -gt 1 ] && [ "$nbatch" -lt 100 ] ||
    fail "predict --pairs --max-tokens 300: $nbatch batches for 200 pairs (expected several pairs a batch)"
for f in pred pred_bt; do
    python3 "$SRC/tests/cli/lib/jsonl_close.py" "$T/pred_b1" "$T/$f" "predict --pairs ($f)" ||
        fail "predict --pairs batched ($f) differs from one pair at a time"
done
head -3 "$T/dev_pairs.tsv" | cut -f1 | "$BIN" predict --model "$T/r/latest" >"$T/pred1" 2>"$T/stderr" ||
    fail "predict without --pairs"
grep -q '"rel"\|"sim"' "$T/pred1" && fail "predict without --pairs ran the cross-encoder tasks"
grep -q '"topic"' "$T/pred1" || fail "predict without --pairs lost the sentence task"
grep -q "cross-encoder tasks left out" "$T/stderr" || fail "no note on the cross-encoder tasks left out"
printf 'one sentence only\n' | "$BIN" predict --model "$T/r/latest" --pairs >/dev/null 2>"$T/stderr"
[ $? -eq 2 ] && grep -q "<stdin>:1: expected two sentences separated by a tab" "$T/stderr" ||
    fail "predict --pairs on a line without a tab"

# ---- 4. export --task-models ----------------------------------------------
# the trained run (pooling cls: the remote-code class) and a short one with pooling pooler (transformers' own)
"$BIN" train "$T/c.yaml" --set "train.run_dir=$T/rp" --set model.pooling=pooler --set train.steps=30 \
    --set eval.every=0 >/dev/null 2>"$T/stderr" || fail "pooler run"
head -40 "$T/dev_pairs.tsv" >"$T/p40.tsv"
py=${MTBERT_PYTHON:-python3}
have_tf=0
"$py" -c "import torch, transformers" 2>/dev/null && have_tf=1
for v in "r MtbertForSequenceClassification" "rp BertForSequenceClassification"; do
    set -- $v
    "$BIN" export --checkpoint "$T/$1/latest" --out "$T/exp-$1" --task-models >/dev/null 2>"$T/stderr" ||
        fail "$1: export --task-models"
    for k in rel sim; do
        grep -q "\"$2\"" "$T/exp-$1/tasks/$k/config.json" || fail "$1: $k not exported as $2"
    done
    grep -q '"1": "yes"' "$T/exp-$1/tasks/rel/config.json" || fail "$1: rel: id2label lacks the shards' labels"
    grep -q '"0": "LABEL_0"' "$T/exp-$1/tasks/sim/config.json" && ! grep -q '"1":' "$T/exp-$1/tasks/sim/config.json" ||
        fail "$1: sim is not a one-output model"
    grep -q problem_type "$T/exp-$1/tasks/sim/config.json" && fail "$1: a problem_type for the score head"
    "$BIN" predict --model "$T/exp-$1" --pairs --input "$T/p40.tsv" >"$T/pred-$1" 2>"$T/stderr" ||
        fail "$1: predict --pairs on the export"
    if [ "$have_tf" = 1 ]; then # transformers on tokenizer(a, b) against predict --pairs
        "$py" "$SRC/tests/export/compare_cross_encoder.py" "$T/exp-$1/tasks" "$T/p40.tsv" "$T/pred-$1" rel sim \
            >"$T/cmp" 2>"$T/cmp.err" || { cat "$T/cmp"; FAIL_LOG=$T/cmp.err; fail "$1: transformers differs from predict --pairs"; }
        sed 's/^/  /' "$T/cmp"
    fi
done
python3 "$SRC/tests/cli/lib/jsonl_close.py" <(head -40 "$T/pred") "$T/pred-r" "checkpoint vs export" ||
    fail "predict --pairs differs between the checkpoint and its export"
[ "$have_tf" = 1 ] ||
    echo "train_cross_encoder: no torch + transformers ($py; set MTBERT_PYTHON): the transformers comparison is skipped"

# ---- 5. refusals ------------------------------------------------------------
expect2() { # message-regex command...
    local re=$1
    shift
    "$@" >/dev/null 2>"$T/stderr"
    local rc=$?
    [ $rc -eq 2 ] || fail "expected exit 2, got $rc: $*"
    grep -Eq -- "$re" "$T/stderr" || fail "message does not match '$re': $(cat "$T/stderr")"
}
"$BIN" prepare --format csv --text-column a --label-column label --task rel --vocab "$D/vocab.txt" --max-len 48 \
    --out "$T/plain" --name train --quiet "$T/dev.csv" >/dev/null 2>&1 || fail "prepare without --join-pairs"
expect2 "plain/train-\*\.h5: task 'rel' is a cross_encoder task, but the shards hold no joined pairs" \
    "$BIN" train "$T/c.yaml" --set "train.run_dir=$T/x1" --set "tasks.1.data.train=$T/plain/train-*.h5"
expect2 "cls/train-\*\.h5: the shards hold joined pairs .* task 'rel' is a sentence_classification task" \
    "$BIN" train "$T/c.yaml" --set "train.run_dir=$T/x2" --set tasks.1.type=sentence_classification
awk -F, 'NR == 1 { print; next } { $2 = $2 * 5; print }' OFS=, "$T/dev.csv" >"$T/five.csv"
"$BIN" prepare --format csv --text-column a --text-b-column b --score-column score --join-pairs --task sim \
    --vocab "$D/vocab.txt" --max-len 48 --out "$T/five" --name train --quiet "$T/five.csv" >/dev/null 2>&1 ||
    fail "prepare 0..5 scores"
expect2 "five/train-\*\.h5: task 'sim': regression scores range over \[0, [0-9.]+\].*--score-scale" \
    "$BIN" train "$T/c.yaml" --set "train.run_dir=$T/x3" --set "tasks.2.data.train=$T/five/train-*.h5"
expect2 "task 'sim': regression labels are for joined pairs" \
    "$BIN" prepare --format csv --text-column a --text-b-column b --score-column score --task sim:regression \
    --vocab "$D/vocab.txt" --out "$T/x4" --quiet "$T/dev.csv"
expect2 "--join-pairs needs two sentences per example" \
    "$BIN" prepare --format csv --text-column a --label-column label --join-pairs --task rel \
    --vocab "$D/vocab.txt" --out "$T/x5" --quiet "$T/dev.csv"
expect2 "max_len 4 is too small for joined pairs \(at least 5: the pair template's 3 special tokens" \
    "$BIN" prepare --format csv --text-column a --text-b-column b --label-column label --join-pairs --task rel \
    --vocab "$D/vocab.txt" --max-len 4 --out "$T/x9" --quiet "$T/dev.csv"
expect2 "data.mixed_batches cannot include the cross_encoder_regression task 'sim'" \
    "$BIN" train "$T/c.yaml" --set "train.run_dir=$T/x6" --set data.mixed_batches=true
expect2 "cls/train-\*\.h5: task 'rel': the joined pairs hold token type id 1, but the model has type_vocab_size 1" \
    "$BIN" train "$T/c.yaml" --set "train.run_dir=$T/x7" --set model.type_vocab_size=1
expect2 "tasks.2: a cross_encoder_regression task predicts one score: num_labels is 1" \
    "$BIN" train "$T/c.yaml" --set "train.run_dir=$T/x8" --set tasks.2.num_labels=2

# ---- 6. the pairs format joins too (its score: a regression task); cross_encoder in mixed batches
"$BIN" prepare --format pairs --pair-columns 0,1,2 --join-pairs --vocab "$D/vocab.txt" --max-len 48 --out "$T/pj" \
    --name train "$T/dev.tsv" >"$T/stdout" 2>"$T/stderr" || fail "prepare --format pairs --join-pairs"
grep -q "^task task (regression)" "$T/stdout" || fail "pairs --join-pairs: the score is not a regression task: $(cat "$T/stdout")"
{
    tiny_model_yaml "$D"
    cat <<EOF
tasks:
  - name: task
    type: cross_encoder_regression
    data: {train: "$T/pj/train-*.h5"}
data: {batch_size: 16, max_len: 48}
train: {threads: 2, backend: cpu}
EOF
} >"$T/pj.yaml"
"$BIN" train "$T/pj.yaml" --set "train.run_dir=$T/m0" --set train.steps=20 --set eval.every=0 --set logging.every=5 \
    >/dev/null 2>"$T/stderr" || fail "a run on pairs-format joined shards"
grep -q '"loss.task": [0-9]' "$T/m0/metrics.jsonl" || fail "no loss logged for the pairs-format regression task"
sed -n '1,/^  - name: sim/p' "$T/c.yaml" | sed '$d' >"$T/mixed.yaml"
"$BIN" train "$T/mixed.yaml" --set "train.run_dir=$T/m1" --set data.mixed_batches=true --set train.steps=20 --set logging.every=5 \
    --set eval.every=20 >/dev/null 2>"$T/stderr" || fail "cross_encoder in mixed batches"
grep '"event": "eval"' "$T/m1/metrics.jsonl" | grep -q '"rel.accuracy": [0-9]' || fail "mixed batches: no rel.accuracy"
grep '"event": "train"' "$T/m1/metrics.jsonl" | grep -q '"loss.rel": [0-9]' || fail "mixed batches: no rel loss"
echo "train_cross_encoder: ok"
