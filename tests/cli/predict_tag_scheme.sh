#!/usr/bin/env bash
# tasks[].tag_scheme reaches the saved model and mtbert predict: a model
# trained with tag_scheme iob2 records it in mtbert_tasks.json (export keeps
# it); predict reads entities from the tags with the recorded scheme, a
# folder without the field reads them as conlleval (training's default),
# and a strict scheme over E-/S- labels or an unknown scheme is refused.
# The NER head is overwritten so that every word gets one known tag; the
# expected entities are seqeval's for that tag sequence (docs/metrics.md):
#   I-PER I-PER I-PER   conlleval PER:0-2   iob1 PER:0-2   iob2 none
#   B-PER B-PER B-PER   conlleval and iob2 PER:0-0 PER:1-1 PER:2-2   iob1 PER:1-1 PER:2-2
. "$(dirname "$0")/lib/common.sh"
bin=$BIN src=$SRC work=$T
"$bin" prepare --synthetic "$work/d" --train 100 --dev 20 >/dev/null 2>&1 || fail "prepare"
args=(--set model.hidden_size=16 --set model.num_layers=1 --set model.num_heads=2 --set model.intermediate_size=32
      --set "model.vocab=$work/d/vocab.txt" --set train.epochs=0 --set train.steps=2 --set eval.every=0
      --set "train.run_dir=$work/run" --set tasks.2.tag_scheme=iob2 --quiet)
for t in 0 1 2; do args+=(--set "tasks.$t.data.train=$work/d/train-*.h5" --set "tasks.$t.data.eval=$work/d/dev-*.h5"); done
"$bin" train "$src/configs/demo.yaml" "${args[@]}" >/dev/null 2>"$work/train.err" || fail "train: $(cat "$work/train.err")"
ck="$work/run/step-0000002"
"$bin" export --checkpoint "$ck" --out "$work/exp" 2>/dev/null || fail "export"

# the checkpoint and the export record the token task's scheme, and only its
for f in "$ck/mtbert_tasks.json" "$work/exp/mtbert_tasks.json"; do
    python3 - "$f" <<'PY' || fail "$f does not record tag_scheme iob2 for ner only"
import json, sys
tasks = {t["name"]: t for t in json.load(open(sys.argv[1]))["tasks"]}
assert tasks["ner"].get("tag_scheme") == "iob2", tasks["ner"]
assert "tag_scheme" not in tasks["topic"] and "tag_scheme" not in tasks["sentiment"]
PY
done

# a copy of the checkpoint whose NER head gives every word the tag $1;
# $2 sets the recorded tag_scheme ("-" removes the field); $3 renames a label
# (OLD=NEW) or is "-"
variant() {
    local out="$work/m-$1-$2-${3//=/_}"
    rm -rf "$out" && cp -r "$ck" "$out" || return 1
    python3 - "$out" "$1" "$2" "$3" <<'PY'
import json, struct, sys
out, tag, scheme, rename = sys.argv[1:]
tf = out + "/mtbert_tasks.json"
meta = json.load(open(tf))
ner = [t for t in meta["tasks"] if t["name"] == "ner"][0]
k = ner["labels"].index(tag)
if scheme == "-":
    ner.pop("tag_scheme", None)
else:
    ner["tag_scheme"] = scheme
if rename != "-":
    old, new = rename.split("=")
    ner["labels"][ner["labels"].index(old)] = new
json.dump(meta, open(tf, "w"))
hf = out + "/mtbert_heads.safetensors"
raw = bytearray(open(hf, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
def put(name, values):
    a, b = hdr[name]["data_offsets"]
    assert hdr[name]["dtype"] == "F32" and b - a == 4 * len(values)
    raw[8 + n + a:8 + n + b] = struct.pack("<%df" % len(values), *values)
V, C = hdr["heads.ner.weight"]["shape"]
put("heads.ner.weight", [0.0] * (V * C))
put("heads.ner.bias", [10.0 if i == k else 0.0 for i in range(V)])
open(hf, "wb").write(raw)
PY
    echo "$out"
}

# predict on three words with that head; prints the ner entities as TYPE:START-END
entities() {
    local m
    m=$(variant "$@") || fail "variant $*"
    echo "a b c" | "$bin" predict --model "$m" > "$work/p.jsonl" 2> "$work/p.err" || fail "predict $*: $(cat "$work/p.err")"
    python3 - "$work/p.jsonl" "$1" <<'PY' || fail "predict $*: tags"
import json, sys
r = json.loads(open(sys.argv[1]).readline())["ner"]
assert r["tags"] == [sys.argv[2]] * 3, r["tags"]
print(" ".join("%s:%d-%d" % (e["type"], e["start"], e["end"]) for e in r["entities"]))
PY
}

expect() { # TAG SCHEME WANT
    local got
    got=$(entities "$1" "$2" -) || exit 1
    [ "$got" = "$3" ] || fail "tags $1, tag_scheme $2: entities '$got', expected '$3'"
}
expect I-PER iob2 ""
expect I-PER iob1 "PER:0-2"
expect I-PER conlleval "PER:0-2"
expect I-PER - "PER:0-2"            # no field: conlleval, as training
expect B-PER iob2 "PER:0-0 PER:1-1 PER:2-2"
expect B-PER iob1 "PER:1-1 PER:2-2"
expect B-PER conlleval "PER:0-0 PER:1-1 PER:2-2"
expect B-PER - "PER:0-0 PER:1-1 PER:2-2"

# a strict scheme reads O, B- and I- only: E-/S- labels are refused at load
m=$(variant I-PER iob2 I-LOC=E-LOC) || fail "variant E-LOC"
echo "a b c" | "$bin" predict --model "$m" > /dev/null 2> "$work/err"; rc=$?
[ $rc = 2 ] && grep -q "mtbert_tasks.json: task ner: tag_scheme iob2 takes O, B- and I- tags only; label 'E-LOC'" \
    "$work/err" || fail "E- label under iob2: rc $rc: $(cat "$work/err")"
got=$(entities I-PER conlleval I-LOC=E-LOC) || exit 1
[ "$got" = "PER:0-2" ] || fail "E- label under conlleval: entities '$got'"

# an unknown scheme names the file, the task and the field
m=$(variant I-PER bilou -) || fail "variant bilou"
echo "a b c" | "$bin" predict --model "$m" > /dev/null 2> "$work/err"; rc=$?
[ $rc = 2 ] && grep -q "mtbert_tasks.json: task ner: \"tag_scheme\" must be conlleval, iob2 or iob1" "$work/err" \
    || fail "tag_scheme bilou: rc $rc: $(cat "$work/err")"
echo "predict_tag_scheme: ok"
