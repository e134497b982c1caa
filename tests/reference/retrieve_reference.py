#!/usr/bin/env python3
"""Independent reference for `mtbert retrieve` (plain Python 3, no packages).

Reads a retrieval set (queries, corpus, qrels) by the rules of
docs/embeddings.md, written out here from those rules, not from the C code:

  queries / corpus: FILE.jsonl or .json: {"_id", "text"} objects ("_id" a
    string or an integer, read as its decimal text); a corpus object's text
    is (title + " " + text).strip() (title "" when missing or null), as
    sentence-transformers' InformationRetrievalEvaluator example for BEIR;
    other names: TSV ID<TAB>TEXT (TEXT = everything after the first tab);
  qrels: TSV QUERY-ID<TAB>DOC-ID<TAB>RELEVANCE; line 1 is a header when its
    third field is not an integer; blank lines are skipped everywhere.

Modes:
  texts FILE --corpus|--queries       print the texts to embed, one a line
                                      (input for `mtbert encode`)
  check ...                           compute every metric from the given
                                      embeddings (.npy float32, row i = entry i)
                                      and compare with mtbert retrieve's JSON
                                      (--got) and per-query lines (--got-per-query)

Scores: cosine (dot / (|q| |d|), 0 for a zero vector) or dot, in double,
rounded to float32 (struct), ranked by score descending, equal scores by
corpus order. The per-query metrics are retrieval_reference.query_metrics
(the reference of tests/fixtures/contrastive/retrieval.json, checked against
sentence-transformers' InformationRetrievalEvaluator there).
"""

import argparse
import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retrieval_reference import query_metrics  # noqa: E402


def read_entries(path, corpus):
    out = []
    jsonl = path.endswith(".jsonl") or path.endswith(".json")
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            if jsonl:
                o = json.loads(line)
                i = o["_id"]
                i = str(i) if isinstance(i, int) else i
                text = o["text"]
                if corpus:
                    title = o.get("title") or ""
                    text = (title + " " + text).strip(" \t\n\r\f\v")
            else:
                i, text = line.split("\t", 1)
            out.append((i, text))
    return out


