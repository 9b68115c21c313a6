"""Variant inputs: a SpliceVarDB-format table (hg38 "chr-pos-ref-alt", gene, classification,
method, location) or a VCF; and the sample weights the table gives candidate rows."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from genotool.errors import UserError
from genotool.genome.gtf import open_text

# SpliceVarDB classification -> sample weight of candidate rows near the variant
CLASS_WEIGHTS = {"splice-altering": 2.0, "normal": 1.5, "low-frequency": 0.5}
WEIGHT_RADIUS = 50


@dataclass
class Variant:
    chrom: str
    pos: int            # 1-based, as written
    ref: str
    alt: str
    vid: str
    gene: str = ""
    classification: str = ""
    line: int = 0


def read_table(path: Path) -> list[Variant]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--variants: {path} not found")
    out = []
    with open_text(path) as fh:
        rd = csv.DictReader(fh, delimiter="\t")
        cols = rd.fieldnames or []
        key = "hg38" if "hg38" in cols else ("variant_id" if "variant_id" in cols else None)
        if key is None:
            raise UserError(f"{path}: line 1: a SpliceVarDB table needs an 'hg38' column (chr-pos-ref-alt)")
        for n, row in enumerate(rd, 2):
            parts = (row.get(key) or "").strip().split("-")
            if len(parts) != 4 or not parts[1].isdigit():
                raise UserError(f"{path}: line {n}: '{row.get(key)}' is not chr-pos-ref-alt")
            c, p, r, a = parts
            out.append(Variant(c, int(p), r.upper(), a.upper(), row.get(key), row.get("gene", "") or "",
                               (row.get("classification") or "").strip(), n))
    return out


def read_vcf(path: Path) -> list[Variant]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--variants: {path} not found")
    out = []
    try:
        with open_text(path) as fh:
            for n, line in enumerate(fh, 1):
                if line.startswith("#") or not line.strip():
                    continue
                cols = line.rstrip("\n").split("\t")
                if len(cols) < 5 or not cols[1].isdigit():
                    raise UserError(f"{path}: line {n}: not a VCF record (CHROM POS ID REF ALT ...)")
                for alt in cols[4].split(","):
                    out.append(Variant(cols[0], int(cols[1]), cols[3].upper(), alt.upper(),
                                       cols[2] if cols[2] != "." else f"{cols[0]}-{cols[1]}-{cols[3]}-{alt}",
                                       line=n))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text VCF") from None
    return out


def read_variants(path: Path) -> tuple[list[Variant], str]:
    """Table or VCF by name (.vcf/.vcf.gz -> VCF); returns (variants, kind)."""
    name = Path(path).name.lower()
    if name.endswith(".vcf") or name.endswith(".vcf.gz") or name.endswith(".vcf.bgz"):
        return read_vcf(path), "vcf"
    return read_table(path), "table"


def weight_intervals(variants: list[Variant]) -> dict[str, list[tuple[int, float]]]:
    """canonical chrom -> [(0-based position, weight)] for classified variants."""
    from genotool.genome.fasta import canonical

    out: dict[str, list[tuple[int, float]]] = {}
    for v in variants:
        w = CLASS_WEIGHTS.get(v.classification.lower())
        if w is not None:
            out.setdefault(canonical(v.chrom), []).append((v.pos - 1, w))
    return out
