"""``splice preprocess``: GTF + FASTA + base model -> ``candidates.parquet``.

Per chromosome (the GTF is streamed chromosome by chromosome, so memory follows the largest
chromosome, not the genome): encode the sequence, score both strands with the base model once
(blocks, batches; cached as ``base_scores/<chrom>.<strand>.npy`` in the staging folder so a
killed run resumes without rescoring), then take the candidate positions

* every true donor/acceptor site (exon side) of every transcript,
* base-model calls: positions of the strand (inside genes or not) with donor or acceptor
  probability >= ``call_threshold`` (default 0.1, below the source's 0.5, so the meta-layer
  also learns the base model's near-misses it meets again in ``predict`` and ``variant``),
  at most ``max_call_ratio`` x the strand's true sites (the strongest calls; bounds the rows
  of a weak base model),
* negatives sampled (seeded) from the gene bodies, ``negative_ratio`` x the true sites, at
  least 3 nt from any true site of the strand,

and write per row: chrom, position (0-based), strand, gene, label (donor 0 / acceptor 1 /
neither 2), split, sample_weight, candidate (true_site/base_call/negative, not a feature), the
43 score features and the window (``window`` nt in transcript orientation).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions
from genotool_splice.base import BaseSpec, load_base
from genotool_splice.features import FEATURE_NAMES, score_features
from genotool_splice.seqio import fetch_codes, to_text, windows
from genotool_splice.sites import NEITHER, chrom_sites, gene_index
from genotool_splice.splits import assign_splits

CANDIDATES = "candidates.parquet"
SUMMARY = "preprocess.json"


@dataclass
class PreprocessConfig(RunOptions):
    fasta: Path
    gtf: Path
    output: Path
    base: BaseSpec
    window: int = 501
    call_threshold: float = 0.1
    negative_ratio: float = 1.2
    max_call_ratio: float = 4.0
    variants: Path | None = None
    test_chromosomes: list = field(default_factory=list)
    val_chromosomes: list = field(default_factory=list)
    seed: int = 0
    keep_base_scores: bool = False
    force: bool = False


def check_window(window: int, flank: int) -> None:
    """The window is centred (odd) and covers at least the base model's own context (up to 400 nt)."""
    need = min(flank, 400) + 1
    if window % 2 == 0:
        raise UserError(f"--window must be odd (a centred window), not {window}")
    if window < need:
        raise UserError(f"--window {window} is below the base model's needs: its {flank} nt flank asks "
                        f">= {need}")


def _row_weights(chrom_key: str, pos: np.ndarray, weights: dict) -> np.ndarray:
    w = np.ones(len(pos), dtype=np.float32)
    from genotool_splice.variants_io import WEIGHT_RADIUS

    for vpos, vw in weights.get(chrom_key, []):
        near = np.abs(pos - vpos) <= WEIGHT_RADIUS
        w[near] = np.where(w[near] == 1.0, vw, np.maximum(w[near], vw))
    return w


