#!/usr/bin/env bash
# mtbert export --task-models: one transformers task model per task with a
# head (tests/export/compare_pipeline.py: the pipelines against mtbert
# predict). Without Python packages this checks what the folders say: the
# class per task and pooling, id2label/label2id from the task's labels, the
# tensor names the class loads (prefix, classifier, pooler only where the
# class has one, the projection as dense.*), the remote-code file exactly
# when the class is not transformers' own, that mtbert predict reads a task
# folder with the same result as the export, and that the similarity-free
# demo exports every head. With torch + transformers ($MTBERT_PYTHON or
# python3) it also runs the pipelines: labels equal, probabilities < 1e-5.
. "$(dirname "$0")/lib/common.sh"
py=${MTBERT_PYTHON:-python3}
have_tf=0
"$py" -c "import torch, transformers" 2>/dev/null && have_tf=1
synthetic "$T/d" --train 300 --dev 40 --seed 4
tiny_sets "$T/d"
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/d/train-*.h5" --set "tasks.$k.data.eval=$T/d/dev-*.h5"); done
SETS+=(--set model.max_position_embeddings=64 --set data.max_len=64 --set train.steps=120 --set eval.every=0
       --set optimizer.lr=3e-3)
python3 -c "
import json, sys
for l in open(sys.argv[1]): print(' '.join(json.loads(l)['tokens']))" "$T/d/dev.jsonl" >"$T/sent.txt" || fail "sentences"

# variant: name | --set options | expected class of the sentence tasks
check_variant() {
    local name=$1 opts=$2 want=$3 R=$T/run-$1 E=$T/exp-$1
    # shellcheck disable=SC2086
    "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" $opts --set "train.run_dir=$R" --quiet >"$T/stdout" 2>"$T/stderr" ||
        fail "$name: train"
    "$BIN" export --checkpoint "$R/latest" --out "$E" --task-models 2>"$T/stderr" || fail "$name: export"
    grep -q "wrote $E/tasks/ner as BertForTokenClassification" "$T/stderr" || fail "$name: no token task model line"
    python3 - "$E/tasks" "$want" "$T/d/vocab.txt" <<'PY' >"$T/check" 2>&1 || { FAIL_LOG=$T/check; fail "$name: folder contents"; }
import json, os, struct, sys
root, want = sys.argv[1], sys.argv[2]
labels = {"topic": ["sports", "politics", "science", "business", "weather"],
          "sentiment": ["negative", "neutral", "positive"]}
def tensors(folder):
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h
assert sorted(os.listdir(root)) == ["ner", "sentiment", "topic"], os.listdir(root)
for task in ("topic", "sentiment", "ner"):
    folder = os.path.join(root, task)
    cfg = json.load(open(os.path.join(folder, "config.json")))
    tasks = json.load(open(os.path.join(folder, "mtbert_tasks.json")))
    names = [t for t in tasks["tasks"] if t["name"] == task][0].get("labels")
    cls = cfg["architectures"][0]
    t = tensors(folder)
    assert cfg["id2label"] == {str(i): n for i, n in enumerate(names)}, (task, cfg["id2label"], names)
    assert cfg["label2id"] == {n: i for i, n in enumerate(names)}, task
    if task in labels:
        assert names == labels[task], (task, names)
    assert t["classifier.weight"]["shape"][0] == len(names), task
    assert any(k.startswith("bert.encoder.layer.1.") for k in t), task
    assert not any(k.startswith("heads.") for k in t), task
    remote = os.path.exists(os.path.join(folder, "modeling_mtbert.py"))
    if task == "ner":
        assert cls == "BertForTokenClassification", cls
        assert not any(k.startswith("bert.pooler") for k in t) and not remote and "auto_map" not in cfg
        continue
    assert cls == want, (task, cls, want)
    assert remote == (cls == "MtbertForSequenceClassification"), (task, remote)
    assert ("auto_map" in cfg) == remote
    assert any(k.startswith("bert.pooler.dense") for k in t), task
    proj = tasks["embedding_dim"] > 0
    assert ("dense.weight" in t) == proj, task
    if proj:
        assert t["dense.weight"]["shape"] == [tasks["embedding_dim"], cfg["hidden_size"]]
        assert t["classifier.weight"]["shape"][1] == tasks["embedding_dim"]
    if remote:
        assert cfg["mtbert_pooling"] == tasks["pooling"] and cfg["mtbert_embedding_dim"] == tasks["embedding_dim"]
print("ok")
PY
    # mtbert reads a task folder back: the same predictions as the export
    "$BIN" predict --model "$E" --input "$T/sent.txt" >"$T/pred-$name.jsonl" 2>"$T/stderr" || fail "$name: predict export"
    "$BIN" predict --model "$E/tasks/topic" --input "$T/sent.txt" >"$T/pred-topic.jsonl" 2>"$T/stderr" ||
        fail "$name: predict on the task folder"
    cmp -s "$T/pred-$name.jsonl" "$T/pred-topic.jsonl" || fail "$name: predict differs on the task folder"
    # token tasks print each word's tag probability: one per word, null exactly
    # where the tag is null, the arg-max's (>= 1/labels and <= 1)
    python3 - "$T/pred-$name.jsonl" <<'PY' || fail "$name: predict's token probabilities"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)["ner"]
    assert len(r["probs"]) == len(r["words"]) == len(r["tags"]), r
    for tag, p in zip(r["tags"], r["probs"]):
        assert (tag is None) == (p is None), (tag, p)
        assert p is None or 1 / 9 - 1e-6 <= p <= 1, p
PY
    grep -q "\"B-[A-Z]*\"" "$T/pred-$name.jsonl" || fail "$name: the NER head predicts no entity (too little training to compare tags)"
    if [ "$have_tf" = 1 ]; then
        "$py" "$SRC/tests/export/compare_pipeline.py" "$E/tasks" "$T/sent.txt" "$T/pred-$name.jsonl" \
            >"$T/pipe" 2>"$T/pipe.err" || { cat "$T/pipe"; FAIL_LOG=$T/pipe.err; fail "$name: pipelines differ from predict"; }
        echo "$name:"; grep -E "PASS|FAIL" "$T/pipe" | sed 's/^/  /'
    fi
}
check_variant mean "" MtbertForSequenceClassification
check_variant pooler "--set model.pooling=pooler" BertForSequenceClassification
check_variant maxproj "--set model.pooling=max --set model.embedding_dim=24 --set model.normalize=true" \
    MtbertForSequenceClassification
grep -q "cannot express pooling 'max' with a projection and L2 normalisation" "$T/stderr" 2>/dev/null ||
    "$BIN" export --checkpoint "$T/run-maxproj/latest" --out "$T/exp-again" --task-models 2>&1 |
    grep -q "cannot express pooling 'max' with a projection and L2 normalisation" || fail "export does not say why it wrote remote code"
[ "$have_tf" = 1 ] || echo "SKIPPED the pipeline comparison: $py lacks torch/transformers (set MTBERT_PYTHON)"
echo "PASS: task models for mean, pooler and max+projection+normalise heads"
