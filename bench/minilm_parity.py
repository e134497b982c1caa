#!/usr/bin/env python3
"""Helper of bench/minilm_parity.sh: mtbert against sentence-transformers on
the real all-MiniLM-L6-v2. Subcommands (all file-based, so the shell script
drives the mtbert binary in between):

  prepare   DATASETS WORK [--per-source N]  sentences.txt + STS-B dev pairs
  hf-tokenize MODEL IN OUT                  ids of the model's own tokenizer
  st-encode MODEL IN OUT.npy --batch B --threads T [--repeat R]
                                            SentenceTransformer.encode, timed
  compare   WORK --threads T                summary table; exit 1 on a failure

Only the standard library and numpy are needed outside hf-tokenize and
st-encode (which need transformers / sentence-transformers / torch).
"""
import argparse
import json
import os
import sys
import time

# --------------------------------------------------------------- prepare ----


def _clean(s):
    # one sentence a line for mtbert: no line breaks inside, no outer blanks
    return " ".join(s.replace("\r", " ").replace("\n", " ").split())


def _sst2(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 1)
            if len(parts) == 2 and parts[1].strip():
                out.append(_clean(parts[1]))
    return out


def _trec(path):
    out = []
    with open(path, encoding="iso-8859-1") as f:  # the corpus is Latin-1
        for line in f:
            parts = line.rstrip("\n").split(" ", 1)
            if len(parts) == 2 and parts[1].strip():
                out.append(_clean(parts[1]))
    return out


