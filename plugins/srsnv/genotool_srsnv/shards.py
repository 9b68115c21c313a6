"""Shards of FeatureMap rows and the workers that turn them into tensor records.

A shard is the rows of one BAM (label) and one contig, in POS order, at most the RAM-capped shard
size. A worker streams ``fetch(contig, first POS, last POS)`` over its shard and matches reads by
name against the shard's rows (no per-row random access), encodes each read once
(:mod:`genotool_srsnv.tensors`) and writes ``shard_XXXXX.npz`` with pos uint8 (n, 8, L),
num float32 (n, 4), cat str (n, 3) and row_id int64 (n,) of the rows it found.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool_srsnv.tensors import CAT_CHANNELS, NUM_CHANNELS, POS_CHANNELS, MissingMD, encode_read, place


def effective_batch_rows(cfg) -> tuple[int, str]:
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
    with progress_bar(progress, len(shards)) as bar:
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


class _NullBar:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def progress_bar(enabled: bool, total: int):
    """A rich progress bar on stderr (only when stderr is a terminal), else a no-op context."""
    if not enabled or not sys.stderr.isatty():
        return _NullBar()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)
