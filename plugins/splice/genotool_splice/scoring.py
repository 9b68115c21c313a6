"""Scoring sequence with a base model alone or a meta-layer over it: the one path of ``predict``,
``evaluate``, ``validate`` and ``variant``.

A *head* turns one strand's base probabilities into the model's output, both in transcript
orientation: ``head(codes_t (L,) uint8, base_t (L, 3) [neither, acceptor, donor]) -> (L, 3)
[donor, acceptor, neither]``:

* :class:`BaseHead`: the base model's own probabilities;
* :class:`DenseMetaHead`: the genome-wide meta-layer (:mod:`genotool_splice.genome_meta`),
  every position, in blocks of ``block`` positions plus its margin (the track's ends are the
  sequence's ends: N codes, zero probabilities);
* :class:`RowMetaHead`: a candidate-row model (``--protocol candidates``, and every meta-layer
  trained before genome-wide training existed): rescores only the positions whose base donor or
  acceptor probability reaches ``min_score``; every other position gets 0 (what such a model's
  ``predict`` output says there).

:func:`score_span` scores [start, end) of a contig in chunks (bounded memory: one chunk's
sequence and tracks at a time), each chunk read with enough real flanking sequence that its
scores equal those of one pass over the whole contig.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from genotool_splice.base import BaseScorer, reverse_complement

CHUNK = 1_000_000


class BaseHead:
    margin = 0
    kind = "base"

    def __call__(self, codes_t: np.ndarray, base_t: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(base_t[:, ::-1], dtype=np.float32)


class DenseMetaHead:
    """A :class:`~genotool_splice.genome_meta.GenomeMetaNet` over every position."""

    kind = "meta"

    def __init__(self, net, plan, block: int = 5000, batch_size: int = 8):
        self.net = net.to(plan.device).eval()
        self.margin = net.margin
        self.plan, self.device, self.block, self.batch_size = plan, plan.device, block, batch_size

    def __call__(self, codes_t: np.ndarray, base_t: np.ndarray) -> np.ndarray:
        n, m, S = len(codes_t), self.margin, min(self.block, len(codes_t))
        if n == 0:
            return np.zeros((0, 3), np.float32)
        nb = -(-n // S)
        codes = np.full(nb * S + 2 * m, 4, np.uint8)
        codes[m:m + n] = codes_t
        probs = np.zeros((nb * S + 2 * m, 3), np.float32)
        probs[m:m + n] = base_t
        cw = np.lib.stride_tricks.sliding_window_view(codes, S + 2 * m)[::S]           # (nb, S + 2m) views
        pw = np.lib.stride_tricks.sliding_window_view(probs, (S + 2 * m, 3))[::S, 0]    # (nb, S + 2m, 3)
        out = np.empty((nb * S, 3), np.float32)
        from genotool.engine import autocast_context

        with torch.inference_mode(), autocast_context(self.plan):
            for i in range(0, nb, self.batch_size):
                c = torch.from_numpy(np.array(cw[i:i + self.batch_size])).to(self.device)   # copies of the views
                p = torch.from_numpy(np.array(pw[i:i + self.batch_size])).to(self.device)
                q = torch.softmax(self.net(c, p).float(), -1)                          # (b, S, 3)
                out[i * S:i * S + q.shape[0] * S] = q.reshape(-1, 3).cpu().numpy()
        return out[:n]


class RowMetaHead:
    """A candidate-row meta-layer on the positions the base model calls (>= ``min_score``)."""

    kind = "rows"

    def __init__(self, model, payload: dict, plan, min_score: float):
        self.model, self.payload, self.plan, self.min_score = model, payload, plan, min_score
        self.margin = payload["config"]["window"] // 2 + 2

    def __call__(self, codes_t: np.ndarray, base_t: np.ndarray) -> np.ndarray:
        out = np.zeros((len(codes_t), 3), np.float32)
        out[:, 2] = 1.0
        idx = np.flatnonzero(np.maximum(base_t[:, 1], base_t[:, 2]) >= self.min_score)
        if len(idx):
            out[idx] = row_scores(self.model, self.payload, base_t, codes_t, idx, self.plan)
        return out


@dataclass
class Chunk:
    """One strand of [start, end) on ``contig``: ``base`` (n, 3) [neither, acceptor, donor] and each
    head's output (n, 3) [donor, acceptor, neither], both in genomic order (position start + i)."""

    contig: str
    start: int
    end: int
    strand: str
    base: np.ndarray
    outputs: list
    base_seconds: float = 0.0      # the base model's time on this chunk and strand
    head_seconds: tuple = ()       # each head's time on it


def score_span(base: BaseScorer, heads: list, genome, contig: str, start: int, end: int,
               chunk: int = CHUNK, strands=("+", "-"), codes_fn=None):
    """Yield :class:`Chunk` objects covering [start, end) of ``contig`` on each strand.

    ``codes_fn(lo, hi) -> codes`` overrides the FASTA read (``variant`` scores an edited allele)."""
    n = genome.lengths[contig]
    half = base.flank // 2
    margin = max([h.margin for h in heads] + [0])
    read = codes_fn or (lambda lo, hi: genome.codes(contig, lo, hi))
    for cs in range(start, end, chunk):
        ce = min(end, cs + chunk)
        lo, hi = max(0, cs - margin - half), min(n, ce + margin + half)
        codes = read(lo, hi)
        for strand in strands:
            codes_t = codes if strand == "+" else reverse_complement(codes)
            t0 = time.perf_counter()
            base_t = base.score(codes_t)                           # (hi - lo, 3), transcript orientation
            t_base = time.perf_counter() - t0
            outs, t_heads = [], []
            for h in heads:
                t0 = time.perf_counter()
                outs.append(h(codes_t, base_t))
                t_heads.append(time.perf_counter() - t0)
            if strand == "+":
                a, b = cs - lo, ce - lo
                yield Chunk(contig, cs, ce, strand, base_t[a:b], [o[a:b] for o in outs], t_base, tuple(t_heads))
            else:                                                  # rc index i <-> genomic hi - 1 - i
                a, b = hi - ce, hi - cs
                yield Chunk(contig, cs, ce, strand, base_t[a:b][::-1], [o[a:b][::-1] for o in outs], t_base,
                            tuple(t_heads))


def row_scores(model, payload: dict, probs_t: np.ndarray, codes_t: np.ndarray, idx: np.ndarray, plan) -> np.ndarray:
    """A candidate-row model's (donor, acceptor, neither) probabilities at ``idx`` of one strand
    (transcript orientation): the 43 features and the window of each position, in batches."""
    from genotool.engine import autocast_context
    from genotool_splice.features import score_features, standardise
    from genotool_splice.seqio import windows

    if len(idx) == 0:
        return np.zeros((0, 3), np.float32)
    f = torch.from_numpy(standardise(score_features(probs_t, idx), payload["config"]["feature_stats"]))
    w = torch.from_numpy(windows(codes_t, idx, payload["config"]["window"]))
    out = []
    bs = plan.batch_size or 512
    with torch.inference_mode(), autocast_context(plan):
        for i in range(0, len(idx), bs):
            logits = model(w[i:i + bs].to(plan.device), f[i:i + bs].to(plan.device))
            out.append(torch.softmax(logits.float(), 1).cpu().numpy())
    return np.concatenate(out)
