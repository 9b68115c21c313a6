"""Segmentation metrics, accumulated chunk by chunk (numpy only).

* position macro-F1 over the labels present in truth or prediction, and a per-class table;
* boundary F1 at tolerances 0/1/2/5/10: a boundary is a position where the label changes; a
  predicted boundary matches an unmatched true one at most ``tol`` away (greedy, in order);
* segment F1: a predicted run (start, end, label) counts only if the same run is in the truth;
* duration KL per label: KL(true || predicted) between run-length histograms on log-spaced bins
  (add-0.5 smoothing so an absent bin is finite); ``duration_kl`` is the mean over labels
  present in the truth;
* nucleotide / exon / gene level sensitivity and specificity, as gene finders report them
  (genelevel.py).
"""

from __future__ import annotations

import numpy as np

from genotool_gencode.genelevel import GeneLevelMetrics
from genotool_gencode.labels import LABELS, NUM_LABELS

TOLERANCES = (0, 1, 2, 5, 10)
DUR_BINS = np.unique(np.round(np.geomspace(1, 20001, 41)).astype(int))  # edges, log-spaced


def runs(labels: np.ndarray):
    """(starts, ends, labels) of maximal runs."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    return starts, ends, labels[starts]


def _match_boundaries(true_b: np.ndarray, pred_b: np.ndarray, tol: int) -> int:
    """Greedy one-to-one matching of sorted boundary positions within ``tol``."""
    i = j = tp = 0
    while i < len(true_b) and j < len(pred_b):
        d = pred_b[j] - true_b[i]
        if abs(d) <= tol:
            tp += 1
            i += 1
            j += 1
        elif d < 0:
            j += 1
        else:
            i += 1
    return tp


class SegmentationMetrics:
    def __init__(self, num_classes: int = NUM_LABELS):
        self.C = num_classes
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)  # [true, pred]
        self.btp = {t: 0 for t in TOLERANCES}
        self.n_true_b = self.n_pred_b = 0
        self.seg_tp = self.seg_true = self.seg_pred = 0
        nb = len(DUR_BINS) - 1
        self.dur_true = np.zeros((num_classes, nb), dtype=np.int64)
        self.dur_pred = np.zeros((num_classes, nb), dtype=np.int64)
        self.raw_true = [[] for _ in range(num_classes)]   # raw durations for histograms (capped)
        self.raw_pred = [[] for _ in range(num_classes)]
        self.genes = GeneLevelMetrics()     # nucleotide / exon / gene level (genelevel.py)

    def update(self, true, pred) -> None:
        t = np.asarray(true, dtype=np.int64)
        p = np.asarray(pred, dtype=np.int64)
        if t.shape != p.shape:
            raise ValueError(f"true and predicted lengths differ: {t.shape} vs {p.shape}")
        np.add.at(self.confusion, (t, p), 1)
        self.genes.update(t, p)
        tb = np.flatnonzero(np.diff(t)) + 1
        pb = np.flatnonzero(np.diff(p)) + 1
        self.n_true_b += len(tb)
        self.n_pred_b += len(pb)
        for tol in TOLERANCES:
            self.btp[tol] += _match_boundaries(tb, pb, tol)
        ts, te, tl = runs(t)
        ps, pe, pl = runs(p)
        tset = set(zip(ts.tolist(), te.tolist(), tl.tolist()))
        pset = set(zip(ps.tolist(), pe.tolist(), pl.tolist()))
        self.seg_tp += len(tset & pset)
        self.seg_true += len(tset)
        self.seg_pred += len(pset)
        for (s, e, lab), hist, raw in ((ts, te, tl), self.dur_true, self.raw_true), ((ps, pe, pl), self.dur_pred,
                                                                                      self.raw_pred):
            d = e - s
            idx = np.clip(np.searchsorted(DUR_BINS, d, side="right") - 1, 0, len(DUR_BINS) - 2)
            np.add.at(hist, (lab, idx), 1)
            for c, dd in zip(lab.tolist(), d.tolist()):
                if len(raw[c]) < 200_000:
                    raw[c].append(dd)

    @staticmethod
    def _f1(tp, n_pred, n_true):
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_true if n_true else 0.0
        return (2 * p * r / (p + r) if p + r else 0.0), p, r

    def per_class(self) -> list[dict]:
        rows = []
        for c in range(self.C):
            tp = int(self.confusion[c, c])
            n_true = int(self.confusion[c].sum())
            n_pred = int(self.confusion[:, c].sum())
            f1, p, r = self._f1(tp, n_pred, n_true)
            kl = self.duration_kl(c)
            rows.append({"label": LABELS[c] if c < len(LABELS) else str(c), "support_bp": n_true,
                         "predicted_bp": n_pred, "precision": p, "recall": r, "f1": f1,
                         "true_segments": int(self.dur_true[c].sum()), "pred_segments": int(self.dur_pred[c].sum()),
                         "duration_kl": kl})
        return rows

    def duration_kl(self, c: int) -> float | None:
        t = self.dur_true[c].astype(float)
        if t.sum() == 0:
            return None
        p = self.dur_pred[c].astype(float)
        t = (t + 0.5) / (t + 0.5).sum()
        p = (p + 0.5) / (p + 0.5).sum()
        return float(np.sum(t * np.log(t / p)))

    def summary(self) -> dict:
        rows = self.per_class()
        present = [r for r in rows if r["support_bp"] or r["predicted_bp"]]
        macro = float(np.mean([r["f1"] for r in present])) if present else 0.0
        out = {"position_macro_f1": macro,
               "position_accuracy": float(np.trace(self.confusion) / max(1, self.confusion.sum()))}
        for tol in TOLERANCES:
            out[f"boundary_f1_tol{tol}"] = self._f1(self.btp[tol], self.n_pred_b, self.n_true_b)[0]
        f1, p, r = self._f1(self.seg_tp, self.seg_pred, self.seg_true)
        out.update(segment_f1=f1, segment_precision=p, segment_recall=r)
        kls = [r["duration_kl"] for r in rows if r["duration_kl"] is not None]
        out["duration_kl"] = float(np.mean(kls)) if kls else 0.0
        out["duration_kl_per_label"] = {r["label"]: r["duration_kl"] for r in rows if r["duration_kl"] is not None}
        out["true_segments"], out["pred_segments"] = self.seg_true, self.seg_pred
        out.update(self.genes.summary())
        return out
