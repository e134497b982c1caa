#!/usr/bin/env python3
"""Fine-tuning recipe parity: mtbert's training loop against a PyTorch +
transformers loop, step by step, from the same weights on the same batches.

Sub-commands:

  init     --model DIR --out INIT [--task sentiment --num-labels 2 --seed 0]
           INIT: a model folder for mtbert's model.path / --init-from and for
           BertModel.from_pretrained: links to DIR's config.json,
           model.safetensors, vocab.txt, tokenizer files, plus
           mtbert_tasks.json and mtbert_heads.safetensors holding a new
           sentence head drawn here (weight N(0, 0.02) from torch's generator
           seeded with --seed, bias 0). Both tools then start from exactly
           these head weights.

  torch    --init INIT --train 'GLOB' --task NAME (--batch-log FILE | --batch N)
           --steps N --warmup W --lr --weight-decay --max-grad-norm
           [--max-len 128] [--threads 2] --out DIR
           The reference loop: BertModel (eager attention, dropout 0) -> masked
           mean of the last hidden states -> Linear head -> cross-entropy mean
           over the batch; torch.optim.AdamW with two parameter groups (weight
           decay 0 for biases and LayerNorm weights, the Trainer's exclusions),
           transformers' get_linear_schedule_with_warmup, clip_grad_norm_.
           Batches: rebuilt from the HDF5 shards (h5py) with the global example
           indices mtbert wrote to MTBERT_BATCH_LOG (--batch-log), padded to
           the T mtbert logged; or, without a log, consecutive blocks of --batch
           examples in file order (mtbert's data.shuffle: false).
           Writes DIR/torch.json (per-step loss, lr, pre-clip grad norm) and
           DIR/final.safetensors (every trained tensor, mtbert's folder names).

  compare  --run RUN --torch DIR [--loss-rtol 1e-4]
           Reads mtbert's RUN/metrics.jsonl (logging.every: 1) and its final
           checkpoint RUN/latest, prints the per-step table, the worst relative
           loss difference, lr and grad-norm agreement and per-tensor final
           weight differences; exit 1 when a loss differs by more than
           --loss-rtol relative.

  fixture  --bin MTBERT --out tests/fixtures/recipe
           The small committed fixture for CI (tests/cli/recipe_parity.sh): a
           tiny random BERT (BertConfig + BertModel, save_pretrained), a toy
           vocabulary, 2 HDF5 shards made by `mtbert prepare` from generated
           sentences, the head, and PyTorch's per-step losses / lr / grad norms
           and final weights for a short run with warm-up, linear decay, weight
           decay and clipping (reference.json, reference.safetensors).

The attention key bias: softmax cancels it, so its exact gradient is zero and
mtbert computes exactly zero; autograd returns rounding noise (~1e-9) that
AdamW turns into updates of up to lr a step (tests/reference/README.md). The
torch loop zeroes those gradients after every backward (--raw-key-bias-grad
keeps autograd's); the loss is not affected either way.
"""
import argparse
import glob
import json
import math
import os
import random
import subprocess
import sys
import time

import numpy as np

NO_DECAY_RULE = "names ending in 'bias' or containing 'LayerNorm.weight'"


def no_decay(name):
    return name.endswith("bias") or "LayerNorm.weight" in name


