"""Decoding a chunk dataset with a trained per-base model and scoring it (segmentation metrics
and the label-derived gene levels), for validation during training, `validate` and `compare`."""

from __future__ import annotations

from genotool_gencode.dataset import collate
from genotool_gencode.genes.annotation import named_genes
from genotool_gencode.metrics import SegmentationMetrics


def decode_and_score(model, em, y, lengths, metrics: SegmentationMetrics) -> list:
    """Decode emissions (B, T, C) to labels, add them against the targets y (B, T) to ``metrics``;
    return the label lists trimmed to each length."""
    labs, _ = model.decode_emissions(em, lengths)
    y_lab = model.labels_of(y).cpu().numpy()
    out = []
    for b, lab in enumerate(labs):
        L = int(lengths[b])
        metrics.update(y_lab[b, :L], lab[:L])
        out.append(lab[:L])
    return out


def evaluate(model, dataset, plan, batch_size: int, max_chunks: int | None = None, keep=False):
    """Decode a dataset with the engine's predict loop (eval mode, no_grad, the plan's autocast);
    return (SegmentationMetrics, mean NLL per position, label lists if keep).

    Batches hold chunks of similar length (a stable sort: equal-length data keeps its order), so
    a short record is not padded to a long one's length; the encoders and heads read a padded
    sequence as its unpadded self, so only the work changes. Metrics are added in dataset order."""
    from genotool.engine import predict_loop, unwrap

    raw = unwrap(model)
    n = len(dataset) if max_chunks is None else min(len(dataset), max_chunks)
    order = sorted(range(n), key=lambda i: len(dataset.xs[i]))
    groups = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    batches = (collate([dataset[j] for j in g]) for g in groups)

    def step(m, batch):
        x, y, lengths = batch
        _, em = m.encode(x, lengths)
        nll = float(m.head.nll(em.float(), y, lengths).sum())
        labs, _ = m.decode_emissions(em, lengths)
        y_lab = m.labels_of(y).cpu().numpy()
        return nll, int(lengths.sum()), [(y_lab[b, :int(L)], lab[:int(L)]) for b, (lab, L) in
                                         enumerate(zip(labs, lengths.tolist()))]

    outs = predict_loop(raw, batches, step, plan=plan)
    pairs = [None] * n
    for g, o in zip(groups, outs):
        for j, pair in zip(g, o[2]):
            pairs[j] = pair
    metrics = SegmentationMetrics()
    for true, pred in pairs:
        metrics.update(true, pred)
    nll_sum, n_pos = sum(o[0] for o in outs), sum(o[1] for o in outs)
    return metrics, nll_sum / max(1, n_pos), [pred for _, pred in pairs] if keep else []


def evaluate_finder(finder, pieces, *, window: int = 200_000, overlap: int = 20_000, progress=None,
                    channels: list | None = None):
    """Decode every piece (genes/pieces.Piece) with a gene finder and score the predicted gene models
    against all annotated transcripts (genes/scoring.py). Returns (metrics, predicted CodingGenes on
    the contigs' coordinates). ``channels``: each piece's precomputed score channels (optional)."""
    import time

    from genotool_gencode.genes.finder import predict_sequence
    from genotool_gencode.genes.scoring import score_genes

    t0 = time.perf_counter()
    truth, pred = [], []
    for i, p in enumerate(pieces):
        genes = predict_sequence(finder, p.codes, window=window, overlap=overlap,
                                 channels=None if channels is None else channels[i])
        pred += p.to_contig(named_genes(genes, p.contig, len(pred)))
        truth += p.to_contig(p.genes)
        if progress:
            progress(len(p.codes))
    metrics = score_genes(truth, pred)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    metrics["bases"] = int(sum(len(p.codes) for p in pieces))
    return metrics, pred


def label_genes(labels, minus) -> list:
    """A per-base labelling (and its minus-strand flags) as gene models [(strand, exons)]: coding
    exons are runs of exon and codon labels (stop codon included, as in annotated coding exons);
    a gene is a run of non-intergenic bases holding one; its strand is the majority of its coding
    bases' states. (These need not be valid ORFs: a per-base model has no reading frame.)"""
    import numpy as np

    from genotool_gencode.genelevel import CODING, exons_and_genes
    from genotool_gencode.labels import STOP_CODON

    mi = np.asarray(minus, dtype=bool)
    out = []
    for ex in exons_and_genes(labels, coding=(*CODING, STOP_CODON))[1]:
        n_minus = sum(int(mi[a:b].sum()) for a, b in ex)
        out.append(("-" if 2 * n_minus > sum(b - a for a, b in ex) else "+", list(ex)))
    return out


def evaluate_labels(model, pieces, plan, *, chunk_size: int = 10_000, overlap: int = 500):
    """A per-base model on every piece, its labelling read as gene models (:func:`label_genes`) and
    scored like a gene finder's. Returns (metrics, predicted CodingGenes on the contigs)."""
    import time

    from genotool_gencode.genes.dna import decode
    from genotool_gencode.genes.scoring import score_genes
    from genotool_gencode.predict import predict_interval

    t0 = time.perf_counter()
    truth, pred = [], []
    for p in pieces:
        lab, minus = predict_interval(model, lambda a, b, p=p: decode(p.codes[a:b]), len(p.codes),
                                      chunk_size=chunk_size, overlap=overlap, plan=plan)
        pred += p.to_contig(named_genes(label_genes(lab, minus), p.contig, len(pred)))
        truth += p.to_contig(p.genes)
    metrics = score_genes(truth, pred)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    return metrics, pred
