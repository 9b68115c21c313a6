"""Discriminative weights of the gene-structure CRF, learned online with Viterbi only (as CRAIG
trains its semi-CRF gene finder): an averaged structured perceptron with AdaGrad step sizes, or
1-best MIRA.

A parse's score is linear in the weights (:func:`~.lattice.parse_features`): each step decodes a
window, and when the prediction differs from the annotated gene models the weights move toward
the annotation's features and away from the prediction's (a subgradient step of the structured
hinge loss). The weights are averaged over all steps.

Windows come from :func:`gold_windows`: pieces of annotated sequence cut between genes, kept only
when every gene in them is a valid model the decoder can produce.
"""

from __future__ import annotations

import numpy as np

from genotool_gencode.genes.annotation import gene_problems
from genotool_gencode.genes.lattice import Lattice, WEIGHTS, parse_features, parse_score


def gold_windows(codes: np.ndarray, genes, target: int = 60_000, flank: int = 500, min_intron: int = 20,
                 min_exon: int = 3, max_intron: int | None = None):
    """Cut a sequence with its annotated genes (one transcript per gene) into windows of about
    ``target`` bp whose ends lie between genes (``flank`` bp away from any). A window holding a
    gene that is not a valid model, or genes that overlap, is dropped (its annotation is not a
    parse). Returns [(lo, hi, [(strand, exons shifted to the window)])]."""
    spans = sorted(genes, key=lambda g: g.start)
    L = len(codes)
    cuts, cover = [0], 0
    for g in spans:
        if g.start - flank > cover + flank and g.start - cuts[-1] >= target:
            cuts.append((cover + g.start) // 2)
        cover = max(cover, g.end)
    if L - cuts[-1] < target // 2 and len(cuts) > 1:
        cuts.pop()
    cuts.append(L)
    out = []
    for lo, hi in zip(cuts, cuts[1:]):
        inside = [g for g in spans if g.start < hi and g.end > lo]
        if any(g.start < lo or g.end > hi for g in inside):
            continue
        bad = any(gene_problems(g, codes, min_intron, min_exon) for g in inside)
        overl = any(a.end > b.start for a, b in zip(inside, inside[1:]))
        if bad or overl:
            continue
        out.append((lo, hi, [(g.strand, [(s - lo, e - lo) for s, e in g.exons]) for g in inside]))
    return out


def slice_channels(channels: dict, lo: int, hi: int) -> dict:
    """Channels of the window [lo, hi). Cumulative arrays keep their offset (only differences are
    read); frame-indexed ones (2, 3, L+1) are re-indexed, as frame f of the window (codons at
    window positions = f mod 3) is frame (f + lo) % 3 of the whole sequence."""
    out = {}
    for k, v in channels.items():
        v = v[..., lo:hi + 1]
        # a copy of the window only (never of the whole sequence's arrays)
        out[k] = v[:, [(f + lo) % 3 for f in range(3)]] if v.ndim == 3 else v.copy()
    return out


def exon_loss(gold, pred) -> int:
    g = {(s, e, st) for st, ex in gold for s, e in ex}
    p = {(s, e, st) for st, ex in pred for s, e in ex}
    return len(g ^ p)


def learn_weights(items, init: dict, learn: tuple[str, ...], lengths: dict, grammar: dict, *, epochs: int = 4,
                  C: float = 0.02, lr: float = 0.1, method: str = "adagrad", seed: int = 0, log=None,
                  progress=None) -> tuple[dict, list]:
    """``items``: [(codes, channels, gold)] windows. Returns (averaged weights, per-epoch history).

    Each window whose decoding differs from its annotation moves the weights named in ``learn``
    (the others keep ``init``'s value) toward the annotation's features and away from the
    prediction's. ``method='adagrad'`` (default): a perceptron step scaled per weight by AdaGrad
    (``lr`` / root of the summed squared steps: every weight moves by comparable relative amounts
    whatever its feature's scale); ``'mira'``: the smallest step (at most ``C``, in per-feature
    scaled units) that makes the annotation outscore the prediction by its exon loss."""
    rng = np.random.default_rng(seed)
    w = {k: float(init.get(k, 1.0 if k in ("exon_length", "intron_length") else 0.0)) for k in WEIGHTS}
    gold_f = [parse_features(gold, ch, lengths, len(codes)) for codes, ch, gold in items]
    n_genes = max(1.0, float(np.mean([f.get("gene_bias", 0.0) for f in gold_f])))
    scale = {k: max(1e-6, float(np.mean([abs(f.get(k, 0.0)) for f in gold_f])) / n_genes) for k in learn}
    sq = {k: 0.0 for k in learn}
    total = {k: 0.0 for k in w}
    steps, history = 0, []
    for epoch in range(epochs):
        errors = loss_sum = 0
        for i in rng.permutation(len(items)):
            codes, ch, gold = items[i]
            _, pred = Lattice.combine(codes, ch, w, lengths, grammar).viterbi()
            loss = exon_loss(gold, pred)
            if loss:
                errors += 1
                loss_sum += loss
                pf = parse_features(pred, ch, lengths, len(codes))
                delta = {k: gold_f[i].get(k, 0.0) - pf.get(k, 0.0) for k in learn}
                if method == "adagrad":
                    for k, v in delta.items():
                        if v:
                            sq[k] += v * v
                            w[k] += lr * v / np.sqrt(sq[k])
                else:
                    margin = parse_score(gold_f[i], w, grammar) - parse_score(pf, w, grammar)
                    scaled = {k: v / scale[k] for k, v in delta.items()}
                    norm = sum(v * v for v in scaled.values())
                    if norm > 0 and loss - margin > 0:
                        tau = min(C, (loss - margin) / norm)
                        for k, v in scaled.items():
                            w[k] += tau * v / scale[k]
            steps += 1
            for k in w:
                total[k] += w[k]
            if progress:
                progress()
        history.append({"epoch": epoch + 1, "windows_wrong": errors, "exon_loss": loss_sum})
        if log:
            log(f"weights epoch {epoch + 1}: {errors}/{len(items)} windows decoded wrong, exon loss {loss_sum}")
    return {k: total[k] / max(steps, 1) for k in w}, history