# ---------------------------------------------------------------- shards
class ShardSet:
    """The examples of a shard set in mtbert's global order: the files of the
    glob sorted (manifest left out), examples in file order."""

    def __init__(self, pattern, task):
        import h5py
        files = sorted(f for f in glob.glob(pattern) if f.endswith(".h5"))
        if not files:
            raise SystemExit(f"no shards match {pattern}")
        self.files, self.ids, self.labels = files, [], []
        for fn in files:
            with h5py.File(fn, "r") as h:
                ids = h["input_ids"][()]
                off = h["offsets"][()]
                ln = h["lengths"][()]
                lab = h["labels/" + task][()]
                for o, n in zip(off, ln):
                    self.ids.append(ids[o:o + n].astype(np.int64))
                self.labels.extend(int(x) for x in lab)
        self.n = len(self.ids)

    def batch(self, rows, T=None, max_len=0, sep_id=None):
        """Padded (ids, mask, labels) for the global example indices `rows`;
        T: the padded width (default the longest row)."""
        seqs = []
        for r in rows:
            s = self.ids[r]
            if max_len and len(s) > max_len:  # the loader's data.max_len cut
                s = s[:max_len].copy()
                if sep_id is not None:
                    s[-1] = sep_id
            seqs.append(s)
        width = T or max(len(s) for s in seqs)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for i, s in enumerate(seqs):
            if len(s) > width:
                raise SystemExit(f"row {rows[i]} has {len(s)} tokens, beyond the batch width {width}")
            ids[i, :len(s)] = s
            mask[i, :len(s)] = 1
        return ids, mask, np.array([self.labels[r] for r in rows], np.int64)


def read_batch_log(path):
    """{step: [(B, T, [rows])]} from MTBERT_BATCH_LOG (one line per batch)."""
    steps = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            step, acc, src, B, T = (int(x) for x in p[:5])
            rows = [int(x) for x in p[5:]]
            if len(rows) != B or src != 0:
                raise SystemExit(f"{path}: unexpected line {line.strip()!r}")
            steps.setdefault(step, []).append((B, T, rows))
    return steps


def sequential_batches(n, batch, steps):
    """mtbert's loader with shuffle off, one rank: consecutive blocks of
    `batch` examples, the last one short, epoch after epoch."""
    per_epoch = (n + batch - 1) // batch
    out = {}
    for s in range(steps):
        b = s % per_epoch
        rows = list(range(b * batch, min(n, (b + 1) * batch)))
        out[s + 1] = [(len(rows), None, rows)]
    return out


# ---------------------------------------------------------------- init folder
def write_heads(path, task, num_labels, hidden, seed, std=0.02):
    import torch
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(seed)
    w = torch.empty(num_labels, hidden).normal_(0.0, std, generator=g)
    save_file({f"heads.{task}.weight": w.contiguous(), f"heads.{task}.bias": torch.zeros(num_labels)},
              path, metadata={"format": "pt"})


def write_tasks_json(path, task, num_labels, labels=None):
    t = {"name": task, "type": "sentence_classification", "num_labels": num_labels,
         "loss_weight": 1.0, "dropout": 0.0}
    if labels:
        t["labels"] = labels
    with open(path, "w") as f:
        json.dump({"pooling": "mean", "embedding_dim": 0, "tasks": [t]}, f, indent=2)
        f.write("\n")


def cmd_init(a):
    os.makedirs(a.out, exist_ok=True)
    src = os.path.abspath(a.model)
    for fn in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
               "special_tokens_map.json", "tokenizer.json"):
        if os.path.exists(os.path.join(src, fn)):
            dst = os.path.join(a.out, fn)
            if os.path.lexists(dst):
                os.remove(dst)
            os.symlink(os.path.join(src, fn), dst)
    hidden = json.load(open(os.path.join(src, "config.json")))["hidden_size"]
    labels = [str(i) for i in range(a.num_labels)]
    write_tasks_json(os.path.join(a.out, "mtbert_tasks.json"), a.task, a.num_labels, labels)
    write_heads(os.path.join(a.out, "mtbert_heads.safetensors"), a.task, a.num_labels, hidden, a.seed)
    print(f"init folder {a.out}: encoder from {src}, head heads.{a.task} ({a.num_labels} x {hidden}) seed {a.seed}")


