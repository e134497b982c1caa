#!/usr/bin/env bash
# Every configuration key has an effect (issue 14): for EVERY key of the
# schema -- listed from the resolved config.yaml that `mtbert train` writes,
# which config_write_resolved produces by walking config_keys[], so a new key
# shows up here by itself -- a run with the key set to a non-default valid
# value must differ from the same run without it where the key says (the
# probe table below): the final weights, metrics.jsonl, the files of the run
# directory, the checkpoint, the log, the exit status or bench's JSON. The
# resolved config.yaml itself never counts (it always differs).
#
# A key of the schema without a probe fails ("add a probe"); a probe whose
# run does not differ fails ("no effect"). Tiny model, 2 steps, 1 thread.
. "$(dirname "$0")/lib/common.sh"
FAIL_LOG=$T/last.log
export OMP_NUM_THREADS=1

synthetic "$T/data" --train 24 --dev 8 --seed 3
D=$T/data
# contrastive task keys: pair shards whose task is named topic (tasks.0 turns contrastive)
. "$(dirname "$0")/lib/pairs.sh"
mkpairs "$D/train.jsonl" pos >"$T/pairs.tsv"
"$BIN" prepare --format pairs --pair-columns 0,1,2 --task topic:similarity --vocab "$D/vocab.txt" --max-len 32 \
    --out "$T/pairs" --name train --quiet "$T/pairs.tsv" >/dev/null 2>&1 || fail "prepare --format pairs"
# a retrieval set for the contrastive task (tasks[].eval_retrieval), and variants of each file
IRF=$SRC/tests/fixtures/retrieval
IR="tasks.0.eval_retrieval.queries=$IRF/queries.jsonl tasks.0.eval_retrieval.corpus=$IRF/corpus.jsonl tasks.0.eval_retrieval.qrels=$IRF/qrels.tsv"
sed 's/"text": "/"text": "the storm /' "$IRF/queries.jsonl" >"$T/ir_q2.jsonl"
sed 's/"text": "/"text": "the storm /' "$IRF/corpus.jsonl" >"$T/ir_c2.jsonl"
head -12 "$IRF/qrels.tsv" >"$T/ir_r2.tsv"
CTR="tasks.0.type=contrastive tasks.0.num_labels=1 tasks.0.data.train=$T/pairs/train-*.h5 tasks.0.data.eval=$T/pairs/train-*.h5"
# loss triplet (margin): (anchor, positive, negative) shards, task topic
mktriplets "$D/train.jsonl" 1 >"$T/trip.tsv"
"$BIN" prepare --format triplets --task topic:similarity --vocab "$D/vocab.txt" --max-len 32 \
    --out "$T/trip" --name train --quiet "$T/trip.tsv" >/dev/null 2>&1 || fail "prepare --format triplets"
CTRT="tasks.0.type=contrastive tasks.0.num_labels=1 tasks.0.loss=triplet tasks.0.data.train=$T/trip/train-*.h5 tasks.0.data.eval=$T/trip/train-*.h5"
cat >"$T/base.yaml" <<EOF
model:
  vocab: $D/vocab.txt
  vocab_size: 600
  hidden_size: 16
  num_layers: 2
  num_heads: 2
  intermediate_size: 32
  max_position_embeddings: 64
tasks:
  - name: topic
    type: sentence_classification
    num_labels: 5
    data: {train: "$D/train-*.h5", eval: "$D/dev-*.h5"}
  - name: ner
    type: token_classification
    num_labels: 9
    data: {train: "$D/dev-00000-of-00001.h5", eval: "$D/dev-*.h5"}
data: {batch_size: 4, max_len: 64}
train: {steps: 2, threads: 1, backend: cpu}
logging: {every: 1}
bench: {seq_len: 16, batch_size: 2, steps: 1, warmup: 0}
EOF

