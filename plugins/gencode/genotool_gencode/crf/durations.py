"""Smooth duration scores for the semi-CRF: piecewise linear in log length.

A free (K, C) duration table has one parameter per length. With a few hundred training segments
per label most lengths are seen once or never, so the table (and a count estimate of it) is
jagged: neighbouring lengths differ by ~2-3 nats (log of a count of 1 vs a pseudo-count). Viterbi
then prefers lengths that happened to occur in training and moves boundaries by a few bases,
which is exactly what segment F1 (both ends exact) punishes. Gene finders smooth their length
distributions for this reason (AUGUSTUS uses kernel-smoothed length histograms).

Here ``duration[d - 1, c] = sum_j basis[d - 1, j] * weights[j, c]`` with hat (linear
interpolation) functions whose knots are every length 1..8, then ~20% apart, then K - 1 and K.
Short lengths keep one parameter each (a codon is exactly 3 bp), long ones share parameters with
their neighbours, and the last slot K (a full piece of a longer run in the canonical chain) is
free.
"""

from __future__ import annotations

import numpy as np
import torch

DENSE_UP_TO = 8     # every length up to this has its own knot
KNOT_RATIO = 1.2    # then knots ~20% apart


def duration_knots(K: int) -> list[int]:
    """Knot lengths (1-based, increasing, ending with K - 1 and K)."""
    knots = list(range(1, min(K, DENSE_UP_TO) + 1))
    while knots[-1] < K - 1:
        nxt = max(knots[-1] + 1, int(round(knots[-1] * KNOT_RATIO)))
        knots.append(min(nxt, K - 1))
    if knots[-1] != K:
        knots.append(K)
    return knots


def hat_basis(K: int) -> torch.Tensor:
    """(K, J) float64: row d - 1 interpolates linearly in log length between the two knots around d."""
    knots = np.asarray(duration_knots(K), dtype=np.float64)
    logk = np.log(knots)
    basis = np.zeros((K, len(knots)))
    for d in range(1, K + 1):
        j = int(np.searchsorted(knots, d))
        if knots[j] == d:
            basis[d - 1, j] = 1.0
        else:   # knots[j - 1] < d < knots[j]
            w = (np.log(d) - logk[j - 1]) / (logk[j] - logk[j - 1])
            basis[d - 1, j - 1], basis[d - 1, j] = 1.0 - w, w
    return torch.as_tensor(basis)


def weights_for(duration: np.ndarray) -> np.ndarray:
    """(K, C) duration scores -> (J, C) knot weights (the values at the knots)."""
    idx = np.asarray(duration_knots(duration.shape[0])) - 1
    return duration[idx]
