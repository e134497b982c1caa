#!/usr/bin/env bash
# Per-task batch settings: tasks[].batch_size, tasks[].max_len and
# tasks[].lr_multiplier. Two sources (topic on the train shards, NER on the
# dev shards), topic at 16 rows and NER at 64 rows x at most 12 tokens in one
# run: every batch the loader hands out (MTBERT_BATCH_LOG: step, micro-batch,
# source, rows, tokens) has its task's size (a source's last batch of an
# epoch may be short); both tasks train. With the backbone frozen, a head's
# lr_multiplier changes that head's weights only. Refused: tasks sharing a
# data.train with different sizes, per-task sizes with mixed batches, a
# task max_len beyond data.max_len.
. "$(dirname "$0")/lib/common.sh"
synthetic "$T/d" --train 400 --dev 256 --seed 6   # 25 and 4 full batches an epoch
tiny_sets "$T/d"
SETS+=(--set "tasks.topic.data.train=$T/d/train-*.h5" --set "tasks.ner.data.train=$T/d/dev-*.h5"
       --set "tasks.sentiment.data.train=$T/d/train-*.h5" --set eval.every=0 --set model.max_position_embeddings=64
       --set data.max_len=64 --set train.steps=12 --set train.grad_accum=2 --set sampling.strategy=round_robin
       --set logging.every=1)
# (tasks sharing an eval source share its max_len: NER's 12 gets its own)
SETS+=(--set "tasks.topic.data.eval=$T/d/train-*.h5" --set "tasks.sentiment.data.eval=$T/d/train-*.h5"
       --set "tasks.ner.data.eval=$T/d/dev-*.h5")
train() { local rd=$1; shift; "$BIN" train "$SRC/configs/demo.yaml" "${SETS[@]}" --set "train.run_dir=$rd" "$@" >"$T/stdout" 2>"$T/stderr"; }

R=$T/pertask
MTBERT_BATCH_LOG=$T/batches train "$R" --set tasks.topic.batch_size=16 --set tasks.sentiment.batch_size=16 \
    --set tasks.ner.batch_size=64 --set tasks.ner.max_len=12 || fail "per-task run (exit $?)"
grep -q "per-task batches per rank: topic 16 sentiment 16 ner 64 (a step: 2 micro-batches per rank" "$T/stderr" ||
    fail "no per-task batch line"
grep -q "the task's max_len 12 cuts" "$T/stderr" || fail "no truncation note for the NER task's max_len"
# source 0 = the train shards (topic, sentiment), source 1 = the dev shards (NER)
awk '
    $3 == 0 { n0++; if ($4 != 16) bad0++; if ($5 > 64) long0++ }
    $3 == 1 { n1++; if ($4 != 64) bad1++; if ($5 > 12) long1++ }
    END {
        printf "batches: source 0 %d (not 16 rows: %d), source 1 %d (not 64 rows: %d, over 12 tokens: %d)\n", n0, bad0, n1, bad1, long1
        exit !(n0 >= 8 && n1 >= 8 && bad0 + 0 == 0 && bad1 + 0 == 0 && long1 + 0 == 0)
    }' "$T/batches" >"$T/summary" || { cat "$T/summary"; fail "batch sizes"; }
grep '"event": "train"' "$R/metrics.jsonl" | grep -q '"loss.ner"' || fail "NER did not train"
grep '"event": "train"' "$R/metrics.jsonl" | grep -q '"loss.topic"' || fail "topic did not train"
grep -q "^    batch_size: 64$" "$R/config.yaml" || fail "config.yaml does not record the NER batch size"

# lr_multiplier: frozen backbone and no clipping (the global norm would couple
# the heads), so the heads learn independently
heads() { python3 - "$1" <<'PY'
import json, struct, sys, hashlib
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n)); data = f.read()
for k in sorted(h):
    if k.startswith("heads."):
        a, b = h[k]["data_offsets"]
        print(k, hashlib.sha256(data[a:b]).hexdigest()[:16])
PY
}
train "$T/base" --set freeze.backbone=true --set optimizer.max_grad_norm=1e9 || fail "base run"
train "$T/mult" --set freeze.backbone=true --set optimizer.max_grad_norm=1e9 --set tasks.ner.lr_multiplier=10 || fail "lr_multiplier run"
heads "$T/base/step-0000012/mtbert_heads.safetensors" >"$T/h0" && heads "$T/mult/step-0000012/mtbert_heads.safetensors" >"$T/h1" ||
    fail "reading heads"
[ "$(grep -c . "$T/h0")" -ge 6 ] || fail "heads not found"
diff <(grep -v "heads.ner" "$T/h0") <(grep -v "heads.ner" "$T/h1") >/dev/null || fail "lr_multiplier of ner changed other heads"
diff <(grep "heads.ner" "$T/h0") <(grep "heads.ner" "$T/h1") >/dev/null && fail "lr_multiplier of ner did not change the ner head"

# refused set-ups, each naming the key
refuse() { local what=$1 pat=$2; shift 2; train "$T/bad" "$@"; local rc=$?
    [ "$rc" = 2 ] && grep -q -- "$pat" "$T/stderr" || { FAIL_LOG=$T/stderr; fail "$what: exit $rc"; }; }
refuse "shared data.train, other sizes" "read the same data.train, so they share batches" --set tasks.topic.batch_size=16
refuse "mixed batches" "tasks.2.batch_size: per-task batch sizes need data.mixed_batches: false" \
    --set data.mixed_batches=true --set tasks.ner.batch_size=64
refuse "max_len beyond data.max_len" "tasks.2.max_len: 80 is longer than data.max_len 64" --set tasks.ner.max_len=80
echo "PASS: per-task batch size, max_len and lr multiplier; $(cat "$T/summary")"
