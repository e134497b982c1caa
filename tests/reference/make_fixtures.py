#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures for the C parity test.

Writes four safetensors files into tests/fixtures/ (see README.md next to
this script).  Each holds a tiny multi-task BERT's initial weights, one
batch, the forward outputs (sentence embeddings, last hidden state, logits,
losses), every gradient, and the parameters after 3 AdamW steps with
gradient clipping.  tests/unit/test_parity.c replays them in C.

The encoder is transformers.BertModel when transformers can be imported;
otherwise (or with --no-transformers) an equivalent module defined below,
with the same parameter names and the same maths.  --compare builds every
fixture both ways and reports the largest difference, writing nothing.

The attention key-bias gradients are stored (and used by the optimizer) as
exact zeros rather than autograd's rounding noise; see README.md.
"""

import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

try:  # optional: the fallback below is used when this fails
    import transformers
    from transformers import BertConfig as HFBertConfig
    from transformers import BertModel as HFBertModel
    HAVE_TRANSFORMERS = True
except Exception:  # ImportError, or a broken install
    HAVE_TRANSFORMERS = False

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures"))

BERT = {
    "vocab_size": 100,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "max_position_embeddings": 32,
    "type_vocab_size": 2,
    "pad_token_id": 0,
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}

TASKS = [
    {"name": "topic", "type": "sentence_classification", "num_labels": 4, "weight": 1.0},
    {"name": "sentiment", "type": "sentence_classification", "num_labels": 3, "weight": 0.5},
    {"name": "ner", "type": "token_classification", "num_labels": 5, "weight": 2.0},
]

OPTIM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01,
         "max_grad_norm": 1.0, "steps": 3}

# name, seed, pooling, embedding_dim (0: no projection), normalize, hidden_act
FIXTURES = [
    ("tiny_mean_proj_norm", 1001, "mean", 48, True, "gelu"),
    ("tiny_pooler", 1002, "pooler", 0, False, "gelu_new"),
    ("tiny_max", 1003, "max", 0, False, "gelu"),
    ("tiny_cls_proj", 1004, "cls", 32, False, "gelu"),
]

B, T = 3, 12
LENGTHS = [12, 9, 5]


# --------------------------------------------------------------------------
# Fallback BERT: same module tree and parameter names as transformers'
# BertModel (eager attention, post-LN), same order of operations.
# --------------------------------------------------------------------------

def gelu_new(x):
    # transformers.activations.NewGELUActivation, verbatim
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class FbEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, input_ids, token_type_ids):
        t = input_ids.shape[1]
        pos = torch.arange(t, dtype=torch.long).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(pos)
        return self.LayerNorm(x)


class FbSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh = c["num_attention_heads"]
        self.hd = c["hidden_size"] // self.nh
        self.scaling = self.hd ** -0.5
        self.query = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.key = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.value = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x, add_mask):
        b, t, _ = x.shape
        shp = (b, t, self.nh, self.hd)
        q = self.query(x).view(shp).transpose(1, 2)
        k = self.key(x).view(shp).transpose(1, 2)
        v = self.value(x).view(shp).transpose(1, 2)
        s = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        s = s + add_mask
        p = F.softmax(s, dim=-1)
        o = torch.matmul(p, v).transpose(1, 2).contiguous()
        return o.reshape(b, t, -1)


class FbSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h, inp):
        return self.LayerNorm(self.dense(h) + inp)


class FbAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = FbSelfAttention(c)
        self.output = FbSelfOutput(c)

    def forward(self, x, add_mask):
        return self.output(self.self(x, add_mask), x)


class FbIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])
        act = c["hidden_act"]
        if act == "gelu":
            self.act = F.gelu  # exact (erf) GELU, as transformers' GELUActivation
        elif act == "gelu_new":
            self.act = gelu_new
        else:
            raise ValueError("unsupported hidden_act %r" % act)

    def forward(self, x):
        return self.act(self.dense(x))


class FbOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h, inp):
        return self.LayerNorm(self.dense(h) + inp)


class FbLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = FbAttention(c)
        self.intermediate = FbIntermediate(c)
        self.output = FbOutput(c)

    def forward(self, x, add_mask):
        a = self.attention(x, add_mask)
        return self.output(self.intermediate(a), a)


class FbEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([FbLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, add_mask):
        for l in self.layer:
            x = l(x, add_mask)
        return x


class FbPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class FallbackBertModel(nn.Module):
    """BertModel(add_pooling_layer=True) with eager attention, no dropout."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = FbEmbeddings(c)
        self.encoder = FbEncoder(c)
        self.pooler = FbPooler(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        # additive key mask, (B,1,1,T): 0 where attended, dtype min elsewhere
        # (what transformers' create_bidirectional_mask gives for eager)
        m = attention_mask[:, None, None, :].to(torch.bool)
        add = torch.zeros(m.shape, dtype=x.dtype).masked_fill(~m, torch.finfo(x.dtype).min)
        h = self.encoder(x, add)
        return h, self.pooler(h)


def make_bert(c, use_hf):
    if use_hf:
        cfg = HFBertConfig(
            vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
            num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
            intermediate_size=c["intermediate_size"], hidden_act=c["hidden_act"],
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            max_position_embeddings=c["max_position_embeddings"],
            type_vocab_size=c["type_vocab_size"], pad_token_id=c["pad_token_id"],
            layer_norm_eps=c["layer_norm_eps"], attn_implementation="eager")
        m = HFBertModel(cfg, add_pooling_layer=True)
        assert m.config._attn_implementation == "eager", m.config._attn_implementation
        return m
    return FallbackBertModel(c)


class MultiTask(nn.Module):
    def __init__(self, c, use_hf):
        super().__init__()
        self.use_hf = use_hf
        self.pooling = c["pooling"]
        self.normalize = c["normalize"]
        self.bert = make_bert(c, use_hf)
        H = c["hidden_size"]
        D = c["embedding_dim"] or H
        self.projection = nn.Linear(H, D) if c["embedding_dim"] else None
        self.heads = nn.ModuleDict()
        for t in c["tasks"]:
            fan_in = H if t["type"] == "token_classification" else D
            self.heads[t["name"]] = nn.Linear(fan_in, t["num_labels"])
        self.tasks = c["tasks"]

    def forward(self, ids, mask, types):
        if self.use_hf:
            out = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
            h, pooled = out.last_hidden_state, out.pooler_output
        else:
            h, pooled = self.bert(ids, mask, types)
        mf = mask.to(h.dtype).unsqueeze(-1)  # (B,T,1)
        if self.pooling == "mean":
            e = (h * mf).sum(1) / torch.clamp(mf.sum(1), min=1e-9)
        elif self.pooling == "max":
            e = h.masked_fill(mf == 0, -1e9).max(dim=1).values
        elif self.pooling == "cls":
            e = h[:, 0]
        elif self.pooling == "pooler":
            e = pooled
        else:
            raise ValueError(self.pooling)
        if self.projection is not None:
            e = self.projection(e)
        if self.normalize:
            e = F.normalize(e, p=2, dim=1)
        logits = {}
        for t in self.tasks:
            src = h if t["type"] == "token_classification" else e
            logits[t["name"]] = self.heads[t["name"]](src)
        return e, h, logits


def task_losses(tasks, logits, labels):
    losses, total = {}, None
    for t in tasks:
        lg = logits[t["name"]]
        l = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), labels[t["name"]].reshape(-1),
                            ignore_index=-100, reduction="mean")
        losses[t["name"]] = l
        total = t["weight"] * l if total is None else total + t["weight"] * l
    return losses, total


