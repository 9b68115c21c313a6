"""The 43 score features of a position (formulas of the brief, eps 1e-10), for rows and dense blocks.

One torch implementation (:func:`feature_columns`) serves both callers:

* :func:`score_features`: one strand's base-model probabilities ``probs`` (L, 3) in transcript
  orientation (channels neither, acceptor, donor; numpy) at candidate indices ``idx`` (n,)
  -> (n, 43) float32 (computed in float64), the candidate-row protocol;
* :func:`dense_features`: a batch of probability blocks (B, L, 3) (torch) -> the features of
  every position but ``crop`` at each end, (B, L - 2 crop, 43), the genome-wide meta-layer.

Neighbours -2, -1, +1, +2 are upstream/downstream in transcript orientation, zero beyond the
sequence. "Same type" for the 4 context scores is the splice type the base model favours at the
position (donor when d >= a, else acceptor): the label itself is never used (the leakage
columns splice_type, pred_type, true_position, predicted_position are never features).
"""

from __future__ import annotations

import numpy as np
import torch

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
N_FEATURES = len(FEATURE_NAMES)
assert N_FEATURES == 43


def _per_type(s: torch.Tensor, nb: torch.Tensor) -> list[torch.Tensor]:
    """11 columns of one site type: s (...,), its neighbours nb (..., 4) at -2, -1, +1, +2."""
    m2, m1, p1, p2 = nb.unbind(-1)
    mean = nb.mean(-1)
    return [s - m2, s - m1, s - p1, s - p2,
            s / (m1 + p1 + EPS),                                            # surge ratio
            ((s > m1) & (s > p1) & (s > 1e-3)).to(s.dtype),                  # local peak
            0.1 * m2 + 0.2 * m1 + 0.4 * s + 0.2 * p1 + 0.1 * p2,            # weighted context
            s / (mean + EPS),                                               # peak height
            (s - m1) - (p1 - s),                                            # second derivative
            s - mean,                                                       # signal strength
            s / (torch.maximum(s, nb.amax(-1)) + EPS)]                      # s / max of the 5-window


def feature_columns(d: torch.Tensor, a: torch.Tensor, n: torch.Tensor, nb_d: torch.Tensor,
                    nb_a: torch.Tensor) -> torch.Tensor:
    """Donor, acceptor, neither probabilities (...,) and the donor/acceptor neighbours (..., 4)
    -> (..., 43) in FEATURE_NAMES order (the dtype of the inputs)."""
    same = torch.where((d >= a).unsqueeze(-1), nb_d, nb_a)
    mx_da = torch.maximum(d, a)
    prob = torch.stack([d, a, n], -1)
    entropy = -(prob * torch.log(prob + EPS)).sum(-1)
    cols = [d, a, n, *same.unbind(-1),
            d / (d + a + EPS), (d + a) / (d + a + n + EPS), (d - a) / (mx_da + EPS),
            (mx_da - n) / (torch.maximum(mx_da, n) + EPS), torch.log(d + EPS) - torch.log(a + EPS),
            torch.log(d + a + EPS) - torch.log(n + EPS), entropy,
            same.mean(-1), (same[..., 0] + same[..., 1]) - (same[..., 2] + same[..., 3]), same.amax(-1)]
    d_cols, a_cols = _per_type(d, nb_d), _per_type(a, nb_a)
    d_peak, d_sig, a_peak, a_sig = d_cols[7], d_cols[9], a_cols[7], a_cols[9]
    cols += d_cols + a_cols
    cols += [d_peak / (a_peak + EPS), d_sig - a_sig, (d - a) / (d + a + EPS), d_sig / (a_sig.abs() + EPS)]
    return torch.stack(cols, -1)


def score_features(probs: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """probs (L, 3) [neither, acceptor, donor], idx (n,) int -> (n, 43) float32 in FEATURE_NAMES order."""
    idx = np.asarray(idx, dtype=np.int64)
    take = idx[:, None] + np.arange(-2, 3)[None, :]                  # (n, 5) positions around each row
    ok = (take >= 0) & (take < len(probs))
    nb = np.zeros((len(idx), 5, 3), dtype=np.float64)               # zero beyond the sequence's ends
    nb[ok] = probs[take[ok]]
    nb = torch.from_numpy(nb)                                        # (n, 5, 3)
    around = [0, 1, 3, 4]
    cols = feature_columns(nb[:, 2, 2], nb[:, 2, 1], nb[:, 2, 0], nb[:, around, 2], nb[:, around, 1])
    return cols.numpy().astype(np.float32)


def dense_features(probs: torch.Tensor, crop: int) -> torch.Tensor:
    """probs (B, L, 3) [neither, acceptor, donor] -> (B, L - 2 crop, 43) at positions crop..L-crop-1.

    ``crop`` >= 2, so every neighbour is inside the block (the caller pads the block's ends with
    zero probabilities, which is the rows' zero padding at a sequence end)."""
    L = probs.shape[1]
    S = L - 2 * crop

    def at(o: int, c: int) -> torch.Tensor:
        return probs[:, crop + o:crop + o + S, c]

    nb_d = torch.stack([at(o, 2) for o in OFFSETS], -1)
    nb_a = torch.stack([at(o, 1) for o in OFFSETS], -1)
    return feature_columns(at(0, 2), at(0, 1), at(0, 0), nb_d, nb_a)


def squash(x):
    """sign(x) log1p(|x|) (numpy or torch): the ratio features span 1e-10..1e10; the meta-layer
    sees this, standardised."""
    if isinstance(x, torch.Tensor):
        return torch.sign(x) * torch.log1p(x.abs())
    return np.sign(x) * np.log1p(np.abs(x))


def feature_stats(features: np.ndarray) -> dict:
    """Mean and sd (sd 1 where constant) of the squashed features (n, 43): the standardisation."""
    z = squash(features.astype(np.float64))
    sd = z.std(axis=0)
    return {"mean": z.mean(axis=0).tolist(), "std": np.where(sd > 1e-8, sd, 1.0).tolist()}


def standardise(features: np.ndarray, stats: dict) -> np.ndarray:
    """(n, 43) raw features -> squashed, standardised float32."""
    z = squash(features.astype(np.float64))
    return ((z - np.asarray(stats["mean"])) / np.asarray(stats["std"])).astype(np.float32)
