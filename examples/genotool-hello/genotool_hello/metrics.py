"""Binary classification metrics in numpy (no scikit-learn dependency)."""

from __future__ import annotations

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half).
    NaN when only one class is present."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels) > 0.5
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over runs of tied scores.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) over descending thresholds."""
    labels = np.asarray(labels) > 0.5
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    tp = np.cumsum(labels[order])
    fp = np.cumsum(~labels[order])
    return (np.r_[0, fp / max(1, fp[-1] if len(fp) else 1)],
            np.r_[0, tp / max(1, tp[-1] if len(tp) else 1)])


def binary_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict:
    labels = np.asarray(labels) > 0.5
    pred = np.asarray(probs) >= threshold
    return {"auc": roc_auc(probs, labels), "accuracy": float((pred == labels).mean()) if len(labels) else float("nan"),
            "precision": float((pred & labels).sum() / max(1, pred.sum())),
            "recall": float((pred & labels).sum() / max(1, labels.sum())), "n": int(len(labels))}