# --------------------------------------------------------------------------
# Canonical parameter list (BertModel order, then projection, then heads).
# Initial values are drawn in this order, so both encoders get the same.
# --------------------------------------------------------------------------

def param_shapes(c):
    H, I, out = c["hidden_size"], c["intermediate_size"], []
    add = lambda n, *s: out.append((n, tuple(s)))
    add("bert.embeddings.word_embeddings.weight", c["vocab_size"], H)
    add("bert.embeddings.position_embeddings.weight", c["max_position_embeddings"], H)
    add("bert.embeddings.token_type_embeddings.weight", c["type_vocab_size"], H)
    add("bert.embeddings.LayerNorm.weight", H)
    add("bert.embeddings.LayerNorm.bias", H)
    for i in range(c["num_hidden_layers"]):
        p = "bert.encoder.layer.%d." % i
        for n in ("query", "key", "value"):
            add(p + "attention.self.%s.weight" % n, H, H)
            add(p + "attention.self.%s.bias" % n, H)
        add(p + "attention.output.dense.weight", H, H)
        add(p + "attention.output.dense.bias", H)
        add(p + "attention.output.LayerNorm.weight", H)
        add(p + "attention.output.LayerNorm.bias", H)
        add(p + "intermediate.dense.weight", I, H)
        add(p + "intermediate.dense.bias", I)
        add(p + "output.dense.weight", H, I)
        add(p + "output.dense.bias", H)
        add(p + "output.LayerNorm.weight", H)
        add(p + "output.LayerNorm.bias", H)
    add("bert.pooler.dense.weight", H, H)
    add("bert.pooler.dense.bias", H)
    D = c["embedding_dim"] or H
    if c["embedding_dim"]:
        add("projection.weight", D, H)
        add("projection.bias", D)
    for t in c["tasks"]:
        fan_in = H if t["type"] == "token_classification" else D
        add("heads.%s.weight" % t["name"], t["num_labels"], fan_in)
        add("heads.%s.bias" % t["name"], t["num_labels"])
    return out


