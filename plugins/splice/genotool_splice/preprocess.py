"""``splice preprocess``: GTF + FASTA + base model -> candidate rows and dense training tracks.

First every input is checked whole (options, the FASTA's index against its file and each used
contig read once, every GTF line and transcript, the regions, the base weights, the variants
table): nothing is scored before all of it passed. Then, per annotated contig (memory: one
contig's sequence and memory-mapped scores), both strands of the split regions are scored by the
base model (real flanking sequence; cached by content in the staging folder, so a killed run
resumes without rescoring and an edited input is scored again) and written as

* ``candidates.parquet``: the candidate rows (:mod:`genotool_splice.rows`): chrom, position
  (0-based), strand, gene, label (donor 0 / acceptor 1 / neither 2), split, sample_weight,
  candidate (true_site/base_call/negative, never a feature), the 43 score features and the
  ``window`` nt sequence in transcript orientation; a row's split is the region holding its
  position;
* ``tracks/``: every position of the train and validation transcript bodies with context
  (:mod:`genotool_splice.tracks`), what the genome-wide meta-layer trains on;
* ``preprocess.json``: counts, the splits, the inputs (absolute paths: ``validate`` scores the
  test regions from them) and timings.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions
from genotool_splice.base import BaseSpec

CANDIDATES = "candidates.parquet"
SUMMARY = "preprocess.json"
SPLIT_CODES = ("train", "val", "test")
TRACK_EXTRA = 64      # tracks' context beyond the window's half: room for the meta-layer's margin


@dataclass
class PreprocessConfig(RunOptions):
    fasta: Path
    gtf: Path
    output: Path
    base_model: str = "openspliceai"
    base_weights: Path | None = None
    base_flank: int = 400
    base_seeds: int = 1
    window: int = 501
    call_threshold: float = 0.1
    negative_ratio: float = 1.2
    max_call_ratio: float = 4.0
    variants: Path | None = None
    train_regions: str | None = None
    val_regions: str | None = None
    test_regions: str | None = None
    seed: int = 0
    keep_base_scores: bool = False
    force: bool = False

    def base_spec(self) -> BaseSpec:
        from genotool.options import check_choice
        from genotool_splice.base import BASE_KINDS

        check_choice(self.base_model, BASE_KINDS, "--base-model")
        return BaseSpec(kind=self.base_model, weights=str(self.base_weights) if self.base_weights else "",
                        flank=self.base_flank, seeds=self.base_seeds)


def check_window(window: int, flank: int) -> None:
    """The window is centred (odd) and covers at least the base model's own context (up to 400 nt)."""
    need = min(flank, 400) + 1
    if window % 2 == 0:
        raise UserError(f"--window must be odd (a centred window), not {window}")
    if window < need:
        raise UserError(f"--window {window} is below the base model's needs: its {flank} nt flank asks "
                        f">= {need}")


def _row_weights(chrom_key: str, pos: np.ndarray, weights: dict) -> np.ndarray:
    from genotool_splice.variants_io import WEIGHT_RADIUS

    w = np.ones(len(pos), dtype=np.float32)
    for vpos, vw in weights.get(chrom_key, []):
        near = np.abs(pos - vpos) <= WEIGHT_RADIUS
        w[near] = np.where(w[near] == 1.0, vw, np.maximum(w[near], vw))
    return w


def _split_code(splits, contig: str, length: int, lengths: dict) -> np.ndarray:
    """(length,) int8: index into SPLIT_CODES of the region holding each position, -1 in none."""
    from genotool_splice.splits import region_spans

    code = np.full(length, -1, np.int8)
    for k, split in enumerate(SPLIT_CODES):
        for s, e in region_spans(splits, split, lengths).get(contig, []):
            code[s:e] = k
    return code


def _score_contig(scorer, ref, cache, contig: str, spans: list, advance) -> tuple:
    """(plus, minus-in-rc-orientation) (L, 3) memory maps of ``spans`` scored, from the cache if there."""
    from genotool_splice.cache import cache_key
    from genotool_splice.scoring import score_span

    L = ref.lengths[contig]
    key = cache_key(ref.digests[contig], scorer.spec, spans)
    hit = cache.load(contig, key, L)
    if hit is not None:
        advance(sum(e - s for s, e in spans))
        return hit[0], hit[1], True
    cache.drop_others(contig, key)
    plus, minus = cache.create(contig, key, L)
    for s, e in spans:
        for ch in score_span(scorer, [], ref, contig, s, e):
            if ch.strand == "+":
                plus[ch.start:ch.end] = ch.base
            else:
                minus[L - ch.end:L - ch.start] = ch.base[::-1]
                advance(ch.end - ch.start)
    cache.commit(contig, key, (plus, minus))
    hit = cache.load(contig, key, L)
    return hit[0], hit[1], False


