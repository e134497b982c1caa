#!/usr/bin/env python3
"""PyTorch fixture for the embedding losses of trainer/model/contrastive.c.

Writes tests/fixtures/contrastive/losses.safetensors: for each case, fixed
random fp32 inputs, the loss and the gradients with respect to every input,
computed in float64 by autograd. Where sentence-transformers has the loss,
its own class computes it (MultipleNegativesRankingLoss, CoSENTLoss,
AnglELoss, TripletLoss via compute_loss_from_embeddings); the duplicate
masking, which sentence-transformers does not have (it relies on a
no-duplicates batch sampler instead), is a plain torch formula that masks
scores with -inf, and one case checks that formula against
sentence-transformers when no ids collide.

tests/unit/test_contrastive.c replays every case (tolerance 1e-5). The
per-case options are in the file's metadata ("cases", JSON).

    /work/venv/bin/python tests/reference/make_contrastive_fixtures.py [--out FILE]

Negatives are stored example-major (row i*k + j = negative j of example i),
the C layout; sentence-transformers gets them as k columns of n rows.
"""

import argparse
import json
import os

import torch
from safetensors.torch import save_file

import sentence_transformers
from sentence_transformers import util
from sentence_transformers.sentence_transformer.losses import (
    AnglELoss,
    CoSENTLoss,
    MultipleNegativesRankingLoss,
    TripletLoss,
)
from sentence_transformers.sentence_transformer.losses.triplet import TripletDistanceMetric

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "contrastive", "losses.safetensors"))


def columns(neg, n, k):
    """example-major (n*k, d) -> list of k (n, d) columns, as sentence-transformers takes them"""
    return [neg.view(n, k, -1)[:, j, :] for j in range(k)]


