#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures of the model families.

For DistilBERT (learned and sinusoidal positions), RoBERTa, XLM-RoBERTa and
ELECTRA (embedding_size != hidden_size) this builds a tiny random model with
transformers (config from scratch, eager attention, no dropout), puts the
same multi-task top as make_fixtures.py on it, and writes into
tests/fixtures/families/:

  NAME.safetensors  like the BERT fixtures: initial parameters (mtbert's
                    canonical bert.* names), one batch, embeddings, logits,
                    losses, every gradient, the parameters after 3 AdamW steps
  NAME/             the encoder as save_pretrained wrote it (config.json,
                    model.safetensors with the family's own tensor names),
                    holding the same initial parameters

tests/unit/test_parity_families.c replays both: the C model against the
outputs, and the folder through config.json parsing and name mapping.
Needs torch and transformers (not CI: the outputs are committed).
"""

import argparse
import json
import os
import re
import shutil
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

import transformers
from transformers import (DistilBertConfig, DistilBertModel, ElectraConfig, ElectraModel, RobertaConfig,
                          RobertaModel, XLMRobertaConfig, XLMRobertaModel)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fixtures import OPTIM, TASKS, init_value, task_losses  # noqa: E402

DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "families"))

V, H, L, NH, I = 40, 16, 2, 2, 32
MAXPOS = 20
B, T = 3, 12
LENGTHS = [12, 9, 5]

# name, family, seed, pooling, embedding_dim, normalize, activation, extra
FIXTURES = [
    ("distilbert_mean_proj_norm", "distilbert", 2001, "mean", 12, True, "gelu", {}),
    ("distilbert_sinusoidal_cls", "distilbert", 2002, "cls", 0, False, "gelu_new", {"sinusoidal_pos_embds": True}),
    ("roberta_pooler", "roberta", 2003, "pooler", 0, False, "gelu", {}),
    ("xlm_roberta_max_proj", "xlm-roberta", 2004, "max", 8, False, "gelu", {}),
    ("electra_mean", "electra", 2005, "mean", 0, False, "gelu", {"embedding_size": 8}),
]


def hf_config(family, act, extra):
    common = dict(vocab_size=V, max_position_embeddings=MAXPOS, initializer_range=0.02,
                  attn_implementation="eager")
    if family == "distilbert":
        return DistilBertConfig(dim=H, n_layers=L, n_heads=NH, hidden_dim=I, activation=act, dropout=0.0,
                                attention_dropout=0.0, pad_token_id=0, **extra, **common)
    bert_like = dict(hidden_size=H, num_hidden_layers=L, num_attention_heads=NH, intermediate_size=I,
                     hidden_act=act, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **common)
    if family == "roberta":
        return RobertaConfig(type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5, **bert_like)
    if family == "xlm-roberta":
        return XLMRobertaConfig(type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5, **bert_like)
    if family == "electra":
        return ElectraConfig(type_vocab_size=2, pad_token_id=0, layer_norm_eps=1e-12, **extra, **bert_like)
    raise ValueError(family)


def hf_model(family, cfg):
    if family == "distilbert":
        return DistilBertModel(cfg)
    if family == "roberta":
        return RobertaModel(cfg, add_pooling_layer=True)
    if family == "xlm-roberta":
        return XLMRobertaModel(cfg, add_pooling_layer=True)
    return ElectraModel(cfg)


# The families' names of the BERT layout, written from the transformers
# modules (DistilBERT: modeling_distilbert.TransformerBlock), independently
# of trainer/model/family.c.
DISTIL = [("attention.q_lin.", "attention.self.query."), ("attention.k_lin.", "attention.self.key."),
          ("attention.v_lin.", "attention.self.value."), ("attention.out_lin.", "attention.output.dense."),
          ("sa_layer_norm.", "attention.output.LayerNorm."), ("ffn.lin1.", "intermediate.dense."),
          ("ffn.lin2.", "output.dense."), ("output_layer_norm.", "output.LayerNorm.")]


def canonical(family, hf_name):
    """Base-model parameter name (no prefix) -> mtbert's bert.* name."""
    n = hf_name
    if family == "distilbert":
        m = re.match(r"transformer\.layer\.(\d+)\.(.*)$", n)
        if m:
            rest = m.group(2)
            for a, b in DISTIL:
                if rest.startswith(a):
                    rest = b + rest[len(a):]
                    break
            else:
                raise ValueError(hf_name)
            n = "encoder.layer.%s.%s" % (m.group(1), rest)
    return "bert." + n


class MultiTask(nn.Module):
    def __init__(self, family, cfg, c):
        super().__init__()
        self.family = family
        self.pooling = c["pooling"]
        self.normalize = c["normalize"]
        self.enc = hf_model(family, cfg)
        assert self.enc.config._attn_implementation == "eager"
        D = c["embedding_dim"] or H
        self.projection = nn.Linear(H, D) if c["embedding_dim"] else None
        self.heads = nn.ModuleDict()
        for t in TASKS:
            fan_in = H if t["type"] == "token_classification" else D
            self.heads[t["name"]] = nn.Linear(fan_in, t["num_labels"])

    def forward(self, ids, mask, types):
        kw = dict(input_ids=ids, attention_mask=mask)
        if types is not None:
            kw["token_type_ids"] = types
        out = self.enc(**kw)
        h = out.last_hidden_state
        mf = mask.to(h.dtype).unsqueeze(-1)
        if self.pooling == "mean":
            e = (h * mf).sum(1) / torch.clamp(mf.sum(1), min=1e-9)
        elif self.pooling == "max":
            e = h.masked_fill(mf == 0, -1e9).max(dim=1).values
        elif self.pooling == "cls":
            e = h[:, 0]
        else:
            e = out.pooler_output
        if self.projection is not None:
            e = self.projection(e)
        if self.normalize:
            e = F.normalize(e, p=2, dim=1)
        logits = {}
        for t in TASKS:
            src = h if t["type"] == "token_classification" else e
            logits[t["name"]] = self.heads[t["name"]](src)
        return e, h, logits


def make_batch(family, pad):
    ids = torch.full((B, T), pad, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    ner = torch.full((B, T), -100, dtype=torch.long)
    nl = next(t["num_labels"] for t in TASKS if t["name"] == "ner")
    for b, n in enumerate(LENGTHS):
        ids[b, :n] = torch.randint(3, V, (n,))  # never the padding id (0 or 1)
        mask[b, :n] = 1
        if family == "electra":
            types[b, (n + 1) // 2:n] = 1
        ner[b, :n] = torch.randint(0, nl, (n,))
        ner[b, :n][torch.rand(n) < 0.25] = -100
        ner[b, 0] = -100
    topic = torch.randint(0, 4, (B,))
    senti = torch.randint(0, 3, (B,))
    senti[1] = -100
    if family == "distilbert":
        types = None
    return ids, types, mask, {"topic": topic, "sentiment": senti, "ner": ner}


def build(fx, out_dir):
    name, family, seed, pooling, emb_dim, normalize, act, extra = fx
    c = dict(pooling=pooling, embedding_dim=emb_dim, normalize=normalize)
    torch.manual_seed(seed)
    cfg = hf_config(family, act, extra)
    model = MultiTask(family, cfg, c).float()
    model.train()
    # canonical name of every parameter
    canon = {}
    for n, _ in model.named_parameters():
        if n.startswith("enc."):
            canon[n] = canonical(family, n[4:])
        else:
            canon[n] = n
    if getattr(cfg, "sinusoidal_pos_embds", False):
        # Fixed, as in the DistilBERT paper and transformers 4.x
        # (create_sinusoidal_embeddings set requires_grad=False on the
        # table); transformers 5 copies the sinusoids in at initialisation
        # but leaves the parameter trainable. mtbert keeps it fixed.
        model.enc.embeddings.position_embeddings.weight.requires_grad_(False)
    fixed = {n for n, p in model.named_parameters() if not p.requires_grad}
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n in fixed:
                continue  # DistilBERT's sinusoidal table keeps its values
            p.copy_(init_value(canon[n], tuple(p.shape)).float())
    ids, types, mask, labels = make_batch(family, cfg.pad_token_id)

    # the encoder as transformers saves it, with these initial values
    folder = os.path.join(out_dir, name)
    shutil.rmtree(folder, ignore_errors=True)
    model.enc.save_pretrained(folder)
    for extra_file in os.listdir(folder):
        if extra_file not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(folder, extra_file))

    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    nd = lambda n: canon[n].endswith("bias") or "LayerNorm.weight" in canon[n]
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in trainable if not nd(n)], "weight_decay": OPTIM["weight_decay"]},
         {"params": [p for n, p in trainable if nd(n)], "weight_decay": 0.0}],
        lr=OPTIM["lr"], betas=(OPTIM["beta1"], OPTIM["beta2"]), eps=OPTIM["eps"])
    params = [p for _, p in trainable]

    out = {}
    for n, p in model.named_parameters():
        out["param." + canon[n]] = p.detach().clone()
    out["input_ids"] = ids.to(torch.int32)
    if types is not None:
        out["token_type_ids"] = types.to(torch.int32)
    out["attention_mask"] = mask.to(torch.int32)
    for k, v in labels.items():
        out["labels." + k] = v.to(torch.int32)
    for step in range(1, OPTIM["steps"] + 1):
        opt.zero_grad(set_to_none=True)
        e, h, logits = model(ids, mask, types)
        losses, total = task_losses(TASKS, logits, labels)
        total.backward()
        for n, p in model.named_parameters():  # exact zero, as in make_fixtures.py
            if canon[n].endswith("attention.self.key.bias") and p.grad is not None:
                p.grad.zero_()
        if step == 1:
            out["embedding"] = e.detach().clone()
            out["hidden"] = h.detach().clone()
            for k, v in logits.items():
                out["logits." + k] = v.detach().clone()
            for k, v in losses.items():
                out["loss." + k] = v.detach().reshape(1).clone()
            out["loss.total"] = total.detach().reshape(1).clone()
            for n, p in model.named_parameters():
                if p.grad is not None:
                    out["grad." + canon[n]] = p.grad.detach().clone()
        out["loss_total.step%d" % step] = total.detach().reshape(1).clone()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm=OPTIM["max_grad_norm"])
        out["grad_norm.step%d" % step] = norm.detach().reshape(1).clone().float()
        opt.step()
    for n, p in model.named_parameters():
        out["step%d.%s" % (OPTIM["steps"], canon[n])] = p.detach().clone()
    out = {k: v.contiguous() for k, v in out.items()}

    with open(os.path.join(folder, "config.json")) as f:
        meta = json.load(f)
    meta.update({"pooling": pooling, "embedding_dim": emb_dim, "normalize": normalize, "tasks": TASKS,
                 "optimizer": OPTIM, "seed": seed,
                 "generator": "transformers %s / torch %s" % (transformers.__version__, torch.__version__),
                 "key_bias_grad": "zero (exact)", "fixed": sorted(canon[n] for n in fixed)})
    path = os.path.join(out_dir, name + ".safetensors")
    save_file(out, path, metadata={"config": json.dumps(meta)})
    ngrad = sum(1 for k in out if k.startswith("grad."))
    print("%s (%s): total loss %.6f, %d gradients, grad norms %s; fixed: %s; wrote %s (%d bytes) and %s/"
          % (name, family, out["loss.total"].item(), ngrad,
             " ".join("%.5f" % out["grad_norm.step%d" % s].item() for s in range(1, OPTIM["steps"] + 1)),
             ", ".join(sorted(canon[n] for n in fixed)) or "none", path, os.path.getsize(path), folder))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_float32_matmul_precision("highest")
    os.makedirs(args.out_dir, exist_ok=True)
    for fx in FIXTURES:
        build(fx, args.out_dir)


if __name__ == "__main__":
    main()
