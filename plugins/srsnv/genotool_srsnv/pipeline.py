"""The preprocess pipeline: FeatureMap parquet + BAM -> cached tensor records.

Flow: check the inputs -> load and label the FeatureMaps (filters, training regions, contig
checks) -> assign the split manifest -> plan shards and run the workers (:mod:`genotool_srsnv.shards`)
-> records and rows written to a staging folder and published atomically under
``<cache dir>/<key>/`` (:mod:`genotool_srsnv.cache`). A rerun with the same key opens the index (a
quick check of file sizes and sampled CRCs) and touches no BAM or parquet.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import warn
from genotool_srsnv import featuremap as fm
from genotool_srsnv import splits
from genotool_srsnv.cache import (ROWS_NAME, CacheCorrupt, CacheResult, cache_key, load_records, publish,
                                  quick_verify, write_records)
from genotool_srsnv.shards import effective_batch_rows, plan_shards, run_shards
from genotool_srsnv.tensors import tensor_spec


@dataclass
class PreprocessConfig:
    """What the pipeline needs (built from the command line by ``SourceOptions.preprocess_config``)."""

    positive_bam: Path
    negative_bam: Path
    positive_parquet: Path
    negative_parquet: Path
    training_regions: Path
    cache_dir: Path
    manifest_params: dict
    manifest_in: dict | None = None
    num_workers: int = 1
    max_ram_gb: float = 48.0
    batch_rows: int = 16384
    storage_mode: str = "single_file"
    length: int = 300
    reference: Path | None = None
    max_missing_fraction: float = 0.02
    progress: bool = True
    extra: dict = field(default_factory=dict)


def default_workers() -> int:
    from genotool.probe import cpu_count

    return max(1, min(cpu_count() - 2, 16))


def check_inputs(cfg: PreprocessConfig) -> None:
    """Existence, BAM index and option sanity; fails before any work is done."""
    for what, p in (("--positive-parquet", cfg.positive_parquet), ("--negative-parquet", cfg.negative_parquet),
                    ("--training-regions", cfg.training_regions)):
        if not Path(p).is_file():
            raise UserError(f"{what}: file not found: {p}")
    for what, p in (("--positive-bam", cfg.positive_bam), ("--negative-bam", cfg.negative_bam)):
        p = Path(p)
        if not p.is_file():
            raise UserError(f"{what}: file not found: {p}")
        idx = [Path(str(p) + ".bai"), p.with_suffix(".bai"), Path(str(p) + ".csi")]
        if not any(i.is_file() for i in idx):
            raise UserError(f"{what}: {p} has no index (.bai/.csi); run `samtools index {p}`")
    if cfg.storage_mode not in ("single_file", "shards"):
        raise UserError(f"--preprocess-storage-mode must be single_file or shards, not {cfg.storage_mode!r}")
    if cfg.length < 16:
        raise UserError(f"--tensor-length must be >= 16, not {cfg.length}")
    if cfg.num_workers < 1:
        raise UserError(f"--preprocess-num-workers must be >= 1, not {cfg.num_workers}")
    if cfg.batch_rows < 1:
        raise UserError(f"--preprocess-batch-rows must be >= 1, not {cfg.batch_rows}")


# ---------------------------------------------------------------------------------------------
# rows


def labelled_rows(positive_parquet, negative_parquet, training_regions):
    """Both FeatureMaps filtered, labelled and restricted to the training regions (no BAM needed)."""
    pos = fm.read_featuremap(positive_parquet, what="--positive-parquet")
    neg = fm.read_featuremap(negative_parquet, what="--negative-parquet")
    sq, ivs = fm.read_interval_list(training_regions)
    for name, df in (("--positive-parquet", pos), ("--negative-parquet", neg)):
        bad = sorted(set(df["CHROM"].unique()) - set(sq))
        if bad:
            raise UserError(f"--training-regions: contigs {', '.join(bad[:4])} from {name} have no @SQ line "
                            f"(interval_list has e.g. {', '.join(list(sq)[:3])}); contig names must match")
    df, stats = fm.label_frames(pos, neg)
    inreg = fm.in_regions(df["CHROM"].to_numpy(), df["POS"].to_numpy(), ivs)
    stats["outside_training_regions"] = int((~inreg).sum())
    df = df[inreg].reset_index(drop=True)
    if len(df) == 0:
        raise UserError("--training-regions: no FeatureMap row lies inside the training regions after filtering")
    if (df["label"] == 1).sum() == 0 or (df["label"] == 0).sum() == 0:
        raise UserError("FeatureMaps: after filtering, one class has no rows (check the filters and inputs)")
    return df, stats, sq, (pos, neg)


def load_rows(cfg: PreprocessConfig):
    """Labelled, filtered rows with split/fold, plus the manifest and label stats."""
    import pysam

    df, stats, sq, (pos, neg) = labelled_rows(cfg.positive_parquet, cfg.negative_parquet, cfg.training_regions)
    for what, bam, pq_name, d in (("--positive-bam", cfg.positive_bam, "--positive-parquet", pos),
                                  ("--negative-bam", cfg.negative_bam, "--negative-parquet", neg)):
        try:
            with pysam.AlignmentFile(str(bam)) as fh:
                contigs = dict(zip(fh.references, fh.lengths))
        except (OSError, ValueError) as exc:
            raise UserError(f"{what}: cannot open BAM {bam}: {exc}") from exc
        fm.check_contigs(d["CHROM"].unique(), contigs, sq, bam_name=f"{what} {bam}", parquet_name=pq_name,
                         regions_name="--training-regions")
    chrom = df["CHROM"].to_numpy().astype(str)
    rn = df["RN"].to_numpy().astype(str)
    label = df["label"].to_numpy()
    if cfg.manifest_in is not None:
        manifest = cfg.manifest_in
        split, fold = splits.apply_manifest(manifest, chrom, rn, label=label, check=True)
    else:
        manifest = splits.build_manifest(cfg.manifest_params, chrom, label, rn, sq)
        split, fold = splits.apply_manifest(manifest, chrom, rn)
    df["split"] = split
    df["fold_id"] = fold
    df["row_id"] = np.arange(len(df), dtype=np.int64)
    return df, manifest, stats, sq


# ---------------------------------------------------------------------------------------------
# cache entry: hit or build


def preprocess(cfg: PreprocessConfig, *, dry_run: bool = False, force_rebuild: bool = False) -> CacheResult:
    """Return the cache for ``cfg``: hit (quick verify) or build. ``dry_run``: plan only."""
    t_start = time.perf_counter()
    check_inputs(cfg)
    key, material = cache_key(cfg)
    cdir = Path(cfg.cache_dir) / key
    eff_rows, eff_reason = effective_batch_rows(cfg)
    plan = {"cache_dir": str(cdir), "cache_key": key, "num_workers": cfg.num_workers,
            "requested_batch_rows": cfg.batch_rows, "effective_batch_rows": eff_rows, "batch_rows_reason": eff_reason,
            "storage_mode": cfg.storage_mode, "tensor_spec": tensor_spec(cfg.length),
            "max_ram_gb": cfg.max_ram_gb}
    if cdir.exists() and not force_rebuild:
        try:
            index = quick_verify(cdir)
            plan["cache"] = "hit"
            if cfg.manifest_in is not None:
                _check_manifest_counts(cfg.manifest_in, index["manifest"])
            return CacheResult(cdir, index, True, time.perf_counter() - t_start, plan)
        except CacheCorrupt as exc:
            warn(f"preprocess cache {cdir} is corrupt ({exc}); rebuilding it")
            shutil.rmtree(cdir, ignore_errors=True)
    plan["cache"] = "miss"
    df, manifest, stats, _ = load_rows(cfg)
    shards = plan_shards(df, eff_rows)
    plan.update(rows=int(len(df)), shards=len(shards),
                rows_per_label={"positive": int((df["label"] == 1).sum()), "negative": int((df["label"] == 0).sum())})
    if dry_run:
        return CacheResult(cdir, {}, False, time.perf_counter() - t_start, plan)
    return _build(cfg, cdir, key, material, df, manifest, stats, shards, plan, t_start)


def _check_manifest_counts(manifest_in: dict, cached: dict) -> None:
    want, got = manifest_in.get("row_counts"), cached.get("row_counts")
    if want and got and want != got:
        k = next(k for k in got if want.get(k) != got[k])
        raise UserError(f"--split-manifest-in: the manifest does not match the data ({k} rows: manifest "
                        f"{want.get(k)}, data {got[k]}); it was made for other inputs or filters")


def _build(cfg, cdir: Path, key, material, df, manifest, stats, shards, plan, t_start) -> CacheResult:
    staging = cdir.with_name(cdir.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    t_load = time.perf_counter() - t_start
    bams = {1: str(Path(cfg.positive_bam).resolve()), 0: str(Path(cfg.negative_bam).resolve())}
    whats = {1: "--positive-bam", 0: "--negative-bam"}
    ref = str(cfg.reference) if cfg.reference else None
    t_enc = time.perf_counter()
    try:
        results = run_shards(shards, bams, whats, cfg.length, staging, ref, cfg.num_workers, cfg.progress)
        enc_seconds = time.perf_counter() - t_enc
        n_rows = sum(r["rows"] for r in results)
        missing = sum(r["missing"] for r in results)
        total = len(df)
        warnings = _check_found(results, total, cfg.max_missing_fraction)
        # rows table (meta for every record)
        found_ids = np.concatenate([np.load(staging / r["file"])["row_id"] for r in results]) if results else []
        meta_cols = [c for c in ("row_id", "CHROM", "POS", "RN", "REF", "ALT", "label", "split", "fold_id")
                     if c in df.columns]
        rows = df.loc[df["row_id"].isin(found_ids), meta_cols]
        rows.to_parquet(staging / ROWS_NAME, index=False)
        t_merge = time.perf_counter()
        files = write_records(staging, results, cfg.storage_mode)
        merge_seconds = time.perf_counter() - t_merge if cfg.storage_mode == "single_file" else 0.0
        wall = time.perf_counter() - t_start
        telemetry = {"load_and_label_seconds": round(t_load, 3), "encode_seconds": round(enc_seconds, 3),
                     "merge_seconds": round(merge_seconds, 3), "total_seconds": round(wall, 3),
                     "rows": n_rows, "rows_per_second": round(total / max(enc_seconds, 1e-9), 1),
                     "workers": _per_worker(results), "load_average_1min": round(os.getloadavg()[0], 2),
                     "missing_rows": missing, "reads_without_ultima_tags": sum(r["no_ultima_tags"] for r in results)}
        index = {"status": "complete", "key": key, "key_material": material, "created": time.time(),
                 "tensor_spec": tensor_spec(cfg.length), "storage_mode": cfg.storage_mode,
                 "files": files, "rows": n_rows, "manifest": manifest, "label_stats": stats, "telemetry": telemetry,
                 "plan": plan, "warnings": warnings}
        index = publish(staging, cdir, index)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        root = cdir.parent
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()   # a failed first build leaves no empty cache folder behind
    return CacheResult(cdir, index, False, time.perf_counter() - t_start, plan)


def _check_found(results: list[dict], total: int, max_missing_fraction: float) -> list[str]:
    """Refuse too many FeatureMap rows without a read; warn about the rest and about reads
    without Ultima tags (returned: the warnings for the index)."""
    missing = sum(r["missing"] for r in results)
    if missing:
        ex_rn = [x for r in results for x in r["missing_rn_examples"]][:3]
        msg = (f"{missing} of {total} FeatureMap rows ({missing / total:.2%}) have no matching read in the BAMs "
               f"(e.g. RN {', '.join(ex_rn)})")
        if missing / total > max_missing_fraction:
            raise UserError(f"{msg}; above --max-missing-reads-fraction {max_missing_fraction}")
        warn(msg + "; those rows are skipped")
    warnings = []
    no_tags = sum(r["no_ultima_tags"] for r in results)
    if no_tags:
        w = (f"{no_tags} reads have no Ultima tp/t0 tags (not an Ultima BAM?); their tp, t0, rq, tm, st, et "
             "channels are zero")
        warn(w)
        warnings.append(w)
    return warnings


def _per_worker(results: list[dict]) -> list[dict]:
    """Rows, seconds and rows/s per worker process. Rows per CPU-second stand next to rows per
    wall-second: on a shared machine the gap is the time the worker waited for a core, not work
    the code did."""
    workers = {}
    for r in results:
        w = workers.setdefault(r["worker"], {"rows": 0, "seconds": 0.0, "cpu_seconds": 0.0, "shards": 0})
        w["rows"] += r["rows"] + r["missing"]
        w["seconds"] += r["seconds"]
        w["cpu_seconds"] += r["cpu_seconds"]
        w["shards"] += 1
    return [{"worker": i, "shards": w["shards"], "rows": w["rows"], "seconds": round(w["seconds"], 3),
             "cpu_seconds": round(w["cpu_seconds"], 3),
             "rows_per_second": round(w["rows"] / max(w["seconds"], 1e-9), 1),
             "rows_per_cpu_second": round(w["rows"] / max(w["cpu_seconds"], 1e-9), 1)}
            for i, w in enumerate(workers.values())]


def open_or_rebuild(cfg: PreprocessConfig) -> tuple[CacheResult, dict]:
    """Cache for cfg plus its records, rebuilding once if the full CRC check finds corruption."""
    res = preprocess(cfg)
    try:
        rec = load_records(res.path, res.index)
    except CacheCorrupt as exc:
        warn(f"preprocess cache {res.path} is corrupt ({exc}); rebuilding it")
        res = preprocess(cfg, force_rebuild=True)
        rec = load_records(res.path, res.index)
    return res, rec
