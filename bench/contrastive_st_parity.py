#!/usr/bin/env python3
"""mtbert's contrastive training against sentence-transformers' loss objects
on the real all-MiniLM-L6-v2 (issue 18); driven by bench/contrastive_st_parity.sh.

    contrastive_st_parity.py --bin MTBERT --model DIR --stsb DIR --work DIR
                             [--threads 2] [--lr 0.05] [--json OUT]

Data: 32 rows from STS-B train (the first lines, in file order, whose texts
are all distinct, lower-cased, so that no duplicate masking happens on
mtbert's side; sentence-transformers has none):
  * triplets: (sentence1, sentence2) of the pairs scored >= 4 as (anchor,
    positive), the hard negative the sentence2 of a pair scored < 1;
  * scored pairs: (sentence1, sentence2, score / 5) of the first 32 lines.
mtbert: `mtbert prepare` (--format triplets / pairs) with the model folder's
tokenizer, max_len 128; `mtbert train` with dropout 0, model.normalize true
(the folder's 2_Normalize, which sentence-transformers applies), no shuffle,
batch 16, 1 step, logging every step, AdamW with weight decay 0, eps 1
(step 1 of Adam is then lr * g / (|g| + 1), which is about lr * g: the
update carries the gradient's size, not only its sign), no warm-up, constant
schedule, no clipping. The first logged loss is the loss of rows 0..15.
sentence-transformers: SentenceTransformer(DIR) in eval mode (dropout off),
max_seq_length 128, the loss object on the features of rows 0..15 (columns
tokenized as the trainer's collator does: one model.tokenize per column),
backward, torch.optim.AdamW with the same hyper-parameters, one step.

Cases (mtbert loss keys -> sentence-transformers 6.x object):
  mnrl           loss mnrl on (a, p) pair shards      MultipleNegativesRankingLoss(scale 20) on (a, p)
  mnrl_neg       loss mnrl on triplet shards (K = 1)  MultipleNegativesRankingLoss on (a, p, n)
  mnrl_neg_s5    the same with scale 5                MultipleNegativesRankingLoss(scale 5): a loss of
                                                      O(1) (at scale 20 these easy pairs give ~1e-3)
  symmetric      mnrl, symmetric on pairs             MultipleNegativesSymmetricRankingLoss on (a, p)
  symmetric_neg  mnrl, symmetric on triplets          MultipleNegativesSymmetricRankingLoss on (a, p, n)
  triplet        loss triplet, margin 5, on triplets  TripletLoss(EUCLIDEAN, triplet_margin 5)
  cosent         loss cosent on scored pairs          CoSENTLoss(scale 20), labels score / 5
  angle          loss angle on scored pairs           AnglELoss(scale 20), labels score / 5

Per case: the two losses and their relative difference (limit 2e-5: the
metrics.jsonl value has 6 significant digits), and after the one step the
embeddings of 8 sentences (rows 0..7's anchors and positives, normalised):
max |mt - st| of the embeddings, and of their change (after - before)
relative to the change's size (limit 2e-3; the change is about lr x the
gradient, so a wrong gradient shows as an O(1) relative difference), and the
size of the change. Exit 1 when a case is over a limit, 2 on a set-up failure.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np


def die(msg):
    """a set-up failure (exit 2; 1 is a parity failure)"""
    print(f"contrastive_st_parity.py: {msg}", file=sys.stderr)
    sys.exit(2)

LOSS_TOL = 2e-5
DELTA_TOL = 2e-3
BATCH = 16
N_ROWS = 32
MAX_LEN = 128


def read_stsb(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 7:
                rows.append((float(p[4]), p[5], p[6]))
    return rows


def pick_data(rows):
    """32 triplets and 32 scored pairs, every text distinct within its set."""
    clean = [(s, a.strip(), b.strip()) for s, a, b in rows
             if a.strip() and b.strip() and "\t" not in a + b]
    negs = [b for s, a, b in clean if s < 1.0]
    seen, trip, ni = set(), [], 0
    for s, a, b in clean:
        if s < 4.0 or a.lower() in seen or b.lower() in seen or a.lower() == b.lower():
            continue
        while ni < len(negs) and (negs[ni].lower() in seen or negs[ni].lower() in (a.lower(), b.lower())):
            ni += 1
        if ni == len(negs):
            break
        n = negs[ni]
        ni += 1
        seen.update((a.lower(), b.lower(), n.lower()))
        trip.append((a, b, n))
        if len(trip) == N_ROWS:
            break
    seen, scored = set(), []
    for s, a, b in clean:
        if a.lower() in seen or b.lower() in seen or a.lower() == b.lower():
            continue
        seen.update((a.lower(), b.lower()))
        scored.append((s, a, b))
        if len(scored) == N_ROWS:
            break
    if len(trip) < N_ROWS or len(scored) < N_ROWS:
        die("STS-B train gave too few distinct rows")
    return trip, scored


def run(cmd, log):
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        tail = open(log).read()[-2000:]
        die(f"{' '.join(cmd)} failed (exit {r.returncode}):\n{tail}")


CASES = {
    #  name: (shards, mtbert task keys, sentence-transformers columns)
    "mnrl": ("pairs", {"loss": "mnrl"}, "ap"),
    "mnrl_neg": ("triplets", {"loss": "mnrl"}, "apn"),
    "mnrl_neg_s5": ("triplets", {"loss": "mnrl", "scale": "5"}, "apn"),
    "symmetric": ("pairs", {"loss": "mnrl", "symmetric": "true"}, "ap"),
    "symmetric_neg": ("triplets", {"loss": "mnrl", "symmetric": "true"}, "apn"),
    "triplet": ("triplets", {"loss": "triplet", "margin": "5"}, "apn"),
    "cosent": ("scored", {"loss": "cosent"}, "ab+score"),
    "angle": ("scored", {"loss": "angle"}, "ab+score"),
}


def config_yaml(a, shards, keys, run_dir):
    task = "\n".join(f"    {k}: {v}" for k, v in {"scale": "20", **keys}.items())
    return f"""model:
  path: {a.model}
  do_lower_case: true
  hidden_dropout: 0.0
  attention_dropout: 0.0
  pooling: mean
  normalize: true
