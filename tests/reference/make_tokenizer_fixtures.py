#!/usr/bin/env python3
"""Tokenizer fixtures for tests/unit/test_tokenizer_json.c (issue 19).

Trains three tokenizers with the Hugging Face `tokenizers` library on the
shared corpora (../shared/datasets), saves each tokenizer.json, and writes
the ids that `tokenizers` gives for a sample of lines (single sequences with
and without the post-processor's special tokens, pairs, truncation):

  wordpiece.json  WordPiece, BertNormalizer(lowercase), BertPreTokenizer,
                  TemplateProcessing [CLS] $A [SEP] / $B:1 [SEP]:1
  bpe.json        byte-level BPE (RoBERTa style): ByteLevel pre-tokenizer
                  (add_prefix_space false, as roberta-base), RobertaProcessing
  unigram.json    Unigram (sentencepiece style): NFKC + Replace(" {2,}", " "),
                  Metaspace (prepend_scheme always), TemplateProcessing
                  <s> $A </s> / </s> $B </s>
  wordpiece_cased.json  WordPiece, Sequence[NFD, StripAccents] (no lowercase),
                  Sequence[WhitespaceSplit, Punctuation], BertProcessing

Expected lines go to NAME.jsonl: {"a": text, "b": text or absent,
"special": bool, "max_len": int (0: none), "ids": [...], "type_ids": [...]}.

  /work/venv/bin/python tests/reference/make_tokenizer_fixtures.py \
      [--vocab-size 2000] [--out tests/fixtures/tokenizers] [--sample 120]
      [--all]   # every shared case line and corpus line, into --out

--all writes NAME.all.jsonl with every line of ../shared/tokenizer-cases
and the corpora (pairs: STS-B) instead of the sample; that is for the
parity report (`test_tokenizer_json --check DIR`), not for committing.
"""
import argparse
import json
import os
import random
import sys

from tokenizers import (Tokenizer, decoders, models, normalizers, pre_tokenizers,
                        processors, trainers, Regex)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SHARED = os.environ.get("MTBERT_SHARED", os.path.normpath(os.path.join(ROOT, "..", "shared")))


def read_lines(path, encoding="utf-8"):
    with open(path, "rb") as f:
        data = f.read().decode(encoding)
    return data.split("\n")


def corpora():
    """(singles, pairs): every corpus sentence, and the STS-B pairs."""
    ds = os.path.join(SHARED, "datasets")
    singles = []
    for name in ("train.txt", "dev.txt"):
        p = os.path.join(ds, "sst2", name)
        for line in read_lines(p):
            if line:
                singles.append(line.split(" ", 1)[1] if " " in line else "")
    for line in read_lines(os.path.join(ds, "trec", "train.txt"), "latin-1"):
        if line:
            singles.append(line.split(" ", 1)[1] if " " in line else "")
    for name in ("train.txt", "dev.txt"):
        words = []
        for line in read_lines(os.path.join(ds, "conll2003", name)):
            if not line.strip():
                if words:
                    singles.append(" ".join(words))
                words = []
                continue
            w = line.split(" ")[0]
            if w == "-DOCSTART-":
                continue
            words.append(w)
        if words:
            singles.append(" ".join(words))
    pairs = []
    for name in ("sts-train.csv", "sts-dev.csv"):
        for line in read_lines(os.path.join(ds, "stsb", name)):
            cols = line.split("\t")
            if len(cols) >= 7:
                pairs.append((cols[5], cols[6]))
                singles.append(cols[5])
                singles.append(cols[6])
    return singles, pairs


