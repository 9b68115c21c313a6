"""The 43 score features of a candidate position (formulas of the brief, eps 1e-10).

Input: one strand's base-model probabilities ``probs`` (L, 3) in transcript orientation
(channels neither, acceptor, donor) and candidate indices ``idx`` (n,) into it. Neighbours
-2, -1, +1, +2 are upstream/downstream in transcript orientation, zero beyond the sequence.
"Same type" for the 4 context scores is the splice type the base model favours at the
position (donor when d >= a, else acceptor): the label itself is never used (the leakage
columns splice_type, pred_type, true_position, predicted_position are never features).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-10
OFFSETS = (-2, -1, 1, 2)

_PER_TYPE = ("diff_m2", "diff_m1", "diff_p1", "diff_p2", "surge_ratio", "is_local_peak", "weighted_context",
             "peak_height_ratio", "second_derivative", "signal_strength", "context_max_ratio")
FEATURE_NAMES: tuple[str, ...] = (
    "donor_score", "acceptor_score", "neither_score",
    "context_score_m2", "context_score_m1", "context_score_p1", "context_score_p2",
    "relative_donor_probability", "splice_probability", "donor_acceptor_diff", "splice_neither_diff",
    "donor_acceptor_logodds", "splice_neither_logodds", "probability_entropy",
    "context_neighbor_mean", "context_asymmetry", "context_max",
    *(f"donor_{n}" for n in _PER_TYPE), *(f"acceptor_{n}" for n in _PER_TYPE),
    "donor_acceptor_peak_ratio", "type_signal_difference", "score_difference_ratio", "signal_strength_ratio",
)
assert len(FEATURE_NAMES) == 43


def _neighbours(track: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(n, 4) values at idx-2, idx-1, idx+1, idx+2 (zero-padded at the edges)."""
    out = np.zeros((len(idx), 4), dtype=np.float64)
    for j, o in enumerate(OFFSETS):
        k = idx + o
        ok = (k >= 0) & (k < len(track))
        out[ok, j] = track[k[ok]]
    return out


def _per_type(s: np.ndarray, nb: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    m2, m1, p1, p2 = nb.T
    mean = nb.mean(axis=1)
    cols = [s - m2, s - m1, s - p1, s - p2,
            s / (m1 + p1 + EPS),                                            # surge ratio
            ((s > m1) & (s > p1) & (s > 1e-3)).astype(np.float64),          # local peak
            0.1 * m2 + 0.2 * m1 + 0.4 * s + 0.2 * p1 + 0.1 * p2,            # weighted context
            s / (mean + EPS),                                               # peak height
            (s - m1) - (p1 - s),                                            # second derivative
            s - mean,                                                       # signal strength
            s / (np.maximum(s, nb.max(axis=1)) + EPS)]                      # s / max of the 5-window
    return cols, cols[7], cols[9]


def score_features(probs: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """probs (L, 3) [neither, acceptor, donor], idx (n,) int -> (n, 43) float32 in FEATURE_NAMES order."""
    idx = np.asarray(idx, dtype=np.int64)
    n_, a_, d_ = (probs[:, c].astype(np.float64) for c in range(3))
    d, a, n = d_[idx], a_[idx], n_[idx]
    nb_d, nb_a = _neighbours(d_, idx), _neighbours(a_, idx)
    same = np.where((d >= a)[:, None], nb_d, nb_a)
    mx_da = np.maximum(d, a)
    prob = np.stack([d, a, n], axis=1)
    entropy = -(prob * np.log(prob + EPS)).sum(axis=1)
    cols = [d, a, n, *same.T,
            d / (d + a + EPS), (d + a) / (d + a + n + EPS), (d - a) / (mx_da + EPS),
            (mx_da - n) / (np.maximum(mx_da, n) + EPS), np.log(d + EPS) - np.log(a + EPS),
            np.log(d + a + EPS) - np.log(n + EPS), entropy,
            same.mean(axis=1), (same[:, 0] + same[:, 1]) - (same[:, 2] + same[:, 3]), same.max(axis=1)]
    d_cols, d_peak, d_sig = _per_type(d, nb_d)
    a_cols, a_peak, a_sig = _per_type(a, nb_a)
    cols += d_cols + a_cols
    cols += [d_peak / (a_peak + EPS), d_sig - a_sig, (d - a) / (d + a + EPS), d_sig / (np.abs(a_sig) + EPS)]
    return np.stack(cols, axis=1).astype(np.float32)


def squash(x: np.ndarray) -> np.ndarray:
    """sign(x) log1p(|x|): the ratio features span 1e-10..1e10; the meta-layer sees this, standardised."""
    return np.sign(x) * np.log1p(np.abs(x))