tasks:
  - name: ctr
    type: contrastive
{task}
    data: {{train: "{shards}"}}
data: {{max_len: {MAX_LEN}, batch_size: {BATCH}, mixed_batches: false, length_bucketing: false, shuffle: false}}
optimizer: {{lr: {a.lr}, weight_decay: 0.0, beta1: 0.9, beta2: 0.999, eps: 1.0, max_grad_norm: 0.0}}
schedule: {{warmup_steps: 0, decay: constant}}
train: {{steps: 1, seed: 42, threads: {a.threads}, backend: cpu, precision: fp32, run_dir: "{run_dir}"}}
eval: {{every: 0}}
logging: {{every: 1, jsonl: true, tensorboard: false}}
checkpoint: {{every: 0, keep_last: 1, keep_best: false, resume: none, overwrite: true}}
"""


def first_loss(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("event") == "train":
                return float(r["loss.ctr"]), r
    die(f"no train record in {run_dir}/metrics.jsonl")


def mt_encode(a, model, sent_file, out):
    run([a.bin, "encode", "--model", model, "--input", sent_file, "--out", out, "--pooling", "mean",
         "--normalize", "--max-len", str(MAX_LEN), "--threads", str(a.threads), "--backend", "cpu"],
        out + ".log")
    return np.load(out).astype(np.float64)


def st_loss_object(name, model):
    from sentence_transformers import losses
    if name in ("mnrl", "mnrl_neg"):
        return losses.MultipleNegativesRankingLoss(model, scale=20.0)
    if name == "mnrl_neg_s5":
        return losses.MultipleNegativesRankingLoss(model, scale=5.0)
    if name in ("symmetric", "symmetric_neg"):
        return losses.MultipleNegativesSymmetricRankingLoss(model, scale=20.0)
    if name == "triplet":
        return losses.TripletLoss(model, distance_metric=losses.TripletDistanceMetric.EUCLIDEAN, triplet_margin=5.0)
    if name == "cosent":
        return losses.CoSENTLoss(model, scale=20.0)
    return losses.AnglELoss(model, scale=20.0)


def st_batch(cols, trip, scored):
    if cols == "ab+score":
        return [[r[1] for r in scored[:BATCH]], [r[2] for r in scored[:BATCH]]], [r[0] / 5.0 for r in scored[:BATCH]]
    return [[r[i] for r in trip[:BATCH]] for i in range(len(cols))], None


def st_case(a, name, cols, trip, scored, sentences):
    """(fp32 loss, fp64 loss, fp64 embeddings before, after one AdamW step)"""
    import torch
    from sentence_transformers import SentenceTransformer
    texts, labels = st_batch(cols, trip, scored)
    model = SentenceTransformer(a.model, device="cpu")
    model.max_seq_length = MAX_LEN
    model.eval()  # dropout off; gradients still flow
    feats = [model.tokenize(t) for t in texts]
    with torch.no_grad():
        l32 = float(st_loss_object(name, model)(feats, None if labels is None else torch.tensor(labels)))
    model.double()  # the reference step in float64: its rounding is far below mtbert's fp32
    before = model.encode(sentences, batch_size=32, convert_to_numpy=True).astype(np.float64)
    loss_fn = st_loss_object(name, model)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1.0, weight_decay=0.0)
    opt.zero_grad()
    loss = loss_fn(feats, None if labels is None else torch.tensor(labels, dtype=torch.float64))
    loss.backward()
    gn = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in model.parameters() if p.grad is not None))
    opt.step()
    model.eval()
    after = model.encode(sentences, batch_size=32, convert_to_numpy=True).astype(np.float64)
    return l32, float(loss.detach()), before, after, gn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--stsb", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--mt-set", action="append", default=[],
                    help="KEY=VALUE passed to mtbert train as --set (to see the check fail)")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    trip, scored = pick_data(read_stsb(os.path.join(a.stsb, "sts-train.csv")))

    # ---- data files and shards
    w = a.work
    with open(f"{w}/triplets.tsv", "w", encoding="utf-8") as f:
        for r in trip:
            f.write("\t".join(r) + "\n")
    with open(f"{w}/pairs.tsv", "w", encoding="utf-8") as f:
        for r in trip:
            f.write(f"1\t{r[0]}\t{r[1]}\n")
    with open(f"{w}/scored.tsv", "w", encoding="utf-8") as f:
        for s, x, y in scored:
            f.write(f"{s}\t{x}\t{y}\n")
    sentences = [x for r in trip[:4] for x in r[:2]] + [x for r in scored[:2] for x in r[1:]]
    with open(f"{w}/sentences.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    common = ["--task", "ctr:similarity", "--vocab", a.model, "--max-len", str(MAX_LEN), "--out", w, "--quiet"]
    run([a.bin, "prepare", "--format", "triplets", "--name", "triplets", *common, f"{w}/triplets.tsv"],
        f"{w}/prepare-triplets.log")
    run([a.bin, "prepare", "--format", "pairs", "--pair-columns", "0,1,2", "--name", "pairs", *common,
         f"{w}/pairs.tsv"], f"{w}/prepare-pairs.log")
    run([a.bin, "prepare", "--format", "pairs", "--pair-columns", "0,1,2", "--score-scale", "0.2", "--name",
         "scored", *common, f"{w}/scored.tsv"], f"{w}/prepare-scored.log")

    base_mt = mt_encode(a, a.model, f"{w}/sentences.txt", f"{w}/base-mt.npy")
    results, bad = [], 0
    only = set(a.only.split()) if a.only else set(CASES)
    for name, (shards, keys, cols) in CASES.items():
        if name not in only:
            continue
        run_dir = f"{w}/run-{name}"
        with open(f"{w}/{name}.yaml", "w") as f:
            f.write(config_yaml(a, f"{w}/{shards}-*.h5", keys, run_dir))
        run([a.bin, "train", f"{w}/{name}.yaml", *[x for kv in a.mt_set for x in ("--set", kv)]],
            f"{w}/train-{name}.log")
        mt_l, rec = first_loss(run_dir)
        after_mt = mt_encode(a, f"{run_dir}/latest", f"{w}/sentences.txt", f"{w}/after-{name}.npy")
        st32, st_l, before_st, after_st, st_gn = st_case(a, name, cols, trip, scored, sentences)
        rel = abs(mt_l - st_l) / max(abs(st_l), 1e-12)
        d_mt, d_st = after_mt - base_mt, after_st - before_st
        size = float(np.abs(d_st).max())
        d_rel = float(np.abs(d_mt - d_st).max()) / max(size, 1e-30)
        r = {"case": name, "mtbert_loss": mt_l, "st_loss_fp64": st_l, "st_loss_fp32": st32, "loss_rel": rel,
             "loss_rel_fp32": abs(mt_l - st32) / max(abs(st32), 1e-12), "st_grad_norm": st_gn,
             "base_maxdiff": float(np.abs(base_mt - before_st).max()),
             "after_maxdiff": float(np.abs(after_mt - after_st).max()),
             "delta_size": size, "delta_rel": d_rel, "grad_norm": rec.get("grad_norm")}
        ok = rel <= LOSS_TOL and d_rel <= DELTA_TOL
        r["ok"] = ok
        bad += not ok
        results.append(r)
        gmt = rec.get("grad_norm")
        print(f"{name:14s} mtbert {mt_l:.6g}  st64 {st_l:.8g}  rel {rel:.1e}  st32 {st32:.8g} rel {r['loss_rel_fp32']:.1e}"
              f"  | grad norm mt {gmt if gmt is not None else float('nan'):.6g} st64 {st_gn:.6g}"
              f"  | emb after max|diff| {r['after_maxdiff']:.1e}, change {size:.1e}, rel diff {d_rel:.1e}"
              f"  {'ok' if ok else 'FAIL'}", flush=True)
    print(f"\nbase embeddings (untouched model): max |mtbert - st| = {results[0]['base_maxdiff']:.2e}" if results else "")
    print(f"limits: loss rel {LOSS_TOL:g}, embedding change rel {DELTA_TOL:g}; lr {a.lr}, eps 1, 1 AdamW step, "
          f"batch {BATCH}; {len(results) - bad}/{len(results)} cases ok")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
