#!/usr/bin/env python3
"""Load an mtbert-exported folder with sentence-transformers and transformers,
embed sentences, and compare with `mtbert encode` output (a .npy file).
Usage: compare_st.py FOLDER SENTENCES.txt MTBERT.npy
Prints the max abs difference for both loaders; exits 1 over 1e-4."""
import sys

import numpy as np
import torch


def main():
    folder, sent_path, ours_path = sys.argv[1:4]
    sentences = [l.rstrip("\n") for l in open(sent_path, encoding="utf-8")]
    ours = np.load(ours_path)
    torch.set_num_threads(2)
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(folder, device="cpu")
    theirs = st.encode(sentences, batch_size=16, convert_to_numpy=True)
    d_st = float(np.abs(theirs - ours).max())

    # plain transformers: BertModel + the pooling/projection/normalisation by hand
    import json, os
    from transformers import BertModel, BertTokenizer
    tok = BertTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    pool = json.load(open(os.path.join(folder, "1_Pooling", "config.json")))
    enc = tok(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).float()
    if pool["pooling_mode_mean_tokens"]:
        e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    elif pool["pooling_mode_max_tokens"]:
        e = h.masked_fill(m == 0, -1e9).max(1).values
    else:
        e = h[:, 0]
    dense = os.path.join(folder, "2_Dense", "model.safetensors")
    if os.path.exists(dense):
        from safetensors.torch import load_file
        w = load_file(dense)
        e = e @ w["linear.weight"].T + w["linear.bias"]
    if os.path.isdir(os.path.join(folder, "3_Normalize")):
        e = torch.nn.functional.normalize(e, p=2, dim=1)
    d_hf = float(np.abs(e.numpy() - ours).max())
    print(f"sentences {len(sentences)}, dim {ours.shape[1]}")
    print(f"max abs difference vs sentence-transformers: {d_st:.3g}")
    print(f"max abs difference vs transformers BertModel: {d_hf:.3g}")
    sys.exit(0 if d_st < 1e-4 and d_hf < 1e-4 else 1)


if __name__ == "__main__":
    main()
