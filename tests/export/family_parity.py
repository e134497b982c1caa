#!/usr/bin/env python3
"""Per-family parity of `mtbert encode` and `mtbert export` against
transformers and sentence-transformers.

For each family (bert, distilbert, roberta, xlm-roberta, electra) this makes
a random tiny model with transformers (config from scratch, save_pretrained)
and a tokenizer.json from tests/fixtures/tokenizers (WordPiece for the BERT
layouts, byte-level BPE for RoBERTa, Unigram for XLM-R), then:

  1. `mtbert encode` on that folder against AutoModel + mean pooling by hand
     and against SentenceTransformer(folder) (its default: mean pooling);
  2. `mtbert export --checkpoint FOLDER --out EXPORT`: config.json's
     "architectures" and "model_type" must be the family's, AutoModel must
     load EXPORT as the same class with no missing or unexpected weights,
     and `mtbert encode` on EXPORT against AutoModel(EXPORT) and
     SentenceTransformer(EXPORT).

Every max abs difference must be < 1e-5. Prints one line per family and
comparison; exit 0 when all pass, 1 otherwise, 77 when torch, transformers
or sentence-transformers are missing.

Usage: family_parity.py MTBERT_BIN SOURCE_DIR WORK_DIR [FAMILY ...]
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

try:
    import numpy as np
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, PreTrainedTokenizerFast
except ImportError as e:  # CI: no venv
    print(f"SKIPPED: {e}")
    sys.exit(77)

TOL = 1e-5

# family -> (config class, model class name, tokenizer fixture, extra config)
FAMILIES = {
    "bert": ("BertConfig", "BertModel", "wordpiece.json", {"type_vocab_size": 2, "pad_token_id": 0}),
    "distilbert": ("DistilBertConfig", "DistilBertModel", "wordpiece.json", {"pad_token_id": 0}),
    "roberta": ("RobertaConfig", "RobertaModel", "bpe.json",
                {"type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
                 "layer_norm_eps": 1e-5}),
    "xlm-roberta": ("XLMRobertaConfig", "XLMRobertaModel", "unigram.json",
                    {"type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
                     "layer_norm_eps": 1e-5}),
    "electra": ("ElectraConfig", "ElectraModel", "wordpiece.json",
                {"type_vocab_size": 2, "pad_token_id": 0, "embedding_size": 24}),
}

H, L, NH, I, MAXPOS = 32, 2, 4, 64, 128

SENTENCES = [
    "What European country is home to the beer-producing city of Budweis ?",
    "Who created Maudie Frickett ?",
    "the cat sat on the mat",
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn",
    "BRUSSELS 1996-08-22",
    "How far is it from Denver to Aspen ?",
    "a",
    "It 's a charming and often affecting journey .",
    "Unusually, naïve café owners in Zürich sell crème brûlée for 3.50 CHF!",
    "Germany 's representative to the European Union 's veterinary committee Werner Zwingmann said on "
    "Wednesday consumers should buy sheep meat from countries other than Britain until the scientific "
    "advice was clearer .",
    "x y z",
]


def specials(family):
    if family in ("roberta", "xlm-roberta"):
        return dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", pad_token="<pad>",
                    unk_token="<unk>", mask_token="<mask>")
    return dict(cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]")


def make_model(family, src, out, seed):
    cfg_cls, _, tok_file, extra = FAMILIES[family]
    tok_path = os.path.join(src, "tests", "fixtures", "tokenizers", tok_file)
    tok = PreTrainedTokenizerFast(tokenizer_file=tok_path, model_max_length=MAXPOS - 2, **specials(family))
    vocab = len(tok)
    torch.manual_seed(seed)
    common = dict(vocab_size=vocab, max_position_embeddings=MAXPOS, initializer_range=0.2)
    if family == "distilbert":
        cfg = transformers.DistilBertConfig(dim=H, n_layers=L, n_heads=NH, hidden_dim=I, activation="gelu",
                                            dropout=0.0, attention_dropout=0.0, **extra, **common)
    else:
        cfg = getattr(transformers, cfg_cls)(hidden_size=H, num_hidden_layers=L, num_attention_heads=NH,
                                             intermediate_size=I, hidden_act="gelu", hidden_dropout_prob=0.0,
                                             attention_probs_dropout_prob=0.0, **extra, **common)
    model = AutoModel.from_config(cfg).eval()
    with torch.no_grad():  # LayerNorm weights and biases off their 1/0 start too
        for n, p in model.named_parameters():
            if "LayerNorm" in n or "layer_norm" in n:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return model


def mean_pool(folder, sentences):
    """AutoModel(folder) hidden states, mean over the attention mask."""
    tok = PreTrainedTokenizerFast.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    enc = tok(sentences, padding=True, return_tensors="pt")
    if model.config.model_type == "distilbert":
        enc.pop("token_type_ids", None)
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
    return ((h * m).sum(1) / m.sum(1).clamp(min=1e-9)).numpy(), model


def st_encode(folder, sentences):
    st = SentenceTransformer(folder, device="cpu")
    return st.encode(sentences, batch_size=8, convert_to_numpy=True)


def mtbert(bin_, *args):
    r = subprocess.run([bin_, *args], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"mtbert {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[-600:]}")
    return r


def check(family, bin_, src, work, sent_path, seed):
    rows = []
    ok = True
    folder = os.path.join(work, family, "hf")
    export = os.path.join(work, family, "export")
    make_model(family, src, folder, seed)
    expected_cls = FAMILIES[family][1]
    for label, d in (("save_pretrained", folder), ("mtbert export", export)):
        if d == export:
            mtbert(bin_, "export", "--checkpoint", folder, "--out", export)
            cfg = json.load(open(os.path.join(export, "config.json")))
            arch = cfg.get("architectures")
            if arch != [expected_cls] or cfg.get("model_type") != family:
                rows.append(f"{family}: export config.json architectures {arch}, model_type "
                            f"{cfg.get('model_type')}: expected [{expected_cls}], {family}  FAIL")
                ok = False
            loaded = AutoModel.from_pretrained(export, output_loading_info=True)
            model, info = loaded
            bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
            cls_ok = type(model).__name__ == expected_cls
            rows.append(f"{family}: AutoModel(export) is {type(model).__name__}"
                        f"{'' if not bad else ' ' + str(bad)}  {'ok' if cls_ok and not bad else 'FAIL'}")
            ok &= cls_ok and not bad
        npy = os.path.join(work, family, label.replace(" ", "_") + ".npy")
        mtbert(bin_, "encode", "--model", d, "--input", sent_path, "--out", npy)
        ours = np.load(npy)
        ref, _ = mean_pool(d, SENTENCES)
        st = st_encode(d, SENTENCES)
        for name, theirs in (("AutoModel+mean", ref), ("sentence-transformers", st)):
            if theirs.shape != ours.shape:
                rows.append(f"{family}: {label}: {name} shape {theirs.shape} vs mtbert {ours.shape}  FAIL")
                ok = False
                continue
            diff = float(np.abs(theirs - ours).max())
            good = diff < TOL
            ok &= good
            rows.append(f"{family}: {label}: mtbert encode vs {name}: max abs diff {diff:.3g} "
                        f"(|emb| max {float(np.abs(theirs).max()):.3g})  {'ok' if good else 'FAIL'}")
    return ok, rows


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        sys.exit(2)
    bin_, src, work = sys.argv[1:4]
    fams = sys.argv[4:] or list(FAMILIES)
    torch.set_num_threads(2)
    os.makedirs(work, exist_ok=True)
    sent_path = os.path.join(work, "sentences.txt")
    with open(sent_path, "w", encoding="utf-8") as f:
        f.write("\n".join(SENTENCES) + "\n")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{len(SENTENCES)} sentences, tolerance {TOL}")
    all_ok = True
    for i, fam in enumerate(fams):
        try:
            ok, rows = check(fam, bin_, src, work, sent_path, 3000 + i)
        except Exception as e:  # report the family, go on with the others
            ok, rows = False, [f"{fam}: error: {e}  FAIL"]
        all_ok &= ok
        print("\n".join(rows), flush=True)
    print("all families pass" if all_ok else "FAILED")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
