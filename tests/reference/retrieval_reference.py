#!/usr/bin/env python3
"""Independent reference for trainer/train/retrieval.c.

Writes tests/fixtures/contrastive/retrieval.json: retrieval cases (a
queries x corpus score matrix, qrels with grades, the cutoffs) with the
expected MRR@k, nDCG@k, MAP@k, recall@k, precision@k, accuracy@k, and STS
cases with the expected Pearson / Spearman of cosine vs gold (scipy).
tests/unit/test_retrieval.c compares the C code with these numbers.

This script is plain Python (a full sort per query, the definitions written
out); it does not call the C code. When sentence-transformers is importable,
every binary-relevance case is also run through its
InformationRetrievalEvaluator.compute_metrics (corpus ids zero-padded so its
tie rule, ascending corpus id, is ours) and must agree to 1e-12.

    /work/venv/bin/python tests/reference/retrieval_reference.py [--out FILE]

Rules (also in retrieval.h): rank by score descending, ties by corpus index
ascending; relevant = grade > 0; queries without a relevant document are
skipped; nDCG gain = grade (linear) or 2^grade - 1 (exp), IDCG from the
query's relevant grades sorted descending; precision@k divides by k; MAP@k
divides by min(k, number relevant).
"""

import argparse
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "contrastive", "retrieval.json"))


def query_metrics(scores, qrels, cuts, mrr_k, ndcg_k, map_k, gain):
    """scores: list of floats; qrels: {doc: grade}. None when the query has no relevant document."""
    relevant = {d: g for d, g in qrels.items() if g > 0}
    if not relevant:
        return None
    ranking = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    grade = [qrels.get(d, 0) for d in ranking]
    is_rel = [g > 0 for g in grade]

    def g_of(x):
        if x <= 0:
            return 0.0
        return float(x) if gain == "linear" else 2.0 ** x - 1.0

    out = {}
    out["mrr"] = 0.0
    for r in range(min(mrr_k, len(ranking))):
        if is_rel[r]:
            out["mrr"] = 1.0 / (r + 1)
            break
    dcg = sum(g_of(grade[r]) / math.log2(r + 2) for r in range(min(ndcg_k, len(ranking))))
    ideal = sorted(relevant.values(), reverse=True)[:ndcg_k]
    idcg = sum(g_of(x) / math.log2(r + 2) for r, x in enumerate(ideal))
    out["ndcg"] = dcg / idcg
    hits, precs = 0, 0.0
    for r in range(min(map_k, len(ranking))):
        if is_rel[r]:
            hits += 1
            precs += hits / (r + 1)
    out["map"] = precs / min(map_k, len(relevant))
    out["recall"], out["precision"], out["accuracy"] = [], [], []
    for k in cuts:
        n = sum(is_rel[:k])
        out["recall"].append(n / len(relevant))
        out["precision"].append(n / k)
        out["accuracy"].append(1.0 if n > 0 else 0.0)
    return out


def case_metrics(case):
    per = []
    skipped = 0
    for q, row in enumerate(case["scores"]):
        qrels = {d: g for d, g in zip(case["rel_docs"][q], case["grades"][q])}
        m = query_metrics(row, qrels, case["cuts"], case["mrr_k"], case["ndcg_k"], case["map_k"], case["gain"])
        if m is None:
            skipped += 1
        else:
            per.append(m)
    n = len(per)
    mean = lambda key: sum(m[key] for m in per) / n if n else 0.0
    meanc = lambda key, c: sum(m[key][c] for m in per) / n if n else 0.0
    nc = len(case["cuts"])
    return {
        "mrr": mean("mrr"), "ndcg": mean("ndcg"), "map": mean("map"),
        "recall": [meanc("recall", c) for c in range(nc)],
        "precision": [meanc("precision", c) for c in range(nc)],
        "accuracy": [meanc("accuracy", c) for c in range(nc)],
        "n_queries": n, "n_skipped": skipped,
    }


def check_with_sentence_transformers(case, exp):
    try:
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    except Exception as e:  # optional cross-check
        print("  (sentence-transformers not importable: %s; cross-check skipped)" % e)
        return False
    nq, nd = len(case["scores"]), len(case["scores"][0])
    cid = lambda i: "d%06d" % i
    queries = {"q%d" % q: "query %d" % q for q in range(nq)}
    corpus = {cid(i): "doc %d" % i for i in range(nd)}
    rel = {"q%d" % q: {cid(d) for d, g in zip(case["rel_docs"][q], case["grades"][q]) if g > 0} for q in range(nq)}
    rel = {q: s for q, s in rel.items() if s}
    ev = InformationRetrievalEvaluator(queries, corpus, rel, mrr_at_k=[case["mrr_k"]], ndcg_at_k=[case["ndcg_k"]],
                                       accuracy_at_k=case["cuts"], precision_recall_at_k=case["cuts"],
                                       map_at_k=[case["map_k"]], show_progress_bar=False)
    results = []
    for qid in ev.queries_ids:
        q = int(qid[1:])
        results.append([{"corpus_id": cid(i), "score": s} for i, s in enumerate(case["scores"][q])])
    st = ev.compute_metrics(results)
    pairs = [(st["mrr@k"][case["mrr_k"]], exp["mrr"]), (st["ndcg@k"][case["ndcg_k"]], exp["ndcg"]),
             (st["map@k"][case["map_k"]], exp["map"])]
    for c, k in enumerate(case["cuts"]):
        pairs += [(st["recall@k"][k], exp["recall"][c]), (st["precision@k"][k], exp["precision"][c]),
                  (st["accuracy@k"][k], exp["accuracy"][c])]
    worst = max(abs(float(a) - b) for a, b in pairs)
    assert worst < 1e-12, (case["name"], worst, pairs)
    print("  %s: sentence-transformers InformationRetrievalEvaluator agrees (max |diff| %.1e)" % (case["name"], worst))
    return True


