"""Brute-force and plain-loop references for :mod:`genotool_gencode.crf.recursion` (tiny sizes only).

Written for clarity, not speed (msprime style: the obvious algorithm, checked against the fast
one). The model is the one documented in ``recursion.py``:

    score(segmentation) = sum_seg  sum_{u in seg} e[u, c] + dur[d - 1, c] + trans[c_prev, c]

with the first segment's transition replaced by ``logsumexp_{c'} trans[c', c]``.
"""

from __future__ import annotations

import itertools
import math

from genotool_gencode.crf.recursion import labels_to_runs   # plain Python: (start, end, label) per maximal run


def _lse(values):
    values = list(values)
    m = max(values)
    if m == float("-inf"):
        return m
    return m + math.log(sum(math.exp(v - m) for v in values))


def enumerate_segmentations(T: int, K: int, C: int):
    """Yield every segmentation of 0..T as a tuple of (start, end_exclusive, label)."""
    def rec(s):
        if s == T:
            yield ()
            return
        for d in range(1, min(K, T - s) + 1):
            for c in range(C):
                for rest in rec(s + d):
                    yield ((s, s + d, c),) + rest
    yield from rec(0)


def segmentation_score(segs, e, trans, dur) -> float:
    """Score of one segmentation; e is a T x C nested list, trans C x C, dur K x C."""
    C = len(trans)
    total = 0.0
    prev = None
    for s, t, c in segs:
        total += sum(e[u][c] for u in range(s, t)) + dur[t - s - 1][c]
        if prev is None:
            total += _lse(trans[i][c] for i in range(C))
        else:
            total += trans[prev][c]
        prev = c
    return total


def labelling_of(segs, T):
    out = [0] * T
    for s, t, c in segs:
        for u in range(s, t):
            out[u] = c
    return tuple(out)


def brute_log_partition(e, trans, dur) -> float:
    T, C, K = len(e), len(trans), len(dur)
    return _lse(segmentation_score(z, e, trans, dur) for z in enumerate_segmentations(T, K, C))


def brute_viterbi(e, trans, dur):
    """(best score, best segmentation) by enumeration."""
    T, C, K = len(e), len(trans), len(dur)
    best = max(enumerate_segmentations(T, K, C), key=lambda z: segmentation_score(z, e, trans, dur))
    return segmentation_score(best, e, trans, dur), best


def brute_labelling_nll(e, trans, dur, labels) -> float:
    """-log P(labels): log Z minus log-sum over segmentations whose labelling is ``labels``."""
    T, C, K = len(e), len(trans), len(dur)
    logz = brute_log_partition(e, trans, dur)
    consistent = [segmentation_score(z, e, trans, dur) for z in enumerate_segmentations(T, K, C)
                  if labelling_of(z, T) == tuple(labels)]
    return logz - _lse(consistent) if consistent else float("inf")


def all_labellings(T: int, C: int):
    return itertools.product(range(C), repeat=T)


def loop_log_partition(e, trans, dur) -> float:
    """O(T*K*C^2) textbook semi-CRF forward pass with plain loops (medium sizes)."""
    T, C, K = len(e), len(trans), len(dur)
    cum = [[0.0] * C]
    for u in range(T):
        cum.append([cum[-1][c] + e[u][c] for c in range(C)])
    start = [_lse(trans[i][c] for i in range(C)) for c in range(C)]
    alpha = [[float("-inf")] * C for _ in range(T + 1)]
    for t in range(1, T + 1):
        for c in range(C):
            terms = []
            for d in range(1, min(K, t) + 1):
                s = t - d
                seg = cum[t][c] - cum[s][c] + dur[d - 1][c]
                if s == 0:
                    terms.append(start[c] + seg)
                else:
                    for i in range(C):
                        terms.append(alpha[s][i] + trans[i][c] + seg)
            alpha[t][c] = _lse(terms)
    return _lse(alpha[T])


