#!/usr/bin/env bash
# Issue 15, the configuration and training set-up points, each a regression
# test (it failed before the fix):
#   2  no task (no `tasks` key, or --set tasks=[]) is a config error with
#      FILE:LINE, for train, eval and bench, before the run dir is touched
#   5  train.threads above the cores is capped with a warning; threads 0
#      follows OMP_NUM_THREADS
#   17 a checkpoint's model choices win: eval and resume with another
#      pooling / projection are refused naming the key
#   18 freeze.layers beyond the depth of the model loaded (model.path /
#      --init-from) is refused
#   20 every loss weight 0 is a config error; similarity scores outside
#      [-1, 1] for a cosine are warned about at set-up (shard and range)
#   23 eval prints no "heads.X (initialised)" of model.path before loading
#      the checkpoint; a group that unfreezes is logged
#   24 resuming to another train.steps warns (the schedule changes); with
#      uncertainty weighting metrics.jsonl has the objective as well
. "$(dirname "$0")/lib/common.sh"
FAIL_LOG=$T/err

synthetic "$T/data" --train 24 --dev 8 --seed 4
D=$T/data
cat >"$T/c.yaml" <<EOF
$(tiny_model_yaml "$D")
tasks:
  - name: topic
    type: sentence_classification
    num_labels: 5
    data: {train: "$D/train-*.h5", eval: "$D/dev-*.h5"}
  - name: ner
    type: token_classification
    num_labels: 9
    data: {train: "$D/train-*.h5", eval: "$D/dev-*.h5"}
data: {batch_size: 4, max_len: 64}
train: {steps: 2, threads: 1, backend: cpu}
logging: {every: 1}
EOF
train() { "$BIN" train "$T/c.yaml" --quiet "$@" >"$T/out" 2>"$T/err"; }

# ---- 2: no task ----------------------------------------------------------
mkdir -p "$T/old"
echo '{"event": "train", "step": 1, "loss": 1}' >"$T/old/metrics.jsonl"
echo "# the old run" >"$T/old/config.yaml"
cp -r "$T/old" "$T/old.orig"
train --set "train.run_dir=$T/old" --set 'tasks=[]'
[ $? -eq 2 ] || fail "2: train with tasks=[] did not exit 2"
grep -q "^--set tasks=\[\]: tasks: no task is configured" "$T/err" || fail "2: train: no message naming tasks=[]"
diff -r "$T/old" "$T/old.orig" >/dev/null || fail "2: the run dir was touched"
grep -v "^tasks:\|^  - \|^    " "$T/c.yaml" >"$T/notasks.yaml"
"$BIN" train "$T/notasks.yaml" --set "train.run_dir=$T/old" 2>"$T/err"
[ $? -eq 2 ] || fail "2: train without a tasks key did not exit 2"
grep -q "notasks.yaml:1:1: tasks: no task is configured" "$T/err" || fail "2: no FILE:LINE for a missing tasks key"
"$BIN" bench "$T/c.yaml" --set 'tasks=[]' >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q "tasks: no task is configured" "$T/err" || fail "2: bench accepted tasks=[]"
"$BIN" eval "$T/notasks.yaml" --checkpoint "$T/old" >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q "notasks.yaml:1:1: tasks: no task" "$T/err" || fail "2: eval accepted no tasks"
diff -r "$T/old" "$T/old.orig" >/dev/null || fail "2: the run dir was touched"

# ---- 5: threads ----------------------------------------------------------
cores=$(nproc)
OMP_NUM_THREADS=1 train --set "train.run_dir=$T/t5" --set train.threads=4096 || fail "5: threads 4096: exit $?"
grep -q "warning: train.threads asks for 4096 threads, more than the $cores core" "$T/err" || fail "5: no warning for 4096 threads"
grep -q "mtbert: $cores CPU threads\? per rank (train.threads)" "$T/err" || fail "5: threads not capped at $cores"
OMP_NUM_THREADS=1 train --set "train.run_dir=$T/t5b" --set train.threads=0 || fail "5: threads 0: exit $?"
grep -q "mtbert: 1 CPU thread per rank (OMP_NUM_THREADS)" "$T/err" || fail "5: OMP_NUM_THREADS=1 not honoured with threads 0"

# ---- 17: the checkpoint's model choices ------------------------------------
train --set "train.run_dir=$T/r" || fail "17: the first run: exit $?"
"$BIN" eval "$T/c.yaml" --checkpoint "$T/r/step-0000002" >"$T/eval.json" 2>"$T/err" || fail "17: eval: exit $?"
"$BIN" eval "$T/c.yaml" --checkpoint "$T/r/step-0000002" --set model.pooling=cls >/dev/null 2>"$T/err"
[ $? -eq 2 ] || fail "17: eval with another pooling was not refused"
grep -q "model.pooling: the checkpoint was trained with mean, the config says cls" "$T/err" || fail "17: eval: the key is not named"
train --set "train.run_dir=$T/r" --set checkpoint.resume=auto --set train.steps=3 --set model.embedding_dim=8
[ $? -eq 2 ] || fail "17: resume with another embedding_dim was not refused"
grep -q "model.embedding_dim: the checkpoint was trained with 0, the config says 8" "$T/err" || fail "17: resume: the key is not named"
train --set "train.run_dir=$T/r" --set checkpoint.resume=auto --set train.steps=3 --set model.normalize=true
[ $? -eq 2 ] && grep -q "model.normalize: the checkpoint was trained with false" "$T/err" || fail "17: resume with normalize"