# ---- one run and what it produced --------------------------------------
# run ID CMD [--set ...]: CMD is train, bench or eval; results in $T/r/ID/
NRUNS=0
run() {
    local id=$1 cmd=$2
    shift 2
    local o=$T/r/$id rd=$T/runs/$id
    [ -e "$o/done" ] && return 0   # a baseline shared by several probes
    mkdir -p "$o"
    [ -n "${PREP:-}" ] && eval "$PREP"
    local quiet=--quiet
    [ "$cmd" = bench ] && quiet=
    ( cd "$T/cwd" && "$BIN" "$cmd" "$T/base.yaml" --set "train.run_dir=$rd" $quiet "$@" \
        >"$o/stdout" 2>"$o/stderr" )
    echo $? >"$o/exit"
    NRUNS=$((NRUNS + 1))
    # the log without timings, and with this run's own paths neutral
    sed -e "s#$rd#RUN#g" -e "s#$T/cwd/checkpoints/[A-Za-z0-9_-]*#DEFAULT_RUN#g" \
        -e 's/in [0-9]*h*[0-9]*m[0-9]*s/in TIME/' "$o/stderr" >"$o/log"
    : >"$o/metrics"
    [ -f "$rd/metrics.jsonl" ] && sed -e 's/"tokens_per_s": [0-9.e+-]*//' "$rd/metrics.jsonl" >"$o/metrics"
    # (an event file's name holds the time and host: only that there is one counts)
    (cd "$rd" 2>/dev/null && find . -path ./.lock -prune -o -print |
        sed 's#^\./events\.out\.tfevents\..*#./events.out.tfevents.TIME.HOST#' | sort) >"$o/files"
    : >"$o/weights"
    : >"$o/ckpt"
    if [ -f "$rd/latest" ]; then
        local c=$rd/$(cat "$rd/latest")
        (cd "$c" && find . -name '*.safetensors' ! -name optimizer.safetensors | sort | xargs sha256sum) >"$o/weights"
        (cd "$c" && find . -type f ! -name config.yaml | sort | xargs sha256sum) >"$o/ckpt"
    fi
    : >"$o/bench"
    # bench: its JSON line without the timings
    [ "$cmd" = bench ] && tail -1 "$o/stdout" | grep -oE '"[a-z_]+": ("[^"]*"|[0-9.e+-]+|true|false)' |
        grep -vE '_ms"|_per_s"' >"$o/bench"
    touch "$o/done"
}
mkdir -p "$T/cwd" "$T/r" "$T/runs"

# ---- the keys -----------------------------------------------------------
run base train
[ "$(cat "$T/r/base/exit")" = 0 ] || { FAIL_LOG=$T/r/base/stderr; fail "the base run failed"; }
# dotted names of every leaf of the resolved dump; task keys as tasks.*.KEY
awk '
    /^#/ || /^[[:space:]]*$/ { next }
    {
        ind = match($0, /[^ ]/) - 1; line = substr($0, ind + 1)
        item = 0
        if (line ~ /^- /) { item = 1; line = substr(line, 3); ind += 2; ntask++ }
        key = line; sub(/:.*/, "", key); val = line; sub(/^[^:]*:[[:space:]]*/, "", val)
        if (ind == 0) { sec = key; if (val != "" && key != "tasks") print key; next }
        if (sec == "tasks") {
            if (ntask != 1) next
            if (ind == 4) { sub4 = key; if (val != "") print "tasks.*." key; else sub4 = key }
            else if (ind == 6) print "tasks.*." sub4 "." key
            next
        }
        if (ind == 2) print sec "." key
    }' "$T/runs/base/config.yaml" | sort -u >"$T/keys"
[ "$(wc -l <"$T/keys")" -gt 80 ] || fail "only $(wc -l <"$T/keys") keys read from the resolved config"