def _strand_rows(codes, probs, sites: dict, genes: list, strand: str, cfg: PreprocessConfig, rng):
    """Candidate rows of one strand -> dict of column arrays (positions genomic, 0-based)."""
    L = len(codes)
    gidx = gene_index(genes, L, strand)
    true_pos = np.fromiter(sites.keys(), dtype=np.int64, count=len(sites))
    true_lab = np.fromiter((v[0] for v in sites.values()), dtype=np.int64, count=len(sites))
    # probs are in transcript orientation: genomic p <-> index L-1-p on the minus strand
    to_t = (lambda p: p) if strand == "+" else (lambda p: L - 1 - p)
    pt = probs
    ingene = np.flatnonzero(gidx >= 0)
    called_t = np.flatnonzero(np.maximum(pt[:, 1], pt[:, 2]) >= cfg.call_threshold)
    if len(called_t) > cfg.max_call_ratio * max(1, len(true_pos)):
        # a weak base model calls everything: keep its strongest calls (bounded rows per site)
        top = np.argsort(-np.maximum(pt[called_t, 1], pt[called_t, 2]), kind="stable")
        called_t = np.sort(called_t[top[:int(cfg.max_call_ratio * max(1, len(true_pos)))]])
    called = to_t(called_t)                     # anywhere on the strand: predict meets them too
    near = np.zeros(L, dtype=bool)
    for o in range(-2, 3):
        k = true_pos + o
        near[k[(k >= 0) & (k < L)]] = True
    taken = near.copy()
    taken[called] = True
    pool = ingene[~taken[ingene]]
    n_neg = min(len(pool), int(round(cfg.negative_ratio * len(true_pos))))
    neg = np.sort(rng.choice(pool, size=n_neg, replace=False)) if n_neg else np.zeros(0, np.int64)
    called = np.setdiff1d(called, true_pos)
    pos = np.concatenate([true_pos, called, neg]).astype(np.int64)
    label = np.concatenate([true_lab, np.full(len(called) + len(neg), NEITHER)]).astype(np.int8)
    source = np.array(["true_site"] * len(true_pos) + ["base_call"] * len(called) + ["negative"] * len(neg))
    gi = gidx[pos]
    gene_of_site = {p: g for p, (_, g) in sites.items()}
    gene = [gene_of_site.get(int(p)) or (genes[i][3] if i >= 0 else "") for p, i in zip(pos, gi)]
    tpos = to_t(pos)
    feats = score_features(pt, tpos)
    return {"position": pos, "strand": [strand] * len(pos), "gene": gene, "label": label, "candidate": source,
            "features": feats, "tpos": tpos}


def _scores(scorer, codes, cache: Path, chrom: str):
    """(plus, minus-in-rc-orientation) probabilities, from the cache when a killed run left them."""
    paths = [cache / f"{chrom}.plus.npy", cache / f"{chrom}.minus.npy"]
    if all(p.is_file() for p in paths):
        try:
            arrs = [np.load(p) for p in paths]
            if all(a.shape == (len(codes), 3) for a in arrs):
                return arrs[0], arrs[1], True
        except (OSError, ValueError):
            pass
    plus, minus = scorer.score_both(codes)
    cache.mkdir(parents=True, exist_ok=True)
    for p, a in zip(paths, (plus, minus)):
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, a)
        tmp.replace(p)
    return plus, minus, False


