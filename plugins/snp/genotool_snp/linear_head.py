"""The linear head every architecture learns a residual over (issue 26: robust on small cohorts).

Fitted in closed form (scikit-learn) on the training split before the network trains, as a map
of the centred alt-allele dosage: ``logits = W . (dosage - training mean) + b`` with W (K, L).
Candidates (``linear_head`` hyper-parameter):

* ``all-snps``: L2-regularised logistic regression on every SNP, standardised by its training
  standard deviation, at strengths C in :data:`STRENGTHS` (ridge regression for a quantitative
  phenotype). With p >> n it behaves like a soft PCA (ridge shrinks the low-variance directions
  most) and keeps the many small allele-frequency differences PCA(10) drops: on 4 populations
  split 400 generations ago (60 each, 5 Mb) it reached 0.92 5-fold accuracy where PCA(10) +
  nearest centroid reached 0.67.
* ``pca``: logistic regression on the training split's 10 standardised principal components.
* ``best``: every candidate above; the one with the lowest (class-balanced) log-loss on the
  validation split wins (R^2 for a quantitative phenotype).

The network's residual is trained against the head's *out-of-fold* logits on the training
samples (:func:`out_of_fold`): with p >> n the head separates its own training samples almost
perfectly, and a residual fitted on top of those logits would learn nothing (or overfit).
Cohorts above :data:`MAX_ROWS` training samples fit the head on a random subset of that size.
"""

from __future__ import annotations

import numpy as np

STRENGTHS = (1e-4, 1e-3, 1e-2, 1e-1)      # logistic C on standardised SNPs (ridge alpha = 1 / C)
PCA_COMPONENTS = 10
MAX_ROWS = 4000
CHOICES = ("best", "all-snps", "pca", "none")