# ---- the probes ---------------------------------------------------------
# KEY | OBSERVABLE | --set ... of the probe | --set ... of both runs (a key
# that needs another key to matter) | command (train)
# OBSERVABLE: weights metrics files ckpt log exit bench
POISON=$T/poison
cat >"$T/probes" <<EOF
model.path|weights|model.path=$T/runs/base/step-0000002||
model.vocab|exit|model.vocab=$T/vocab2.txt||
model.do_lower_case|ckpt|model.do_lower_case=false||
model.type|weights|model.type=electra||
model.vocab_size|weights|model.vocab_size=610||
model.hidden_size|weights|model.hidden_size=12||
model.num_layers|weights|model.num_layers=1||
model.num_heads|weights|model.num_heads=4||
model.intermediate_size|weights|model.intermediate_size=24||
model.max_position_embeddings|weights|model.max_position_embeddings=80||
model.type_vocab_size|weights|model.type_vocab_size=3||
model.pad_token_id|ckpt|model.pad_token_id=5||
model.hidden_act|weights|model.hidden_act=gelu_new||
model.layer_norm_eps|weights|model.layer_norm_eps=1e-3||
model.initializer_range|weights|model.initializer_range=0.05||
model.hidden_dropout|weights|model.hidden_dropout=0||
model.attention_dropout|weights|model.attention_dropout=0||
model.pooling|weights|model.pooling=cls||
model.embedding_dim|weights|model.embedding_dim=8||
model.normalize|weights|model.normalize=true||
tasks.*.name|exit|tasks.0.name=subject||
tasks.*.type|exit|tasks.0.type=token_classification||
tasks.*.labels|exit|tasks.0.labels=[a, b, c, d, e]||
tasks.*.num_labels|exit|tasks.0.num_labels=4||
tasks.*.loss_weight|weights|tasks.0.loss_weight=2||
tasks.*.dropout|weights|tasks.0.dropout=0.4||
tasks.*.oversample|weights|tasks.1.oversample=5|sampling.strategy=proportional
tasks.*.batch_size|weights|tasks.0.batch_size=3||
tasks.*.max_len|weights|tasks.1.max_len=8|tasks.1.data.eval=$D/train-*.h5
tasks.*.lr_multiplier|weights|tasks.0.lr_multiplier=5||
tasks.*.tag_scheme|metrics|tasks.1.tag_scheme=iob1||
tasks.*.metric|ckpt|tasks.0.metric=macro_f1||
tasks.*.loss|weights|tasks.0.loss=cosent|$CTR
tasks.*.scale|weights|tasks.0.scale=5|$CTR
tasks.*.symmetric|weights|tasks.0.symmetric=true|$CTR
tasks.*.mini_batch|weights|tasks.0.mini_batch=2|$CTR
tasks.*.margin|metrics|tasks.0.margin=1|$CTRT
tasks.*.eval_retrieval.queries|metrics|tasks.0.eval_retrieval.queries=$T/ir_q2.jsonl|$CTR $IR
tasks.*.eval_retrieval.corpus|metrics|tasks.0.eval_retrieval.corpus=$T/ir_c2.jsonl|$CTR $IR
tasks.*.eval_retrieval.qrels|metrics|tasks.0.eval_retrieval.qrels=$T/ir_r2.tsv|$CTR $IR
tasks.*.data.train|weights|tasks.0.data.train=$D/dev-*.h5||
tasks.*.data.eval|metrics|tasks.0.data.eval=$D/train-*.h5||
data.max_len|weights|data.max_len=8||
data.batch_size|weights|data.batch_size=3||
data.mixed_batches|weights|data.mixed_batches=true||
data.length_bucketing|weights|data.length_bucketing=true||
data.shuffle|weights|data.shuffle=false||
sampling.strategy|weights|sampling.strategy=round_robin||
sampling.temperature|weights|sampling.temperature=0.2|sampling.strategy=temperature train.steps=4
sampling.alternate_every|weights|sampling.alternate_every=2|sampling.strategy=alternating train.steps=3
sampling.anneal_steps|weights|sampling.anneal_steps=1|sampling.strategy=annealed train.steps=4
loss_weighting|weights|loss_weighting=uncertainty||
freeze.embeddings|weights|freeze.embeddings=true||
freeze.layers|weights|freeze.layers=[1]||
freeze.backbone|weights|freeze.backbone=true||
freeze.all|log|freeze.all=true||
freeze.heads|weights|freeze.heads=[topic]||
freeze.unfreeze_at_step|weights|freeze.unfreeze_at_step.backbone=1|freeze.backbone=true
optimizer.lr|weights|optimizer.lr=1e-3||
optimizer.weight_decay|weights|optimizer.weight_decay=0.5|optimizer.lr=1e-2
optimizer.beta1|weights|optimizer.beta1=0.5||
optimizer.beta2|weights|optimizer.beta2=0.9||
optimizer.eps|weights|optimizer.eps=1e-3||
optimizer.max_grad_norm|weights|optimizer.max_grad_norm=0.01||
optimizer.layer_decay|weights|optimizer.layer_decay=0.5||
optimizer.head_lr|weights|optimizer.head_lr=1e-2||
optimizer.head_weight_decay|weights|optimizer.head_weight_decay=0.5|optimizer.lr=1e-2
schedule.warmup_steps|metrics|schedule.warmup_steps=1||
schedule.warmup_ratio|metrics|schedule.warmup_ratio=0.5||
schedule.decay|metrics|schedule.decay=constant||
train.steps|metrics|train.steps=3||
train.epochs|metrics|train.epochs=0.5|train.steps=0
train.grad_accum|weights|train.grad_accum=2||
train.seed|weights|train.seed=7||
train.threads|log|train.threads=2||
train.backend|log|train.backend=cuda||
train.precision|weights|train.precision=bf16||
train.nonfinite|exit|train.nonfinite=stop|checkpoint.resume=$POISON train.steps=4
train.gradient_checkpointing|bench|train.gradient_checkpointing=true||bench
train.run_name|log|train.run_name=other|train.run_dir=
train.run_dir|files|train.run_dir=$T/runs/elsewhere||
eval.every|metrics|eval.every=1||
eval.best_metric|ckpt|eval.best_metric=loss||
eval.patience|metrics|eval.patience=1|eval.every=1 eval.min_delta=1e9 train.steps=4
eval.min_delta|metrics|eval.min_delta=1e9|eval.every=1 eval.patience=1 eval.best_metric=loss optimizer.lr=1e-3 train.steps=4
logging.every|metrics|logging.every=2||
logging.jsonl|files|logging.jsonl=false||
logging.tensorboard|files|logging.tensorboard=false||
checkpoint.every|files|checkpoint.every=1||
checkpoint.keep_last|files|checkpoint.keep_last=1|checkpoint.every=1
checkpoint.keep_best|files|checkpoint.keep_best=false|eval.every=1 checkpoint.every=2 train.steps=3
checkpoint.resume|metrics|checkpoint.resume=$T/runs/base/step-0000002|train.steps=3
checkpoint.overwrite|exit|checkpoint.overwrite=true|PREP_NONEMPTY
bench.seq_len|bench|bench.seq_len=8||bench
bench.batch_size|bench|bench.batch_size=3||bench
bench.steps|bench|bench.steps=2||bench
bench.warmup|bench|bench.warmup=1||bench
bench.frozen_backbone|bench|bench.frozen_backbone=true||bench
EOF

