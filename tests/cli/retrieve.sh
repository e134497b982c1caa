#!/usr/bin/env bash
# mtbert retrieve (issue 18): retrieval metrics on a queries / corpus / qrels
# set, tests/fixtures/retrieval (BEIR layout: queries.jsonl, corpus.jsonl with
# titles, qrels.tsv with its header; graded relevance, an integer _id, a
# query judged only 0 and one not judged: 2 skipped), with a tiny model
# trained on the synthetic corpus:
#   1. every metric and every per-query line (metrics, relevant count, top 10
#      ids and scores) equals tests/reference/retrieve_reference.py (plain
#      Python, written from the definitions) on mtbert encode's embeddings of
#      the same texts (--query-embeddings / --corpus-embeddings), to 1e-12;
#      the --model run gives the same numbers (to 1e-9) as that run;
#   2. options: --score dot --gain exp --k 2,7,40 --mrr-k 5 --ndcg-k 3
#      --map-k 20 against the reference with the same options; cosine is
#      unchanged and dot changes when the corpus rows are rescaled; exp
#      changes nDCG on graded qrels;
#   3. the same set as TSV (corpus text = title + " " + text, qrels without a
#      header) gives the same JSON;
#   4. the model ranks: a set whose queries are the corpus texts themselves
#      has MRR@10 = recall@1 = 1, and two differently trained models give
#      different numbers on the fixture;
#   5. --out writes the printed line; bad input is exit 2 naming FILE:LINE;
#   6. tasks[].eval_retrieval during training: the last eval record's ir_*
#      metrics equal mtbert retrieve --model RUN/latest; its refusals.
. "$(dirname "$0")/lib/common.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
F=$SRC/tests/fixtures/retrieval
REF=$SRC/tests/reference/retrieve_reference.py
Q=$F/queries.jsonl C=$F/corpus.jsonl R=$F/qrels.tsv
synthetic "$T/d" --train 300 --dev 30
args=(--set model.hidden_size=32 --set model.num_layers=1 --set model.num_heads=2 --set model.intermediate_size=64
      --set "model.vocab=$T/d/vocab.txt" --set train.epochs=0 --set eval.every=0 --set train.threads=2
      --set train.backend=cpu --quiet)
for t in 0 1 2; do args+=(--set "tasks.$t.data.train=$T/d/train-*.h5" --set "tasks.$t.data.eval=$T/d/dev-*.h5"); done
"$BIN" train "$SRC/configs/demo.yaml" "${args[@]}" --set train.steps=15 --set "train.run_dir=$T/run" \
    >/dev/null 2>"$T/stderr" || fail "train"
"$BIN" train "$SRC/configs/demo.yaml" "${args[@]}" --set train.steps=2 --set train.seed=7 --set "train.run_dir=$T/run2" \
    >/dev/null 2>"$T/stderr" || fail "train 2"
M=$T/run/latest
ret() { "$BIN" retrieve --queries "$Q" --corpus "$C" --qrels "$R" --threads 2 "$@"; }
check() { python3 "$REF" check --queries "$Q" --corpus "$C" --qrels "$R" "$@" >"$T/check" 2>&1 || { cat "$T/check"; return 1; }; }

# ---- 1. reference on encode's embeddings; the model path agrees ----------
python3 "$REF" texts "$Q" >"$T/q.txt" && python3 "$REF" texts --corpus "$C" >"$T/c.txt" || fail "reference texts"
"$BIN" encode --model "$M" --input "$T/q.txt" --out "$T/q.npy" 2>"$T/stderr" || fail "encode queries"
"$BIN" encode --model "$M" --input "$T/c.txt" --out "$T/c.npy" 2>"$T/stderr" || fail "encode corpus"
E=(--query-embeddings "$T/q.npy" --corpus-embeddings "$T/c.npy")
ret "${E[@]}" --per-query "$T/pq.jsonl" >"$T/m.json" 2>"$T/stderr" || fail "retrieve on embeddings"
check "${E[@]}" --got "$T/m.json" --got-per-query "$T/pq.jsonl" || fail "metrics differ from the reference"
echo "default: $(tail -1 "$T/check")"
grep -q '"queries": 16, "evaluated": 14, "skipped": 2, "corpus": 40, "judgements": 35' "$T/m.json" ||
    fail "counts: $(cat "$T/m.json")"