def read_qrels(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            q, d, g = line.split("\t")
            try:
                g = int(g)
            except ValueError:
                if n == 0:
                    continue
                raise
            out.append((q, d, g))
    return out


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    if data[6] == 1:
        hlen, start = struct.unpack("<H", data[8:10])[0], 10
    else:
        hlen, start = struct.unpack("<I", data[8:12])[0], 12
    header = data[start:start + hlen].decode("latin1")
    assert "'descr': '<f4'" in header and "'fortran_order': False" in header, header
    shape = header.split("'shape': (")[1].split(")")[0]
    rows, cols = [int(x) for x in shape.split(",") if x.strip()]
    vals = struct.unpack("<%df" % (rows * cols), data[start + hlen:start + hlen + 4 * rows * cols])
    return [list(vals[r * cols:(r + 1) * cols]) for r in range(rows)]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def scores_of(qv, docs, norms, score):
    out = []
    nq = math.sqrt(sum(x * x for x in qv))
    for dv, nd in zip(docs, norms):
        s = sum(a * b for a, b in zip(qv, dv))
        if score == "cosine":
            s = s / (nq * nd) if nq > 0 and nd > 0 else 0.0
        out.append(f32(s))
    return out


def evaluate(args):
    queries = read_entries(args.queries, False)
    corpus = read_entries(args.corpus, True)
    qrels = read_qrels(args.qrels)
    qemb, cemb = read_npy(args.query_embeddings), read_npy(args.corpus_embeddings)
    assert len(qemb) == len(queries) and len(cemb) == len(corpus)
    cindex = {d: i for i, (d, _) in enumerate(corpus)}
    judged = {}
    for q, d, g in qrels:
        judged.setdefault(q, {})[cindex[d]] = g
    cuts = [int(x) for x in args.k.split(",")]
    norms = [math.sqrt(sum(x * x for x in v)) for v in cemb]
    per, skipped, per_query = [], 0, {}
    for (qid, _), qv in zip(queries, qemb):
        sc = scores_of(qv, cemb, norms, args.score)
        m = query_metrics(sc, judged.get(qid, {}), cuts, args.mrr_k, args.ndcg_k, args.map_k, args.gain)
        ranking = sorted(range(len(sc)), key=lambda i: (-sc[i], i))[:10]
        top = [[corpus[i][0], sc[i]] for i in ranking]
        relevant = sum(1 for g in judged.get(qid, {}).values() if g > 0)
        if m is None:
            skipped += 1
            per_query[qid] = {"relevant": relevant, "skipped": True, "top": top}
            continue
        per.append(m)
        flat = {"relevant": relevant, "mrr@%d" % args.mrr_k: m["mrr"], "ndcg@%d" % args.ndcg_k: m["ndcg"], "map@%d" % args.map_k: m["map"]}
        for c, k in enumerate(cuts):
            for name in ("recall", "precision", "accuracy"):
                flat["%s@%d" % (name, k)] = m[name][c]
        flat["top"] = top
        per_query[qid] = flat
    n = len(per)
    agg = {"queries": len(queries), "evaluated": n, "skipped": skipped, "corpus": len(corpus),
           "judgements": len(qrels), "score": args.score, "gain": args.gain}
    agg["mrr@%d" % args.mrr_k] = sum(m["mrr"] for m in per) / n
    agg["ndcg@%d" % args.ndcg_k] = sum(m["ndcg"] for m in per) / n
    agg["map@%d" % args.map_k] = sum(m["map"] for m in per) / n
    for name in ("recall", "precision", "accuracy"):
        for c, k in enumerate(cuts):
            agg["%s@%d" % (name, k)] = sum(m[name][c] for m in per) / n
    return agg, per_query


def compare(want, got, where, tol, problems):
    if set(want) != set(got):
        problems.append("%s: keys differ: missing %s, extra %s" % (where, sorted(set(want) - set(got)),
                                                                  sorted(set(got) - set(want))))
    worst = 0.0
    for k, w in want.items():
        g = got.get(k)
        if k == "top":
            if g is None or [x[0] for x in g] != [x[0] for x in w]:
                problems.append("%s: top documents %s, reference %s" % (where, g, w))
            else:
                for (_, a), (_, b) in zip(g, w):
                    if abs(a - b) > 1e-7 * max(1.0, abs(b)):
                        problems.append("%s: top score %r, reference %r" % (where, a, b))
        elif isinstance(w, float):
            if not isinstance(g, (int, float)) or abs(g - w) > tol:
                problems.append("%s: %s = %r, reference %r" % (where, k, g, w))
            else:
                worst = max(worst, abs(g - w))
        elif g != w:
            problems.append("%s: %s = %r, reference %r" % (where, k, g, w))
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("texts")
    t.add_argument("file")
    t.add_argument("--corpus", action="store_true")
    c = sub.add_parser("check")
    for a in ("queries", "corpus", "qrels", "query-embeddings", "corpus-embeddings", "got"):
        c.add_argument("--" + a, required=True)
    c.add_argument("--got-per-query")
    c.add_argument("--k", default="1,3,5,10,100")
    c.add_argument("--mrr-k", type=int, default=10)
    c.add_argument("--ndcg-k", type=int, default=10)
    c.add_argument("--map-k", type=int, default=100)
    c.add_argument("--gain", default="linear", choices=["linear", "exp"])
    c.add_argument("--score", default="cosine", choices=["cosine", "dot"])
    c.add_argument("--tol", type=float, default=1e-12)
    args = ap.parse_args()
    if args.mode == "texts":
        for _, text in read_entries(args.file, args.corpus):
            assert "\n" not in text, "a text with a newline cannot be one line"
            print(text)
        return 0
    agg, per_query = evaluate(args)
    with open(args.got) as f:
        got = json.loads(f.read())
    problems = []
    worst = compare(agg, got, "metrics", args.tol, problems)
    nq = 0
    if args.got_per_query:
        with open(args.got_per_query) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        if [x["qid"] for x in lines] != list(per_query):
            problems.append("per-query: qids %s, reference %s" % ([x["qid"] for x in lines], list(per_query)))
        for x in lines:
            qid = x.pop("qid")
            if qid in per_query:
                worst = max(worst, compare(per_query[qid], x, "query " + qid, args.tol, problems))
                nq += 1
    for p in problems[:20]:
        print("MISMATCH", p)
    print("reference: %d metrics, %d per-query lines compared; max |diff| %.3g; %d mismatches"
          % (len(agg), nq, worst, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
