#!/usr/bin/env bash
# model.type (issue 19): training a non-BERT family from scratch from YAML,
# and checkpoints of one family refused where another is configured.
#  1. model.type roberta / xlm-roberta / distilbert / electra, no model.path:
#     the checkpoint's config.json names the family (model_type,
#     architectures) with its class defaults where the config writes none
#     (RoBERTa/XLM-R: pad_token_id 1, type_vocab_size 1, 514 positions,
#     eps 1e-5, also in the resolved config.yaml); DistilBERT's weights have
#     no token type embeddings, ELECTRA's no pooler; the folder encodes;
#     without model.type the checkpoint is BERT. A written model.pad_token_id
#     wins over the family default.
#  2. refusals at load: an unknown model.type, and type_vocab_size 2 for
#     distilbert (exit 2 naming the key).
#  3. checkpoint.resume and `mtbert eval` of a checkpoint of another family
#     than the config's are refused naming both, even where every shape
#     agrees (an xlm-roberta checkpoint under model.type roberta; a roberta
#     checkpoint under a BERT config with RoBERTa's shape), which loaded
#     silently before the family was compared;
#  4. --init-from a folder of another family than a written model.type is
#     refused naming both; without model.type the folder's family is taken.
. "$(dirname "$0")/lib/common.sh"
FIX="$SRC/tests/fixtures/tokenizers"

# st_names FILE: the tensor names of a safetensors file, one a line
st_names() {
    python3 - "$1" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    for k in sorted(json.loads(f.read(n))):
        if k != "__metadata__":
            print(k)
PY
}
# cfg_get FILE KEY: a config.json value as JSON
cfg_get() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])).get(sys.argv[2])))' "$1" "$2"; }

for i in $(seq 1 12); do
    printf 'pos\tthe cat sat on the mat with a hat\nneg\twho created the budget of the city\n'
done >"$T/train.tsv"
for tk in wordpiece bpe unigram; do
    "$BIN" prepare --format lines --vocab "$FIX/$tk.json" --task sent --labels neg,pos --out "$T/d-$tk" --name train \
        --max-len 32 "$T/train.tsv" >"$T/stdout" 2>"$T/stderr" || fail "prepare $tk"
done

# yaml TOKENIZER [model.type]: a tiny from-scratch config
yaml() {
    cat <<YAML
model:
  vocab: $FIX/$1.json
  vocab_size: 2000
  hidden_size: 16
  num_layers: 2
  num_heads: 2
  intermediate_size: 32
${2:+  type: $2}
tasks:
  - name: sent
    type: sentence_classification
    labels: [neg, pos]
    data:
      train: $T/d-$1/train-*.h5
      eval: $T/d-$1/train-*.h5
data: {batch_size: 4, max_len: 32}
train: {steps: 2, threads: 1, backend: cpu}
logging: {every: 1}
YAML
}
train() { # NAME YAMLFILE [args...]
    local name=$1 y=$2
    shift 2
    "$BIN" train "$y" --set "train.run_dir=$T/run-$name" --quiet "$@" >"$T/stdout" 2>"$T/stderr"
}

# ---- 1. from scratch per family
declare -A TOKF=([bert]=wordpiece [roberta]=bpe [xlm-roberta]=unigram [distilbert]=wordpiece [electra]=wordpiece)
declare -A ARCH=([bert]=BertModel [roberta]=RobertaModel [xlm-roberta]=XLMRobertaModel [distilbert]=DistilBertModel
                 [electra]=ElectraModel)
for fam in bert roberta xlm-roberta distilbert electra; do
    if [ $fam = bert ]; then yaml ${TOKF[$fam]} >"$T/$fam.yaml"; else yaml ${TOKF[$fam]} $fam >"$T/$fam.yaml"; fi
    train $fam "$T/$fam.yaml" || fail "$fam from scratch: exit $?"
    C=$T/run-$fam/step-0000002
    [ "$(cfg_get "$C/config.json" model_type)" = "\"$fam\"" ] || fail "$fam: config.json model_type $(cfg_get "$C/config.json" model_type)"
    [ "$(cfg_get "$C/config.json" architectures)" = "[\"${ARCH[$fam]}\"]" ] ||
        fail "$fam: architectures $(cfg_get "$C/config.json" architectures)"
    st_names "$C/model.safetensors" >"$T/$fam.names"
    grep -q 'word_embeddings' "$T/$fam.names" || fail "$fam: no word embeddings in $(head -3 "$T/$fam.names")"
    "$BIN" encode --model "$C" --input <(echo "the cat sat") >"$T/enc" 2>"$T/stderr" || fail "$fam: encode: exit $?"
done
for fam in roberta xlm-roberta; do
    C=$T/run-$fam/step-0000002
    got="$(cfg_get "$C/config.json" pad_token_id) $(cfg_get "$C/config.json" type_vocab_size) $(cfg_get "$C/config.json" max_position_embeddings)"
    [ "$got" = "1 1 514" ] || fail "$fam: pad/type vocab/positions $got, expected 1 1 514"
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["layer_norm_eps"]; sys.exit(abs(e-1e-5) > 1e-9)' \
        "$C/config.json" || fail "$fam: layer_norm_eps $(cfg_get "$C/config.json" layer_norm_eps)"
    grep -qE '^  type: '"$fam"'$' "$T/run-$fam/config.yaml" || fail "$fam: resolved config.yaml has no model.type $fam"
    grep -qE '^  pad_token_id: 1$' "$T/run-$fam/config.yaml" || fail "$fam: resolved pad_token_id is not 1"
    grep -q 'token_type_embeddings' "$T/$fam.names" || fail "$fam: no token type embeddings"