ret --model "$M" --out "$T/mm_out.json" >"$T/mm.json" 2>"$T/stderr" || fail "retrieve --model"
cmp -s "$T/mm.json" "$T/mm_out.json" || fail "--out differs from the printed line"
python3 - "$T/m.json" "$T/mm.json" <<'PY' || fail "--model run differs from the run on encode's embeddings"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a.keys() == b.keys(), (a, b)
for k, v in a.items():
    assert (abs(v - b[k]) <= 1e-9) if isinstance(v, float) else v == b[k], (k, v, b[k])
PY

# ---- 2. options -------------------------------------------------------------
O=(--score dot --gain exp --k 2,7,40 --mrr-k 5 --ndcg-k 3 --map-k 20)
ret "${E[@]}" "${O[@]}" --per-query "$T/pq2.jsonl" >"$T/m2.json" 2>"$T/stderr" || fail "retrieve with options"
check "${E[@]}" "${O[@]}" --got "$T/m2.json" --got-per-query "$T/pq2.jsonl" || fail "options: differ from the reference"
echo "options: $(tail -1 "$T/check")"
grep -q '"score": "dot", "gain": "exp", "mrr@5": .*"ndcg@3": .*"map@20": .*"recall@40": ' "$T/m2.json" ||
    fail "option keys: $(cat "$T/m2.json")"
