#!/usr/bin/env python3
"""A plain PyTorch 2.x BERT (own nn.Module: fused QKV linear,
F.scaled_dot_product_attention, exact-erf GELU, post-LayerNorm) with the
training step of bench/torch_bench.py: masked-mean sentence head and token
head, cross-entropy, clipping to 1.0, torch.optim.AdamW; random data of the
same shape, warm-up then timed steps. Prints one JSON line with tokens_per_s
and step_ms. Same arguments as bench/torch_bench.py.

The point of it: PyTorch without the transformers library's per-layer
overhead, as fast as eager PyTorch gets for this model on the CPU."""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn


class Layer(nn.Module):
    def __init__(self, c, heads, inter, p):
        super().__init__()
        self.heads, self.p = heads, p
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)
        self.ln1 = nn.LayerNorm(c, eps=1e-12)
        self.fc1 = nn.Linear(c, inter)
        self.fc2 = nn.Linear(inter, c)
        self.ln2 = nn.LayerNorm(c, eps=1e-12)
        self.drop = nn.Dropout(p)

    def forward(self, x, bias):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                           dropout_p=self.p if self.training else 0.0)
        x = self.ln1(x + self.drop(self.proj(a.transpose(1, 2).reshape(B, T, C))))
        return self.ln2(x + self.drop(self.fc2(F.gelu(self.fc1(x)))))


class Bert(nn.Module):
    def __init__(self, a):
        super().__init__()
        c = a.hidden
        self.wte = nn.Embedding(a.vocab, c)
        self.wpe = nn.Embedding(max(512, a.seq), c)
        self.wtt = nn.Embedding(2, c)
        self.ln = nn.LayerNorm(c, eps=1e-12)
        self.drop = nn.Dropout(a.dropout)
        self.layers = nn.ModuleList(Layer(c, a.heads, a.intermediate, a.dropout)
                                    for _ in range(a.layers))

    def forward(self, ids, mask):
        T = ids.shape[1]
        pos = torch.arange(T, device=ids.device)
        x = self.drop(self.ln(self.wte(ids) + self.wpe(pos)[None] + self.wtt(torch.zeros_like(ids))))
        # additive key mask (B,1,1,T): 0 for real tokens, -inf-like for padding
        bias = ((1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min)
        for layer in self.layers:
            x = layer(x, bias)
        return x


def main():
    ap = argparse.ArgumentParser()
    for k in ["layers", "hidden", "heads", "intermediate", "vocab", "seq", "batch", "threads"]:
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--sentence-labels", type=int, default=4)
    ap.add_argument("--token-labels", type=int, default=9)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    bert = Bert(a)
    sent_head = nn.Linear(a.hidden, a.sentence_labels)
    tok_head = nn.Linear(a.hidden, a.token_labels)
    params = list(bert.parameters()) + list(sent_head.parameters()) + list(tok_head.parameters())
    opt = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)
    bert.train()

    ids = torch.randint(1, a.vocab, (a.batch, a.seq))
    mask = torch.ones_like(ids)
    ys = torch.randint(0, a.sentence_labels, (a.batch,))
    yt = torch.randint(0, a.token_labels, (a.batch, a.seq))
    head_drop = nn.Dropout(a.dropout)

    def step():
        h = bert(ids, mask)
        m = mask.unsqueeze(-1).float()
        e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        loss = F.cross_entropy(sent_head(head_drop(e)), ys) + \
            F.cross_entropy(tok_head(head_drop(h)).flatten(0, 1), yt.flatten())
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
    print(json.dumps({"impl": "pytorch-plain", "torch": torch.__version__, "threads": a.threads,
                      "dropout": a.dropout, "step_ms": dt * 1e3,
                      "tokens_per_s": a.batch * a.seq / dt}))


if __name__ == "__main__":
    main()