def random_case(name, rng, nq, nd, levels, max_rel, graded, gain, cuts, mrr_k=10, ndcg_k=10, map_k=100):
    # scores on a grid of `levels` values: exact in fp32 and in JSON, with many ties
    scores = [[rng.randrange(-levels, levels + 1) / 16.0 for _ in range(nd)] for _ in range(nq)]
    rel_docs, grades = [], []
    for q in range(nq):
        m = rng.randrange(0, max_rel + 1)
        docs = rng.sample(range(nd), m)
        rel_docs.append(docs)
        grades.append([rng.randrange(0, 4) if graded else 1 for _ in docs])
    return {"name": name, "scores": scores, "rel_docs": rel_docs, "grades": grades, "cuts": cuts,
            "mrr_k": mrr_k, "ndcg_k": ndcg_k, "map_k": map_k, "gain": gain, "graded": graded}


def sts_case(name, rng, n, d, gold_levels):
    import numpy as np
    from scipy.stats import pearsonr, spearmanr

    a = [[rng.randrange(-64, 65) / 32.0 for _ in range(d)] for _ in range(n)]
    b = [[x + rng.randrange(-64, 65) / 32.0 for x in row] for row in a]
    gold = [rng.randrange(0, gold_levels) / 2.0 for _ in range(n)]  # ties in gold
    A, B = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
    cos = (A * B).sum(1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))
    return {"name": name, "a": a, "b": b, "gold": gold, "n": n, "d": d,
            "pearson": float(pearsonr(cos, gold)[0]), "spearman": float(spearmanr(cos, gold)[0]),
            "cos": [float(x) for x in cos]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    rng = random.Random(2026)

    # hand case: 2 queries, 5 docs; documented in test_retrieval.c
    hand = {"name": "hand", "scores": [[0.9, 0.5, 0.5, 0.1, 0.7], [0.2, 0.2, 0.2, 0.2, 0.2]],
            "rel_docs": [[2, 3], [4]], "grades": [[1, 1], [1]], "cuts": [1, 2, 5], "mrr_k": 10, "ndcg_k": 10,
            "map_k": 100, "gain": "linear", "graded": False}
    cases = [
        hand,
        random_case("binary_ties", rng, nq=40, nd=60, levels=8, max_rel=5, graded=False, gain="linear",
                    cuts=[1, 3, 5, 10, 100]),
        random_case("binary_dense", rng, nq=30, nd=200, levels=400, max_rel=8, graded=False, gain="linear",
                    cuts=[1, 5, 10, 50]),
        random_case("graded_linear", rng, nq=40, nd=50, levels=6, max_rel=6, graded=True, gain="linear",
                    cuts=[1, 3, 10, 20]),
        random_case("graded_exp", rng, nq=40, nd=50, levels=6, max_rel=6, graded=True, gain="exp",
                    cuts=[2, 10], mrr_k=5, ndcg_k=5, map_k=10),
        random_case("small_corpus", rng, nq=10, nd=4, levels=2, max_rel=3, graded=True, gain="linear",
                    cuts=[1, 10], mrr_k=3, ndcg_k=10, map_k=10),
    ]
    print("retrieval cases:")
    for c in cases:
        c["expected"] = case_metrics(c)
        e = c["expected"]
        print("  %-14s queries %d (skipped %d)  MRR@%d %.6f  nDCG@%d %.6f  MAP@%d %.6f  recall@%d %.6f"
              % (c["name"], e["n_queries"], e["n_skipped"], c["mrr_k"], e["mrr"], c["ndcg_k"], e["ndcg"],
                 c["map_k"], e["map"], c["cuts"][-1], e["recall"][-1]))
    for c in cases:
        if not c["graded"]:
            check_with_sentence_transformers(c, c["expected"])
    sts = [sts_case("sts_a", rng, n=50, d=12, gold_levels=11), sts_case("sts_b", rng, n=7, d=3, gold_levels=3)]
    for s in sts:
        print("  %s: pearson %.9f spearman %.9f (scipy)" % (s["name"], s["pearson"], s["spearman"]))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"generator": "tests/reference/retrieval_reference.py", "retrieval": cases, "sts": sts}, f)
        f.write("\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
