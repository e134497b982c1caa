#!/usr/bin/env python3
"""sentence-transformers' side of bench/embed_compare.sh, and the Spearman
score both sides share.

    embed_st.py train --loss cosent|mnrl --model DIR --train TSV --dev TSV
                      [--min-score X] [--threads 2] [--seed 42] [--json OUT]
    embed_st.py spearman --dev TSV --cos FILE      # prints Spearman x 100

TSV files are the compare script's: score<TAB>sentence1<TAB>sentence2, the
score on STS-B's 0..5 scale (the same lines mtbert's shards are made from).

train: SentenceTransformer(DIR) (Transformer + mean Pooling + Normalize, as
the folder's modules.json; dropout 0.1 from its config.json), max_seq_length
128, SentenceTransformerTrainer with
  * cosent: CoSENTLoss(scale=20) on (sentence1, sentence2, score / 5);
  * mnrl:   MultipleNegativesRankingLoss(scale=20) on (anchor, positive) =
            (sentence1, sentence2) of the lines given, with --min-score X
            only of those scored >= X (the compare script passes all train
            pairs and 4, as it gives mtbert prepare --min-score 4);
1 epoch, batch 16, lr 2e-5, warm-up floor(0.1 x steps) steps linear then
linear decay to 0 (as mtbert computes its warm-up), weight decay 0.01,
clipping 1.0 (Trainer default), seed 42, torch.set_num_threads(THREADS),
the default batch sampler (shuffled, last batch kept). Then the dev
sentences are encoded (batch 32) and scored: Spearman of the cosine of each
pair against the gold score, x 100. Prints one JSON line (and writes it to
--json): loss, score, steps, training pairs, wall seconds of training alone
(trainer.train()) and of the whole run (imports, load, train, dev encode).
"""
import argparse
import json
import math
import sys
import time

T_START = time.time()


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 3:
                rows.append((float(p[0]), p[1], p[2]))
    return rows


def spearman100(gold, cos):
    from scipy.stats import spearmanr
    return 100.0 * float(spearmanr(gold, cos).statistic)


def cmd_spearman(a):
    gold = [r[0] for r in read_tsv(a.dev)]
    cos = [float(x) for x in open(a.cos).read().split()]
    if len(cos) != len(gold):
        sys.exit(f"embed_st.py: {a.cos} has {len(cos)} cosines, {a.dev} {len(gold)} pairs")
    print(f"{spearman100(gold, cos):.4f}")


def cmd_train(a):
    import torch
    torch.set_num_threads(a.threads)
    from datasets import Dataset
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    from sentence_transformers.sentence_transformer import losses

    model = SentenceTransformer(a.model, device="cpu")
    model.max_seq_length = a.max_len
    train = read_tsv(a.train)
    if a.min_score is not None:  # as datasets' Dataset.filter(lambda r: r["score"] >= X), in file order
        train = [r for r in train if r[0] >= a.min_score]
    if a.loss == "cosent":
        ds = Dataset.from_dict({"sentence1": [r[1] for r in train], "sentence2": [r[2] for r in train],
                                "score": [r[0] / 5.0 for r in train]})
        loss = losses.CoSENTLoss(model, scale=a.scale)
    else:
        ds = Dataset.from_dict({"anchor": [r[1] for r in train], "positive": [r[2] for r in train]})
        loss = losses.MultipleNegativesRankingLoss(model, scale=a.scale)
    steps = math.ceil(len(train) / a.batch)
    warmup = int(0.1 * steps)  # mtbert: (long)(warmup_ratio * total_steps)
    args = SentenceTransformerTrainingArguments(
        output_dir=a.out_dir, num_train_epochs=1, per_device_train_batch_size=a.batch,
        learning_rate=a.lr, warmup_steps=warmup, lr_scheduler_type="linear", weight_decay=0.01,
        max_grad_norm=1.0, seed=a.seed, data_seed=a.seed, use_cpu=True, report_to="none",
        save_strategy="no", logging_steps=10, dataloader_drop_last=False, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds, loss=loss)
    t0 = time.time()
    trainer.train()
    t_train = time.time() - t0

    dev = read_tsv(a.dev)
    ea = model.encode([r[1] for r in dev], batch_size=32, convert_to_tensor=True, normalize_embeddings=True)
    eb = model.encode([r[2] for r in dev], batch_size=32, convert_to_tensor=True, normalize_embeddings=True)
    cos = (ea * eb).sum(dim=1).tolist()
    score = spearman100([r[0] for r in dev], cos)
    import sentence_transformers
    res = {"loss": a.loss, "tool": "sentence-transformers " + sentence_transformers.__version__,
           "score": score, "steps": steps, "warmup_steps": warmup, "train_pairs": len(train),
           "train_s": t_train, "wall_s": time.time() - T_START, "threads": torch.get_num_threads()}
    line = json.dumps(res)
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--loss", choices=("cosent", "mnrl"), required=True)
    t.add_argument("--model", required=True)
    t.add_argument("--train", required=True)
    t.add_argument("--dev", required=True)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=2e-5)
    t.add_argument("--scale", type=float, default=20.0)
    t.add_argument("--min-score", type=float, default=None)
    t.add_argument("--max-len", type=int, default=128)
    t.add_argument("--out-dir", default="checkpoints/embed-data/st-out")
    t.add_argument("--json")
    s = sub.add_parser("spearman")
    s.add_argument("--dev", required=True)
    s.add_argument("--cos", required=True)
    a = ap.parse_args()
    cmd_train(a) if a.cmd == "train" else cmd_spearman(a)


if __name__ == "__main__":
    main()
