"""FeatureMap parquet + BAM -> cached tensor records (parallel shard workers, keyed cache).

Flow: load and label the FeatureMaps (filters, training regions, contig checks) -> assign the
split manifest -> plan shards (rows of one BAM and one contig, sorted by POS, at most the
RAM-capped shard size) -> workers stream ``fetch(contig, first POS, last POS)`` over each shard
and match reads by name against the shard's rows (no per-row random access) -> records are
written to a staging folder and published atomically under ``<cache dir>/<key>/``.

The cache key hashes the resolved input paths + sizes + mtimes, the split manifest parameters,
the tensor spec, the shard size setting and the record recipe. A rerun with the same key opens
the index (a quick check of file sizes and sampled CRCs) and touches no BAM or parquet.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool_srsnv import featuremap as fm
from genotool_srsnv import splits
from genotool_srsnv.tensors import (CAT_CHANNELS, NUM_CHANNELS, POS_CHANNELS, MissingMD, encode_read, place,
                                    tensor_spec)

RECIPE_VERSION = 1
INDEX_NAME = "index.json"
ROWS_NAME = "rows.parquet"


from genotool.log import warn  # noqa: E402,F401 - the core's stderr logger (re-exported for the modules here)

CACHE_SUFFIX = ".deep_srsnv_cache"


@dataclass
class PreprocessConfig:
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


def default_cache_dir(output: Path) -> Path:
    """Train's cache when ``--preprocess-cache-dir`` is not given: ``<output>.deep_srsnv_cache``,
    beside the output folder (not inside it) so ``--force`` or a failed run never throws it away."""
    return Path(str(output) + CACHE_SUFFIX)


def preprocess_config(opts: dict, cache_dir: Path) -> PreprocessConfig:
    """The :class:`PreprocessConfig` of a ``preprocess``/``train`` command line.

    ``opts`` maps the CLI parameter names (``positive_bam``, ``holdout_chromosomes``,
    ``preprocess_num_workers``, ...) to their values: the CLI hands over its options as they
    are and every rule about them (split parameters, the manifest file, worker defaults) lives here.
    """
    params = splits.manifest_params(
        single_model=opts["single_model_split"],
        holdout=[c.strip() for c in opts["holdout_chromosomes"].split(",") if c.strip()],
        val_fraction=opts["val_fraction"], hash_key=opts["split_hash_key"], seed=opts["seed"],
        n_folds=opts["num_folds"])
    man_in = splits.read_manifest(opts["split_manifest_in"]) if opts.get("split_manifest_in") else None
    return PreprocessConfig(opts["positive_bam"], opts["negative_bam"], opts["positive_parquet"],
                            opts["negative_parquet"], opts["training_regions"], Path(cache_dir), params, man_in,
                            num_workers=opts.get("preprocess_num_workers") or default_workers(),
                            max_ram_gb=opts["preprocess_max_ram_gb"], batch_rows=opts["preprocess_batch_rows"],
                            storage_mode=opts["preprocess_storage_mode"], length=opts["tensor_length"],
                            reference=opts.get("reference"), max_missing_fraction=opts["max_missing_reads_fraction"])


def preprocess_command_config(opts: dict) -> PreprocessConfig:
    """``srsnv preprocess``: the cache folder is ``--preprocess-cache-dir``, else ``--output``."""
    cache = opts.get("preprocess_cache_dir") or opts.get("output")
    if cache is None:
        raise UserError("--output/--preprocess-cache-dir: a cache folder is required")
    return preprocess_config(opts, cache)


def cache_summary(res: "CacheResult") -> dict:
    """What ``srsnv preprocess`` prints: the cache folder, hit or built, seconds, rows, telemetry."""
    return {"cache": str(res.path), "cache_hit": res.hit, "seconds": round(res.seconds, 4),
            "rows": res.index.get("rows"), "telemetry": res.index.get("telemetry", {})}


def default_workers() -> int:
    from genotool.probe import cpu_count

    return max(1, min(cpu_count() - 2, 16))


def _fingerprint(p: Path) -> dict:
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


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


def cache_key(cfg: PreprocessConfig) -> tuple[str, dict]:
    params = splits.params_of(cfg.manifest_in) if cfg.manifest_in else cfg.manifest_params
    inputs = {k: _fingerprint(Path(getattr(cfg, k))) for k in
              ("positive_bam", "negative_bam", "positive_parquet", "negative_parquet", "training_regions")}
    if cfg.reference:
        inputs["reference"] = _fingerprint(Path(cfg.reference))
    material = {"recipe": RECIPE_VERSION, "inputs": inputs, "split_manifest": params,
                "tensor_spec": tensor_spec(cfg.length), "batch_rows": int(cfg.batch_rows)}
    blob = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24], material


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


def effective_batch_rows(cfg: PreprocessConfig) -> tuple[int, str]:
    """Shard size after the RAM cap: each worker holds its shard's records ~3x (arrays, encode, save)."""
    per_row = len(POS_CHANNELS) * cfg.length + 4 * len(NUM_CHANNELS) + 3 * 4 * 16 + 64
    budget = cfg.max_ram_gb * 2**30 * 0.5   # half the budget for records, the rest for parquet/BAM buffers
    cap = int(budget // (cfg.num_workers * per_row * 3))
    if cap < cfg.batch_rows:
        eff = max(64, cap)
        return eff, (f"{cfg.num_workers} workers x {cfg.batch_rows} rows x {per_row} B/row x 3 exceeds half of "
                     f"--preprocess-max-ram-gb {cfg.max_ram_gb}: shard size reduced to {eff}")
    return cfg.batch_rows, "requested shard size fits the RAM budget"


def plan_shards(df, batch_rows: int) -> list[dict]:
    """Shards of rows from one BAM (label) and one contig, in POS order, <= batch_rows each."""
    shards = []
    for (label, chrom), g in df.groupby(["label", "CHROM"], sort=True):
        g = g.sort_values("POS", kind="stable")
        n = len(g)
        k = max(1, -(-n // batch_rows))
        for part in np.array_split(np.arange(n), k):
            sub = g.iloc[part]
            shards.append({"label": int(label), "chrom": str(chrom), "start": int(sub["POS"].iloc[0]) - 1,
                           "end": int(sub["POS"].iloc[-1]), "row_id": sub["row_id"].to_numpy(),
                           "pos": sub["POS"].to_numpy(), "rn": sub["RN"].to_numpy().astype(str),
                           "ref": np.frombuffer("".join(sub["REF"].astype(str).str[0]).encode(), np.uint8).copy()})
    for i, s in enumerate(shards):
        s["id"] = i
    return shards


# ---------------------------------------------------------------------------------------------
# workers

_HANDLES: dict = {}
_HANDLES_PID = [os.getpid()]


def _handles() -> dict:
    # a forked worker must not share the parent's open BAM handles (shared file offsets)
    if _HANDLES_PID[0] != os.getpid():
        _HANDLES.clear()
        _HANDLES_PID[0] = os.getpid()
    return _HANDLES


def _bam(path: str):
    import pysam

    _handles()
    h = _HANDLES.get(path)
    if h is None:
        h = pysam.AlignmentFile(path)
        _HANDLES[path] = h
    return h


def _ref_fetcher(reference: str | None):
    if not reference:
        return None
    import pysam

    _handles()
    fa = _HANDLES.get(("fa", reference))
    if fa is None:
        fa = pysam.FastaFile(reference)
        _HANDLES[("fa", reference)] = fa
    cache: dict = {}

    def fetch(contig, positions):
        s = cache.get(contig)
        if s is None:
            s = np.frombuffer(fa.fetch(contig).upper().encode(), np.uint8)
            cache.clear()
            cache[contig] = s
        return s[positions]

    return fetch


def run_shard(shard: dict, bam: str, what: str, length: int, out_dir: str, reference: str | None) -> dict:
    """Encode one shard and write ``shard_XXXXX.npz``; returns telemetry. Runs in a worker."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    n = len(shard["row_id"])
    pos_arr = np.zeros((n, len(POS_CHANNELS), length), dtype=np.uint8)
    num_arr = np.zeros((n, len(NUM_CHANNELS)), dtype=np.float32)
    cat_arr = np.full((n, len(CAT_CHANNELS)), "", dtype="<U16")
    found = np.zeros(n, dtype=bool)
    want: dict[str, list[int]] = {}
    for j, name in enumerate(shard["rn"]):
        want.setdefault(name, []).append(j)
    rows_pos = shard["pos"]
    ref_fetch = _ref_fetcher(reference)
    no_tags = 0
    no_md = 0
    try:
        fh = _bam(bam)
        for read in fh.fetch(shard["chrom"], shard["start"], shard["end"]):
            js = want.get(read.query_name)
            if js is None or read.is_secondary or read.is_supplementary or read.is_unmapped:
                continue
            try:
                enc = encode_read(read, ref_fetch)
            except MissingMD:
                no_md += 1
                continue
            rp = enc["refpos"]
            aligned_cols = np.flatnonzero((rp >= 0) & (enc["cols"][0] != 45))
            arp = rp[aligned_cols]
            has = enc["has_tags"]
            if not (has["tp"] and has["t0"]):
                no_tags += 1
            rev = read.is_reverse
            st = read.get_tag("st") if has["st"] else ""
            et = read.get_tag("et") if has["et"] else ""
            for j in js:
                if found[j]:
                    continue
                target = rows_pos[j] - 1
                k = np.searchsorted(arp, target)
                if k >= len(arp) or arp[k] != target:
                    continue   # another read of the same name, or the candidate falls in a deletion
                place(enc, int(aligned_cols[k]), rev, int(shard["ref"][j]), length, pos_arr[j])
                num_arr[j] = (float(rev), read.mapping_quality, float(read.get_tag("rq")) if has["rq"] else 0.0,
                              float(st == "MIXED" or et == "MIXED"))
                cat_arr[j] = (read.get_tag("tm") if has["tm"] else "", st, et)
                found[j] = True
    except OSError as exc:
        raise UserError(f"{what}: {bam} is truncated or corrupt ({exc})") from None
    if no_md and not ref_fetch:
        raise UserError(f"{what}: {no_md} reads in {bam} have no MD tag; pass --reference FASTA "
                        "to build the reference channel")
    not_aligned = int((~found).sum())
    path = Path(out_dir) / f"shard_{shard['id']:05d}.npz"
    keep = found
    with open(path, "wb") as f:
        np.savez(f, pos=pos_arr[keep], num=num_arr[keep], cat=cat_arr[keep], row_id=shard["row_id"][keep])
    sec = time.perf_counter() - t0
    return {"shard": shard["id"], "worker": os.getpid(), "rows": int(keep.sum()), "missing": not_aligned,
            "missing_rn_examples": [str(x) for x in shard["rn"][~found][:3]], "no_ultima_tags": no_tags,
            "seconds": sec, "cpu_seconds": time.process_time() - c0, "file": path.name}


def run_shards(shards, bams: dict, whats: dict, length: int, out_dir: Path, ref: str | None, workers: int,
               progress: bool = True) -> list[dict]:
    """Run every shard (in-process for one worker, else a fork pool); results in shard order."""
    from concurrent.futures import ProcessPoolExecutor

    results = []
    with _progress(progress, len(shards)) as bar:
        task = bar.add_task("preprocess shards", total=len(shards)) if bar else None
        args = [(s, bams[s["label"]], whats[s["label"]], length, str(out_dir), ref) for s in shards]
        if workers == 1:
            for a in args:
                results.append(run_shard(*a))
                if bar:
                    bar.advance(task)
        else:
            # fork starts workers fastest (they never touch torch), except where it could deadlock
            from genotool.parallel import pool_kwargs, start_method

            with ProcessPoolExecutor(max_workers=workers, **pool_kwargs(start_method())) as ex:
                futs = [ex.submit(run_shard, *a) for a in args]
                for f in futs:
                    results.append(f.result())
                    if bar:
                        bar.advance(task)
    return results


def _file_checks(path: Path) -> dict:
    """Size, full CRC32 and CRC32 of 16 sampled 64 KiB blocks (the quick check on a cache hit)."""
    size = path.stat().st_size
    return {"size": size, "crc32": _full_crc(path), "sample_crc32": _sample_crc(path, size)}


def _sample_crc(path: Path, size: int) -> int:
    crc = 0
    with open(path, "rb") as f:
        for k in range(16):
            f.seek(int(size * k / 16))
            crc = zlib.crc32(f.read(65536), crc)
        f.seek(max(0, size - 65536))
        crc = zlib.crc32(f.read(65536), crc)
    return crc


def _full_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                break
            crc = zlib.crc32(b, crc)
    return crc


# ---------------------------------------------------------------------------------------------
# cache


class CacheCorrupt(Exception):
    pass


def quick_verify(cdir: Path) -> dict:
    """Index present and complete, every file with its size and sampled CRC; raises CacheCorrupt."""
    ip = cdir / INDEX_NAME
    try:
        index = json.loads(ip.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CacheCorrupt(f"index unreadable ({exc})") from None
    if index.get("status") != "complete":
        raise CacheCorrupt("index not complete")
    for f in index["files"] + [index["rows_file"]]:
        p = cdir / f["name"]
        if not p.is_file():
            raise CacheCorrupt(f"{f['name']} missing")
        size = p.stat().st_size
        if size != f["size"]:
            raise CacheCorrupt(f"{f['name']} has {size} bytes, index says {f['size']}")
        if _sample_crc(p, size) != f["sample_crc32"]:
            raise CacheCorrupt(f"{f['name']} content differs from its checksum")
    return index


def load_records(cdir: Path, index: dict, verify: bool = True) -> dict:
    """All records in row order: pos uint8 (N, 8, L), num float32 (N, 4), cat str (N, 3), row_id (N,)
    plus the rows table (pandas). Full CRC check of every file when ``verify``."""
    import pandas as pd

    parts = {"pos": [], "num": [], "cat": [], "row_id": []}
    for f in index["files"]:
        p = cdir / f["name"]
        if verify and _full_crc(p) != f["crc32"]:
            raise CacheCorrupt(f"{f['name']} fails its CRC32 check")
        try:
            with np.load(p, allow_pickle=False) as z:
                for k in parts:
                    parts[k].append(z[k])
        except (OSError, ValueError, KeyError) as exc:
            raise CacheCorrupt(f"{f['name']} unreadable ({exc})") from None
    rec = {k: (np.concatenate(v) if len(v) > 1 else v[0]) for k, v in parts.items()}
    rows = pd.read_parquet(cdir / index["rows_file"]["name"])
    rows = rows.set_index("row_id").loc[rec["row_id"]].reset_index()
    rec["rows"] = rows
    return rec


@dataclass
class CacheResult:
    path: Path
    index: dict
    hit: bool
    seconds: float
    plan: dict


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
            if dry_run:
                return CacheResult(cdir, index, True, time.perf_counter() - t_start, plan)
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
        if missing:
            ex_rn = [x for r in results for x in r["missing_rn_examples"]][:3]
            msg = (f"{missing} of {total} FeatureMap rows ({missing / total:.2%}) have no matching read in the BAMs "
                   f"(e.g. RN {', '.join(ex_rn)})")
            if missing / total > cfg.max_missing_fraction:
                raise UserError(f"{msg}; above --max-missing-reads-fraction {cfg.max_missing_fraction}")
            warn(msg + "; those rows are skipped")
        no_tags = sum(r["no_ultima_tags"] for r in results)
        warnings = []
        if no_tags:
            w = (f"{no_tags} reads have no Ultima tp/t0 tags (not an Ultima BAM?); their tp, t0, rq, tm, st, et "
                 "channels are zero")
            warn(w)
            warnings.append(w)
        # rows table (meta for every record)
        found_ids = np.concatenate([np.load(staging / r["file"])["row_id"] for r in results]) if results else []
        meta_cols = [c for c in ("row_id", "CHROM", "POS", "RN", "REF", "ALT", "label", "split", "fold_id")
                     if c in df.columns]
        rows = df.loc[df["row_id"].isin(found_ids), meta_cols]
        rows.to_parquet(staging / ROWS_NAME, index=False)
        files = []
        if cfg.storage_mode == "single_file":
            t_merge = time.perf_counter()
            parts = {"pos": [], "num": [], "cat": [], "row_id": []}
            for r in results:
                with np.load(staging / r["file"]) as z:
                    for k in parts:
                        parts[k].append(z[k])
            with open(staging / "records.npz", "wb") as f:
                np.savez(f, **{k: np.concatenate(v) for k, v in parts.items()})
            for r in results:
                (staging / r["file"]).unlink()
            files.append({"name": "records.npz", "rows": n_rows, **_file_checks(staging / "records.npz")})
            merge_seconds = time.perf_counter() - t_merge
        else:
            merge_seconds = 0.0
            for r in results:
                files.append({"name": r["file"], "rows": r["rows"], **_file_checks(staging / r["file"])})
        workers = {}
        for r in results:
            w = workers.setdefault(r["worker"], {"rows": 0, "seconds": 0.0, "cpu_seconds": 0.0, "shards": 0})
            w["rows"] += r["rows"] + r["missing"]
            w["seconds"] += r["seconds"]
            w["cpu_seconds"] += r["cpu_seconds"]
            w["shards"] += 1
        # rows per CPU-second next to rows per wall-second: on a shared machine the gap is the
        # time the worker waited for a core, not work the code did
        wl = [{"worker": i, "shards": w["shards"], "rows": w["rows"], "seconds": round(w["seconds"], 3),
               "cpu_seconds": round(w["cpu_seconds"], 3),
               "rows_per_second": round(w["rows"] / max(w["seconds"], 1e-9), 1),
               "rows_per_cpu_second": round(w["rows"] / max(w["cpu_seconds"], 1e-9), 1)}
              for i, w in enumerate(workers.values())]
        wall = time.perf_counter() - t_start
        telemetry = {"load_and_label_seconds": round(t_load, 3), "encode_seconds": round(enc_seconds, 3),
                     "merge_seconds": round(merge_seconds, 3), "total_seconds": round(wall, 3),
                     "rows": n_rows, "rows_per_second": round(total / max(enc_seconds, 1e-9), 1),
                     "workers": wl, "load_average_1min": round(os.getloadavg()[0], 2), "missing_rows": missing, "reads_without_ultima_tags": no_tags}
        index = {"status": "complete", "key": key, "key_material": material, "created": time.time(),
                 "tensor_spec": tensor_spec(cfg.length), "storage_mode": cfg.storage_mode,
                 "files": files, "rows_file": {"name": ROWS_NAME, **_file_checks(staging / ROWS_NAME)},
                 "rows": n_rows, "manifest": manifest, "label_stats": stats, "telemetry": telemetry,
                 "plan": plan, "warnings": warnings}
        (staging / INDEX_NAME).write_text(json.dumps(index, indent=2, default=str) + "\n")
        if cdir.exists():
            shutil.rmtree(cdir)
        os.replace(staging, cdir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        root = cdir.parent
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()   # a failed first build leaves no empty cache folder behind
    return CacheResult(cdir, index, False, time.perf_counter() - t_start, plan)


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


class _NullBar:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def _progress(enabled: bool, total: int):
    """A rich progress bar on stderr (only when stderr is a terminal), else a no-op context."""
    if not enabled or not sys.stderr.isatty():
        return _NullBar()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)
