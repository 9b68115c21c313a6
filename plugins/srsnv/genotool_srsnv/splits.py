"""Split manifests shared by the CNN and the XGBoost baseline ("split parity").

* Holdout chromosomes (default chr21, chr22) are the test set in both modes.
* Single-model mode: a read is validation iff
  ``int.from_bytes(sha256(f"{seed}::{RN}").digest()[:8], "big") / 2**64 < val_fraction``.
* K-fold mode: the other chromosomes are assigned to folds greedily by @SQ length (largest
  first into the currently lightest fold); model k validates on fold k.

The manifest is plain JSON. It records its parameters and the row counts of the data it was
made for, so a manifest from other data is refused instead of silently giving other splits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from genotool.errors import UserError

MANIFEST_VERSION = 1
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def hash_fraction(keys, seed: int) -> np.ndarray:
    """sha256(f"{seed}::{key}") first 8 bytes big-endian / 2**64, for each key. (n,) float64"""
    out = np.empty(len(keys), dtype=np.float64)
    for i, k in enumerate(keys):
        h = hashlib.sha256(f"{seed}::{k}".encode()).digest()
        out[i] = int.from_bytes(h[:8], "big") / 2.0**64
    return out


def assign_kfold(lengths: dict[str, int], contigs: list[str], n_folds: int) -> dict[str, int]:
    """Greedy length balancing: longest contig first into the fold with the least total length."""
    totals = [0] * n_folds
    out = {}
    for c in sorted(contigs, key=lambda c: (-lengths.get(c, 0), c)):
        k = int(np.argmin(totals))
        out[c] = k
        totals[k] += lengths.get(c, 0)
    return out


def manifest_params(*, single_model: bool, holdout: list[str], val_fraction: float, hash_key: str, seed: int,
                    n_folds: int) -> dict:
    """The parameters that, with the data, determine every row's split (used in cache keys)."""
    if not 0 < val_fraction < 1:
        raise UserError(f"--val-fraction must be in (0, 1), not {val_fraction}")
    if hash_key != "RN":
        raise UserError(f"--split-hash-key: only RN (read name) is supported, not {hash_key!r}")
    if not single_model and n_folds < 2:
        raise UserError(f"--num-folds must be >= 2 for chromosome K-fold, not {n_folds}")
    return {"version": MANIFEST_VERSION, "mode": "single_model" if single_model else "kfold",
            "holdout_chromosomes": sorted(holdout), "val_fraction": float(val_fraction),
            "split_hash_key": hash_key, "seed": int(seed), "n_folds": 1 if single_model else int(n_folds)}


def build_manifest(params: dict, chrom: np.ndarray, label: np.ndarray, rn: np.ndarray,
                   sq_lengths: dict[str, int]) -> dict:
    """A complete manifest (params + fold map + row counts) for this data."""
    m = dict(params)
    contigs = sorted(set(chrom.tolist()))
    train_contigs = [c for c in contigs if c not in set(params["holdout_chromosomes"])]
    if not train_contigs:
        raise UserError("split: every contig of the data is a holdout chromosome; nothing left to train on")
    if params["mode"] == "kfold":
        if len(train_contigs) < params["n_folds"]:
            raise UserError(f"split: {len(train_contigs)} training contigs cannot fill {params['n_folds']} folds")
        m["chrom_to_fold"] = assign_kfold(sq_lengths, train_contigs, params["n_folds"])
    m["contigs"] = contigs
    split, fold = apply_manifest(m, chrom, rn, check=False)
    m["row_counts"] = _counts(split, label)
    return m


def _counts(split: np.ndarray, label: np.ndarray) -> dict:
    out = {"total": int(len(split)), "positive": int((label == 1).sum()), "negative": int((label == 0).sum())}
    for name, code in SPLIT_CODES.items():
        out[name] = int((split == code).sum())
    return out


def apply_manifest(m: dict, chrom: np.ndarray, rn: np.ndarray, label: np.ndarray | None = None,
                   check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-row split code (0 train, 1 val, 2 test) and fold id (-1 for test rows).

    Single-model: fold_id 0 for every non-test row (one model). K-fold: the fold of the row's
    chromosome (model k is validated on fold k; its other rows train it).
    """
    holdout = set(m["holdout_chromosomes"])
    is_test = np.isin(chrom, list(holdout))
    split = np.zeros(len(chrom), dtype=np.int8)
    fold = np.full(len(chrom), -1, dtype=np.int16)
    if m["mode"] == "single_model":
        val = hash_fraction(rn, m["seed"]) < m["val_fraction"]
        split[val] = SPLIT_CODES["val"]
        fold[~is_test] = 0
    else:
        c2f = m["chrom_to_fold"]
        unknown = sorted(set(chrom[~is_test].tolist()) - set(c2f))
        if unknown:
            raise UserError(f"--split-manifest-in: the data has contigs {', '.join(unknown[:4])} that the manifest "
                            "assigns to no fold; the manifest does not match the data")
        fold[~is_test] = np.array([c2f[c] for c in chrom[~is_test]], dtype=np.int16)
        split[~is_test] = SPLIT_CODES["val"]   # every non-test row is validation for its own fold
    split[is_test] = SPLIT_CODES["test"]
    if check and label is not None and "row_counts" in m:
        got = _counts(split, label)
        want = m["row_counts"]
        diff = {k: (want.get(k), got[k]) for k in got if want.get(k) != got[k]}
        if diff:
            k, (w, g) = next(iter(diff.items()))
            raise UserError(f"--split-manifest-in: the manifest does not match the data ({k} rows: manifest {w}, "
                            f"data {g}); it was made for other inputs or filters")
    return split, fold


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--split-manifest-in: file not found: {path}")
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"--split-manifest-in: {path} is not valid JSON: {exc}") from exc
    need = ("version", "mode", "holdout_chromosomes", "val_fraction", "seed", "split_hash_key")
    missing = [k for k in need if k not in m]
    if missing or m.get("mode") not in ("single_model", "kfold"):
        raise UserError(f"--split-manifest-in: {path} is not a srsnv split manifest (missing {', '.join(missing)})")
    if m["mode"] == "kfold" and "chrom_to_fold" not in m:
        raise UserError(f"--split-manifest-in: {path}: kfold manifest without chrom_to_fold")
    return m


def params_of(m: dict) -> dict:
    keys = ("version", "mode", "holdout_chromosomes", "val_fraction", "split_hash_key", "seed", "n_folds")
    out = {k: m.get(k) for k in keys}
    if "chrom_to_fold" in m:
        out["chrom_to_fold"] = m["chrom_to_fold"]
    return out
