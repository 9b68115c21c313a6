"""The preprocess cache: one folder of tensor records per content key, checked on every use.

``<cache dir>/<key>/`` holds ``index.json`` (status, key material, files with sizes and CRC32s,
the split manifest, telemetry), ``rows.parquet`` (CHROM, POS, RN, REF, ALT, label, split,
fold_id per record) and the records: ``records.npz`` (single_file) or ``shard_XXXXX.npz``
(shards), each with pos uint8 (N, 8, L), num float32 (N, 4), cat str (N, 3), row_id int64 (N,).

The key hashes the resolved input paths + sizes + mtimes, the split manifest parameters, the
tensor spec, the shard size setting and the record recipe. A hit is checked quickly (sizes and
sampled CRCs) before it is used and in full (every CRC) when the records are loaded; a failed
check is :class:`CacheCorrupt`, and the pipeline rebuilds the entry.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool_srsnv import splits
from genotool_srsnv.tensors import tensor_spec

RECIPE_VERSION = 1
INDEX_NAME = "index.json"
ROWS_NAME = "rows.parquet"
RECORDS_NAME = "records.npz"
RECORD_ARRAYS = ("pos", "num", "cat", "row_id")
CACHE_SUFFIX = ".deep_srsnv_cache"


class CacheCorrupt(Exception):
    pass


@dataclass
class CacheResult:
    path: Path
    index: dict
    hit: bool
    seconds: float
    plan: dict


def default_cache_dir(output: Path) -> Path:
    """Train's cache when ``--preprocess-cache-dir`` is not given: ``<output>.deep_srsnv_cache``,
    beside the output folder (not inside it) so ``--force`` or a failed run never throws it away."""
    return Path(str(output) + CACHE_SUFFIX)


def _fingerprint(p: Path) -> dict:
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_key(cfg) -> tuple[str, dict]:
    """(key, key material) of a :class:`genotool_srsnv.pipeline.PreprocessConfig`."""
    params = splits.params_of(cfg.manifest_in) if cfg.manifest_in else cfg.manifest_params
    inputs = {k: _fingerprint(Path(getattr(cfg, k))) for k in
              ("positive_bam", "negative_bam", "positive_parquet", "negative_parquet", "training_regions")}
    if cfg.reference:
        inputs["reference"] = _fingerprint(Path(cfg.reference))
    material = {"recipe": RECIPE_VERSION, "inputs": inputs, "split_manifest": params,
                "tensor_spec": tensor_spec(cfg.length), "batch_rows": int(cfg.batch_rows)}
    blob = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24], material


# --------------------------------------------------------------------------------- checksums
def file_checks(path: Path) -> dict:
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


# --------------------------------------------------------------------------------- reading
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

    parts = {k: [] for k in RECORD_ARRAYS}
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


# --------------------------------------------------------------------------------- writing
def write_records(staging: Path, shard_files: list[dict], storage_mode: str) -> list[dict]:
    """The index's file list for the shard files in ``staging`` (``[{file, rows}]``, in shard
    order): merged into one ``records.npz`` (single_file; the shard files are removed) or kept."""
    if storage_mode != "single_file":
        return [{"name": r["file"], "rows": r["rows"], **file_checks(staging / r["file"])} for r in shard_files]
    parts = {k: [] for k in RECORD_ARRAYS}
    for r in shard_files:
        with np.load(staging / r["file"]) as z:
            for k in parts:
                parts[k].append(z[k])
    with open(staging / RECORDS_NAME, "wb") as f:
        np.savez(f, **{k: np.concatenate(v) for k, v in parts.items()})
    for r in shard_files:
        (staging / r["file"]).unlink()
    return [{"name": RECORDS_NAME, "rows": sum(r["rows"] for r in shard_files), **file_checks(staging / RECORDS_NAME)}]


def publish(staging: Path, cdir: Path, index: dict) -> dict:
    """Write ``index.json`` (status complete, with the rows file's checks) and move the staging
    folder onto ``cdir`` in one rename; returns the index."""
    import os
    import shutil

    index = {**index, "rows_file": {"name": ROWS_NAME, **file_checks(staging / ROWS_NAME)}}
    (staging / INDEX_NAME).write_text(json.dumps(index, indent=2, default=str) + "\n")
    if cdir.exists():
        shutil.rmtree(cdir)
    os.replace(staging, cdir)
    return index
