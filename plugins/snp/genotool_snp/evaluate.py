"""Metrics and the scikit-learn baselines on one split: PCA(10) + logistic regression,
PCA(10) + nearest centroid and L2-logistic regression on all SNPs (population), ridge / logistic
regression on all SNPs (phenotype)."""

from __future__ import annotations

import numpy as np


def blas_threads(requested: int | None):
    """Context manager: BLAS / OpenMP threads of numpy, scipy and scikit-learn limited to the probe's
    CPU thread choice (1 on a loaded machine). Unlimited, scipy's L-BFGS (logistic regression)
    made of many tiny BLAS calls spin-waited: one fit of 198 x 5,480 took 15-34 s instead of
    0.5-0.9 s at load average 9 on 2 cores."""
    from threadpoolctl import threadpool_limits

    from genotool.probe import choose_cpu_threads

    return threadpool_limits(limits=choose_cpu_threads(requested)[0])


def dosage(geno: np.ndarray, train_rows: np.ndarray) -> np.ndarray:
    """(N, C, L) int8 -> (N, L) float32 alt-allele dosage; missing -> the training mean."""
    g = np.asarray(geno, dtype=np.float32)
    miss = (g < 0).any(1)
    d = np.clip(g, 0, None).sum(1)          # two haplotype channels, or one dosage channel
    if miss.any():
        mean = np.where(miss[train_rows], np.nan, d[train_rows])
        mean = np.nan_to_num(np.nanmean(mean, 0))
        d = np.where(miss, mean[None, :], d)
    return d


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def classification_metrics(y: np.ndarray, prob: np.ndarray, classes: list[str]) -> dict:
    """accuracy, macro-F1, confusion (rows truth, columns prediction), per-class accuracy and ROC AUC."""
    from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

    pred = prob.argmax(1)
    K = len(classes)
    cm = confusion_matrix(y, pred, labels=list(range(K)))
    per = {}
    for k, c in enumerate(classes):
        n = cm[k].sum()
        try:
            auc = float(roc_auc_score((y == k).astype(int), prob[:, k]))
        except ValueError:
            auc = float("nan")
        per[c] = {"accuracy": float(cm[k, k] / n) if n else float("nan"), "roc_auc": auc, "n": int(n)}
    return {"accuracy": float((pred == y).mean()), "macro_f1": float(f1_score(y, pred, average="macro")),
            "confusion": cm.tolist(), "per_class": per}


def pca_baselines(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, classes: list[str],
                  n_components: int = 10, seed: int = 0) -> tuple[dict, dict]:
    """PCA fitted on the training rows; logistic regression and nearest centroid on its components.

    Returns ({name: metrics}, {"pcs": test PCs (n, 2), "pca": fitted PCA})."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import NearestCentroid

    k = min(n_components, len(train) - 1, x.shape[1])
    pca = PCA(n_components=k, random_state=seed).fit(x[train])
    ztr, zte = pca.transform(x[train]), pca.transform(x[test])
    out = {}
    lr = LogisticRegression(max_iter=5000).fit(ztr, y[train])
    prob = np.zeros((len(test), len(classes)))
    prob[:, lr.classes_] = lr.predict_proba(zte)
    # named by the components asked for (a tiny training set fits fewer: "components" says how many)
    out[f"pca{n_components}+logistic"] = {**classification_metrics(y[test], prob, classes), "components": k}
    nc = NearestCentroid().fit(ztr, y[train])
    dist = np.stack([((zte - c) ** 2).sum(1) for c in nc.centroids_], 1)
    prob = np.zeros((len(test), len(classes)))
    prob[:, nc.classes_] = softmax(-dist)
    out[f"pca{n_components}+nearest-centroid"] = {**classification_metrics(y[test], prob, classes), "components": k}
    return out, {"pcs": zte[:, :2], "pca": pca}


def logistic_all_snps(x: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, test: np.ndarray,
                      classes: list[str]) -> dict:
    """Multinomial L2-logistic regression on every standardised SNP, strength C chosen on ``val``
    by log-loss (the models' linear head fitted alone, with plain class weights)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    from genotool_snp.linear_head import STRENGTHS

    sd = x[train].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    mu = x[train].mean(0)
    z = (x - mu) / sd
    best = None
    for c in STRENGTHS:
        m = LogisticRegression(C=c, max_iter=2000, tol=1e-4).fit(z[train], y[train])
        v = log_loss(y[val], m.predict_proba(z[val]), labels=m.classes_) if len(val) else 0.0
        if best is None or v < best[0]:
            best = (v, m, c)
    _, m, c = best
    prob = np.zeros((len(test), len(classes)))
    prob[:, m.classes_] = m.predict_proba(z[test])
    return {"strength_C": c, **classification_metrics(y[test], prob, classes)}


def regression_metrics(y: np.ndarray, score: np.ndarray) -> dict:
    res = ((y - score) ** 2).sum()
    tot = ((y - y.mean()) ** 2).sum()
    r = np.corrcoef(y, score)[0, 1] if y.std() > 0 and score.std() > 0 else 0.0
    return {"r2": float(1 - res / tot) if tot > 0 else float("nan"), "pearson_r": float(r)}


def binary_metrics(y: np.ndarray, prob1: np.ndarray) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    try:
        return {"roc_auc": float(roc_auc_score(y, prob1)), "pr_auc": float(average_precision_score(y, prob1)),
                "accuracy": float(((prob1 > 0.5) == y).mean())}
    except ValueError:
        return {"roc_auc": float("nan"), "pr_auc": float("nan"), "accuracy": float("nan")}


def linear_baseline(x: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, test: np.ndarray,
                    binary: bool) -> dict:
    """Ridge (quantitative) or L2 logistic regression (binary) on all SNPs, strength chosen on val."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(x[train])
    xt, xv, xs = sc.transform(x[train]), sc.transform(x[val]), sc.transform(x[test])
    best = None
    for c in (1e-3, 1e-2, 1e-1, 1.0):
        if binary:
            m = LogisticRegression(C=c, max_iter=2000).fit(xt, y[train])
            v = binary_metrics(y[val], m.predict_proba(xv)[:, 1])["roc_auc"]
        else:
            m = Ridge(alpha=1.0 / c).fit(xt, y[train])
            v = regression_metrics(y[val], m.predict(xv))["r2"]
        if best is None or v > best[0]:
            best = (v, m, c)
    _, m, c = best
    if binary:
        return {"strength_C": c, **binary_metrics(y[test], m.predict_proba(xs)[:, 1])}
    return {"strength_C": c, **regression_metrics(y[test], m.predict(xs))}
