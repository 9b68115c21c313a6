"""FeatureMap parquet schema, the known vocabularies, loading, validation and the label recipe.

A FeatureMap row is one read at one candidate SNV. Column names follow Ultima's FeatureMap
(see docs/srsnv.md); the older ``X_RN``/``X_INDEX``/... spellings are renamed on load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genotool.errors import UserError

# Columns needed to locate the read and apply the label recipe / leakage guards.
REQUIRED_COLUMNS = ("CHROM", "POS", "REF", "ALT", "X_ALT", "RN", "INDEX", "REV", "MAPQ", "EDIST")

# The 26 engineered features of the production XGBoost comparison.
XGB_FEATURES = ("REF", "ALT", "X_HMER_REF", "X_HMER_ALT", "X_PREV1", "X_NEXT1", "X_PREV2", "X_NEXT2",
                "X_PREV3", "X_NEXT3", "BCSQ", "BCSQCSS", "RL", "INDEX", "DUP", "REV", "SCST", "SCED",
                "MAPQ", "EDIST", "SMQ_BEFORE", "SMQ_AFTER", "tm", "rq", "st", "et")
XGB_CATEGORICAL = ("REF", "ALT", "X_PREV1", "X_NEXT1", "X_PREV2", "X_NEXT2", "X_PREV3", "X_NEXT3",
                   "tm", "st", "et")

# Older FeatureMap spellings -> current names.
LEGACY_RENAMES = {"X_RN": "RN", "X_INDEX": "INDEX", "X_LENGTH": "RL", "X_EDIST": "EDIST", "X_SCORE": "BCSQ"}

# Known vocabularies (``--encoder-vocab-source known``). Index 0 is always padding/unknown.
BASES = ("A", "C", "G", "T", "N")
REF_EXTRA = ("-",)          # '-' = gap in the reference row (inserted read base)
T0_LEVELS = (12, 25, 32, 34, 35, 38, 45, 51)   # Phred levels of t0 seen in Ultima BAMs
TM_VALUES = ("A", "AQ", "AQZ", "AZ", "Q", "QZ", "Z")
ST_VALUES = ("MIXED", "MINUS", "PLUS", "UNDETERMINED")

# Production filters shared by both classes (brief: "Shared filters").
FILTER_DOC = ("DP in [20, 2x mean DP], MAPQ >= 60, ADJ_REF_DIFF == 0, BCSQ > 40, EDIST < 10, "
              "X_HMER_ALT < 7; negatives RAW_VAF <= 0.05; positives with EDIST == max dropped")


def read_featuremap(path: str | Path, *, what: str) -> "pandas.DataFrame":  # noqa: F821
    """Load a FeatureMap parquet, rename legacy columns, and check required columns and rows."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what}: parquet not found: {path}")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any arrow failure is a bad input file
        raise UserError(f"{what}: cannot read parquet {path}: {exc}") from exc
    df = table.to_pandas()
    df = df.rename(columns={k: v for k, v in LEGACY_RENAMES.items() if k in df.columns and v not in df.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{what}: parquet {path} is missing required columns: {', '.join(missing)}")
    if len(df) == 0:
        raise UserError(f"{what}: parquet {path} has no rows")
    df["CHROM"] = df["CHROM"].astype(str)
    df["RN"] = df["RN"].astype(str)
    df["POS"] = df["POS"].astype(np.int64)
    return df


def apply_filters(df, *, label: int, mean_dp: float | None = None):
    """Apply the shared production filters (columns absent from the file are skipped).

    Returns (filtered frame, counts dict of rows removed per rule).
    """
    keep = np.ones(len(df), dtype=bool)
    removed = {}

    def rule(name, mask):
        nonlocal keep
        removed[name] = int((keep & ~mask).sum())
        keep &= mask

    if "DP" in df and mean_dp:
        rule("DP", (df["DP"] >= 20).to_numpy() & (df["DP"] <= 2 * mean_dp).to_numpy())
    rule("MAPQ", (df["MAPQ"] >= 60).to_numpy())
    if "ADJ_REF_DIFF" in df:
        rule("ADJ_REF_DIFF", (df["ADJ_REF_DIFF"] == 0).to_numpy())
    if "BCSQ" in df:
        rule("BCSQ", (df["BCSQ"] > 40).to_numpy())
    rule("EDIST", (df["EDIST"] < 10).to_numpy())
    if "X_HMER_ALT" in df:
        rule("X_HMER_ALT", (df["X_HMER_ALT"] < 7).to_numpy())
    if label == 0 and "RAW_VAF" in df:
        rule("RAW_VAF", (df["RAW_VAF"] <= 0.05).to_numpy())
    return df[keep], removed


def label_frames(pos_df, neg_df):
    """Filter both classes, apply the EDIST leakage guard and return one frame with ``label``."""
    import pandas as pd

    dps = [d["DP"].to_numpy() for d in (pos_df, neg_df) if "DP" in d]
    mean_dp = float(np.mean(np.concatenate(dps))) if dps else None
    pos, rp = apply_filters(pos_df, label=1, mean_dp=mean_dp)
    neg, rn = apply_filters(neg_df, label=0, mean_dp=mean_dp)
    # Positives carry EDIST+1 (the fake X_ALT reference); the top EDIST bucket would only hold
    # positives, so it is dropped (production leakage guard).
    dropped_edist = 0
    if len(pos) and len(neg):
        max_neg = int(neg["EDIST"].max())
        m = pos["EDIST"].to_numpy() > max_neg
        if not m.any():
            m = pos["EDIST"].to_numpy() == int(pos["EDIST"].max())
        dropped_edist = int(m.sum())
        pos = pos[~m]
    pos = pos.assign(label=np.int8(1))
    neg = neg.assign(label=np.int8(0))
    df = pd.concat([pos, neg], ignore_index=True)
    stats = {"positive_in": int(len(pos_df)), "negative_in": int(len(neg_df)),
             "positive_removed": rp, "negative_removed": rn, "positive_edist_guard_dropped": dropped_edist,
             "positive_kept": int(len(pos)), "negative_kept": int(len(neg)), "filters": FILTER_DOC}
    return df, stats


def read_interval_list(path: str | Path) -> tuple[dict[str, int], dict[str, list[tuple[int, int]]]]:
    """Parse a Picard interval_list: (@SQ contig -> length, contig -> [(start, end)] 1-based closed)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--training-regions: interval_list not found: {path}")
    sq: dict[str, int] = {}
    ivs: dict[str, list[tuple[int, int]]] = {}
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            if line.startswith("@SQ"):
                f = dict(x.split(":", 1) for x in line.rstrip("\n").split("\t")[1:] if ":" in x)
                if "SN" not in f or "LN" not in f:
                    raise UserError(f"--training-regions: {path}:{n}: @SQ line without SN/LN")
                sq[f["SN"]] = int(f["LN"])
            elif line.startswith("@") or not line.strip():
                continue
            else:
                parts = line.split("\t")
                if len(parts) < 3:
                    raise UserError(f"--training-regions: {path}:{n}: expected contig, start, end")
                ivs.setdefault(parts[0], []).append((int(parts[1]), int(parts[2])))
    if not sq:
        raise UserError(f"--training-regions: {path} has no @SQ header lines (contig lengths are needed)")
    unknown = sorted(set(ivs) - set(sq))
    if unknown:
        raise UserError(f"--training-regions: {path}: intervals on contigs without @SQ: {', '.join(unknown[:5])}")
    return sq, ivs


def in_regions(chrom: np.ndarray, pos: np.ndarray, ivs: dict[str, list[tuple[int, int]]]) -> np.ndarray:
    """Boolean mask of rows whose 1-based POS lies in an interval of its contig."""
    keep = np.zeros(len(pos), dtype=bool)
    for c in np.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        iv = sorted(ivs.get(c, []))
        if not iv:
            continue
        starts = np.array([a for a, _ in iv])
        ends = np.array([b for _, b in iv])
        p = pos[rows]
        k = np.searchsorted(starts, p, side="right") - 1
        ok = k >= 0
        ok[ok] = p[ok] <= ends[k[ok]]
        keep[rows] = ok
    return keep


def check_contigs(data_contigs, bam_contigs: dict[str, int], sq: dict[str, int], *, bam_name: str,
                  parquet_name: str, regions_name: str) -> None:
    """Contig names must agree between the parquet, the BAM header and the interval_list @SQ."""
    data_contigs = sorted(set(data_contigs))
    not_in_bam = [c for c in data_contigs if c not in bam_contigs]
    if not_in_bam:
        raise UserError(f"{parquet_name}: contigs {', '.join(not_in_bam[:4])} are not in the BAM header of "
                        f"{bam_name} (BAM has e.g. {', '.join(list(bam_contigs)[:3])}); contig names must match")
    not_in_sq = [c for c in data_contigs if c not in sq]
    if not_in_sq:
        raise UserError(f"{regions_name}: contigs {', '.join(not_in_sq[:4])} from {parquet_name} have no @SQ line "
                        f"(interval_list has e.g. {', '.join(list(sq)[:3])}); contig names must match")
    bad_len = [c for c in data_contigs if bam_contigs[c] != sq[c]]
    if bad_len:
        c = bad_len[0]
        raise UserError(f"{regions_name}: contig {c} has length {sq[c]} but {bam_contigs[c]} in {bam_name}: "
                        "different reference builds")