def init_value(name, shape):
    if name.endswith("LayerNorm.weight"):
        return 1.0 + 0.1 * torch.randn(shape)
    if name.endswith("LayerNorm.bias") or name.endswith(".bias"):
        return 0.05 * torch.randn(shape)
    return 0.08 * torch.randn(shape)


def make_batch(c):
    """Drawn from the global generator (seeded per fixture)."""
    V = c["vocab_size"]
    ids = torch.zeros(B, T, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    ner = torch.full((B, T), -100, dtype=torch.long)
    nl = next(t["num_labels"] for t in c["tasks"] if t["name"] == "ner")
    for b, L in enumerate(LENGTHS):
        ids[b, :L] = torch.randint(1, V, (L,))
        mask[b, :L] = 1
        split = (L + 1) // 2  # first part type 0, second half type 1
        types[b, split:L] = 1
        ner[b, :L] = torch.randint(0, nl, (L,))
        # non-first wordpieces: about a quarter of the real positions
        sub = torch.rand(L) < 0.25
        ner[b, :L][sub] = -100
        ner[b, 0] = -100  # [CLS]
    topic = torch.randint(0, 4, (B,))
    senti = torch.randint(0, 3, (B,))
    senti[1] = -100
    return ids, types, mask, {"topic": topic, "sentiment": senti, "ner": ner}


def build(fx, use_hf, raw_key_bias=False):
    name, seed, pooling, emb_dim, normalize, act = fx
    c = dict(BERT, hidden_act=act, pooling=pooling, embedding_dim=emb_dim,
             normalize=normalize, tasks=TASKS)
    torch.manual_seed(seed)
    shapes = param_shapes(c)
    init = {n: init_value(n, s).float() for n, s in shapes}
    ids, types, mask, labels = make_batch(c)

    model = MultiTask(c, use_hf).float()
    model.train()  # all dropout is 0; train mode as in training
    named = dict(model.named_parameters())
    assert sorted(named) == sorted(n for n, _ in shapes), \
        sorted(set(named) ^ set(n for n, _ in shapes))
    with torch.no_grad():
        for n, s in shapes:
            assert tuple(named[n].shape) == s, (n, named[n].shape, s)
            named[n].copy_(init[n])

    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm.weight" in n)]
    nodecay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm.weight" in n]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": OPTIM["weight_decay"]},
         {"params": nodecay, "weight_decay": 0.0}],
        lr=OPTIM["lr"], betas=(OPTIM["beta1"], OPTIM["beta2"]), eps=OPTIM["eps"],
        weight_decay=OPTIM["weight_decay"])
    params = list(model.parameters())

    out = {}
    for n, _ in shapes:
        out["param." + n] = init[n].clone()
    out["input_ids"] = ids.to(torch.int32)
    out["token_type_ids"] = types.to(torch.int32)
    out["attention_mask"] = mask.to(torch.int32)
    for k, v in labels.items():
        out["labels." + k] = v.to(torch.int32)

    for step in range(1, OPTIM["steps"] + 1):
        opt.zero_grad(set_to_none=True)
        e, h, logits = model(ids, mask, types)
        losses, total = task_losses(TASKS, logits, labels)
        total.backward()
        if not raw_key_bias:
            # The key bias adds q.b_k to every score of a query row, which the
            # softmax cancels: its gradient is zero in exact arithmetic and
            # autograd returns only rounding noise (~1e-9), which no other
            # implementation can reproduce and which AdamW (g / (sqrt(v)+eps))
            # would turn into noise-driven updates of ~1e-5.  Store and use
            # the exact value instead.
            for n, p in model.named_parameters():
                if n.endswith("attention.self.key.bias") and p.grad is not None:
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
                    out["grad." + n] = p.grad.detach().clone()
        out["loss_total.step%d" % step] = total.detach().reshape(1).clone()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm=OPTIM["max_grad_norm"])
        out["grad_norm.step%d" % step] = norm.detach().reshape(1).clone().float()
        opt.step()
    for n, p in model.named_parameters():
        out["step%d.%s" % (OPTIM["steps"], n)] = p.detach().clone()

    out = {k: v.contiguous() for k, v in out.items()}
    for k, v in out.items():
        assert v.dtype in (torch.float32, torch.int32), (k, v.dtype)

    if use_hf:
        gen = "transformers %s / torch %s" % (transformers.__version__, torch.__version__)
    else:
        gen = "fallback module / torch %s" % torch.__version__
    meta = {k: BERT[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                 "num_attention_heads", "intermediate_size",
                                 "max_position_embeddings", "type_vocab_size",
                                 "pad_token_id", "layer_norm_eps")}
    meta.update({"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
                 "hidden_act": act, "pooling": pooling, "embedding_dim": emb_dim,
                 "normalize": normalize, "tasks": TASKS, "optimizer": OPTIM,
                 "seed": seed, "generator": gen,
                 "key_bias_grad": "autograd" if raw_key_bias else "zero (exact)"})
    return out, json.dumps(meta)


