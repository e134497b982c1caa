#!/usr/bin/env python3
"""PyTorch + Hugging Face reference for `mtbert bench`: the same training step
(BertModel, masked-mean sentence head and token head, cross-entropy, AdamW)
on random data of the same shape, timed the same way (warm-up, then N steps).
Prints one JSON line with tokens_per_s and step_ms.

Used by bench/cpu_compare.sh; needs torch and transformers (a venv)."""
import argparse
import json
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--intermediate", type=int, required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--sentence-labels", type=int, default=4)
    ap.add_argument("--token-labels", type=int, default=9)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                     num_attention_heads=a.heads, intermediate_size=a.intermediate,
                     hidden_dropout_prob=a.dropout, attention_probs_dropout_prob=a.dropout,
                     max_position_embeddings=max(512, a.seq))
    bert = BertModel(cfg, add_pooling_layer=False)
    sent_head = torch.nn.Linear(a.hidden, a.sentence_labels)
    tok_head = torch.nn.Linear(a.hidden, a.token_labels)
    params = list(bert.parameters()) + list(sent_head.parameters()) + list(tok_head.parameters())
    opt = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)
    bert.train()

    ids = torch.randint(1, a.vocab, (a.batch, a.seq))
    mask = torch.ones_like(ids)
    ys = torch.randint(0, a.sentence_labels, (a.batch,))
    yt = torch.randint(0, a.token_labels, (a.batch, a.seq))

    def step():
        h = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        loss = torch.nn.functional.cross_entropy(sent_head(e), ys) + \
            torch.nn.functional.cross_entropy(tok_head(h).flatten(0, 1), yt.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = (time.perf_counter() - t0) / a.steps
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "threads": a.threads,
                      "step_ms": dt * 1e3, "tokens_per_s": a.batch * a.seq / dt}))


if __name__ == "__main__":
    main()
