"""Causal-SNP recovery: the LD-aware hit rule, the marginal association test with LD clumping,
and SuSiE fine-mapping (Rscript + susieR where installed).

Hit rule (scores every method the same way): a top-k SNP is a hit when it is in r^2 >= 0.5 with,
or in the same haploblock as, a causal SNP of simulate's truth.json. recall@k: share of causal
SNPs with at least one hit among the top k; precision@k: share of the top k that are hits.

Every ranking is scored after the same PLINK-style clumping by default (``clump=True``): the
marginal test's top 10 are 10 independent leads, so an importance ranking whose top 10 spend
several slots on one causal LD block would otherwise be scored on fewer loci. The unclumped
("raw") ranking of each importance method is reported beside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from genotool.errors import UserError

R2_HIT = 0.5
CLUMP_R2 = 0.5          # PLINK --clump-r2 default
CLUMP_KB = 250.0        # PLINK --clump-kb default


def causal_indices(data: dict, truth_path: Path) -> list[int]:
    truth = json.loads(Path(truth_path).read_text())
    index = {(c, int(p)): i for i, (c, p) in enumerate(zip(data["snps"]["chrom"], data["snps"]["pos"]))}
    contig = truth.get("contig", data["snps"]["chrom"][0])
    found = [index[(contig, c["pos"])] for c in truth["causal"] if (contig, c["pos"]) in index]
    if not found:
        raise UserError(f"--truth: none of the causal SNPs of {truth_path} is among the preprocessed SNPs")
    return found


def haplotype_rows(data: dict) -> np.ndarray:
    g = np.asarray(data["genotypes"])
    return np.clip(g.reshape(-1, g.shape[2]), 0, None).astype(np.float32)   # (2N or N, L)


def r2_with(rows: np.ndarray, cols: list[int]) -> np.ndarray:
    """(len(cols), L) squared correlation of each chosen SNP with every SNP."""
    x = rows - rows.mean(0)
    sd = np.sqrt((x * x).sum(0))
    sd[sd == 0] = np.inf
    c = (x[:, cols].T @ x) / (sd[cols][:, None] * sd[None, :])
    return c * c


def hit_mask(data: dict, causal: list[int], r2: np.ndarray) -> np.ndarray:
    """(n_causal, L) bool: SNP l is a hit for causal SNP c (r^2 >= 0.5 or the same haploblock)."""
    L = r2.shape[1]
    block_of = np.full(L, -1)
    for b, (i, j) in enumerate(data["blocks"]):
        block_of[i:j + 1] = b
    hits = r2 >= R2_HIT
    for k, c in enumerate(causal):
        if block_of[c] >= 0:
            hits[k] |= block_of == block_of[c]
        hits[k, c] = True
    return hits


def recall_precision(ranked: np.ndarray, hits: np.ndarray, k: int) -> dict:
    top = ranked[:k]
    recall = float(hits[:, top].any(1).mean())
    precision = float(hits[:, top].any(0).mean())
    return {"k": k, "recall": recall, "precision": precision}


def marginal_association(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-SNP linear regression of y on dosage: two-sided p-values (L,)."""
    from scipy import stats

    n = len(y)
    xc = x - x.mean(0)
    yc = y - y.mean()
    sxx = (xc * xc).sum(0)
    beta = np.where(sxx > 0, xc.T @ yc / np.where(sxx > 0, sxx, 1), 0.0)
    resid = (yc * yc).sum() - beta * beta * sxx
    se = np.sqrt(np.maximum(resid, 1e-12) / (n - 2) / np.where(sxx > 0, sxx, np.inf))
    t = np.where(se > 0, beta / np.where(se > 0, se, 1), 0.0)
    return 2 * stats.t.sf(np.abs(t), n - 2)


def clump(p: np.ndarray, rows: np.ndarray, pos: np.ndarray, r2: float = CLUMP_R2, kb: float = CLUMP_KB,
          max_leads: int = 50) -> np.ndarray:
    """PLINK-style clumping: the best (smallest) ``p`` is a lead; SNPs within ``kb`` and r^2 >= ``r2``
    with it join its clump; repeat. Returns lead indices, best first (the ranking that is scored).
    An importance score is clumped as ``p = -score`` (the highest score leads)."""
    order = np.argsort(p, kind="stable")
    taken = np.zeros(len(p), bool)
    leads = []
    for i in order:
        if taken[i]:
            continue
        leads.append(i)
        win = np.flatnonzero(np.abs(pos - pos[i]) <= kb * 1000)
        r = r2_with(rows[:, win], [int(np.searchsorted(win, i))])[0]
        taken[win[r >= r2]] = True
        taken[i] = True
        if len(leads) >= max_leads:
            break
    return np.asarray(leads)


SUSIE_R = r"""
suppressMessages(library(susieR))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[3]); p <- as.integer(args[4])
X <- matrix(readBin(args[1], "double", n * p), nrow = n, ncol = p)
y <- readBin(args[2], "double", n)
fit <- susie(X, y, L = 10)
cs <- susie_get_cs(fit, X = X, coverage = 0.95)
out <- file(args[5], "w")
for (s in cs$cs) writeLines(paste(s - 1, collapse = " "), out)
close(out)
writeLines(paste(fit$pip, collapse = " "), args[6])
"""


