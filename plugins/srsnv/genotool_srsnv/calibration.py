"""MQUAL and the SNVQ calibration table (fit on validation rows only).

MQUAL = -10 log10(1 - p). SNVQ re-expresses a read's MQUAL as the error probability it would
have in the real population, where errors are ``prior`` of all bases instead of the training
mix: on validation rows sorted by MQUAL, the pool-adjacent-violators algorithm gives blocks of
non-increasing negative fraction f (with a +0.5 pseudo-count so an error-free top block stays
finite); the class reweighting P(err) = f w- / (f w- + (1-f) w+), w- = prior / N-,
w+ = (1 - prior) / N+, gives SNVQ = -10 log10 P(err), interpolated between block mid-points.
Training rows would inflate the table (the model has seen them), hence validation only.
"""

from __future__ import annotations

import numpy as np

MAX_MQUAL = 100.0


def mqual(prob: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(prob, dtype=np.float64), 0.0, 1.0 - 10 ** (-MAX_MQUAL / 10))
    return -10.0 * np.log10(1.0 - p)


def _pav_decreasing(y: np.ndarray, w: np.ndarray):
    """Block sizes and means of the non-increasing isotonic fit of y (in order), equal levels pooled."""
    means, weights, sizes = [], [], []
    for yi, wi in zip(y, w):
        means.append(yi)
        weights.append(wi)
        sizes.append(1)
        while len(means) > 1 and means[-2] <= means[-1]:   # ties pooled too: one block per level
            m2, w2, s2 = means.pop(), weights.pop(), sizes.pop()
            m1, w1, s1 = means.pop(), weights.pop(), sizes.pop()
            means.append((m1 * w1 + m2 * w2) / (w1 + w2))
            weights.append(w1 + w2)
            sizes.append(s1 + s2)
    return np.array(sizes), np.array(means)


def fit_snvq(mq: np.ndarray, label: np.ndarray, prior: float) -> dict:
    """Calibration table from validation MQUAL and labels (1 = real/positive, 0 = error)."""
    mq = np.asarray(mq, dtype=np.float64)
    label = np.asarray(label)
    if len(mq) == 0 or (label == 1).sum() == 0 or (label == 0).sum() == 0:
        raise ValueError("SNVQ calibration needs validation rows of both classes")
    order = np.argsort(mq, kind="stable")
    mq_s, neg_s = mq[order], (label[order] == 0).astype(np.float64)
    # group equal MQUAL values first so ties fall in one block
    uniq, start = np.unique(mq_s, return_index=True)
    cnt = np.diff(np.append(start, len(mq_s)))
    negs = np.add.reduceat(neg_s, start)
    sizes, _ = _pav_decreasing(negs / cnt, cnt.astype(float))
    ends = np.cumsum(sizes)
    starts = ends - sizes
    n_neg_tot, n_pos_tot = float(neg_s.sum()), float(len(neg_s) - neg_s.sum())
    w_neg, w_pos = prior / n_neg_tot, (1 - prior) / n_pos_tot
    xs, snvq, nrow = [], [], []
    for a, b in zip(starts, ends):
        n = cnt[a:b].sum()
        k = negs[a:b].sum()
        f = (k + 0.5) / (n + 1.0)
        perr = f * w_neg / (f * w_neg + (1 - f) * w_pos)
        xs.append(float(np.average(uniq[a:b], weights=cnt[a:b])))
        snvq.append(float(-10 * np.log10(perr)))
        nrow.append(int(n))
    snvq = np.maximum.accumulate(np.array(snvq))   # monotone in MQUAL despite pseudo-counts
    return {"method": "PAV on validation rows + prior reweighting", "prior_error_rate": prior,
            "n_validation_rows": int(len(mq)), "n_validation_negatives": int(n_neg_tot),
            "mqual": xs, "snvq": snvq.tolist(), "rows": nrow}


def apply_snvq(mq: np.ndarray, table: dict) -> np.ndarray:
    return np.interp(np.asarray(mq, dtype=np.float64), table["mqual"], table["snvq"])
