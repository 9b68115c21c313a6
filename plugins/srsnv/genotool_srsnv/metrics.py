"""Holdout metrics shared by train, validate and the XGBoost baseline."""

from __future__ import annotations

import numpy as np

SNVQ_THRESHOLDS = (50, 60, 70)


def binary_metrics(y: np.ndarray, p: np.ndarray, snvq: np.ndarray | None = None) -> dict:
    """ROC AUC (+ Phred), PR AUC, log loss; with SNVQ: median SNVQ of positives, recall at 50/60/70."""
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    out = {"n": int(len(y)), "n_positive": int(y.sum()), "n_negative": int((1 - y).sum())}
    if len(np.unique(y)) < 2:
        out.update(roc_auc=float("nan"), pr_auc=float("nan"), log_loss=float("nan"))
        return out
    auc = float(roc_auc_score(y, p))
    out.update(roc_auc=auc, roc_auc_phred=float(-10 * np.log10(max(1e-12, 1 - auc))),
               pr_auc=float(average_precision_score(y, p)), log_loss=float(log_loss(y, p, labels=[0, 1])))
    if snvq is not None:
        s = np.asarray(snvq, dtype=np.float64)
        out["median_snvq_positive"] = float(np.median(s[y == 1]))
        for t in SNVQ_THRESHOLDS:
            out[f"recall_at_snvq_{t}"] = float((s[y == 1] >= t).mean())
            # fraction of errors that pass the threshold (the residual rate before the prior)
            out[f"negatives_passing_snvq_{t}"] = float((s[y == 0] >= t).mean())
    return out


def holdout_report(y, p, snvq, mixed) -> dict:
    """Metrics on all holdout rows and separately for MIXED and non-MIXED reads."""
    mixed = np.asarray(mixed).astype(bool)
    out = {"all": binary_metrics(y, p, snvq)}
    for name, m in (("mixed", mixed), ("non_mixed", ~mixed)):
        out[name] = binary_metrics(np.asarray(y)[m], np.asarray(p)[m], np.asarray(snvq)[m])
    return out