def run_preprocess(cfg: PreprocessConfig) -> dict:
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from genotool.genome.fasta import canonical, fasta_contig, open_fasta
    from genotool.genome.gtf import iter_chromosomes
    from genotool.outputs import run_output
    from genotool_splice.base import reverse_complement
    from genotool_splice.variants_io import read_variants, weight_intervals

    if not Path(cfg.gtf).is_file():
        raise UserError(f"--annotation: {cfg.gtf} not found")
    if not Path(cfg.fasta).is_file():
        raise UserError(f"--fasta: {cfg.fasta} not found")
    if not 0 < cfg.call_threshold <= 1:
        raise UserError(f"--call-threshold must be in (0, 1], not {cfg.call_threshold}")
    if cfg.negative_ratio < 0:
        raise UserError(f"--negative-ratio must be >= 0, not {cfg.negative_ratio}")
    plan = cfg.plan()
    scorer = load_base(cfg.base, device=plan.device, batch_size=plan.batch_size or 32, precision=plan.precision)
    check_window(cfg.window, scorer.flank)
    weights = weight_intervals(read_variants(cfg.variants)[0]) if cfg.variants else {}
    fa = open_fasta(cfg.fasta)
    fa_names = {canonical(n): n for n in fa.references}
    splits = assign_splits(list(fa.references), cfg.test_chromosomes, cfg.val_chromosomes)
    params = {"fasta": str(cfg.fasta), "annotation": str(cfg.gtf), "base": cfg.base.to_dict(),
              "window": cfg.window, "call_threshold": cfg.call_threshold, "negative_ratio": cfg.negative_ratio,
              "max_call_ratio": cfg.max_call_ratio,
              "variants": str(cfg.variants) if cfg.variants else None, "seed": cfg.seed}
    counts = {"train": 0, "val": 0, "test": 0}
    per_label = {"donor": 0, "acceptor": 0, "neither": 0}
    t_score = t_feat = 0.0
    scored_bp = 0
    with run_output(cfg.output, command="splice preprocess", parameters=params, inputs=[cfg.fasta, cfg.gtf],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        cache = run.path / "base_scores"
        writer = None
        tmp_parquet = run.path / (CANDIDATES + ".tmp")
        try:
            for chrom, transcripts in iter_chromosomes(cfg.gtf):
                if not transcripts:
                    continue
                fa_chrom = fasta_contig(fa_names, chrom, transcripts, cfg.gtf, cfg.fasta)
                cs = chrom_sites(chrom, transcripts)
                if not cs.genes:
                    continue
                codes = fetch_codes(fa, cfg.fasta, fa_chrom)
                L = len(codes)
                for s, e, _, gid in cs.genes:
                    if e > L:
                        raise UserError(f"{cfg.gtf}: gene {gid} ends at {e}, beyond {chrom}'s length {L} in {cfg.fasta}")
                t0 = time.perf_counter()
                plus, minus, hit = _scores(scorer, codes, cache, fa_chrom)
                t_score += time.perf_counter() - t0
                scored_bp += 0 if hit else 2 * L
                t0 = time.perf_counter()
                rng = np.random.default_rng([cfg.seed, zlib.crc32(fa_chrom.encode())])
                parts = []
                for strand, probs in (("+", plus), ("-", minus)):
                    r = _strand_rows(codes, probs, cs.sites[strand], cs.genes, strand, cfg, rng)
                    tcodes = codes if strand == "+" else reverse_complement(codes)
                    r["sequence"] = to_text(windows(tcodes, r["tpos"], cfg.window))
                    parts.append(r)
                t_feat += time.perf_counter() - t0
                n = sum(len(p["position"]) for p in parts)
                split = splits.get(fa_chrom, "train")
                pos = np.concatenate([p["position"] for p in parts])
                cols = {"chrom": [fa_chrom] * n, "position": pos,
                        "strand": sum((p["strand"] for p in parts), []),
                        "gene": sum((p["gene"] for p in parts), []),
                        "label": np.concatenate([p["label"] for p in parts]),
                        "split": [split] * n,
                        "sample_weight": _row_weights(canonical(fa_chrom), pos, weights),
                        "candidate": np.concatenate([p["candidate"] for p in parts])}
                feats = np.concatenate([p["features"] for p in parts])
                for j, name in enumerate(FEATURE_NAMES):
                    cols[name] = feats[:, j]
                cols["sequence"] = sum((p["sequence"] for p in parts), [])
                table = pa.table(cols)
                if writer is None:
                    writer = pq.ParquetWriter(tmp_parquet, table.schema, compression="zstd")
                writer.write_table(table)
                counts[split] += n
                for k, name in enumerate(("donor", "acceptor", "neither")):
                    per_label[name] += int((cols["label"] == k).sum())
                log(f"preprocess: {fa_chrom} ({split}) {L:,} bp, {cs.n_sites} sites, {n} rows"
                    f"{' (cached scores)' if hit else ''}")
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise UserError(f"{cfg.gtf}: no transcripts with exons on contigs of {cfg.fasta}")
        if counts["test"] == 0:
            test = sorted(c for c, s in splits.items() if s == "test")
            raise UserError(f"--test-chromosomes: the test split is empty (no annotated genes on "
                            f"{', '.join(test) or 'any test chromosome'})")
        if counts["train"] == 0:
            raise UserError("--test-chromosomes/--val-chromosomes: the training split is empty")
        tmp_parquet.replace(run.path / CANDIDATES)
        if not cfg.keep_base_scores:
            import shutil

            shutil.rmtree(cache, ignore_errors=True)
        summary = {"rows": counts, "call_threshold": cfg.call_threshold, "labels": per_label, "features": list(FEATURE_NAMES), "window": cfg.window,
                   "base": scorer.spec.to_dict(), "base_context": scorer.flank,
                   "splits": {s: sorted(c for c, v in splits.items() if v == s) for s in ("train", "val", "test")},
                   "base_scoring_seconds": round(t_score, 3), "scored_bp": scored_bp,
                   "base_kb_per_second": round(scored_bp / 1000 / t_score, 1) if t_score and scored_bp else None,
                   "feature_seconds": round(t_feat, 3), "torch_threads": torch.get_num_threads()}
        (run.path / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        run.runtime.update(rows=sum(counts.values()), base_scoring_seconds=summary["base_scoring_seconds"],
                           feature_seconds=summary["feature_seconds"])
    return summary