done
grep -q 'token_type_embeddings' "$T/distilbert.names" && fail "distilbert: token type embeddings in its weights"
grep -q 'pooler' "$T/distilbert.names" && fail "distilbert: a pooler in its weights"
grep -q 'pooler' "$T/electra.names" && fail "electra: a pooler in its weights"
grep -q 'pooler' "$T/bert.names" || fail "bert: no pooler"
[ "$(cfg_get "$T/run-bert/step-0000002/config.json" pad_token_id)" = 0 ] || fail "bert: pad_token_id not 0"
# a written key wins over the family default
train pad "$T/roberta.yaml" --set model.pad_token_id=3 || fail "roberta with pad_token_id 3: exit $?"
[ "$(cfg_get "$T/run-pad/step-0000002/config.json" pad_token_id)" = 3 ] || fail "model.pad_token_id 3 not kept"
# the resolved config.yaml loads again (distilbert's type_vocab_size 0 included)
"$BIN" train "$T/run-distilbert/config.yaml" --set "train.run_dir=$T/run-re" --quiet >"$T/stdout" 2>"$T/stderr" ||
    fail "the resolved distilbert config.yaml does not train again: exit $?"

# ---- 2. refusals at load
train bad1 "$T/bert.yaml" --set model.type=gpt2; rc=$?
[ $rc = 2 ] && grep -q 'model.type' "$T/stderr" && grep -q 'xlm-roberta' "$T/stderr" ||
    fail "unknown model.type: exit $rc: $(tail -2 "$T/stderr")"
train bad2 "$T/distilbert.yaml" --set model.type_vocab_size=2; rc=$?
[ $rc = 2 ] && grep -qF 'model.type_vocab_size: a distilbert model has no token type embeddings' "$T/stderr" ||
    fail "distilbert with type_vocab_size 2: exit $rc: $(tail -2 "$T/stderr")"

# ---- 3. resume / eval across families
# want_refused WHAT FOLDER_FAMILY CONFIG_FAMILY
want_refused() {
    [ "$rc" = 2 ] || fail "$1: exit $rc, expected 2: $(tail -2 "$T/stderr")"
    grep -qF "model.type: $4 is a $2 model (config.json model_type \"$2\"), the config's model.type is $3" "$T/stderr" ||
        fail "$1: no message naming $2 and $3: $(tail -2 "$T/stderr")"
}
X=$T/run-xlm-roberta/step-0000002
yaml unigram roberta >"$T/ru.yaml"   # RoBERTa on the Unigram shards: every shape equals the XLM-R run's
train ru "$T/ru.yaml" --set "checkpoint.resume=$X" --set train.steps=4; rc=$?
want_refused "resume xlm-roberta as roberta" xlm-roberta roberta "the checkpoint"
"$BIN" eval "$T/ru.yaml" --checkpoint "$X" >"$T/stdout" 2>"$T/stderr"; rc=$?
want_refused "eval xlm-roberta as roberta" xlm-roberta roberta "the checkpoint"
# the same model as xlm-roberta resumes
train xr "$T/xlm-roberta.yaml" --set "checkpoint.resume=$X" --set train.steps=4 || fail "resume xlm-roberta: exit $?"
R=$T/run-roberta/step-0000002
yaml bpe >"$T/rb.yaml"   # BERT with RoBERTa's shape
train rb "$T/rb.yaml" --set "checkpoint.resume=$R" --set train.steps=4 --set model.pad_token_id=1 \
    --set model.type_vocab_size=1 --set model.max_position_embeddings=514 --set model.layer_norm_eps=1e-5; rc=$?
want_refused "resume roberta under a BERT config" roberta bert "the checkpoint"

# ---- 4. --init-from / model.path across families
"$BIN" train "$T/bert.yaml" --init-from "$R" --set model.type=bert --set "train.run_dir=$T/run-i1" --quiet \
    >"$T/stdout" 2>"$T/stderr"; rc=$?
want_refused "--init-from roberta with model.type bert" roberta bert "the model folder (model.path / --init-from)"
grep -qF "or leave model.type out" "$T/stderr" || fail "--init-from: no hint to leave model.type out"
yaml bpe >"$T/i2.yaml"
"$BIN" train "$T/i2.yaml" --init-from "$R" --set "train.run_dir=$T/run-i2" --quiet >"$T/stdout" 2>"$T/stderr" ||
    fail "--init-from roberta without model.type: exit $?: $(tail -2 "$T/stderr")"
[ "$(cfg_get "$T/run-i2/step-0000002/config.json" model_type)" = '"roberta"' ] || fail "--init-from: not roberta"
"$BIN" train "$T/roberta.yaml" --set "model.path=$R" --set "train.run_dir=$T/run-i3" --quiet >"$T/stdout" 2>"$T/stderr" ||
    fail "model.path roberta with model.type roberta: exit $?: $(tail -2 "$T/stderr")"
echo "family_config: ok"
