#!/usr/bin/env python3
"""The cross-encoder task models of `mtbert export --task-models` in
transformers against `mtbert predict --pairs` on the same pairs.

Usage: compare_cross_encoder.py TASKS_DIR PAIRS.tsv PREDICT.jsonl TASK...

For every TASK: AutoTokenizer and AutoModelForSequenceClassification
(trust_remote_code=True) from TASKS_DIR/TASK, each pair encoded as
tokenizer(a, b) (the tokenizer's own pair template and token_type_ids), the
logits of the eval-mode model; a classification task's softmax is compared
class by class with predict's probs, a one-output task's sigmoid(logit) with
predict's score. Prints one line per task and a last line PASS or FAIL;
exit 1 when a probability or score differs by 1e-5 or more, or a label
differs."""
import json
import sys

import torch

TOL = 1e-5


def main():
    tasks_dir, pairs_path, pred_path, tasks = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    pairs = [line.rstrip("\n").split("\t", 1) for line in open(pairs_path, encoding="utf-8")]
    preds = [json.loads(line) for line in open(pred_path, encoding="utf-8")]
    assert len(pairs) == len(preds), (len(pairs), len(preds))
    ok = True
    for task in tasks:
        d = f"{tasks_dir}/{task}"
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForSequenceClassification.from_pretrained(d, trust_remote_code=True).eval()
        worst, labels_differ = 0.0, 0
        for (a, b), p in zip(pairs, preds):
            enc = tok(a, b, return_tensors="pt", truncation="longest_first", max_length=512)
            with torch.no_grad():
                z = model(**enc).logits[0].double()
            mine = p[task]
            if z.numel() == 1:
                worst = max(worst, abs(torch.sigmoid(z[0]).item() - mine["score"]))
                continue
            probs = torch.softmax(z, -1)
            names = [model.config.id2label[k] for k in range(z.numel())]
            for k, name in enumerate(names):
                worst = max(worst, abs(probs[k].item() - mine["probs"][name]))
            labels_differ += names[int(probs.argmax())] != mine["label"]
        good = worst < TOL and labels_differ == 0
        ok &= good
        print(f"{task}: {type(model).__name__}, {len(pairs)} pairs, max |difference| {worst:.2e}, "
              f"labels differing {labels_differ}: {'ok' if good else 'DIFFERS'}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