def st_mnrl(a, p, neg, n, k, scale, symmetric, dot):
    kw = {"scale": scale, "similarity_fct": util.dot_score if dot else util.cos_sim}
    if symmetric:
        kw.update(directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")
    loss = MultipleNegativesRankingLoss(None, **kw)
    embs = [a, p] + (columns(neg, n, k) if k else [])
    return loss.compute_loss_from_embeddings(embs, None)


def masked_mnrl(a, p, neg, n, k, scale, symmetric, ida, idp, idn):
    """InfoNCE with the duplicate rule of contrastive.h, written directly."""
    u = torch.nn.functional.normalize(a, p=2, dim=1)
    cand = torch.cat([p, neg], 0) if k else p
    v = torch.nn.functional.normalize(cand, p=2, dim=1)
    s = scale * (u @ v.T)  # (n, n + n*k)
    ida, idp, idn = (torch.tensor(x, dtype=torch.int64) for x in (ida, idp, idn))
    eye = torch.eye(n, dtype=torch.bool)
    dup = ((idp[:, None] == idp[None, :]) & (idp[:, None] >= 0)) | ((ida[:, None] == ida[None, :]) & (ida[:, None] >= 0))
    dup = dup & ~eye
    mask = dup
    if k:
        negmask = (idn[None, :] == idp[:, None]) & (idn[None, :] >= 0)
        mask = torch.cat([dup, negmask], 1)
    z = s.masked_fill(mask, float("-inf"))
    fwd = torch.logsumexp(z, 1) - s.diagonal()
    if not symmetric:
        return fwd.mean()
    zb = s[:, :n].T.masked_fill(dup, float("-inf"))  # row i = positive i over anchors j
    bwd = torch.logsumexp(zb, 1) - s.diagonal()
    return ((fwd + bwd) / 2).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    tensors = {}
    cases = []

    def add(name, loss, n, d, k=0, scale=20.0, symmetric=False, sim="cos", distance="euclidean",
            margin=5.0, ids=None, seed=0, spread=1.0, scores=None, via="sentence-transformers", check_st=False):
        g = torch.Generator().manual_seed(seed)
        a32 = (torch.randn(n, d, generator=g) * spread).float()
        # positives near their anchors so the losses are not saturated and ranks differ
        p32 = (a32 + 1.5 * torch.randn(n, d, generator=g) * spread).float()
        n32 = (torch.randn(n * k, d, generator=g) * spread).float() if k else torch.zeros(0, d)
        a = a32.double().requires_grad_()
        p = p32.double().requires_grad_()
        ng = n32.double().requires_grad_()
        sc = None
        if loss == "mnrl":
            if ids is not None:
                out = masked_mnrl(a, p, ng, n, k, scale, symmetric, *ids)
                if check_st:  # no id collides: must equal sentence-transformers
                    ref = st_mnrl(a.detach(), p.detach(), ng.detach(), n, k, scale, symmetric, sim == "dot")
                    assert abs(out.item() - ref.item()) < 1e-12, (out.item(), ref.item())
            else:
                out = st_mnrl(a, p, ng, n, k, scale, symmetric, sim == "dot")
        elif loss in ("cosent", "angle"):
            sc = torch.tensor(scores, dtype=torch.float32)
            cls = CoSENTLoss if loss == "cosent" else AnglELoss
            out = cls(None, scale=scale).compute_loss_from_embeddings([a, p], sc.double())
        elif loss == "triplet":
            metric = TripletDistanceMetric.EUCLIDEAN if distance == "euclidean" else TripletDistanceMetric.COSINE
            out = TripletLoss(None, distance_metric=metric, triplet_margin=margin).compute_loss_from_embeddings([a, p, ng], None)
        else:
            raise ValueError(loss)
        out.backward()
        tensors[f"{name}.anchors"] = a32.contiguous()
        tensors[f"{name}.positives"] = p32.contiguous()
        if k:
            tensors[f"{name}.negatives"] = n32.contiguous()
            tensors[f"{name}.grad_negatives"] = ng.grad.float().contiguous()
        tensors[f"{name}.grad_anchors"] = a.grad.float().contiguous()
        tensors[f"{name}.grad_positives"] = p.grad.float().contiguous()
        tensors[f"{name}.loss"] = torch.tensor([out.item()], dtype=torch.float64).float()
        if sc is not None:
            tensors[f"{name}.scores"] = sc
        if ids is not None:
            for tag, x in zip(("ids_a", "ids_p", "ids_n"), ids):
                if len(x):
                    tensors[f"{name}.{tag}"] = torch.tensor(x, dtype=torch.int32)
        cases.append({"name": name, "loss": loss, "n": n, "d": d, "k": k, "scale": scale,
                      "symmetric": symmetric, "similarity": sim, "distance": distance, "margin": margin,
                      "ids": ids is not None, "via": via, "loss_value": out.item()})

    add("mnrl_pairs", "mnrl", n=6, d=8, seed=1)
    add("mnrl_hard2", "mnrl", n=6, d=8, k=2, seed=2)
    add("mnrl_sym_hard1", "mnrl", n=5, d=8, k=1, symmetric=True, seed=3)
    add("mnrl_dot", "mnrl", n=6, d=8, k=1, scale=1.0, sim="dot", seed=4, spread=0.5)
    add("mnrl_scale7", "mnrl", n=7, d=5, k=3, scale=7.0, seed=5)
    # ids that never collide: the masked formula must equal sentence-transformers (asserted)
    add("mnrl_ids_distinct", "mnrl", n=6, d=8, k=2, symmetric=True, seed=6, via="torch formula (= st, asserted)",
        ids=([10, 11, 12, 13, 14, 15], [20, 21, 22, 23, 24, 25], list(range(30, 42))), check_st=True)
    # duplicates: positives 1 and 4 share a text, anchors 2 and 5 share a text, a hard negative of
    # row 3 is the text of positive 0, unknown ids (-1) never match
    add("mnrl_dups", "mnrl", n=6, d=8, k=2, seed=7, via="torch formula",
        ids=([10, 11, 12, 13, 14, 12], [20, 21, 22, 23, 21, -1], [30, 31, 32, 33, 34, 35, 20, 37, -1, -1, 40, 41]))
    add("mnrl_dups_sym", "mnrl", n=6, d=8, k=2, symmetric=True, seed=8, via="torch formula",
        ids=([10, 11, 12, 13, 14, 12], [20, 21, 22, 23, 21, -1], [30, 31, 32, 33, 34, 35, 20, 37, -1, -1, 40, 41]))
    add("mnrl_dups_pairs", "mnrl", n=5, d=6, seed=9, via="torch formula",
        ids=([1, 2, 3, 4, 5], [7, 7, 8, 7, 9], []))
    # CoSENT / AnglE with tied gold scores
    add("cosent", "cosent", n=8, d=8, seed=10, scores=[0.1, 0.5, 0.5, 0.9, 0.0, 0.3, 0.9, 0.7])
    add("cosent_scale5", "cosent", n=6, d=5, scale=5.0, seed=11, scores=[1, 2, 3, 4, 5, 0])
    add("angle_even", "angle", n=8, d=8, seed=12, scores=[0.1, 0.5, 0.5, 0.9, 0.0, 0.3, 0.9, 0.7])
    add("angle_odd", "angle", n=6, d=7, seed=13, scores=[2.0, 1.0, 4.0, 3.0, 0.5, 5.0])
    add("triplet_euclid", "triplet", n=7, d=8, k=1, margin=5.0, seed=14)
    add("triplet_euclid_m1", "triplet", n=8, d=8, k=1, margin=1.0, seed=15)
    add("triplet_cos", "triplet", n=8, d=8, k=1, distance="cosine", margin=0.5, seed=16)

    meta = {
        "cases": json.dumps(cases),
        "generator": f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}",
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    save_file(tensors, args.out, metadata=meta)
    for c in cases:
        print(f"{c['name']:20s} {c['loss']:8s} n={c['n']} d={c['d']} k={c['k']} loss={c['loss_value']:.6f} ({c['via']})")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
