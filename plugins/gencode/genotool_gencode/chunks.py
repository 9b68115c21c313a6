"""Labelled chunks, shared by the GTF and GenBank paths of `preprocess`: the split names, the
painter that labels any window of a chromosome from its intervals, the strand track's runs, the
per-label run-length statistics, the tiling of a contig into chunks, and the one warning per kind
of odd input that is kept.
"""

from __future__ import annotations

import numpy as np

from genotool_gencode.labels import LABELS, NUM_LABELS, PRIORITY

SPLITS = ("train", "val", "test")
HIST_MAX = 5000   # duration histogram range (bp), longer runs go to the last bin


class ChunkPainter:
    """Labels of any window of one chromosome from its labelled intervals."""

    def __init__(self, intervals: list[tuple[int, int, int, int]]):
        # (start, end, label, order); paint by (priority, order) so higher priority wins
        ivs = sorted(intervals, key=lambda x: x[0])
        self.starts = np.array([i[0] for i in ivs], dtype=np.int64)
        self.ends = np.array([i[1] for i in ivs], dtype=np.int64)
        self.labels = np.array([i[2] for i in ivs], dtype=np.int64)
        self.order = np.array([i[3] for i in ivs], dtype=np.int64)
        self.prio = np.array([PRIORITY[i[2]] for i in ivs], dtype=np.int64)
        self.minus = np.array([i[4] if len(i) > 4 else False for i in ivs], dtype=bool)
        self.maxlen = int((self.ends - self.starts).max()) if len(ivs) else 0

    def paint(self, lo: int, hi: int) -> np.ndarray:
        return self.paint_with_strand(lo, hi)[0]

    def paint_with_strand(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """-> (labels (hi-lo,) uint8, minus-strand mask (hi-lo,) bool of the winning transcript)."""
        lab = np.zeros(hi - lo, dtype=np.uint8)
        minus = np.zeros(hi - lo, dtype=bool)
        if not len(self.starts):
            return lab, minus
        a = np.searchsorted(self.starts, lo - self.maxlen, side="left")
        b = np.searchsorted(self.starts, hi, side="left")
        idx = np.arange(a, b)
        idx = idx[self.ends[idx] > lo]
        if not len(idx):
            return lab, minus
        idx = idx[np.lexsort((self.order[idx], self.prio[idx]))]
        for i in idx:
            s, e = max(lo, self.starts[i]), min(hi, self.ends[i])
            lab[s - lo:e - lo] = self.labels[i]
            minus[s - lo:e - lo] = self.minus[i]
        return lab, minus & (lab > 0)


def mask_runs(mask: np.ndarray) -> list[list[int]]:
    """Boolean mask -> [[start, end), ...] of its True runs (how chunks store the strand track)."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.flatnonzero(np.diff(m))
    return d.reshape(-1, 2).tolist()


class SegmentStats:
    """Run lengths per label (count, sum, sum of squares, min, max, histogram)."""

    def __init__(self):
        self.hist = np.zeros((NUM_LABELS, HIST_MAX + 1), dtype=np.int64)
        # shortest run not cut by a chunk edge (edge runs are truncated, so their length says
        # nothing about the feature): what `train` compares --max-duration against
        self.interior_min = np.full(NUM_LABELS, np.iinfo(np.int64).max, dtype=np.int64)

    def add(self, labels: np.ndarray) -> None:
        change = np.flatnonzero(np.diff(labels)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(labels)]])
        lens = np.minimum(ends - starts, HIST_MAX)
        labs = labels[starts].astype(np.int64)
        np.add.at(self.hist, (labs, lens), 1)
        if len(starts) > 2:
            np.minimum.at(self.interior_min, labs[1:-1], (ends - starts)[1:-1])

    def to_dict(self) -> dict:
        out = {}
        x = np.arange(HIST_MAX + 1)
        for c, name in enumerate(LABELS):
            h = self.hist[c]
            n = int(h.sum())
            if n == 0:
                out[name] = {"label": c, "count": 0}
                continue
            mean = float((h * x).sum() / n)
            var = float((h * (x - mean) ** 2).sum() / n)
            cdf = np.cumsum(h)
            nz = np.flatnonzero(h)
            out[name] = {"label": c, "count": n, "mean": round(mean, 2), "std": round(var ** 0.5, 2),
                         "median": int(np.searchsorted(cdf, (n + 1) // 2)), "min": int(nz[0]),
                         "max": int(nz[-1]), "histogram_max": HIST_MAX,
                         "interior_min": (int(self.interior_min[c])
                                          if self.interior_min[c] < np.iinfo(np.int64).max else None),
                         "histogram": {str(int(i)): int(h[i]) for i in nz}}
        return out


def chunk_starts(length: int, chunk: int, overlap: int) -> list[int]:
    if length <= chunk:
        return [0]
    step = chunk - overlap
    starts = list(range(0, length - chunk + 1, step))
    if starts[-1] + chunk < length:
        starts.append(length - chunk)   # last chunk aligned to the end: every chunk has length `chunk`
    return starts


def warn_kept_problems(summary: dict, source, log) -> None:
    """One warning per kind of odd input that is kept (the run goes on)."""
    iupac = summary["iupac_codes"]
    if iupac:
        log(f"warning: {sum(iupac.values())} IUPAC ambiguity codes in {source} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(iupac.items()))}) read as N")
    probs = summary["transcripts_with_problems"]
    if probs:
        log("warning: annotated coding transcripts that are not valid gene models, kept (scored as annotated, "
            "left out of the gene finder's training): "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(probs.items())))