# corpus rows rescaled by 1..5: cosine unchanged, dot not
python3 - "$T/c.npy" "$T/cs.npy" <<'PY' || fail "rescale"
import struct, sys
d = open(sys.argv[1], "rb").read()
h = 10 + struct.unpack("<H", d[8:10])[0]
cols = int(d[:h].decode("latin1").split("'shape': (")[1].split(")")[0].split(",")[1])
v = list(struct.unpack("<%df" % ((len(d) - h) // 4), d[h:]))
v = [x * (1 + (i // cols) % 5) for i, x in enumerate(v)]
open(sys.argv[2], "wb").write(d[:h] + struct.pack("<%df" % len(v), *v))
PY
# exact ties: every odd corpus row a copy of the row before (the earlier document ranks first)
python3 - "$T/c.npy" "$T/ct.npy" <<'PY' || fail "ties"
import struct, sys
d = open(sys.argv[1], "rb").read()
h = 10 + struct.unpack("<H", d[8:10])[0]
row = 4 * int(d[:h].decode("latin1").split("'shape': (")[1].split(")")[0].split(",")[1])
body = d[h:]
rows = [body[i:i + row] for i in range(0, len(body), row)]
open(sys.argv[2], "wb").write(d[:h] + b"".join(rows[i - i % 2] for i in range(len(rows))))
PY
ret --query-embeddings "$T/q.npy" --corpus-embeddings "$T/ct.npy" --per-query "$T/pqt.jsonl" >"$T/mt.json" \
    2>"$T/stderr" || fail "retrieve ties"
check --query-embeddings "$T/q.npy" --corpus-embeddings "$T/ct.npy" --got "$T/mt.json" --got-per-query "$T/pqt.jsonl" ||
    fail "tied scores: differ from the reference"
S=(--query-embeddings "$T/q.npy" --corpus-embeddings "$T/cs.npy")
ret "${S[@]}" >"$T/ms.json" 2>"$T/stderr" || fail "retrieve rescaled"
ret "${S[@]}" --score dot >"$T/msd.json" 2>"$T/stderr" || fail "retrieve rescaled dot"
ret "${E[@]}" --score dot >"$T/md.json" 2>"$T/stderr" || fail "retrieve dot"
check "${S[@]}" --score dot --got "$T/msd.json" || fail "rescaled dot differs from the reference"
mrr() { grep -o '"mrr@10": [0-9.e-]*' "$1" | cut -d' ' -f2; }
ndcg() { grep -o "\"ndcg@$2\": [0-9.e-]*" "$1" | cut -d' ' -f2; }
[ "$(mrr "$T/ms.json")" = "$(mrr "$T/m.json")" ] || fail "cosine changed when rows were rescaled"
[ "$(mrr "$T/msd.json")" != "$(mrr "$T/md.json")" ] || fail "--score dot: rescaling changed nothing"
ret "${E[@]}" --gain exp >"$T/me.json" 2>"$T/stderr" || fail "retrieve --gain exp"
[ "$(ndcg "$T/me.json" 10)" != "$(ndcg "$T/m.json" 10)" ] || fail "--gain exp: nDCG unchanged on graded qrels"
check "${E[@]}" --gain exp --got "$T/me.json" || fail "--gain exp differs from the reference"

# ---- 3. TSV files -------------------------------------------------------------
python3 - "$Q" "$C" "$R" "$T" <<'PY' || fail "tsv files"
import json, sys
q, c, r, t = sys.argv[1:5]
with open(t + "/q.tsv", "w") as f:
    for l in open(q):
        o = json.loads(l); f.write("%s\t%s\n" % (o["_id"], o["text"]))
with open(t + "/c.tsv", "w") as f:
    for l in open(c):
        o = json.loads(l); f.write("%s\t%s\n" % (o["_id"], ((o.get("title") or "") + " " + o["text"]).strip()))
with open(t + "/r.tsv", "w") as f:
    f.writelines(list(open(r))[1:])
PY
"$BIN" retrieve --queries "$T/q.tsv" --corpus "$T/c.tsv" --qrels "$T/r.tsv" "${E[@]}" >"$T/mt.json" 2>"$T/stderr" ||
    fail "retrieve TSV"
cmp -s "$T/mt.json" "$T/m.json" || fail "TSV files give other metrics: $(cat "$T/mt.json")"

# ---- 4. the model ranks ---------------------------------------------------------
awk -F'\t' '{ print "q" $1 "\t" $2 > "'"$T"'/pq.tsv"; print "q" $1 "\t" $1 "\t1" }' "$T/c.tsv" >"$T/pr.tsv"
"$BIN" retrieve --model "$M" --queries "$T/pq.tsv" --corpus "$T/c.tsv" --qrels "$T/pr.tsv" >"$T/mp.json" \
    2>"$T/stderr" || fail "retrieve perfect set"
grep -q '"mrr@10": 1.0, .*"recall@1": 1.0,' "$T/mp.json" || fail "queries = corpus texts: $(cat "$T/mp.json")"
ret --model "$T/run2/latest" >"$T/m2m.json" 2>"$T/stderr" || fail "retrieve model 2"
[ "$(ndcg "$T/m2m.json" 10)" != "$(ndcg "$T/mm.json" 10)" ] || fail "two models, the same nDCG@10"
echo "nDCG@10: 15 steps $(ndcg "$T/mm.json" 10), 2 steps $(ndcg "$T/m2m.json" 10); queries = documents: MRR@10 $(mrr "$T/mp.json")"

# ---- 5. bad input ------------------------------------------------------------------
# bad FILE CONTENT EXPECTED-MESSAGE [retrieve options...]: exit 2 and the message
bad() {
    local file=$1 content=$2 msg=$3
    shift 3
    printf '%b' "$content" >"$T/$file"
    "$BIN" retrieve "$@" >/dev/null 2>"$T/err"
    local rc=$?
    [ $rc = 2 ] && grep -qF -- "$msg" "$T/err" || fail "$file: rc $rc, expected exit 2 and '$msg': $(cat "$T/err")"
}
B=(--model "$M" --corpus "$C")
bad r1.tsv 'q1\ts1\t1\nq99\ts1\t1\n' "r1.tsv:2: query id 'q99' is not in $Q" "${B[@]}" --queries "$Q" --qrels "$T/r1.tsv"
bad r2.tsv 'q1\tnope\t1\n' "r2.tsv:1: document id 'nope' is not in $C" "${B[@]}" --queries "$Q" --qrels "$T/r2.tsv"
bad r3.tsv 'query-id\tcorpus-id\tscore\nq1\ts1\n' "r3.tsv:2: expected QUERY-ID<TAB>DOC-ID<TAB>RELEVANCE (2 fields)" \
    "${B[@]}" --queries "$Q" --qrels "$T/r3.tsv"
bad r4.tsv 'q1\ts1\t1\nq2\ts2\thigh\n' "r4.tsv:2: relevance 'high' is not an integer" "${B[@]}" --queries "$Q" --qrels "$T/r4.tsv"
bad r5.tsv 'q1\ts1\t1\nq2\ts1\t0\nq1\ts1\t2\n' "r5.tsv:3: query 'q1' and document 's1' judged twice (first on line 1)" \
    "${B[@]}" --queries "$Q" --qrels "$T/r5.tsv"
bad r6.tsv 'query-id\tcorpus-id\tscore\n\n' "r6.tsv: no judgements in the file" "${B[@]}" --queries "$Q" --qrels "$T/r6.tsv"
bad r7.tsv 'q1\ts1\t0\nq2\ts2\t-1\n' "r7.tsv: no query of $Q has a relevant document" "${B[@]}" --queries "$Q" --qrels "$T/r7.tsv"
bad q1.jsonl '{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": "b"}\n{"_id": "q1", "text": "c"}\n' \
    "q1.jsonl:3: duplicate id 'q1' (first on line 1)" "${B[@]}" --queries "$T/q1.jsonl" --qrels "$R"
bad q2.jsonl '{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": "b"\n' "q2.jsonl:2: not JSON" \
    "${B[@]}" --queries "$T/q2.jsonl" --qrels "$R"
bad q3.jsonl '{"id": "q1", "text": "a"}\n' 'q3.jsonl:1: no "_id"' "${B[@]}" --queries "$T/q3.jsonl" --qrels "$R"
bad q4.tsv 'q1\tfine\nq2 no tab\n' "q4.tsv:2: expected ID<TAB>TEXT (no tab)" "${B[@]}" --queries "$T/q4.tsv" --qrels "$R"
bad q5.tsv '' "q5.tsv: no queries in the file" "${B[@]}" --queries "$T/q5.tsv" --qrels "$R"
printf 'qs1\ts1\t1\n' >"$T/r_q6.tsv"
bad q6.tsv 'qs1\tok\nqs2\tbad \xff byte\n' "q6.tsv:2: invalid UTF-8 at byte 4" --model "$M" --corpus "$T/c.tsv" \
    --queries "$T/q6.tsv" --qrels "$T/r_q6.tsv"
bad c1.tsv 's1\ta\ns2\tb\ns1\tc\n' "c1.tsv:3: duplicate id 's1' (first on line 1)" --model "$M" --queries "$Q" \
    --corpus "$T/c1.tsv" --qrels "$R"
bad c2.tsv '' "c2.tsv: no documents in the file" --model "$M" --queries "$Q" --corpus "$T/c2.tsv" --qrels "$R"
bad x1 '' "c.npy: 40 rows, but the text file has 16 entries" --queries "$Q" --corpus "$C" --qrels "$R" \
    --query-embeddings "$T/c.npy" --corpus-embeddings "$T/c.npy"
bad x2 '' "--k: '1,0' is not a list" "${E[@]}" --queries "$Q" --corpus "$C" --qrels "$R" --k 1,0
bad x3 '' "--k: '1,1' is not a list" "${E[@]}" --queries "$Q" --corpus "$C" --qrels "$R" --k 1,1
bad x4 '' "--score must be cosine or dot" "${E[@]}" --queries "$Q" --corpus "$C" --qrels "$R" --score l2
bad x5 '' "--gain must be linear or exp" "${E[@]}" --queries "$Q" --corpus "$C" --qrels "$R" --gain log
bad x6 '' "--qrels FILE is required" "${E[@]}" --queries "$Q" --corpus "$C"
bad x7 '' "give --model DIR, or both" --model "$M" "${E[@]}" --queries "$Q" --corpus "$C" --qrels "$R"
"$BIN" retrieve --help | grep -q -- "--per-query FILE" || fail "--help"

# ---- 6. during training: tasks[].eval_retrieval ------------------------------
# a contrastive task (MNRL on synthetic pairs) evaluated on the fixture: its eval record's ir_*
# metrics equal mtbert retrieve --model on the final checkpoint (the same weights)
. "$(dirname "$0")/lib/pairs.sh"
mkpairs "$T/d/train.jsonl" pos >"$T/pairs.tsv"
pair_shards "$T/pairs.tsv" "$T/p" train "$T/d/vocab.txt"
ir_yaml() {
    tiny_model_yaml "$T/d"
    cat <<EOF
tasks:
  - name: pairs
    type: contrastive
    loss: mnrl
    data: {train: "$T/p/train-*.h5"}
    eval_retrieval: {$1}
data: {batch_size: 16, max_len: 32}
optimizer: {lr: 1e-3}
train: {steps: 6, threads: 2, backend: cpu}
eval: {every: 3}
logging: {every: 1}
EOF
}
ir_yaml "queries: $Q, corpus: $C, qrels: $R" >"$T/ir.yaml"
"$BIN" train "$T/ir.yaml" --set "train.run_dir=$T/irun" --quiet >/dev/null 2>"$T/stderr" || fail "train with eval_retrieval"
ev=$(grep '"event": "eval"' "$T/irun/metrics.jsonl" | tail -1)
[ "$(grep -c '"event": "eval"' "$T/irun/metrics.jsonl")" -ge 2 ] || fail "eval records: $(cat "$T/irun/metrics.jsonl")"
ret --model "$T/irun/latest" >"$T/irm.json" 2>"$T/stderr" || fail "retrieve on the eval_retrieval run"
python3 - "$ev" "$T/irm.json" <<'PY' || fail "eval_retrieval metrics differ from mtbert retrieve"
import json, sys
ev, got = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
pairs = {"ir_mrr_10": "mrr@10", "ir_ndcg_10": "ndcg@10", "ir_map_100": "map@100", "ir_recall_1": "recall@1",
         "ir_recall_10": "recall@10", "ir_recall_100": "recall@100"}
for k, g in pairs.items():
    v = ev["pairs." + k]
    assert abs(v - got[g]) <= 1e-6, (k, v, got[g])
print("eval_retrieval: mrr@10 %.6f ndcg@10 %.6f (mtbert retrieve %.6f %.6f)" %
      (ev["pairs.ir_mrr_10"], ev["pairs.ir_ndcg_10"], got["mrr@10"], got["ndcg@10"]))
PY
ir_yaml "queries: $Q, corpus: $C" >"$T/ir2.yaml"
"$BIN" train "$T/ir2.yaml" --set "train.run_dir=$T/irun2" --quiet >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "tasks.0.eval_retrieval: needs queries, corpus and qrels (missing qrels)" "$T/err" ||
    fail "eval_retrieval without qrels: rc $rc: $(cat "$T/err")"
ir_yaml "queries: $Q, corpus: $C, qrels: $T/r1.tsv" >"$T/ir3.yaml"
"$BIN" train "$T/ir3.yaml" --set "train.run_dir=$T/irun3" --quiet >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "r1.tsv:2: query id 'q99' is not in" "$T/err" || fail "eval_retrieval bad qrels: rc $rc: $(cat "$T/err")"
"$BIN" train "$SRC/configs/demo.yaml" "${args[@]}" --set train.steps=1 --set "train.run_dir=$T/irun4" \
    --set "tasks.0.eval_retrieval.queries=$Q" --set "tasks.0.eval_retrieval.corpus=$C" \
    --set "tasks.0.eval_retrieval.qrels=$R" >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "only a contrastive task is evaluated on a retrieval set" "$T/err" ||
    fail "eval_retrieval on a classifier: rc $rc: $(cat "$T/err")"
echo "retrieve: ok"