# --- canonical chains (a same-label continuation only after a full-length K segment) ---------
def is_canonical(segs, K) -> bool:
    return all(not (a[2] == b[2] and a[1] - a[0] != K) for a, b in zip(segs, segs[1:]))


def canonical_score(segs, e, trans, dur, starts=None, ends=None, censor_edges=False) -> float:
    """Segmentation score with the canonical model's start term (logsumexp over 2C virtual
    sources: every c' != c in the 'short' state and every c' in the 'full' state), plus the
    optional boundary scores ``ends[s - 1][prev] + starts[s][c]`` at every label switch s;
    ``censor_edges``: the first and the last piece score no duration."""
    C = len(trans)
    s0, t0, c0 = segs[0]
    start = _lse([trans[i][c0] for i in range(C) if i != c0] + [trans[i][c0] for i in range(C)])
    first = segmentation_score(segs[:1], e, trans, dur) - _lse(trans[i][c0] for i in range(C)) + start
    total = first + segmentation_score(segs, e, trans, dur) - segmentation_score(segs[:1], e, trans, dur)
    if starts is not None:
        total += sum(ends[a[1] - 1][a[2]] + starts[b[0]][b[2]] for a, b in zip(segs, segs[1:]) if a[2] != b[2])
    if censor_edges:
        edge_pieces = segs[:1] + segs[1:][-1:]
        total -= sum(dur[t - s - 1][c] for s, t, c in edge_pieces)
    return total


def canonical_segmentations(T, K, C):
    return [z for z in enumerate_segmentations(T, K, C) if is_canonical(z, K)]


def has_anchored_stop(stops, s: int, t: int, anchor: int) -> bool:
    """Does the piece [s, t) hold a stop codon (beginning at p, s <= p <= t - 3) in the frame its
    ``anchor`` code fixes (canonical.ORF_*)? ``stops[p]`` = (plus, minus) 0/1 at base p."""
    if anchor == 0:
        return False
    strand, frame = (anchor - 1) // 2, (s if anchor % 2 == 1 else t) % 3
    return any(stops[p][strand] for p in range(s, t - 2) if p % 3 == frame)


def tail_labelling_score(labels, e, trans, dur, starts=None, ends=None, censor_edges=False, orf=None) -> float:
    """Score of a labelling under the canonical chain with geometric tails: a run of n < K bases
    scores ``dur[n-1][c]``, one of n >= K bases ``dur[K-1][c] + (n - K) * trans[c][c]``; a switch
    ``trans[prev][c]`` (+ boundary scores); the start term is the logsumexp of the switches into
    the first label. ``censor_edges``: the first run's first piece (the whole run, or its K
    piece) and the last run's last piece (unless a tail step) score no duration. ``orf`` =
    (stops, anchors, weight): a run of n < K bases of state c, not censored, adds ``weight[c]``
    if it holds a stop codon in the frame of ``anchors[c]``."""
    C, K = len(trans), len(dur)
    runs = labels_to_runs(labels)
    total = _lse(trans[i][runs[0][2]] for i in range(C) if i != runs[0][2])
    for j, (s, t, c) in enumerate(runs):
        n = t - s
        total += sum(e[u][c] for u in range(s, t))
        total += dur[n - 1][c] if n < K else dur[K - 1][c] + (n - K) * trans[c][c]
        censored = censor_edges and j in (0, len(runs) - 1)
        if orf is not None and n < K and not censored and has_anchored_stop(orf[0], s, t, orf[1][c]):
            total += orf[2][c]
        if j > 0:
            p = runs[j - 1][2]
            total += trans[p][c]
            if starts is not None:
                total += ends[s - 1][p] + starts[s][c]
    if censor_edges:
        n0, c0 = runs[0][1] - runs[0][0], runs[0][2]
        total -= dur[min(n0, K) - 1][c0]
        n1, c1 = runs[-1][1] - runs[-1][0], runs[-1][2]
        if n1 <= K and not (len(runs) == 1):
            total -= dur[n1 - 1][c1]
    return total