def _write_tracks(writer, contig, split_tx, strand, pieces, pad, codes, probs_t, L) -> None:
    """One split's bodies on one strand (padded, clipped to the split's region pieces) into ``writer``."""
    from genotool_splice.base import reverse_complement
    from genotool.genome.intervals import merge_intervals
    from genotool_splice.sites import chrom_sites
    from genotool_splice.tracks import body_spans

    label = np.full(L, -1, np.int8)               # genomic order: -1 outside bodies, else 0/1/2
    spans = body_spans(split_tx, strand)
    for s, e in spans:
        label[s:e] = 2
    sites = chrom_sites(contig, split_tx).sites[strand]
    if sites:
        label[np.fromiter(sites.keys(), np.int64, len(sites))] = np.fromiter((v[0] for v in sites.values()),
                                                                              np.int8, len(sites))
    for ps, pe in pieces:
        padded = [(max(ps, s - pad), min(pe, e + pad)) for s, e in spans if s >= ps and e <= pe]
        for lo, hi in merge_intervals(padded):
            if strand == "+":
                writer.add(contig, strand, lo, hi, codes[lo:hi], probs_t[lo:hi], label[lo:hi])
            else:
                writer.add(contig, strand, lo, hi, reverse_complement(codes[lo:hi]), probs_t[L - hi:L - lo],
                           label[lo:hi][::-1])


def check_inputs(cfg: PreprocessConfig):
    """Everything ``preprocess`` reads, checked whole: (reference, splits, spans to score, scorer, weights)."""
    from genotool_splice.base import load_base
    from genotool_splice.inputs import Reference, check_annotation
    from genotool_splice.splits import resolve_splits, used_spans
    from genotool_splice.variants_io import read_variants, weight_intervals

    if not 0 < cfg.call_threshold <= 1:
        raise UserError(f"--call-threshold must be in (0, 1], not {cfg.call_threshold}")
    if cfg.negative_ratio < 0:
        raise UserError(f"--negative-ratio must be >= 0, not {cfg.negative_ratio}")
    if cfg.max_call_ratio <= 0:
        raise UserError(f"--max-call-ratio must be > 0, not {cfg.max_call_ratio}")
    spec = cfg.base_spec()
    ref = Reference.open(cfg.fasta)
    if not Path(cfg.gtf).is_file():
        raise UserError(f"--annotation: {cfg.gtf} not found")
    annotated = check_annotation(cfg.gtf, ref)
    splits = resolve_splits(cfg.train_regions, cfg.val_regions, cfg.test_regions, ref.lengths, cfg.fasta)
    spans = {c: v for c, v in used_spans(splits, ref.lengths).items() if c in annotated}
    plan = cfg.plan()
    scorer = load_base(spec, device=plan.device, batch_size=plan.batch_size or 32, precision=plan.precision)
    check_window(cfg.window, scorer.flank)
    weights = weight_intervals(read_variants(cfg.variants)[0]) if cfg.variants else {}
    ref.check(list(spans))
    return ref, splits, spans, scorer, weights, plan