# ---------------------------------------------------------------- torch loop
def build_model(init, task):
    import torch
    from torch import nn
    from safetensors.torch import load_file
    from transformers import BertModel

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = BertModel.from_pretrained(init, add_pooling_layer=False, attn_implementation="eager",
                                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
            heads = load_file(os.path.join(init, "mtbert_heads.safetensors"))
            w = heads[f"heads.{task}.weight"]
            self.head = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                self.head.weight.copy_(w)
                self.head.bias.copy_(heads[f"heads.{task}.bias"])

        def forward(self, ids, mask):
            h = self.bert(input_ids=ids, attention_mask=mask,
                          token_type_ids=torch.zeros_like(ids)).last_hidden_state
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return self.head(pooled)

    return Model()


def mtbert_name(torch_name, task):
    """torch parameter name -> the name in mtbert's model folders."""
    if torch_name.startswith("bert."):
        return torch_name[5:]
    if torch_name.startswith("head."):
        return f"heads.{task}." + torch_name[5:]
    return torch_name


def torch_loop(init, shards, batches, task, steps, warmup, lr, wd, clip, threads, max_len=0, sep_id=None,
               raw_key_bias_grad=False, log=print):
    import torch
    from torch import nn
    from transformers import get_linear_schedule_with_warmup
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = build_model(init, task)
    model.train()  # dropout probabilities are 0: train mode changes nothing
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    dec = [p for n, p in named if not no_decay(n)]
    nodec = [p for n, p in named if no_decay(n)]
    try:  # the Trainer's own rule, for the record
        from transformers.trainer_pt_utils import get_parameter_names
        from transformers.pytorch_utils import ALL_LAYERNORM_LAYERS
        hf = set(get_parameter_names(model, ALL_LAYERNORM_LAYERS, ["bias", "layernorm", "rmsnorm"]))
        mine = {n for n, _ in named if not no_decay(n)}
        if hf != mine:
            log(f"note: the Trainer's decay set differs from {NO_DECAY_RULE}: "
                f"only Trainer {sorted(hf - mine)[:5]}, only here {sorted(mine - hf)[:5]}")
        else:
            log(f"weight decay on {len(mine)} tensors, none on {len(nodec)} ({NO_DECAY_RULE}; "
                "the same set as the Trainer's get_parameter_names rule)")
    except Exception as e:  # noqa: BLE001
        log(f"(could not cross-check the Trainer's decay rule: {e})")
    opt = torch.optim.AdamW([{"params": dec, "weight_decay": wd}, {"params": nodec, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    sched = get_linear_schedule_with_warmup(opt, warmup, steps)
    keyb = [p for n, p in named if n.endswith("attention.self.key.bias")]
    losses, lrs, norms = [], [], []
    t0 = time.time()
    for step in range(1, steps + 1):
        if step not in batches:
            raise SystemExit(f"no batch for step {step}")
        cur_lr = opt.param_groups[0]["lr"]
        opt.zero_grad(set_to_none=False)
        total = 0.0
        parts = batches[step]
        for B, T, rows in parts:
            ids, mask, lab = shards.batch(rows, T, max_len, sep_id)
            logits = model(torch.from_numpy(ids), torch.from_numpy(mask))
            loss = nn.functional.cross_entropy(logits, torch.from_numpy(lab))
            (loss / len(parts)).backward()
            total += loss.item() / len(parts)
        if not raw_key_bias_grad:
            for p in keyb:
                p.grad.zero_()
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in named], clip).item()
        opt.step()
        sched.step()
        losses.append(total)
        lrs.append(cur_lr)
        norms.append(norm)
        if step == 1 or step % 10 == 0 or step == steps:
            log(f"torch step {step}/{steps}  loss {total:.6f}  lr {cur_lr:.4g}  |g| {norm:.4g}  "
                f"({time.time() - t0:.0f} s)")
    final = {mtbert_name(n, task): p.detach().clone().contiguous() for n, p in named}
    return {"loss": losses, "lr": lrs, "grad_norm": norms}, final


def cmd_torch(a):
    import torch
    from safetensors.torch import save_file
    shards = ShardSet(a.train, a.task)
    batches = read_batch_log(a.batch_log) if a.batch_log else sequential_batches(shards.n, a.batch, a.steps)
    sep_id = None
    vocab = os.path.join(a.init, "vocab.txt")
    if os.path.exists(vocab):
        toks = [l.rstrip("\n") for l in open(vocab, encoding="utf-8")]
        sep_id = toks.index("[SEP]") if "[SEP]" in toks else None
    rec, final = torch_loop(a.init, shards, batches, a.task, a.steps, a.warmup, a.lr, a.weight_decay,
                            a.max_grad_norm, a.threads, a.max_len, sep_id, a.raw_key_bias_grad)
    os.makedirs(a.out, exist_ok=True)
    rec.update({"steps": a.steps, "warmup": a.warmup, "lr_peak": a.lr, "weight_decay": a.weight_decay,
                "max_grad_norm": a.max_grad_norm, "examples": shards.n, "torch": torch.__version__})
    with open(os.path.join(a.out, "torch.json"), "w") as f:
        json.dump(rec, f)
    save_file(final, os.path.join(a.out, "final.safetensors"))
    print(f"wrote {a.out}/torch.json and final.safetensors")


# ---------------------------------------------------------------- compare
def read_metrics(run):
    tr = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if l.strip()]
    tr = [r for r in tr if r.get("event") == "train"]
    return {r["step"]: r for r in tr}


def latest_checkpoint(run):
    name = open(os.path.join(run, "latest")).read().strip()
    return os.path.join(run, name)


def load_folder_tensors(folder):
    from safetensors.numpy import load_file
    out = {}
    for fn in ("model.safetensors", "mtbert_heads.safetensors"):
        p = os.path.join(folder, fn)
        if os.path.exists(p):
            out.update(load_file(p))
    return out


def compare(metrics, ref, mt_w, ref_w, task, loss_rtol, w_atol, w_rtol, out=print, every=10):
    """metrics: {step: record}; ref: {'loss','lr','grad_norm'}; weights dicts of
    numpy arrays. Returns (ok, summary dict)."""
    key = f"loss.{task}"
    steps = len(ref["loss"])
    worst = (0.0, 0)
    lr_worst = norm_worst = 0.0
    ok = True
    missing = [s for s in range(1, steps + 1) if s not in metrics]
    if missing:
        out(f"FAIL: mtbert logged no loss for steps {missing[:10]} (logging.every must be 1)")
        return False, {}
    out(f"{'step':>5} {'mtbert loss':>12} {'torch loss':>12} {'rel diff':>9} {'mtbert lr':>10} {'torch lr':>10} "
        f"{'mtbert |g|':>10} {'torch |g|':>10}")
    for s in range(1, steps + 1):
        r = metrics[s]
        ml, tl = float(r[key]), ref["loss"][s - 1]
        rel = abs(ml - tl) / max(abs(tl), 1e-12)
        if rel > worst[0]:
            worst = (rel, s)
        lr_worst = max(lr_worst, abs(float(r["lr"]) - ref["lr"][s - 1]) / max(ref["lr_peak"], 1e-30))
        norm_worst = max(norm_worst, abs(float(r["grad_norm"]) - ref["grad_norm"][s - 1]) /
                         max(ref["grad_norm"][s - 1], 1e-12))
        flag = "" if rel <= loss_rtol else "  <-- over"
        if rel > loss_rtol:
            ok = False
        if s <= 3 or s % every == 0 or s == steps or flag:
            out(f"{s:>5} {ml:>12.6f} {tl:>12.6f} {rel:>9.2e} {float(r['lr']):>10.4g} {ref['lr'][s - 1]:>10.4g} "
                f"{float(r['grad_norm']):>10.4g} {ref['grad_norm'][s - 1]:>10.4g}{flag}")
    out(f"loss: worst relative difference {worst[0]:.3e} at step {worst[1]} (tolerance {loss_rtol:g}) over {steps} steps")
    out(f"lr: worst difference {lr_worst:.2e} of the peak; pre-clip grad norm: worst relative difference {norm_worst:.2e}")
    if lr_worst > 1e-5:
        out("FAIL: the learning-rate schedules differ")
        ok = False
    # final weights
    wmax, wname, wrel_max, wrel_name, bad = 0.0, "", 0.0, "", []
    for n, t in ref_w.items():
        if n not in mt_w:
            bad.append(f"{n}: not in mtbert's checkpoint")
            continue
        m = mt_w[n].astype(np.float64)
        t = t.astype(np.float64)
        if m.shape != t.shape:
            bad.append(f"{n}: shape {m.shape} vs {t.shape}")
            continue
        d = np.abs(m - t)
        over = d > w_atol + w_rtol * np.abs(t)
        if d.max() > wmax:
            wmax, wname = float(d.max()), n
        rel = float(np.linalg.norm(m - t) / max(np.linalg.norm(t), 1e-30))
        if rel > wrel_max:
            wrel_max, wrel_name = rel, n
        if over.any():
            i = int(np.argmax(d - w_atol - w_rtol * np.abs(t)))
            bad.append(f"{n}: {int(over.sum())} of {d.size} elements beyond {w_atol:g} + {w_rtol:g}|ref| "
                       f"(e.g. flat index {i}: mtbert {m.flat[i]:.8g}, torch {t.flat[i]:.8g})")
    out(f"final weights: {len(ref_w)} tensors; largest |diff| {wmax:.3e} ({wname}); "
        f"largest relative L2 difference {wrel_max:.3e} ({wrel_name})")
    for b in bad[:12]:
        out(f"FAIL: {b}")
    if bad:
        ok = False
    return ok, {"loss_worst_rel": worst[0], "loss_worst_step": worst[1], "lr_worst": lr_worst,
                "grad_norm_worst_rel": norm_worst, "weight_max_abs": wmax, "weight_max_rel_l2": wrel_max}


def cmd_compare(a):
    from safetensors.numpy import load_file
    metrics = read_metrics(a.run)
    ref = json.load(open(os.path.join(a.torch, "torch.json")))
    ref_w = load_file(os.path.join(a.torch, "final.safetensors"))
    mt_w = load_folder_tensors(latest_checkpoint(a.run))
    ok, summ = compare(metrics, ref, mt_w, ref_w, a.task, a.loss_rtol, a.weight_atol, a.weight_rtol)
    print(json.dumps(summ))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


# ---------------------------------------------------------------- fixture
FIX_WORDS = {
    1: "good great fine superb lovely warm bright clever funny moving".split(),
    0: "bad awful dull weak boring cold flat tired silly empty".split(),
}
FIX_NEUTRAL = ("the a film movie story plot actor cast scene music it is was very quite rather and but "
               "this that with of an its script ending").split()


def fixture_sentences(n, rng):
    out = []
    for _ in range(n):
        lab = rng.randrange(2)
        L = rng.randrange(3, 22)
        words = []
        for _ in range(L):
            r = rng.random()
            if r < 0.25:
                words.append(rng.choice(FIX_WORDS[lab]))
            elif r < 0.32:
                words.append(rng.choice(FIX_WORDS[1 - lab]))
            elif r < 0.36:
                words.append("zq" + rng.choice("xyz") * rng.randrange(1, 3))  # not in the vocabulary: [UNK]
            else:
                words.append(rng.choice(FIX_NEUTRAL))
        out.append((lab, " ".join(words)))
    return out


FIX_RECIPE = {"examples": 60, "batch": 8, "steps": 30, "warmup_ratio": 0.15, "lr": 2e-3, "weight_decay": 0.1,
              "max_grad_norm": 5.0, "max_len": 20, "seed": 7, "hidden": 32, "layers": 2, "heads": 2,
              "intermediate": 64, "positions": 24}


def cmd_fixture(a):
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel
    R = dict(FIX_RECIPE)
    R["warmup"] = int(R["warmup_ratio"] * R["steps"])  # mtbert's rule: floor (the Trainer's ratio: ceil)
    out = a.out
    os.makedirs(out, exist_ok=True)
    for fn in glob.glob(os.path.join(out, "*")):
        if os.path.isfile(fn):
            os.remove(fn)
    rng = random.Random(R["seed"])
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + FIX_WORDS[1] + FIX_WORDS[0] + FIX_NEUTRAL
    with open(os.path.join(out, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    sents = fixture_sentences(R["examples"], rng)
    raw = os.path.join(a.work or out, "train.txt")
    with open(raw, "w") as f:
        for lab, s in sents:
            f.write(f"{lab} {s}\n")
    subprocess.run([a.bin, "prepare", "--vocab", os.path.join(out, "vocab.txt"), "--max-len", str(R["max_len"]),
                    "--out", out, "--name", "train", "--format", "lines", "--sep", "space", "--task", "sentiment",
                    "--labels", "0,1", "--shards", "2", "--quiet", raw], check=True)
    # the tiny encoder: transformers' own random initialisation
    torch.manual_seed(R["seed"])
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=R["hidden"], num_hidden_layers=R["layers"],
                     num_attention_heads=R["heads"], intermediate_size=R["intermediate"],
                     max_position_embeddings=R["positions"], type_vocab_size=2, pad_token_id=0,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    enc = BertModel(cfg, add_pooling_layer=False)
    # LayerNorm weights start at 1 and biases at 0: give them values, so that a
    # wrong exclusion or a missed update shows in the final weights
    with torch.no_grad():
        for n, p in enc.named_parameters():
            if "LayerNorm.weight" in n:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif n.endswith("bias"):
                p.copy_(0.02 * torch.randn_like(p))
    enc.save_pretrained(out, safe_serialization=True)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True}, f)
        f.write("\n")
    write_tasks_json(os.path.join(out, "mtbert_tasks.json"), "sentiment", 2, ["0", "1"])
    write_heads(os.path.join(out, "mtbert_heads.safetensors"), "sentiment", 2, R["hidden"], R["seed"] + 1, std=0.2)
    shards = ShardSet(os.path.join(out, "train-*.h5"), "sentiment")
    batches = sequential_batches(shards.n, R["batch"], R["steps"])
    rec, final = torch_loop(out, shards, batches, "sentiment", R["steps"], R["warmup"], R["lr"],
                            R["weight_decay"], R["max_grad_norm"], 1)
    clipped = sum(1 for g in rec["grad_norm"] if g > R["max_grad_norm"])
    rec.update({"recipe": R, "lr_peak": R["lr"], "batches": [batches[s][0][2] for s in range(1, R["steps"] + 1)],
                "clipped_steps": clipped, "no_decay_rule": NO_DECAY_RULE,
                "generator": f"tests/reference/recipe_parity.py fixture; torch {torch.__version__}, "
                             f"transformers {__import__('transformers').__version__}"})
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")
    save_file(final, os.path.join(out, "reference.safetensors"), metadata={"format": "pt"})
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(out, "*")))
    print(f"fixture in {out}: {shards.n} examples, {R['steps']} steps, {clipped} clipped; "
          f"loss {rec['loss'][0]:.5f} -> {rec['loss'][-1]:.5f}; {size} bytes")


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--task", default="sentiment")
    p.add_argument("--num-labels", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("torch")
    p.add_argument("--init", required=True)
    p.add_argument("--train", required=True, help="shard glob (quote it)")
    p.add_argument("--task", default="sentiment")
    p.add_argument("--batch-log")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--warmup", type=int, required=True)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--raw-key-bias-grad", action="store_true")
    p.add_argument("--out", required=True)
    p = sub.add_parser("compare")
    p.add_argument("--run", required=True)
    p.add_argument("--torch", required=True)
    p.add_argument("--task", default="sentiment")
    p.add_argument("--loss-rtol", type=float, default=1e-4)
    p.add_argument("--weight-atol", type=float, default=1e-4)
    p.add_argument("--weight-rtol", type=float, default=1e-3)
    p = sub.add_parser("fixture")
    p.add_argument("--bin", required=True)
    p.add_argument("--out", default="tests/fixtures/recipe")
    p.add_argument("--work", default=None, help="where the raw sentences go (default: --out)")
    a = ap.parse_args()
    return {"init": cmd_init, "torch": cmd_torch, "compare": cmd_compare, "fixture": cmd_fixture}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
