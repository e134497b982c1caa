#!/usr/bin/env python3
"""The single-task fine-tuning recipes of configs/finetune-minilm-{ner,sst2}.yaml
with Hugging Face transformers' Trainer, on the CPU, from the same pretrained
folder (all-MiniLM-L6-v2), for bench/finetune_compare.sh.

    hf_finetune.py ner  --model DIR --data RAW_DIR [--epochs 1] [--threads 2] [--json OUT]
    hf_finetune.py sst2 --model DIR --data RAW_DIR ...

RAW_DIR holds the raw subsets the compare script wrote (the same examples mtbert's
shards are made from): conll-train.txt / conll-dev.txt (CoNLL-2003 columns, IOB1
tags, blank line between sentences) and sst2-train.txt / sst2-dev.txt
(`LABEL sentence`).

Like for like with mtbert:
  * ner: BertForTokenClassification (dropout 0.1 + Linear on every token), tags
    converted IOB1 -> IOB2, the first wordpiece of each word labelled, -100 on
    the other pieces and on [CLS]/[SEP]; entity precision/recall/F1 with
    seqeval's default (conlleval) chunking, written out below, over the words
    that survive truncation to max_len (as mtbert's shards keep them).
  * sst2: BertForSequenceClassification would put the head on the pooler over
    [CLS]; mtbert's sentence head reads the masked mean of the last hidden
    states (the model's own pooling). So the model here is BertModel + masked
    mean + dropout 0.1 + Linear(384, 2), trained with Trainer.
  * recipe: AdamW (torch), lr 1e-4, batch 32, max_len 128, linear warm-up over
    floor(0.1 x steps) steps (as mtbert computes it) then linear decay to 0,
    weight decay 0.01 (not on biases / LayerNorm), clipping at 1.0, seed 42,
    dynamic padding, shuffled batches, the last batch kept; head weights
    N(0, 0.02), biases 0.
Prints a JSON line (and writes it to --json): task, dev score x 100, steps,
training examples, wall time of the whole run (load, tokenise, train,
evaluate) and of training alone.
"""
import argparse
import json
import math
import os
import sys
import time

T_START = time.time()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from transformers import (AutoTokenizer, BertForTokenClassification, BertModel,  # noqa: E402
                          DataCollatorForTokenClassification, DataCollatorWithPadding,
                          Trainer, TrainingArguments)
from transformers.modeling_outputs import SequenceClassifierOutput  # noqa: E402

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


# ---------------------------------------------------------------- data
def read_conll(path):
    """[(words, tags)] from CoNLL columns (tag last), -DOCSTART- dropped."""
    out, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0] == "-DOCSTART-":
                if words:
                    out.append((words, tags))
                words, tags = [], []
                continue
            words.append(parts[0])
            tags.append(parts[-1])
    if words:
        out.append((words, tags))
    return out


def iob1_to_iob2(tags):
    """I-X starts an entity unless it follows B-X or I-X; B-X stays."""
    out, prev = [], "O"
    for t in tags:
        if t.startswith("I-") and (prev == "O" or prev[2:] != t[2:]):
            t = "B-" + t[2:]
        out.append(t)
        prev = t
    return out


def read_sst2(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            label, text = line.split(" ", 1)
            out.append((text, int(label)))
    return out


def get_entities(tags):
    """Chunks (type, start, end) with seqeval's default rules (conlleval): an
    entity starts at B-X, or at I-X after O or another type; ends before O,
    B-*, or a change of type."""
    chunks, start, typ = [], None, None
    for i, t in enumerate(list(tags) + ["O"]):
        p, ty = (t.split("-", 1) + [""])[:2] if t != "O" else ("O", "")
        end_here = typ is not None and (p in ("O", "B") or ty != typ)
        if end_here:
            chunks.append((typ, start, i - 1))
            typ = None
        if p in ("B", "I") and typ is None:
            start, typ = i, ty
    return chunks


def entity_prf(gold_seqs, pred_seqs):
    tp = n_gold = n_pred = 0
    for g, p in zip(gold_seqs, pred_seqs):
        gs, ps = set(get_entities(g)), set(get_entities(p))
        tp += len(gs & ps)
        n_gold += len(gs)
        n_pred += len(ps)
    prec = tp / n_pred if n_pred else 0.0
    rec = tp / n_gold if n_gold else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def encode_ner(tok, sents, max_len):
    rows, keep = [], []  # keep: per sentence, the word indices that got a label
    lab = {t: i for i, t in enumerate(NER_LABELS)}
    for words, tags in sents:
        tags = iob1_to_iob2(tags)
        enc = tok(words, is_split_into_words=True, truncation=True, max_length=max_len)
        labels, prev, kept = [], None, []
        for w in enc.word_ids():
            if w is None or w == prev:
                labels.append(-100)
            else:
                labels.append(lab[tags[w]])
                kept.append(w)
            if w is not None:
                prev = w
        rows.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"],
                     "attention_mask": enc["attention_mask"], "labels": labels})
        keep.append(kept)
    return rows, keep