def centred_dosage(geno: np.ndarray, rows: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """(N, C, L) int8 rows -> (n, L) float32: sum over channels of (allele - training mean), missing 0."""
    g = np.asarray(geno[rows], dtype=np.float32)
    miss = g < 0
    g -= mean[None]
    g[miss] = 0
    return g.sum(1)


class _Candidate:
    """One way of fitting the head: ``fit(x, y, w)`` -> (W (K, L), b (K,))."""

    def __init__(self, name: str, kind: str, n_out: int, strength: float | None, seed: int):
        self.name, self.kind, self.n_out, self.strength, self.seed = name, kind, n_out, strength, seed

    def fit(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None):
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression, Ridge

        shift = np.zeros(x.shape[1], np.float64)
        if self.name == "pca":
            k = min(PCA_COMPONENTS, len(x) - 1, x.shape[1])
            pca = PCA(n_components=k, random_state=self.seed).fit(x)
            scale = np.sqrt(np.maximum(pca.explained_variance_, 1e-12))
            proj = pca.components_ / scale[:, None]           # (k, L): dosage -> standardised PCs
            shift = pca.mean_
            feats = (x - shift) @ proj.T
        else:
            sd = x.std(0)
            proj = None
            scale = np.where(sd > 0, sd, 1.0)
            feats = x / scale
        if self.kind == "quantitative":
            m = Ridge(alpha=1.0 / self.strength).fit(feats, y, sample_weight=w)
            coef, bias = m.coef_[None, :], np.atleast_1d(m.intercept_)
        else:
            m = LogisticRegression(C=self.strength, max_iter=2000, tol=1e-4).fit(feats, y, sample_weight=w)
            coef, bias = self._full(m)
        W = coef @ proj if proj is not None else coef / scale[None, :]
        return W.astype(np.float32), (bias - W @ shift).astype(np.float32)

    def _full(self, m):
        """sklearn's (1, p) binary or (K', p) coefficients -> (K, p) logits over all K classes."""
        K = self.n_out
        coef = np.zeros((K, m.coef_.shape[1]))
        bias = np.full(K, -30.0)            # a class absent from the fold: never predicted
        cls = m.classes_
        if len(cls) == 2:
            coef[cls[1]], bias[cls[0]], bias[cls[1]] = m.coef_[0], 0.0, m.intercept_[0]
        else:
            coef[cls], bias[cls] = m.coef_, m.intercept_
        return coef, bias


def candidates(choice: str, kind: str, n_out: int, seed: int) -> list[_Candidate]:
    out = []
    if choice in ("best", "all-snps"):
        out += [_Candidate("all-snps", kind, n_out, c, seed) for c in STRENGTHS]
    if choice in ("best", "pca") and kind != "quantitative":
        out.append(_Candidate("pca", kind, n_out, 1.0, seed))
    return out


def _weights(y: np.ndarray, kind: str, balanced: bool) -> np.ndarray | None:
    if kind == "quantitative" or not balanced:
        return None
    counts = np.bincount(y)
    return (len(y) / (np.count_nonzero(counts) * counts[y])).astype(np.float64)


def _score(kind: str, W, b, x, y, w) -> float:
    """Lower is better: (weighted) log-loss of the classes, or 1 - R^2."""
    z = x @ W.T + b
    if kind == "quantitative":
        tot = ((y - y.mean()) ** 2).sum()
        return float(((y - z[:, 0]) ** 2).sum() / tot) if tot > 0 else 0.0
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    nll = -logp[np.arange(len(y)), y]
    return float(np.average(nll, weights=w))


def fit(geno, mean, y, train, val, kind: str, n_out: int, choice: str = "best", balanced: bool = True,
        seed: int = 0, folds: int = 5) -> dict:
    """Fit the head on ``train`` rows, choose among the candidates on ``val``.

    geno (N, C, L) int8; mean (C, L) the model's training mean; y (N,) class indices or
    standardised values. Returns {"weight" (K, L), "bias" (K,), "oof" (len(train), K)
    out-of-fold logits of the training rows, "choice", "scores" {candidate: validation score}}."""
    rng = np.random.default_rng(seed)
    if len(train) > MAX_ROWS:
        train = np.sort(rng.choice(train, MAX_ROWS, replace=False))
    xtr, xva = centred_dosage(geno, train, mean), centred_dosage(geno, val, mean)
    ytr, yva = y[train], y[val]
    wtr, wva = _weights(ytr, kind, balanced), _weights(yva, kind, balanced)
    scores, best = {}, None
    for cand in candidates(choice, kind, n_out, seed):
        W, b = cand.fit(xtr, ytr, wtr)
        label = cand.name if cand.name == "pca" else f"{cand.name} C={cand.strength:g}"
        scores[label] = _score(kind, W, b, xva, yva, wva) if len(val) else 0.0
        if best is None or scores[label] < best[0]:
            best = (scores[label], cand, W, b, label)
    _, cand, W, b, label = best
    return {"weight": W, "bias": b, "choice": label, "scores": scores,
            "oof": out_of_fold(cand, xtr, ytr, wtr, kind, folds, seed), "rows": train}


def out_of_fold(cand: _Candidate, x, y, w, kind: str, folds: int, seed: int) -> np.ndarray:
    """(n, K) logits of each training sample from a head fitted without its fold (in-sample
    logits when a class has fewer than 2 samples)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.bincount(y) if kind != "quantitative" else None
    k = folds if counts is None else min(folds, int(counts[counts > 0].min()))
    if k < 2:
        W, b = cand.fit(x, y, w)
        return x @ W.T + b
    split = (KFold(k, shuffle=True, random_state=seed) if kind == "quantitative"
             else StratifiedKFold(k, shuffle=True, random_state=seed))
    out = np.zeros((len(x), cand.n_out if kind != "quantitative" else 1), np.float32)
    for a, t in split.split(x, y):
        W, b = cand.fit(x[a], y[a], None if w is None else w[a])
        out[t] = x[t] @ W.T + b
    return out