# ---- 18: freeze.layers against the loaded model ----------------------------
# the config says 12 layers (the default); the folder has 2
grep -v "num_layers" "$T/c.yaml" >"$T/deep.yaml"
"$BIN" train "$T/deep.yaml" --quiet --set "train.run_dir=$T/f18" --set "model.path=$T/r/step-0000002" \
    --set 'freeze.layers=[0, 5]' >/dev/null 2>"$T/err"
[ $? -eq 2 ] || fail "18: freeze.layers 5 on a 2-layer model was accepted"
grep -q "freeze.layers: layer 5 is beyond the 2 layers (0-1) of $T/r/step-0000002" "$T/err" || fail "18: no clear message"
"$BIN" train "$T/deep.yaml" --quiet --set "train.run_dir=$T/f18b" --init-from "$T/r/step-0000002" \
    --set freeze.layers=1 >/dev/null 2>"$T/err" || fail "18: freeze.layers 1 on a 2-layer model: exit $?"

# ---- 20: loss weights, similarity scores -----------------------------------
train --set "train.run_dir=$T/w0" --set tasks.topic.loss_weight=0 --set tasks.ner.loss_weight=0
[ $? -eq 2 ] && grep -q "tasks: every task's loss_weight is 0" "$T/err" || fail "20: all loss weights 0 accepted"
words=$(sed -n '200,260p' "$D/vocab.txt" | grep -v '^#' | tr '\n' ' ')
set -- $words
for i in $(seq 1 12); do
    printf '%s\t%s %s %s\t%s %s %s\n' "$(( i % 6 )).0" "$1" "$2" "$3" "$4" "$5" "$6"
    shift 2
done >"$T/sts.tsv"
"$BIN" prepare --format pairs --pair-columns 0,1,2 --vocab "$D/vocab.txt" --task sts:similarity \
    --out "$T/sts" --name train "$T/sts.tsv" >/dev/null 2>"$T/err" || fail "20: prepare the pairs"
sts_task="  - {name: sts, type: sentence_similarity, data: {train: \"$T/sts/train-*.h5\"}}"
awk -v t="$sts_task" '{ print } /^tasks:/ { print t }' "$T/c.yaml" >"$T/sts.yaml"
"$BIN" train "$T/sts.yaml" --quiet --set "train.run_dir=$T/s20" >/dev/null 2>"$T/err" || fail "20: sts run: exit $?"
grep -q "warning: $T/sts/train-\*.h5: similarity scores range over \[0, 5\], outside the \[-1, 1\] of the cosine task 'sts'" \
    "$T/err" || fail "20: no warning about 0-5 scores"
grep -q "score-scale" "$T/err" || fail "20: the warning does not suggest --score-scale"

# ---- 23: eval messages, unfreezing -----------------------------------------
# model.path: a folder without the ner head (a topic-only run); eval loads
# the full checkpoint over it, so nothing of the folder's report applies
train --set "train.run_dir=$T/topic" --set 'tasks=[{name: topic, type: sentence_classification, num_labels: 5, data: {train: "'"$D"'/train-*.h5"}}]' \
    || fail "23: topic-only run: exit $?"
"$BIN" eval "$T/c.yaml" --checkpoint "$T/r/step-0000002" --set "model.path=$T/topic/step-0000002" >/dev/null 2>"$T/err" \
    || fail "23: eval with model.path: exit $?"
grep -q "initialised" "$T/err" && fail "23: eval reports initialised heads before loading the checkpoint"
train --set "train.run_dir=$T/u" --set freeze.backbone=true --set freeze.unfreeze_at_step.backbone=1 --set train.steps=3 \
    || fail "23: unfreeze run: exit $?"
grep -q "^mtbert: step 2: unfreezing backbone (freeze.unfreeze_at_step)" "$T/err" || fail "23: unfreezing is not logged"
grep -q '"event": "unfreeze", "step": 2, "group": "backbone"' "$T/u/metrics.jsonl" || fail "23: no unfreeze record"

# ---- 24: resume to another length, the objective ---------------------------
train --set "train.run_dir=$T/r" --set checkpoint.resume=auto --set train.steps=4 || fail "24: resume: exit $?"
grep -q "warning: resuming a run of 2 steps as one of 4" "$T/err" || fail "24: no warning when train.steps changes on resume"
train --set "train.run_dir=$T/r2" --set train.steps=2 || fail "24: r2: exit $?"
train --set "train.run_dir=$T/r2" --set checkpoint.resume=auto --set train.steps=2 --set schedule.decay=linear || fail "24: same steps"
grep -q "warning: resuming" "$T/err" && fail "24: a warning although train.steps is the same"
train --set "train.run_dir=$T/uw" --set loss_weighting=uncertainty --set train.steps=3 || fail "24: uncertainty: exit $?"
M=$T/uw/metrics.jsonl
[ "$(grep -c '"objective": ' "$M")" -eq 3 ] || fail "24: not every train record has the objective: $(cat "$M")"
# step 1: every s_t starts at 0, so the objective is the weighted loss exactly
l1=$(grep '"step": 1,' "$M" | sed 's/.*"loss": \([^,]*\),.*/\1/') o1=$(grep '"step": 1,' "$M" | sed 's/.*"objective": \([^,]*\),.*/\1/')
[ "$l1" = "$o1" ] || fail "24: step 1: objective $o1 != loss $l1 with s_t = 0"
l3=$(grep '"step": 3,' "$M" | sed 's/.*"loss": \([^,]*\),.*/\1/') o3=$(grep '"step": 3,' "$M" | sed 's/.*"objective": \([^,]*\),.*/\1/')
[ "$l3" != "$o3" ] || fail "24: step 3: objective equals the loss though s_t moved"
train --set "train.run_dir=$T/st" || fail "24: static: exit $?"
grep -q objective "$T/st/metrics.jsonl" && fail "24: static weighting logs an objective"
echo "config_reliability: ok"