def encode_sst2(tok, examples, max_len):
    rows = []
    for text, label in examples:
        enc = tok(text, truncation=True, max_length=max_len)
        rows.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"],
                     "attention_mask": enc["attention_mask"], "labels": label})
    return rows


# ---------------------------------------------------------------- model
class MeanPoolClassifier(nn.Module):
    """BertModel -> masked mean of the last hidden states -> dropout -> Linear:
    mtbert's sentence_classification head with pooling: mean."""

    def __init__(self, folder, num_labels, dropout=0.1):
        super().__init__()
        self.bert = BertModel.from_pretrained(folder, add_pooling_layer=False)
        self.config = self.bert.config
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.config.hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=self.config.initializer_range)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                      token_type_ids=token_type_ids).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        logits = self.classifier(self.dropout(pooled))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=["ner", "sst2"])
    ap.add_argument("--model", required=True, help="the pretrained folder (config.json, model.safetensors, vocab.txt)")
    ap.add_argument("--data", required=True, help="folder with the raw train/dev subsets")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="Trainer output_dir (default a temp dir)")
    ap.add_argument("--json", default=None, help="also write the result line here")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.model)
    if a.task == "ner":
        train_raw = read_conll(os.path.join(a.data, "conll-train.txt"))
        dev_raw = read_conll(os.path.join(a.data, "conll-dev.txt"))
        train_rows, _ = encode_ner(tok, train_raw, a.max_len)
        dev_rows, dev_keep = encode_ner(tok, dev_raw, a.max_len)
        collator = DataCollatorForTokenClassification(tok)
        torch.manual_seed(a.seed)
        model = BertForTokenClassification.from_pretrained(
            a.model, num_labels=len(NER_LABELS),
            id2label=dict(enumerate(NER_LABELS)), label2id={t: i for i, t in enumerate(NER_LABELS)})
    else:
        train_raw = read_sst2(os.path.join(a.data, "sst2-train.txt"))
        dev_raw = read_sst2(os.path.join(a.data, "sst2-dev.txt"))
        train_rows = encode_sst2(tok, train_raw, a.max_len)
        dev_rows = encode_sst2(tok, dev_raw, a.max_len)
        collator = DataCollatorWithPadding(tok)
        torch.manual_seed(a.seed)
        model = MeanPoolClassifier(a.model, 2)

    steps = math.ceil(a.epochs * math.ceil(len(train_rows) / a.batch))
    warmup = int(a.warmup_ratio * steps)  # mtbert: (long)(warmup_ratio * total_steps)
    out = a.out or os.path.join("/tmp", f"hf_finetune_{a.task}_{os.getpid()}")
    args = TrainingArguments(
        output_dir=out, per_device_train_batch_size=a.batch, per_device_eval_batch_size=64,
        learning_rate=a.lr, num_train_epochs=a.epochs, max_steps=steps, warmup_steps=warmup,
        lr_scheduler_type="linear", weight_decay=a.weight_decay, max_grad_norm=1.0,
        adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, optim="adamw_torch",
        seed=a.seed, data_seed=a.seed, save_strategy="no", eval_strategy="no",
        logging_steps=10, report_to="none", use_cpu=True, disable_tqdm=True,
        dataloader_num_workers=0, dataloader_drop_last=False)
    trainer = Trainer(model=model, args=args, train_dataset=ListDataset(train_rows),
                      data_collator=collator)
    t0 = time.time()
    trainer.train()
    train_s = time.time() - t0

    pred = trainer.predict(ListDataset(dev_rows))
    logits = pred.predictions
    if a.task == "ner":
        gold_seqs, pred_seqs = [], []
        for i, (words, tags) in enumerate(dev_raw):
            gold_all = iob1_to_iob2(tags)
            lab_row = dev_rows[i]["labels"]
            pos = [j for j, l in enumerate(lab_row) if l != -100]
            am = logits[i][: len(lab_row)].argmax(-1)
            gold_seqs.append([gold_all[w] for w in dev_keep[i]])
            pred_seqs.append([NER_LABELS[int(am[j])] for j in pos])
        p, r, f1 = entity_prf(gold_seqs, pred_seqs)
        score, extra = f1, {"entity_precision": p, "entity_recall": r}
        try:  # cross-check against the seqeval package when it is installed
            from seqeval.metrics import f1_score
            extra["seqeval_f1"] = f1_score(gold_seqs, pred_seqs)
        except ImportError:
            pass
    else:
        gold = np.array([lab for _, lab in dev_raw])
        score, extra = float((logits.argmax(-1) == gold).mean()), {}
    res = {"task": a.task, "tool": "hf-trainer", "score": 100 * score, "steps": steps, "warmup_steps": warmup,
           "train_examples": len(train_rows), "dev_examples": len(dev_rows), "epochs": a.epochs,
           "threads": a.threads, "train_s": round(train_s, 2), "wall_s": round(time.time() - T_START, 2),
           "torch": torch.__version__, **extra}
    line = json.dumps(res)
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