# what some probes need: a vocabulary that is not the shards'; a checkpoint
# whose AdamW first moments are NaN (0xff bytes), so that the first update
# after resuming makes the weights NaN and the next loss is not finite
sed '$ s/.*/zzextra/' "$D/vocab.txt" >"$T/vocab2.txt"   # same size, another hash
cp -r "$T/runs/base/step-0000002" "$POISON"
F=$POISON/optimizer.safetensors
n=$(od -An -t u8 -N 8 "$F" | tr -d ' ')
range=$(dd if="$F" bs=1 skip=8 count="$n" 2>/dev/null | grep -o '"adamw.m":{[^}]*}' | grep -o '"data_offsets":\[[0-9]*,[0-9]*\]' |
        grep -o '[0-9]*,[0-9]*')
[ -n "$range" ] || fail "adamw.m not found in $F"
a=${range%,*} b=${range#*,}
head -c $((b - a)) /dev/zero | tr '\0' '\377' | dd of="$F" bs=4096 seek=$((8 + n + a)) oflag=seek_bytes conv=notrunc 2>/dev/null
cmp -s "$F" "$T/runs/base/step-0000002/optimizer.safetensors" && fail "the optimizer state was not poisoned"

bad=0
while read -r key; do
    line=$(awk -F'|' -v k="$key" '$1 == k { print; exit }' "$T/probes")
    if [ -z "$line" ]; then
        echo "FAIL: config key '$key' has no probe in tests/cli/config_keys.sh: give it a non-default value and say where its effect shows (or remove the key)"
        bad=1
        continue
    fi
    IFS='|' read -r _ obs probe both cmd <<<"$line"
    cmd=${cmd:-train}
    base_sets=() probe_sets=() PREP=
    for s in $both; do
        if [ "$s" = PREP_NONEMPTY ]; then PREP='mkdir -p "$rd" && echo old >"$rd/old-file"'; else base_sets+=(--set "$s"); fi
    done
    for s in $probe; do probe_sets+=(--set "$s"); done
    bid=base
    [ -n "$both" ] && bid=base-$(echo "$both" | md5sum | cut -c1-8)
    pid=probe-$(echo "$key" | tr '.*' '__')
    run "$bid" "$cmd" "${base_sets[@]}"
    run "$pid" "$cmd" "${base_sets[@]}" "${probe_sets[@]}"
    if cmp -s "$T/r/$bid/$obs" "$T/r/$pid/$obs"; then
        echo "FAIL: $key: setting $probe (on top of: ${both:-the base config}) has no effect on the run's $obs"
        sed 's/^/  | /' "$T/r/$pid/stderr" | tail -5
        bad=1
    elif [ "$obs" != exit ] && [ "$obs" != log ] && [ "$(cat "$T/r/$pid/exit")" != "$(cat "$T/r/$bid/exit")" ]; then
        echo "FAIL: $key: $probe changed the exit status ($(cat "$T/r/$bid/exit") -> $(cat "$T/r/$pid/exit")), not only the $obs"
        sed 's/^/  | /' "$T/r/$pid/stderr" | tail -5
        bad=1
    fi
done <"$T/keys"
# a probe for a key that no longer exists is stale
cut -d'|' -f1 "$T/probes" | while read -r key; do
    grep -qxF "$key" "$T/keys" || echo "FAIL: probe for '$key', which is not a config key (remove the probe)"
done | grep . && bad=1
[ -n "${KEEP_T:-}" ] && cp -r "$T/r" "$KEEP_T"
[ $bad -eq 0 ] || exit 1
echo "config_keys: ok ($(wc -l <"$T/keys") keys, $NRUNS runs)"
