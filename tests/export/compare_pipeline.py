#!/usr/bin/env python3
"""The task models of `mtbert export --task-models` in transformers pipelines
against `mtbert predict` on the same sentences.

Usage: compare_pipeline.py TASKS_DIR SENTENCES.txt PREDICT.jsonl

For every TASKS_DIR/TASK folder: a sentence task runs
pipeline("text-classification", top_k=None) and is compared label for label
and probability for probability with predict's TASK.probs; a token task runs
pipeline("token-classification", aggregation_strategy="none") and each word's
first wordpiece (the token whose offset starts the word) is compared with
predict's tag and, where predict prints them, its probability. Prints one
line per task and a last line PASS or FAIL; exit 1 when a label differs or a
probability differs by 1e-5 or more."""
import json
import os
import sys

import torch

TOL = 1e-5


def word_starts(text):
    starts, i = [], 0
    for w in text.split():
        i = text.index(w, i)
        starts.append(i)
        i += len(w)
    return starts


def main():
    root, sent_path, pred_path = sys.argv[1:4]
    sentences = [l.rstrip("\n") for l in open(sent_path, encoding="utf-8")]
    preds = [json.loads(l) for l in open(pred_path, encoding="utf-8")]
    assert len(preds) == len(sentences), "predict gave %d lines for %d sentences" % (len(preds), len(sentences))
    torch.set_num_threads(2)
    from transformers import pipeline

    ok = True
    for task in sorted(os.listdir(root)):
        folder = os.path.join(root, task)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        cls = cfg["architectures"][0]
        worst, wrong, n = 0.0, 0, 0
        if cls.endswith("ForTokenClassification"):
            pipe = pipeline("token-classification", model=folder, tokenizer=folder, device="cpu",
                            aggregation_strategy="none", ignore_labels=[])
            for text, p in zip(sentences, preds):
                tokens = {t["start"]: t for t in pipe(text)}
                ours = p[task]
                probs = ours.get("probs")
                for k, s in enumerate(word_starts(text)):
                    if ours["tags"][k] is None:
                        continue
                    t = tokens[s]
                    n += 1
                    wrong += t["entity"] != ours["tags"][k]
                    if probs is not None:
                        worst = max(worst, abs(float(t["score"]) - probs[k]))
            what = "words"
        else:
            pipe = pipeline("text-classification", model=folder, tokenizer=folder, device="cpu", top_k=None,
                            trust_remote_code=True)
            for text, p in zip(sentences, preds):
                out = pipe(text)
                if out and isinstance(out[0], list):  # some versions nest one sentence's labels
                    out = out[0]
                theirs = {r["label"]: float(r["score"]) for r in out}
                ours = p[task]
                n += 1
                wrong += max(theirs, key=theirs.get) != ours["label"]
                for label, q in ours["probs"].items():
                    worst = max(worst, abs(theirs[label] - q))
            what = "sentences"
        good = wrong == 0 and worst < TOL
        ok &= good
        print("%-12s %-34s %5d %s, labels differing %d, max |p diff| %.3g  %s"
              % (task, cls, n, what, wrong, worst, "PASS" if good else "FAIL"))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
