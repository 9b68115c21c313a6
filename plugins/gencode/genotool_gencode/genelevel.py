"""Gene-finder accuracy levels (as AUGUSTUS and the gene-prediction literature report them),
computed from two labellings of the same sequence (numpy only).

* nucleotide level: coding bases (first/internal/last exon and the start codon, i.e. the CDS;
  the stop codon is not coding, as in the records' annotation) -- sensitivity = TP / annotated
  coding bases, specificity = TP / predicted coding bases;
* exon level: an exon is a maximal run of coding bases; a predicted exon is correct when an
  annotated exon has both its ends;
* gene level: a gene is a maximal run of non-intergenic bases holding at least one exon; a
  predicted gene is correct when an annotated gene has exactly its exons (all ends right, none
  missing, none extra).

Strand is not compared (the labels are strand-free); both our models and AUGUSTUS's
predictions (converted to labels, augustus.py) are scored by this one rule.
"""

from __future__ import annotations

import numpy as np

from genotool_gencode.labels import FIRST_EXON, INTERGENIC, INTERNAL_EXON, LAST_EXON, START_CODON

CODING = (FIRST_EXON, INTERNAL_EXON, LAST_EXON, START_CODON)
LEVELS = ("nucleotide", "exon", "gene")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.flatnonzero(np.diff(m))
    return [(int(a), int(b)) for a, b in d.reshape(-1, 2)]


def exons_and_genes(labels: np.ndarray, coding=CODING) -> tuple[list[tuple[int, int]],
                                                                 list[tuple[tuple[int, int], ...]]]:
    """(exons [(start, end)), genes as tuples of their exons) of one labelling; an exon is a run of
    ``coding`` labels (default: the CDS labels)."""
    lab = np.asarray(labels)
    exons = _runs(np.isin(lab, coding))
    genes, i = [], 0
    for s, e in _runs(lab != INTERGENIC):
        while i < len(exons) and exons[i][1] <= s:
            i += 1
        j = i
        while j < len(exons) and exons[j][0] < e:
            j += 1
        if j > i:
            genes.append(tuple(exons[i:j]))
        i = j
    return exons, genes


class GeneLevelMetrics:
    """Counts accumulated over sequences; :meth:`summary` gives sensitivity/specificity/F1 per level."""

    def __init__(self):
        self.tp = dict.fromkeys(LEVELS, 0)
        self.true = dict.fromkeys(LEVELS, 0)
        self.pred = dict.fromkeys(LEVELS, 0)

    def update(self, true, pred) -> None:
        t, p = np.asarray(true), np.asarray(pred)
        tc, pc = np.isin(t, CODING), np.isin(p, CODING)
        self._add("nucleotide", int(np.count_nonzero(tc & pc)), int(tc.sum()), int(pc.sum()))
        te, tg = exons_and_genes(t)
        pe, pg = exons_and_genes(p)
        self._add("exon", len(set(te) & set(pe)), len(te), len(pe))
        self._add("gene", len(set(tg) & set(pg)), len(tg), len(pg))

    def _add(self, level, tp, n_true, n_pred):
        self.tp[level] += tp
        self.true[level] += n_true
        self.pred[level] += n_pred

    def summary(self) -> dict:
        out = {}
        for lv in LEVELS:
            sn = self.tp[lv] / self.true[lv] if self.true[lv] else 0.0
            sp = self.tp[lv] / self.pred[lv] if self.pred[lv] else 0.0
            out[f"{lv}_sensitivity"] = sn
            out[f"{lv}_specificity"] = sp
            out[f"{lv}_f1"] = 2 * sn * sp / (sn + sp) if sn + sp else 0.0
            if lv != "nucleotide":
                out[f"{lv}s_true"], out[f"{lv}s_pred"], out[f"{lv}s_correct"] = (self.true[lv], self.pred[lv],
                                                                                 self.tp[lv])
        return out
