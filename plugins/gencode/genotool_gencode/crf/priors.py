"""Structure priors: CRF transitions and semi-CRF durations initialised from training labels.

A gene finder's structural parameters are well estimated by counting (AUGUSTUS' generalised HMM
takes its length distributions straight from annotated genes). Each head is initialised with the
maximum-likelihood estimate of *its own* structural model from the training labelling, so a
comparison still isolates what the head can express:

* linear-chain heads (``linear``, ``pytorch-crf``): the first-order HMM estimate,
  ``trans[c, c] = log P(stay in c)`` and ``trans[c, c'] = log P(leave c) + log P(c' | c)``; a run
  length is then geometric, which is all a linear chain can represent.
* the semi-CRF (canonical chains): a run of ``n`` bases of label c is ``q = (n-1) // K`` pieces of
  length K and a last piece of ``r = n - qK``; ``dur[d-1, c]`` is the log frequency of pieces of
  length d, ``trans[c, c]`` the log odds of continuing after a full piece, and
  ``trans[c, c'] = log P(c' | c)`` over run boundaries. A 3 bp codon then starts with a strong
  preference for exactly 3 bp, an intron with its minimum length, etc.

Counts use interior runs only (runs touching a chunk edge are truncated) for lengths, and every
adjacent pair of runs for label-to-label transitions. Unseen events get a small pseudo-count, so
they start strongly disfavoured but remain learnable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PSEUDO = 0.1   # pseudo-count of an unseen duration or transition
SMOOTH_REL, SMOOTH_MIN = 0.1, 0.5   # kernel width for length counts: 10% of the length, >= 0.5 bp


@dataclass
class LabelStatistics:
    """Run statistics of a labelled training set (C labels)."""

    lengths: list[np.ndarray]      # per label: interior run lengths
    pair_counts: np.ndarray        # (C, C) run c followed by run c' (c != c')
    first_counts: np.ndarray       # (C,) label at a chunk's first position

    @property
    def num_classes(self) -> int:
        return self.pair_counts.shape[0]


def label_statistics(labellings, num_classes: int) -> LabelStatistics:
    """Count runs over an iterable of 1D integer labellings (e.g. training chunks)."""
    lengths: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    pairs = np.zeros((num_classes, num_classes), dtype=np.int64)
    first = np.zeros(num_classes, dtype=np.int64)
    for y in labellings:
        y = np.asarray(y, dtype=np.int64)
        if len(y) == 0:
            continue
        first[y[0]] += 1
        change = np.flatnonzero(np.diff(y)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(y)]])
        labs = y[starts]
        np.add.at(pairs, (labs[:-1], labs[1:]), 1)
        interior = slice(1, len(labs) - 1)
        for c in np.unique(labs[interior]):
            sel = labs[interior] == c
            lengths[c].append((ends - starts)[interior][sel])
    lens = [np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for v in lengths]
    return LabelStatistics(lens, pairs, first)


def _log_norm(counts: np.ndarray) -> np.ndarray:
    c = counts.astype(np.float64) + PSEUDO
    return np.log(c / c.sum())


def _next_label_log_probs(stats: LabelStatistics) -> np.ndarray:
    """(C, C) log P(c' | c) over run boundaries, -inf-free, diagonal left at 0 (unused)."""
    C = stats.num_classes
    out = np.zeros((C, C))
    for c in range(C):
        others = [j for j in range(C) if j != c]
        out[c, others] = _log_norm(stats.pair_counts[c, others])
    return out


def mean_run_length(stats: LabelStatistics, c: int) -> float:
    n = stats.lengths[c]
    return float(n.mean()) if len(n) else 2.0


def linear_chain_init(stats: LabelStatistics) -> tuple[np.ndarray, np.ndarray]:
    """First-order HMM estimate: (transition (C, C), start (C,)) in log space."""
    C = stats.num_classes
    trans = _next_label_log_probs(stats)
    for c in range(C):
        m = max(mean_run_length(stats, c), 1.0 + 1e-3)
        stay = 1.0 - 1.0 / m
        trans[c] += math.log(1.0 - stay)
        trans[c, c] = math.log(stay)
    return trans, _log_norm(stats.first_counts)


def smooth_length_counts(counts: np.ndarray) -> np.ndarray:
    """Spread each count of length j (1-based index j - 1) over its neighbours with a Gaussian
    kernel of width max(0.5, 0.1 j) (a kernel density estimate; total count kept)."""
    n = len(counts)
    if n == 0 or counts.sum() == 0:
        return counts.astype(np.float64)
    d = np.arange(1, n + 1, dtype=np.float64)
    sig = np.maximum(SMOOTH_MIN, SMOOTH_REL * d)
    w = np.exp(-0.5 * ((d[:, None] - d[None, :]) / sig[None, :]) ** 2)   # (target, source)
    w /= w.sum(0, keepdims=True)
    return w @ counts.astype(np.float64)


def canonical_semicrf_init(stats: LabelStatistics, K: int, smooth: bool = False,
                           tail: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Canonical-chain estimate: (transition (C, C), duration (K, C)) in log space.

    ``smooth``: kernel-smooth the piece-length counts of lengths 1..K-1 first (the full-piece slot
    K is a count of its own); see durations.py for why. ``tail``: runs of K or more bases are a K
    piece and a geometric tail: ``dur[K-1] = log P(n >= K) + log(1 - p)`` and ``trans[c, c] =
    log p``, p the fraction of tail bases after which the run goes on."""
    C = stats.num_classes
    trans = _next_label_log_probs(stats)
    dur = np.zeros((K, C))
    for c in range(C):
        n = stats.lengths[c]
        if tail:
            runs = np.bincount(np.minimum(n, K) - 1, minlength=K)[:K].astype(np.float64)
            if smooth:
                runs[:K - 1] = smooth_length_counts(runs[:K - 1])
            dur[:, c] = _log_norm(runs)
            steps = float((n[n >= K] - K).sum())
            p = (steps + PSEUDO) / (steps + runs[K - 1] + 2 * PSEUDO)
            dur[K - 1, c] += math.log(1.0 - p)
            trans[c, c] = math.log(p)
            continue
        q = (n - 1) // K
        r = n - q * K
        pieces = np.bincount(r - 1, minlength=K)[:K].astype(np.float64)
        pieces[K - 1] += q.sum()
        if smooth:
            pieces[:K - 1] = smooth_length_counts(pieces[:K - 1])
        dur[:, c] = _log_norm(pieces)
        full = pieces[K - 1]
        cont = float(q.sum())                 # full pieces followed by a piece of the same run
        rho = (cont + PSEUDO) / (full + 2 * PSEUDO)
        trans[c, c] = math.log(rho / (1.0 - rho))
    return trans, dur
