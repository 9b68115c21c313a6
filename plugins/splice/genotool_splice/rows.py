"""Candidate rows of one strand (the source's protocol, kept as ``validate``'s secondary table and
for ``train --protocol candidates``):

* every true donor/acceptor site (exon side) of the split's transcripts,
* base-model calls: positions of the strand inside a split region with donor or acceptor
  probability >= ``call_threshold``, at most ``max_call_ratio`` x the strand's true sites (the
  strongest; bounds the rows of a weak base model),
* negatives sampled (seeded) from the gene bodies, ``negative_ratio`` x the true sites, at least
  3 nt from any true site of the strand.

Positions are genomic (0-based); ``probs_t`` is the strand's base probabilities in transcript
orientation (channels neither, acceptor, donor).
"""

from __future__ import annotations

import numpy as np

from genotool_splice.features import score_features
from genotool_splice.sites import NEITHER, gene_index


def strand_rows(probs_t, sites: dict, genes: list, strand: str, in_split: np.ndarray, call_threshold: float,
                negative_ratio: float, max_call_ratio: float, rng) -> dict:
    """Rows of one strand -> dict of column arrays (``tpos``: the rows' indices into ``probs_t``).

    ``in_split`` (L,) bool: the position lies in a split region (calls and negatives only there)."""
    L = len(in_split)
    gidx = gene_index(genes, L, strand)
    true_pos = np.fromiter(sites.keys(), dtype=np.int64, count=len(sites))
    true_lab = np.fromiter((v[0] for v in sites.values()), dtype=np.int64, count=len(sites))
    to_t = (lambda p: p) if strand == "+" else (lambda p: L - 1 - p)  # genomic p <-> index L-1-p on minus
    best = np.maximum(probs_t[:, 1], probs_t[:, 2])
    called_t = np.flatnonzero((best >= call_threshold) & in_split[::1 if strand == "+" else -1])
    cap = int(max_call_ratio * max(1, len(true_pos)))
    if len(called_t) > cap:
        # a weak base model calls everything: keep its strongest calls (bounded rows per site)
        top = np.argsort(-best[called_t], kind="stable")
        called_t = np.sort(called_t[top[:cap]])
    called = to_t(called_t)
    near = np.zeros(L, dtype=bool)
    for o in range(-2, 3):
        k = true_pos + o
        near[k[(k >= 0) & (k < L)]] = True
    taken = near.copy()
    taken[called] = True
    ingene = np.flatnonzero((gidx >= 0) & in_split)
    pool = ingene[~taken[ingene]]
    n_neg = min(len(pool), int(round(negative_ratio * len(true_pos))))
    neg = np.sort(rng.choice(pool, size=n_neg, replace=False)) if n_neg else np.zeros(0, np.int64)
    called = np.setdiff1d(called, true_pos)
    pos = np.concatenate([true_pos, called, neg]).astype(np.int64)
    label = np.concatenate([true_lab, np.full(len(called) + len(neg), NEITHER)]).astype(np.int8)
    source = np.array(["true_site"] * len(true_pos) + ["base_call"] * len(called) + ["negative"] * len(neg))
    gi = gidx[pos]
    gene_of_site = {p: g for p, (_, g) in sites.items()}
    gene = [gene_of_site.get(int(p)) or (genes[i][3] if i >= 0 else "") for p, i in zip(pos, gi)]
    tpos = to_t(pos)
    feats = score_features(probs_t, tpos)
    return {"position": pos, "strand": [strand] * len(pos), "gene": gene, "label": label, "candidate": source,
            "features": feats, "tpos": tpos}
