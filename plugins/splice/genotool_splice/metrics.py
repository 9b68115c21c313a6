"""Splice-site metrics over candidate rows: PR-AUC and average precision per class, top-k
accuracy (SpliceAI: k = number of true sites of the class; also fixed k), expected calibration
error (10 bins on the top probability)."""

from __future__ import annotations

import numpy as np

CLASSES = ("donor", "acceptor")
FIXED_K = (10, 50, 100, 500)


def _pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import auc, precision_recall_curve

    if y.sum() == 0 or y.sum() == len(y):
        return float("nan")
    p, r, _ = precision_recall_curve(y, s)
    return float(auc(r, p))


def topk(y: np.ndarray, s: np.ndarray, k: int) -> float:
    """Fraction of true sites among the k highest-scored rows (k capped at the row count)."""
    k = min(k, len(s))
    if k == 0:
        return float("nan")
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean())


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    return [{"bin": b, "confidence": float(conf[which == b].mean()), "accuracy": float(correct[which == b].mean()),
             "count": int((which == b).sum())} for b in range(bins) if (which == b).any()]


def evaluate(probs: np.ndarray, labels: np.ndarray) -> dict:
    """probs (n, 3) in (donor, acceptor, neither) order, labels (n,) -> flat metric dict."""
    from sklearn.metrics import average_precision_score

    out: dict = {}
    for c, name in enumerate(CLASSES):
        y = (labels == c).astype(np.int64)
        s = probs[:, c]
        out[f"pr_auc_{name}"] = _pr_auc(y, s)
        out[f"ap_{name}"] = float(average_precision_score(y, s)) if 0 < y.sum() < len(y) else float("nan")
        out[f"topk_{name}"] = topk(y, s, int(y.sum()))
        for k in FIXED_K:
            out[f"top{k}_{name}"] = topk(y, s, k)
    for m in ("pr_auc", "ap", "topk"):
        out[f"{m}_splice"] = float(np.nanmean([out[f"{m}_{c}"] for c in CLASSES]))
    out["ece"] = ece(probs, labels)
    out["accuracy"] = float((probs.argmax(axis=1) == labels).mean())
    out["rows"] = int(len(labels))
    out["sites"] = {name: int((labels == c).sum()) for c, name in enumerate(CLASSES)}
    return out