def _stsb(path):
    """(score, sentence1, sentence2) per line; tab-separated, score in column
    5, the sentences in 6 and 7 (some lines carry extra columns after)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                raise SystemExit(f"{path}:{n}: expected >= 7 tab-separated columns, got {len(cols)}")
            rows.append((float(cols[4]), _clean(cols[5]), _clean(cols[6])))
    return rows


def _conll(path):
    out, words = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.split()
            if not cols:
                if words:
                    out.append(" ".join(words))
                words = []
            elif cols[0] != "-DOCSTART-":
                words.append(cols[0])
    if words:
        out.append(" ".join(words))
    return out


def _spread(items, n):
    """n items spread evenly over the list (deterministic, keeps variety)."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def cmd_prepare(a):
    d = a.datasets
    n = a.per_source
    sst = _spread(_sst2(os.path.join(d, "sst2", "dev.txt")), n)
    trec = _spread(_trec(os.path.join(d, "trec", "train.txt")), n)
    sts_train = _stsb(os.path.join(d, "stsb", "sts-train.csv"))
    sts = _spread([s for _, s1, s2 in sts_train for s in (s1, s2)], n)
    conll = _spread(_conll(os.path.join(d, "conll2003", "dev.txt")), n)
    # a few long lines (consecutive SST-2 train sentences joined) so that the
    # 256-wordpiece truncation of the model folder is exercised too
    sst_train = _sst2(os.path.join(d, "sst2", "train.txt"))
    long_lines = [" ".join(sst_train[i * 15:(i + 1) * 15]) for i in range(a.long)]
    groups = [("sst2", sst), ("trec", trec), ("stsb", sts), ("conll2003", conll), ("long", long_lines)]
    # interleave the sources so every batch of the reference (which also
    # sorts by length) and every length bucket mixes them
    sents, src = [], []
    for i in range(max(len(g) for _, g in groups)):
        for name, g in groups:
            if i < len(g) and g[i]:
                sents.append(g[i])
                src.append(name)
    os.makedirs(a.work, exist_ok=True)
    with open(os.path.join(a.work, "sentences.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(s + "\n" for s in sents))
    with open(os.path.join(a.work, "sources.txt"), "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in src))
    dev = _stsb(os.path.join(d, "stsb", "sts-dev.csv"))
    with open(os.path.join(a.work, "stsb_dev_sentences.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(f"{s1}\n{s2}\n" for _, s1, s2 in dev))  # pair i = lines 2i, 2i+1
    with open(os.path.join(a.work, "stsb_dev_scores.txt"), "w") as f:
        f.write("".join(f"{sc}\n" for sc, _, _ in dev))
    counts = ", ".join(f"{name} {len(g)}" for name, g in groups)
    print(f"prepared {len(sents)} sentences ({counts}); STS-B dev {len(dev)} pairs")


def _read_lines(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        return [l[:-1] if l.endswith("\n") else l for l in f]


# ------------------------------------------------------------ hf-tokenize ----


def cmd_hf_tokenize(a):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(a.model)
    sents = _read_lines(a.input)
    enc = tok(sents, add_special_tokens=False, truncation=False, padding=False)["input_ids"]
    with open(a.output, "w") as f:
        f.write("".join(" ".join(map(str, ids)) + "\n" for ids in enc))
    print(f"{type(tok).__name__}: {len(sents)} lines, {sum(map(len, enc))} wordpieces")


# -------------------------------------------------------------- st-encode ----


def cmd_st_encode(a):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(a.threads)
    model = SentenceTransformer(a.model, device="cpu")
    sents = _read_lines(a.input)
    model.encode(sents[: 2 * a.batch], batch_size=a.batch, convert_to_numpy=True)  # warm-up
    best = cpu = None
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        emb = model.encode(sents, batch_size=a.batch, convert_to_numpy=True)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if best is None or dt < best:
            best, cpu = dt, dc
    np.save(a.output, emb.astype(np.float32))
    info = {
        "sentences": len(sents),
        "seconds": best,
        "cpu_seconds": cpu,
        "sentences_per_s": len(sents) / best,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "modules": [type(m).__name__ for m in model],
    }
    try:
        import sentence_transformers
        import transformers

        info["sentence_transformers"] = sentence_transformers.__version__
        info["transformers"] = transformers.__version__
    except Exception:
        pass
    print(json.dumps(info))


# ---------------------------------------------------------------- compare ----


def _rank(x):
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata)."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(a, b):
    import numpy as np

    ra, rb = _rank(a), _rank(b)
    ra -= ra.mean()
    rb -= rb.mean()
    return float((ra * rb).sum() / np.sqrt((ra * ra).sum() * (rb * rb).sum()))


def _pair_cos(emb):
    import numpy as np

    e = emb.astype(np.float64)
    a, b = e[0::2], e[1::2]
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def cmd_compare(a):
    import numpy as np

    w = a.work
    p = lambda name: os.path.join(w, name)  # noqa: E731
    ok = True
    rows = []
    maxdiff = mincos = None

    # (a) tokenizer ids
    ours = _read_lines(p("mtbert_ids.txt"))
    theirs = _read_lines(p("hf_ids.txt"))
    sents = _read_lines(p("sentences.txt"))
    srcs = _read_lines(p("sources.txt"))
    n = len(sents)
    if len(ours) != n or len(theirs) != n:
        print(f"line counts differ: sentences {n}, mtbert {len(ours)}, hf {len(theirs)}")
        bad = [i for i in range(max(len(ours), len(theirs)))]
    else:
        bad = [i for i in range(n) if ours[i].split() != theirs[i].split()]
    for i in bad[:5]:
        if i < n:
            print(f"  tokenizer mismatch line {i + 1}: {sents[i][:100]!r}\n    mtbert: {ours[i][:160]}\n"
                  f"    hf:     {theirs[i][:160]}")
    tok_ok = len(bad) == 0
    ok &= tok_ok
    lens = [len(t.split()) + 2 for t in theirs]
    rows.append(("(a) tokenizer: mismatching lines", f"{len(bad)} of {n}", "== 0", tok_ok))

    # (b) embeddings on the mixed sentences
    em = np.load(p("mtbert_emb.npy")).astype(np.float64)
    es = np.load(p("st_emb.npy")).astype(np.float64)
    if em.shape != es.shape:
        print(f"embedding shapes differ: mtbert {em.shape}, sentence-transformers {es.shape}")
        rows.append(("(b) embeddings", f"shape {em.shape} vs {es.shape}", "same shape", False))
        ok = False
    else:
        diff = np.abs(em - es)
        maxdiff = float(diff.max())
        cos = (em * es).sum(1) / (np.linalg.norm(em, axis=1) * np.linalg.norm(es, axis=1))
        mincos = float(cos.min())
        worst = int(diff.max(1).argmax())
        print(f"  worst sentence: line {worst + 1} ({srcs[worst]}, {min(lens[worst], 256)} wordpieces incl. "
              f"[CLS]/[SEP]), max |diff| {diff[worst].max():.3g}, cosine {cos[worst]:.9f}")
        by_src = {}
        for i, s in enumerate(srcs):
            by_src[s] = max(by_src.get(s, 0.0), float(diff[i].max()))
        print("  max |diff| per source: " + ", ".join(f"{k} {v:.2e}" for k, v in by_src.items()))
        norms = np.linalg.norm(em, axis=1)
        print(f"  mtbert embedding norms in [{norms.min():.7f}, {norms.max():.7f}], dim {em.shape[1]}")
        b1, b2 = maxdiff < 1e-4, mincos > 0.99999
        ok &= b1 and b2
        rows.append(("(b) max |mtbert - st| over all values", f"{maxdiff:.3e}", "< 1e-4", b1))
        rows.append(("(b) min cosine(mtbert, st)", f"{mincos:.9f}", "> 0.99999", b2))

    # (c) STS-B dev Spearman
    scores = np.array([float(x) for x in _read_lines(p("stsb_dev_scores.txt"))])
    dm = np.load(p("mtbert_stsb.npy"))
    ds = np.load(p("st_stsb.npy"))
    rm = spearman(_pair_cos(dm), scores)
    rs = spearman(_pair_cos(ds), scores)
    c_ok = abs(rm - rs) < 0.001
    ok &= c_ok
    rows.append((f"(c) STS-B dev Spearman x100, mtbert ({len(scores)} pairs)", f"{100 * rm:.4f}", "", None))
    rows.append(("(c) STS-B dev Spearman x100, sentence-transformers", f"{100 * rs:.4f}", "", None))
    rows.append(("(c) |difference| (not x100)", f"{abs(rm - rs):.2e}", "< 0.001", c_ok))

    # (d) speed: the best of the timed passes of each
    with open(p("st_time.jsonl")) as f:
        st_runs = [json.loads(l) for l in f if l.strip()]
    st = min(st_runs, key=lambda r: r["seconds"])
    with open(p("mtbert_time.json")) as f:
        mt = json.load(f)
    mt_s, mt_start = min(mt["seconds"]), min(mt["startup_seconds"])
    mt_total = n / mt_s
    mt_net = n / max(mt_s - mt_start, 1e-9)
    st_sps = st["sentences_per_s"]
    fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(f"  timed passes: mtbert {fmt(mt['seconds'])} s (start-up {fmt(mt['startup_seconds'])} s); "
          f"sentence-transformers {fmt([r['seconds'] for r in st_runs])} s")
    rows.append(("(d) mtbert encode sentences/s, whole command", f"{mt_total:.1f}", "", None))
    rows.append((f"(d) mtbert encode sentences/s, less start-up ({mt_start:.2f} s)", f"{mt_net:.1f}", "", None))
    rows.append(("(d) SentenceTransformer.encode sentences/s", f"{st_sps:.1f}", "", None))
    rows.append(("(d) ratio mtbert/st (whole command; less start-up)",
                 f"{mt_total / st_sps:.2f}x; {mt_net / st_sps:.2f}x", "", None))
    mt_cpu = mt["cpu_seconds"][mt["seconds"].index(mt_s)]
    rows.append(("(d) CPU seconds (user+sys), mtbert whole command / st encode",
                 f"{mt_cpu:.1f} / {st['cpu_seconds']:.1f}", "", None))

    # (a2) awkward-Unicode tokenizer cases, informational
    cases_bad = None
    if os.path.exists(p("cases_hf_ids.txt")):
        cm, ch = _read_lines(p("cases_mtbert_ids.txt")), _read_lines(p("cases_hf_ids.txt"))
        ci = _read_lines(p("cases.txt"))
        cases_bad = [i for i in range(len(ci)) if i >= len(cm) or i >= len(ch) or cm[i].split() != ch[i].split()]
        for i in cases_bad[:5]:
            print(f"  case line {i + 1} differs: {ci[i][:70]!r}\n    mtbert: {cm[i][:120] if i < len(cm) else ''}"
                  f"\n    hf:     {ch[i][:120] if i < len(ch) else ''}")
        rows.insert(1, ("(a2) awkward-Unicode cases: mismatching lines", f"{len(cases_bad)} of {len(ci)}",
                        "info", None))

    print()
    print(f"== summary: {n} sentences, batch {a.batch}, {a.threads} thread(s); "
          f"torch {st.get('torch')}, sentence-transformers {st.get('sentence_transformers')}, "
          f"transformers {st.get('transformers')}")
    wid = max(len(r[0]) for r in rows)
    for name, val, crit, res in rows:
        mark = "" if res is None else ("PASS" if res else "FAIL")
        print(f"{name:<{wid}}  {val:>20}  {crit:>10}  {mark}")
    summary = {
        "sentences": n, "threads": a.threads, "batch": a.batch,
        "tokenizer_mismatches": len(bad),
        "max_abs_diff": maxdiff, "min_cosine": mincos,
        "spearman_mtbert": rm, "spearman_st": rs,
        "tokenizer_cases_mismatches": None if cases_bad is None else len(cases_bad),
        "mtbert_sentences_per_s": mt_total, "mtbert_sentences_per_s_net": mt_net,
        "st_sentences_per_s": st_sps, "mtbert_cpu_seconds": mt_cpu, "st_cpu_seconds": st["cpu_seconds"],
        "ratio": mt_total / st_sps, "ratio_net": mt_net / st_sps,
        "pass": bool(ok),
    }
    print(json.dumps(summary))
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("prepare")
    s.add_argument("datasets")
    s.add_argument("work")
    s.add_argument("--per-source", type=int, default=300)
    s.add_argument("--long", type=int, default=8)
    s = sub.add_parser("hf-tokenize")
    s.add_argument("model")
    s.add_argument("input")
    s.add_argument("output")
    s = sub.add_parser("st-encode")
    s.add_argument("model")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--repeat", type=int, default=1)
    s = sub.add_parser("compare")
    s.add_argument("work")
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    fn = {"prepare": cmd_prepare, "hf-tokenize": cmd_hf_tokenize, "st-encode": cmd_st_encode,
          "compare": cmd_compare}[a.cmd]
    return fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