def cases():
    lines = read_lines(os.path.join(SHARED, "tokenizer-cases", "input.txt"))
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def train_all(texts, vocab_size):
    out = {}

    wp = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    wp.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                               strip_accents=None, lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wp.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size,
                                                            special_tokens=specials))
    wp.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", wp.token_to_id("[CLS]")), ("[SEP]", wp.token_to_id("[SEP]"))])
    out["wordpiece"] = wp

    wc = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    wc.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()])
    wc.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                pre_tokenizers.Punctuation()])
    wc.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size,
                                                            special_tokens=specials))
    wc.post_processor = processors.BertProcessing(("[SEP]", wc.token_to_id("[SEP]")),
                                                  ("[CLS]", wc.token_to_id("[CLS]")))
    out["wordpiece_cased"] = wc

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bspecials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=bspecials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.post_processor = processors.RobertaProcessing(("</s>", bpe.token_to_id("</s>")),
                                                      ("<s>", bpe.token_to_id("<s>")))
    out["bpe"] = bpe

    uni = Tokenizer(models.Unigram())
    uni.normalizer = normalizers.Sequence([normalizers.NFKC(),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    uni.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    uni.decoder = decoders.Metaspace()
    uni.train_from_iterator(texts, trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=bspecials, unk_token="<unk>"))
    s, e = uni.token_to_id("<s>"), uni.token_to_id("</s>")
    uni.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", s), ("</s>", e)])
    out["unigram"] = uni
    return out


def record(tok, a, b=None, special=True, max_len=0):
    tok.no_padding()
    if max_len:
        tok.enable_truncation(max_length=max_len)
    else:
        tok.no_truncation()
    enc = tok.encode(a, b, add_special_tokens=special) if b is not None else \
        tok.encode(a, add_special_tokens=special)
    d = {"a": a}
    if b is not None:
        d["b"] = b
    d["special"] = special
    d["max_len"] = max_len
    d["ids"] = enc.ids
    d["type_ids"] = enc.type_ids
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab-size", type=int, default=2000)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "tokenizers"))
    ap.add_argument("--sample", type=int, default=48)
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--model-dir", help="instead of training: the tokenizer.json of a model folder "
                    "(copied to --out as model.json; expected ids of every line in model.all.jsonl)")
    args = ap.parse_args()
    if not os.path.isdir(SHARED):
        sys.exit("make_tokenizer_fixtures: %s not found" % SHARED)
    singles, pairs = corpora()
    case_lines = cases()
    os.makedirs(args.out, exist_ok=True)
    if args.model_dir:
        tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
        with open(os.path.join(args.model_dir, "tokenizer.json"), "rb") as f, \
                open(os.path.join(args.out, "model.json"), "wb") as g:
            g.write(f.read())
        rows = [{"tokenizer": "model.json", "patch": None}]
        rows += [record(tok, line, special=False) for line in case_lines]
        rows += [record(tok, line) for line in singles]
        rows += [record(tok, a, b) for a, b in pairs]
        rows += [record(tok, a, b, max_len=32) for a, b in pairs[:500]]
        with open(os.path.join(args.out, "model.all.jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=True) + "\n")
        print("%s: vocab %d, %d lines" % (args.model_dir, tok.get_vocab_size(), len(rows) - 1))
        return
    toks = train_all(singles, args.vocab_size)
    rng = random.Random(19)
    specs = []
    for name, tok in toks.items():
        tok.save(os.path.join(args.out, name + ".json"), pretty=False)
        specs.append((name, name, None))
    for spec in variants(toks):
        specs.append(spec)
    for name, base, patch, *more in specs:
        model_patch, vocab_append = more if more else (None, None)
        if patch is None:
            # read back from the file, as every user of the file does (the
            # trained object's Unigram scores are a little different: see
            # serde_f64 in data/tok_unigram.c)
            tok = Tokenizer.from_file(os.path.join(args.out, base + ".json"))
        else:
            # from the saved file, as the C test does: to_str() would write the
            # scores as the library read them, and reading those again
            # (serde_json is not correctly rounded) would move some by an ulp
            with open(os.path.join(args.out, base + ".json"), encoding="utf-8") as f:
                d = json.load(f)
            d.update(patch)
            if model_patch:
                d["model"].update(model_patch)
            if isinstance(vocab_append, list):
                d["model"]["vocab"].extend(vocab_append)
            elif vocab_append:
                d["model"]["vocab"].update(vocab_append)
            tok = Tokenizer.from_str(json.dumps(d))
        rows = [{"tokenizer": base + ".json", "patch": patch}]
        if model_patch:
            rows[0]["model_patch"] = model_patch
        if vocab_append:
            rows[0]["vocab_append"] = vocab_append
        if args.all:
            for line in case_lines:
                rows.append(record(tok, line, special=False))
            for line in singles:
                rows.append(record(tok, line))
            for a, b in pairs:
                rows.append(record(tok, a, b))
            path = os.path.join(args.out, name + ".all.jsonl")
        else:
            for line in rng.sample(case_lines, args.sample):
                rows.append(record(tok, line, special=False))
            for line in rng.sample(singles, args.sample // 2):
                rows.append(record(tok, line))
            for a, b in rng.sample(pairs, args.sample // 4):
                rows.append(record(tok, a, b))
            for a, b in rng.sample(pairs, args.sample // 8):
                rows.append(record(tok, a, b, max_len=rng.choice([8, 12, 16, 24])))
            for line in rng.sample(singles, args.sample // 8):
                rows.append(record(tok, line, max_len=rng.choice([4, 8, 16])))
            # fixed corner cases: empty, spaces, added tokens in text
            for t in CORNER:
                rows.append(record(tok, t))
            rows.append(record(tok, "a b c d e f g h", "one two", max_len=6))
            rows.append(record(tok, "one two", "a b c d e f g h i j k", max_len=9))
            rows.append(record(tok, "", "x y"))
            path = os.path.join(args.out, name + ".jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=True) + "\n")
        print("%s: vocab %d, %d lines -> %s" % (name, tok.get_vocab_size(), len(rows) - 1, path))


CORNER = ["", " ", "   ", "a  b", " leading", "trailing ", "[CLS] x [SEP]", "x[MASK]y [MASK] z",
          "<s>hello</s> <mask>", "a <mask> b", "a<mask>b", "\u00c9t\u00e9 \u00e0 Z\u00fcrich",
          "\u4e2d\u6587 text", "Hello, World!!", "don't won't it's I'LL", "tab\tsep", "\u2581already",
          "\ufb01ne \u2460 \uff21\uff22 \u2163", "ca\u0301fe\u0327 \u0130stanbul", "hello world again",
          "x\u00a0y\u3000z", "\U0001f600 emoji \U0001f44d\U0001f3fd", "1234567 3.14 \u0663\u0664",
          "a_b __init__ foo-bar", "\u0000nul\u0007bel", "\ufffd replacement"]


def variants(toks):
    """(name, base, top-level patch): settings the trained files do not use."""
    out = []
    bpe = json.loads(toks["bpe"].to_str())
    pre = dict(bpe["pre_tokenizer"], add_prefix_space=True)
    added = [dict(a) for a in bpe["added_tokens"]]
    for a in added:
        if a["content"] == "<mask>":
            a["lstrip"] = True
    added.append({"id": toks["bpe"].get_vocab_size(), "content": "hello world", "single_word": False,
                  "lstrip": False, "rstrip": True, "normalized": True, "special": False})
    out.append(("bpe_prefix", "bpe", {"pre_tokenizer": pre, "added_tokens": added}))
    uni = json.loads(toks["unigram"].to_str())
    out.append(("unigram_first", "unigram", {
        "pre_tokenizer": dict(uni["pre_tokenizer"], prepend_scheme="first"),
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "StripAccents"},
                                                           {"type": "Lowercase"}]}}))
    out.append(("wordpiece_ws", "wordpiece", {
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None}))
    # unknown characters: Unigram byte_fallback; character-level BPE (no
    # byte-level map) with fused unk, and with byte_fallback
    nuni = toks["unigram"].get_vocab_size()
    nbpe = toks["bpe"].get_vocab_size()
    out.append(("unigram_bytes", "unigram", {}, {"byte_fallback": True},
                [["<0x%02X>" % b, -30.0 - b / 64] for b in range(256)]))
    chars = {"pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None}
    out.append(("bpe_chars_unk", "bpe", chars, {"unk_token": "<unk>", "fuse_unk": True}, None))
    out.append(("bpe_chars_bytes", "bpe", chars, {"unk_token": "<unk>", "fuse_unk": False, "byte_fallback": True},
                {"<0x%02X>" % b: nbpe + b for b in range(256)}))
    return out


if __name__ == "__main__":
    main()
