"""Sample tables (TSV with a ``sample`` column) and the stratified train/val/test split manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log


def read_table(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """(header columns, {column: values}) of a tab-separated table with a ``sample`` column."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--samples: {path} not found")
    lines = [ln.rstrip("\n\r") for ln in _text(path).splitlines() if ln.strip() and not ln.startswith("##")]
    if not lines:
        raise UserError(f"--samples: {path} is empty")
    if len(lines) == 1:
        raise UserError(f"--samples: {path} has a header but no sample rows")
    header = lines[0].lstrip("#").split("\t")
    if "sample" not in header:
        raise UserError(f"--samples: {path}:1: the header needs a 'sample' column (got {', '.join(header)})")
    cols: dict[str, list[str]] = {h: [] for h in header}
    for n, ln in enumerate(lines[1:], start=2):
        parts = ln.split("\t")
        if len(parts) != len(header):
            raise UserError(f"--samples: {path}:{n}: {len(parts)} fields, the header has {len(header)}")
        for h, v in zip(header, parts):
            cols[h].append(v)
    if len(set(cols["sample"])) != len(cols["sample"]):
        raise UserError(f"--samples: {path}: sample names are not unique")
    return header, cols


def _text(path: Path) -> str:
    """The table as text, or a one-line error for a compressed or binary file (a VCF given by
    mistake) or bytes that are not UTF-8."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        raise UserError(f"--samples: {path} is gzip-compressed; the sample table is plain tab-separated text "
                        "(was the VCF given here?)")
    if b"\x00" in data[:65536] or data[:4] == b"BCF\x02":
        raise UserError(f"--samples: {path} is a binary file; the sample table is plain tab-separated text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserError(f"--samples: {path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def match_samples(table: dict[str, list[str]], vcf_names: list[str], table_path: Path, vcf_path: Path) -> list[int]:
    """Rows of the table to use, in VCF order. Table samples absent from the VCF are an error;
    VCF samples absent from the table are counted, warned about and dropped."""
    in_vcf = set(vcf_names)
    missing = [s for s in table["sample"] if s not in in_vcf]
    if missing:
        raise UserError(f"--samples: {table_path}: {len(missing)} samples are not in {vcf_path} "
                        f"(first: {', '.join(missing[:3])})")
    row = {s: i for i, s in enumerate(table["sample"])}
    extra = [s for s in vcf_names if s not in row]
    if extra:
        log(f"warning: {len(extra)} VCF samples are not in {table_path} and are dropped (first: {extra[0]})")
    return [row[s] for s in vcf_names if s in row]


def numeric(values: list[str], column: str, path) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_float(v))
        raise UserError(f"{path}: column '{column}' must be numeric for this task, found '{bad}'") from None


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def strata(values: list[str], bins: int = 5) -> list[str]:
    """Stratum per sample: the value itself, or its quantile bin for a numeric column with many values."""
    distinct = set(values)
    if len(distinct) > 10 and all(_is_float(v) for v in values):
        x = np.asarray([float(v) for v in values])
        edges = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])
        return [f"q{int(b)}" for b in np.searchsorted(edges, x)]
    return list(values)


def stratified_split(names: list[str], labels: list[str], fractions=(0.6, 0.2, 0.2), seed: int = 0,
                     label_column: str = "population", table_path=None) -> dict:
    """Manifest {"train": [...], "val": [...], "test": [...]} stratified by label, fixed by seed."""
    rng = np.random.default_rng(seed)
    out = {"train": [], "val": [], "test": []}
    groups: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    for lab in sorted(groups):
        idx = np.asarray(groups[lab])
        if len(idx) < 3:
            raise UserError(f"--samples: {table_path}: label '{lab}' of column '{label_column}' has {len(idx)} "
                            "samples; the train/val/test split needs at least 3")
        idx = idx[rng.permutation(len(idx))]
        n_val = max(1, int(round(fractions[1] * len(idx))))
        n_test = max(1, int(round(fractions[2] * len(idx))))
        out["test"] += [names[i] for i in idx[:n_test]]
        out["val"] += [names[i] for i in idx[n_test:n_test + n_val]]
        out["train"] += [names[i] for i in idx[n_test + n_val:]]
    return {"seed": seed, "fractions": list(fractions), "stratified_by": label_column, **out}
