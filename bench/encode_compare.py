#!/usr/bin/env python3
"""Helper of bench/encode_compare.sh (mtbert encode against
SentenceTransformer.encode on a real corpus). Subcommands:

  corpus DATASETS OUT.txt [--which both|sst2-dev|stsb-dev]
        one sentence a line: the SST-2 dev sentences (872) and/or both
        sentences of every STS-B dev pair (3,000), in file order
  table WORK
        reads WORK/runs.jsonl (one JSON object per timed run, written by the
        shell script and by minilm_parity.py st-encode) and the embeddings
        WORK/{mtbert_*,st}.npy; prints the table: best of the rounds per
        tool, sentences/s, ratio to SentenceTransformer.encode, max |diff|
        of the embeddings against sentence-transformers'

Only the standard library and numpy are needed.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minilm_parity import _sst2, _stsb  # noqa: E402  (the corpus readers the parity bench uses)


def cmd_corpus(a):
    sents = []
    if a.which in ("both", "sst2-dev"):
        sents += _sst2(os.path.join(a.datasets, "sst2", "dev.txt"))
    if a.which in ("both", "stsb-dev"):
        for _, s1, s2 in _stsb(os.path.join(a.datasets, "stsb", "sts-dev.csv")):
            sents += [s1, s2]
    with open(a.out, "w", encoding="utf-8") as f:
        for s in sents:
            f.write(s + "\n")
    print(f"{len(sents)} sentences ({a.which})")


def cmd_table(a):
    import numpy as np

    runs = [json.loads(l) for l in open(os.path.join(a.work, "runs.jsonl")) if l.strip()]
    st = [r for r in runs if "modules" in r]  # minilm_parity.py st-encode's lines
    mt = [r for r in runs if r.get("tool") == "mtbert"]
    if not st or not mt:
        sys.exit("encode_compare.py: no runs of one of the tools in runs.jsonl")
    n = st[0]["sentences"]
    ref = np.load(os.path.join(a.work, "st.npy")).astype(np.float64)
    st_run = min(st, key=lambda r: r["seconds"])
    st_best = st_run["seconds"]
    rows = [("SentenceTransformer.encode (model loaded)", f"batch {a.batch}", st_best, st_run.get("cpu_seconds"), None,
             None)]
    for mode in sorted({r["mode"] for r in mt}, key=lambda m: [r["mode"] for r in mt].index(m)):
        rs = [r for r in mt if r["mode"] == mode]
        emb = np.load(os.path.join(a.work, f"mtbert_{rs[0]['tag']}.npy")).astype(np.float64)
        diff = float(np.abs(emb - ref).max())
        cos = float(np.min(np.sum(emb * ref, 1) / np.maximum(np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1), 1e-12)))
        best = min(rs, key=lambda r: r["whole_s"])
        part = min(r["encode_s"] for r in rs)
        rows.append(("mtbert encode, whole command", mode, best["whole_s"], best.get("cpu_s"), diff, cos))
        rows.append(("mtbert encode, tokenize + forward", mode, part, None, diff, cos))
    print(f"{n} sentences, {st[0]['threads']} thread(s), best of {len(st)} round(s); "
          f"torch {st[0].get('torch')}, sentence-transformers {st[0].get('sentence_transformers')}")
    print("| what | batching | seconds | sentences/s | x SentenceTransformer.encode | CPU s | max abs diff vs ST | min cosine |")
    print("|---|---|---|---|---|---|---|---|")
    for what, mode, sec, cpu, diff, cos in rows:
        d = "-" if diff is None else f"{diff:.2e}"
        c = "-" if diff is None else f"{cos:.7f}"
        u = "-" if cpu is None else f"{cpu:.1f}"
        print(f"| {what} | {mode} | {sec:.2f} | {n / sec:.0f} | {st_best / sec:.2f} | {u} | {d} | {c} |")
    worst = max((r[4] for r in rows if r[4] is not None), default=0.0)
    if worst > 1e-4:
        print(f"FAIL: max |diff| {worst:.3g} > 1e-4 (bench/minilm_parity.sh's bound)")
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("datasets")
    c.add_argument("out")
    c.add_argument("--which", default="both", choices=["both", "sst2-dev", "stsb-dev"])
    t = sub.add_parser("table")
    t.add_argument("work")
    t.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    return {"corpus": cmd_corpus, "table": cmd_table}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