def run_preprocess(cfg: PreprocessConfig) -> dict:
    import shutil
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from genotool.genome.fasta import canonical
    from genotool.outputs import run_output
    from genotool_splice.base import reverse_complement
    from genotool_splice.cache import ScoreCache
    from genotool_splice.features import FEATURE_NAMES
    from genotool_splice.inputs import transcripts_by_contig
    from genotool_splice.progress import bp_progress
    from genotool_splice.rows import strand_rows
    from genotool_splice.seqio import to_text, windows
    from genotool_splice.sites import chrom_sites
    from genotool_splice.splits import region_spans
    from genotool_splice.tracks import TrackWriter

    ref, splits, spans, scorer, weights, plan = check_inputs(cfg)
    pad = cfg.window // 2 + TRACK_EXTRA
    params = {"fasta": str(Path(cfg.fasta).absolute()), "annotation": str(Path(cfg.gtf).absolute()),
              "base": scorer.spec.to_dict(), "window": cfg.window, "call_threshold": cfg.call_threshold,
              "negative_ratio": cfg.negative_ratio, "max_call_ratio": cfg.max_call_ratio,
              "variants": str(cfg.variants) if cfg.variants else None, "seed": cfg.seed,
              "regions": splits.describe()}
    counts = {s: 0 for s in SPLIT_CODES}
    per_label = {"donor": 0, "acceptor": 0, "neither": 0}
    t_score = t_rows = 0.0
    scored_bp = 0
    total_bp = sum(e - s for v in spans.values() for s, e in v)
    with run_output(cfg.output, command="splice preprocess", parameters=params, inputs=[cfg.fasta, cfg.gtf],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        cache = ScoreCache(run.path / "base_scores")
        tracks = {s: TrackWriter(run.path / "tracks", s, pad) for s in ("train", "val")}
        writer = None
        tmp_parquet = run.path / (CANDIDATES + ".tmp")
        try:
            with bp_progress("preprocess: base scores", total_bp) as advance:
                for contig, transcripts in transcripts_by_contig(cfg.gtf, ref):
                    if contig not in spans:
                        continue
                    L = ref.lengths[contig]
                    t0 = time.perf_counter()
                    plus, minus, hit = _score_contig(scorer, ref, cache, contig, spans[contig], advance)
                    t_score += time.perf_counter() - t0
                    scored_bp += 0 if hit else 2 * sum(e - s for s, e in spans[contig])
                    t0 = time.perf_counter()
                    code = _split_code(splits, contig, L, ref.lengths)
                    by_split = {s: [] for s in SPLIT_CODES}
                    for t in transcripts:
                        sp = splits.split_of(contig, t.start, t.end)
                        if sp:
                            by_split[sp].append(t)
                    kept = [t for v in by_split.values() for t in v]
                    cs = chrom_sites(contig, kept)
                    codes = ref.codes(contig)
                    rng = np.random.default_rng([cfg.seed, zlib.crc32(contig.encode())])
                    parts = []
                    for strand, probs in (("+", plus), ("-", minus)):
                        r = strand_rows(probs, cs.sites[strand], cs.genes, strand, code >= 0, cfg.call_threshold,
                                        cfg.negative_ratio, cfg.max_call_ratio, rng)
                        tcodes = codes if strand == "+" else reverse_complement(codes)
                        r["sequence"] = to_text(windows(tcodes, r["tpos"], cfg.window))
                        parts.append(r)
                    for split, w in tracks.items():
                        for strand, probs in (("+", plus), ("-", minus)):
                            _write_tracks(w, contig, by_split[split], strand,
                                          region_spans(splits, split, ref.lengths).get(contig, []), pad, codes,
                                          probs, L)
                    pos = np.concatenate([p["position"] for p in parts])
                    n = len(pos)
                    row_split = code[pos]
                    cols = {"chrom": [contig] * n, "position": pos,
                            "strand": sum((p["strand"] for p in parts), []),
                            "gene": sum((p["gene"] for p in parts), []),
                            "label": np.concatenate([p["label"] for p in parts]),
                            "split": [SPLIT_CODES[k] if k >= 0 else "" for k in row_split],
                            "sample_weight": _row_weights(canonical(contig), pos, weights),
                            "candidate": np.concatenate([p["candidate"] for p in parts])}
                    feats = np.concatenate([p["features"] for p in parts])
                    for j, name in enumerate(FEATURE_NAMES):
                        cols[name] = feats[:, j]
                    cols["sequence"] = sum((p["sequence"] for p in parts), [])
                    table = pa.table(cols).filter(pa.array(row_split >= 0))
                    t_rows += time.perf_counter() - t0
                    del plus, minus
                    if writer is None:
                        writer = pq.ParquetWriter(tmp_parquet, table.schema, compression="zstd")
                    writer.write_table(table)
                    for k, split in enumerate(SPLIT_CODES):
                        counts[split] += int((row_split == k).sum())
                    lab = cols["label"][row_split >= 0]
                    for k, name in enumerate(("donor", "acceptor", "neither")):
                        per_label[name] += int((lab == k).sum())
                    log(f"preprocess: {contig} {L:,} bp, {cs.n_sites} sites, {table.num_rows} rows"
                        f"{' (cached scores)' if hit else ''}")
        finally:
            if writer is not None:
                writer.close()
            track_info = {s: w.close() for s, w in tracks.items()}
        for split, opt in (("test", "--test-regions"), ("train", "--train-regions"), ("val", "--val-regions")):
            if counts[split] == 0:
                raise UserError(f"{opt}: the {split} split is empty (no annotated transcript lies wholly inside "
                                f"{', '.join(splits.describe()[split]) or 'it'})")
        tmp_parquet.replace(run.path / CANDIDATES)
        if not cfg.keep_base_scores:
            shutil.rmtree(cache.folder, ignore_errors=True)
        summary = {"rows": counts, "call_threshold": cfg.call_threshold, "labels": per_label,
                   "features": list(FEATURE_NAMES), "window": cfg.window,
                   "base": scorer.spec.to_dict(), "base_context": scorer.flank,
                   "splits": splits.describe(), "fasta": params["fasta"], "annotation": params["annotation"],
                   "tracks": {s: v["positions"] for s, v in track_info.items()}, "track_pad": pad,
                   "base_scoring_seconds": round(t_score, 3), "scored_bp": scored_bp,
                   "base_kb_per_second": round(scored_bp / 1000 / t_score, 1) if t_score and scored_bp else None,
                   "rows_seconds": round(t_rows, 3), "torch_threads": torch.get_num_threads()}
        from genotool.outputs import write_json

        write_json(run.path / SUMMARY, summary)
        run.runtime.update(rows=sum(counts.values()), base_scoring_seconds=summary["base_scoring_seconds"],
                           rows_seconds=summary["rows_seconds"])
    return summary
