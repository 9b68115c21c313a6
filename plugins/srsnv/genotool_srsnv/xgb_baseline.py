"""XGBoost baseline on the 26 FeatureMap columns, trained on the very same split manifest.

Rows are built exactly as for the CNN (same filters, training regions, labels), then joined to
the manifest's assignment by recomputing it (the manifest's row counts are checked, so a
manifest from other data is refused). Categorical columns are ordinal codes over a fixed
alphabet so train/val/test share one encoding.
"""

from __future__ import annotations

import time

import numpy as np

from genotool.errors import UserError
from genotool_srsnv import featuremap as fm

_CODES = {"REF": "ACGTN", "ALT": "ACGTN", "X_PREV1": "ACGTN", "X_NEXT1": "ACGTN", "X_PREV2": "ACGTN",
          "X_NEXT2": "ACGTN", "X_PREV3": "ACGTN", "X_NEXT3": "ACGTN", "tm": fm.TM_VALUES, "st": fm.ST_VALUES,
          "et": fm.ST_VALUES}


def feature_matrix(df) -> np.ndarray:
    """(n, 26) float32 in XGB_FEATURES order; absent columns are NaN (XGBoost's missing value)."""
    cols = []
    for c in fm.XGB_FEATURES:
        if c not in df.columns:
            cols.append(np.full(len(df), np.nan, dtype=np.float32))
            continue
        v = df[c]
        if c in _CODES:
            table = {x: i for i, x in enumerate(_CODES[c])}
            cols.append(np.array([table.get(str(x), np.nan) for x in v], dtype=np.float32))
        else:
            cols.append(v.to_numpy().astype(np.float32))
    return np.stack(cols, axis=1)


def train_and_score(df, split: np.ndarray, fold: np.ndarray, manifest: dict, *, max_depth: int = 8,
                    rounds: int = 600, eta: float = 0.13, seed: int = 0, n_jobs: int | None = None) -> dict:
    """Fit per fold (train rows), early-stop on that fold's validation rows; score everything.

    Returns prob (out-of-fold for validation rows, fold mean for test rows), timings, fold info.
    """
    import os

    import xgboost as xgb

    from genotool.probe import cpu_count

    if n_jobs is None:
        # same rule as the CNN: OpenMP threads spin-wait badly on an oversubscribed machine
        n_jobs = 1 if os.getloadavg()[0] >= cpu_count() else cpu_count()
    X = feature_matrix(df)
    y = df["label"].to_numpy().astype(np.float32)
    n_folds = int(manifest.get("n_folds", 1))
    prob_sum, prob_n = np.zeros(len(df)), np.zeros(len(df))
    folds = []
    t0 = time.perf_counter()
    for k in range(n_folds):
        if manifest["mode"] == "single_model":
            tr, va = split == 0, split == 1
        else:
            tr, va = (split != 2) & (fold != k), (split != 2) & (fold == k)
        if tr.sum() == 0 or va.sum() == 0:
            raise UserError(f"XGBoost baseline: fold {k} has no training or validation rows")
        clf = xgb.XGBClassifier(n_estimators=rounds, learning_rate=eta, max_depth=max_depth, subsample=0.75,
                                colsample_bytree=0.8, tree_method="hist", eval_metric="auc",
                                early_stopping_rounds=30, random_state=seed + k, n_jobs=n_jobs)
        clf.fit(X[tr], y[tr], eval_set=[(X[va], y[va])], verbose=False)
        score = (split == 2) | va | ((manifest["mode"] == "single_model") & tr)
        p = clf.predict_proba(X[score])[:, 1]
        prob_sum[score] += p
        prob_n[score] += 1
        folds.append({"fold": k, "best_iteration": int(clf.best_iteration), "best_val_auc": float(clf.best_score),
                      "train_rows": int(tr.sum()), "val_rows": int(va.sum())})
    prob = np.where(prob_n > 0, prob_sum / np.maximum(prob_n, 1), np.nan)
    return {"prob": prob, "folds": folds, "seconds": round(time.perf_counter() - t0, 2),
            "params": {"n_jobs": n_jobs, "max_depth": max_depth, "eta": eta, "rounds": rounds, "subsample": 0.75,
                       "tree_method": "hist", "early_stopping_rounds": 30, "features": list(fm.XGB_FEATURES)}}