def susie(x: np.ndarray, y: np.ndarray) -> dict:
    """SuSiE (L = 10, 95% credible sets) via Rscript + susieR. {"ran": bool, "sets": [[idx]], "pip": [...]}"""
    if shutil.which("Rscript") is None:
        return {"ran": False, "why": "Rscript not installed (make system-deps installs r-cran-susier)"}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        keep = x.std(0) > 0
        xs = x[:, keep]
        (t / "x.bin").write_bytes(np.asfortranarray(xs, dtype=np.float64).tobytes(order="F"))
        (t / "y.bin").write_bytes(np.asarray(y, np.float64).tobytes())
        (t / "s.R").write_text(SUSIE_R)
        r = subprocess.run(["Rscript", str(t / "s.R"), str(t / "x.bin"), str(t / "y.bin"), str(xs.shape[0]),
                            str(xs.shape[1]), str(t / "cs.txt"), str(t / "pip.txt")],
                           capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            return {"ran": False, "why": (r.stderr.strip().splitlines() or ["Rscript failed"])[-1]}
        idx = np.flatnonzero(keep)
        sets = [[int(idx[int(v)]) for v in ln.split()] for ln in (t / "cs.txt").read_text().splitlines() if ln.strip()]
        pip = np.zeros(x.shape[1])
        pip[keep] = [float(v) for v in (t / "pip.txt").read_text().split()]
    return {"ran": True, "sets": sets, "pip": pip}


def susie_metrics(sets: list, causal: list[int], hits: np.ndarray) -> dict:
    """Coverage: share of credible sets holding a causal SNP (exact); power: share of causal SNPs in
    some set; LD-aware power: share with a hit in some set; mean set size."""
    members = set(i for s in sets for i in s)
    cover = [any(c in s for c in causal) for s in sets]
    return {"sets": len(sets), "coverage": float(np.mean(cover)) if sets else float("nan"),
            "power": float(np.mean([c in members for c in causal])),
            "power_ld_aware": float(np.mean([hits[k, list(members)].any() if members else False
                                             for k in range(len(causal))])),
            "mean_set_size": float(np.mean([len(s) for s in sets])) if sets else float("nan")}


def recovery_table(data: dict, truth: Path, scores: dict[str, np.ndarray], ks=(10,), rows=None,
                   clumped: bool = True) -> dict:
    """Recall/precision at k for each importance score, the clumped marginal test and SuSiE.

    ``clumped``: score each importance ranking after the marginal test's clumping (same r^2 and
    window); ``methods_raw`` always holds the unclumped rankings' numbers."""
    from genotool_snp.evaluate import dosage
    from genotool_snp.labels import split_rows

    causal = causal_indices(data, truth)
    hap = haplotype_rows(data)
    hits = hit_mask(data, causal, r2_with(hap, causal))
    tr = split_rows(data, "train") if rows is None else rows
    geno = np.asarray(data["genotypes"])
    x = dosage(geno, tr)[tr]
    col = json.loads(Path(truth).read_text()).get("phenotype_column", "phenotype")
    y = np.asarray([float(v) for v in data["table"][col]])[tr]
    pos = data["snps"]["pos"]
    out = {"causal_indices": causal, "hit_rule": f"r2 >= {R2_HIT} or same haploblock",
           "ranking": (f"clumped (r2 >= {CLUMP_R2}, {CLUMP_KB:g} kb), like the marginal test" if clumped
                       else "raw (unclumped)"), "methods": {}, "methods_raw": {}, "leads": {}}
    for name, s in scores.items():
        ranked = np.argsort(-np.asarray(s), kind="stable")
        out["methods_raw"][name] = {f"at_{k}": recall_precision(ranked, hits, k) for k in ks}
        if clumped:
            ranked = clump(-np.asarray(s, float), hap, pos, max_leads=max(50, max(ks)))
            out["leads"][name] = [int(i) for i in ranked[:max(ks)]]
        out["methods"][name] = {f"at_{k}": recall_precision(ranked, hits, k) for k in ks}
    p = marginal_association(x, y)
    leads = clump(p, hap, pos, max_leads=max(50, max(ks)))
    out["leads"]["marginal+clump"] = [int(i) for i in leads[:max(ks)]]
    out["methods"]["marginal+clump"] = {f"at_{k}": recall_precision(leads, hits, k) for k in ks}
    su = susie(x, y)
    if su["ran"]:
        out["susie"] = {"ran": "Rscript susieR", **susie_metrics(su["sets"], causal, hits)}
        ranked = np.argsort(-su["pip"], kind="stable")
        out["methods"]["susie-pip"] = {f"at_{k}": recall_precision(ranked, hits, k) for k in ks}
    else:
        out["susie"] = {"ran": False, "why": su["why"]}
    return out