def summary(name, out):
    ls = " ".join("%s=%.6f" % (t["name"], out["loss." + t["name"]].item()) for t in TASKS)
    ngrad = sum(1 for k in out if k.startswith("grad."))
    print("%s: loss %s total=%.6f, %d gradients" % (name, ls, out["loss.total"].item(), ngrad))
    print("  loss_total by step: %s" % " ".join(
        "%.6f" % out["loss_total.step%d" % s].item() for s in range(1, OPTIM["steps"] + 1)))
    print("  grad norm by step:  %s" % " ".join(
        "%.6f" % out["grad_norm.step%d" % s].item() for s in range(1, OPTIM["steps"] + 1)))
    nz = [k for k in out if k.startswith("grad.") and not k.endswith("attention.self.key.bias")]
    gk = min(nz, key=lambda k: out[k].abs().max().item())
    print("  smallest per-tensor max |grad| (key biases aside): %.3g (%s)"
          % (out[gk].abs().max().item(), gk))


def max_diff(a, b):
    assert sorted(a) == sorted(b), sorted(set(a) ^ set(b))
    worst_abs, worst_rel, where = 0.0, 0.0, ""
    for k in a:
        x, y = a[k].double(), b[k].double()
        d = (x - y).abs().max().item() if x.numel() else 0.0
        scale = max(y.abs().max().item(), 1e-30)
        if d > worst_abs:
            worst_abs = d
        if d / scale > worst_rel:
            worst_rel, where = d / scale, k
    return worst_abs, worst_rel, where


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=DEFAULT_OUT, help="where to write (default: tests/fixtures)")
    ap.add_argument("--no-transformers", action="store_true",
                    help="use the built-in BERT module even if transformers is importable")
    ap.add_argument("--compare", action="store_true",
                    help="build each fixture with transformers and with the fallback, "
                         "print the largest differences, write nothing")
    ap.add_argument("--raw-key-bias-grad", action="store_true",
                    help="keep autograd's rounding noise as the attention key-bias gradient "
                         "instead of its exact value, zero (not for the committed fixtures)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    torch.set_default_dtype(torch.float32)

    if args.compare:
        if not HAVE_TRANSFORMERS:
            sys.exit("--compare needs transformers")
        overall = 0.0
        for fx in FIXTURES:
            a, _ = build(fx, True, args.raw_key_bias_grad)
            b, _ = build(fx, False, args.raw_key_bias_grad)
            da, dr, where = max_diff(a, b)
            overall = max(overall, da)
            print("%s: transformers vs fallback: max |diff| %.3g, max diff/scale %.3g (%s)"
                  % (fx[0], da, dr, where))
        print("overall max |diff| %.3g" % overall)
        return

    use_hf = HAVE_TRANSFORMERS and not args.no_transformers
    print("generator: %s" % ("transformers %s / torch %s" % (transformers.__version__, torch.__version__)
                             if use_hf else "fallback module / torch %s" % torch.__version__))
    os.makedirs(args.out_dir, exist_ok=True)
    for fx in FIXTURES:
        out, cfg = build(fx, use_hf, args.raw_key_bias_grad)
        path = os.path.join(args.out_dir, fx[0] + ".safetensors")
        save_file(out, path, metadata={"config": cfg})
        summary(fx[0], out)
        print("  wrote %s (%d tensors, %d bytes)" % (path, len(out), os.path.getsize(path)))


if __name__ == "__main__":
    main()
