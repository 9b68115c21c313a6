"""GenBank records of annotated sequences (the format AUGUSTUS training sets come in) -> genes.

Parsed with Biopython (``Bio.SeqIO``, format ``genbank``). Each record is one contig; each CDS
feature one gene: its ``join(...)`` parts are the coding exons (``complement(...)``: minus
strand). The records of AUGUSTUS's training sets end the CDS *before* the stop codon (AUGUSTUS
reads them with ``stopCodonExcludedFromCDS true``), so the stop codon is taken as the three bases
after the CDS end on its strand, and it is counted whether they read TAA/TAG/TGA. Records
without a CDS are kept (intergenic only) and counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from genotool.errors import UserError

STOPS = {"TAA", "TAG", "TGA"}
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


@dataclass
class GbGene:
    """One CDS: coding parts [(start, end)) 0-based half-open, genomic order; the stop codon after them."""

    name: str
    strand: str                               # '+' or '-'
    cds: list[tuple[int, int]]
    stop: tuple[int, int] | None              # None when the record ends within 3 bases of the CDS

    @property
    def start(self) -> int:
        return self.cds[0][0]

    @property
    def end(self) -> int:
        return self.cds[-1][1]

    def exons(self) -> list[tuple[int, int]]:
        """The coding parts with the stop codon joined to the 3' one (the exon that holds it)."""
        ex = list(self.cds)
        if self.stop is not None:
            if self.strand == "+":
                ex[-1] = (ex[-1][0], self.stop[1])
            else:
                ex[0] = (self.stop[0], ex[0][1])
        return ex


@dataclass
class GbRecord:
    name: str
    sequence: str                              # upper case
    genes: list[GbGene] = field(default_factory=list)


def read_genbank(path: Path) -> list[GbRecord]:
    """All records of one GenBank file; bad input -> one UserError line naming file and record."""
    from Bio import BiopythonParserWarning, SeqIO
    from Bio.Seq import UndefinedSequenceError

    out, seen = [], set()
    _check_origins(path)
    try:
        with open(path) as fh, warnings.catch_warnings():
            # AUGUSTUS's files have short LOCUS lines (no molecule type/date): harmless
            warnings.simplefilter("ignore", BiopythonParserWarning)
            for n, rec in enumerate(SeqIO.parse(fh, "genbank"), 1):
                name = rec.name or rec.id or f"record{n}"
                try:
                    seq = str(rec.seq).upper()
                except UndefinedSequenceError:
                    raise UserError(f"{path}: record {name}: no ORIGIN sequence") from None
                if not seq:
                    raise UserError(f"{path}: record {name}: no ORIGIN sequence")
                if name in seen:
                    raise UserError(f"{path}: record name {name} occurs twice")
                seen.add(name)
                out.append(GbRecord(name, seq, _genes(path, name, rec, len(seq))))
    except UserError:
        raise
    except (ValueError, IndexError, AttributeError, TypeError, AssertionError) as exc:
        raise UserError(f"{path}: not a readable GenBank file ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise UserError(f"--genbank: cannot read {path} ({exc.strerror or exc})") from None
    if not out:
        raise UserError(f"{path}: no GenBank record (a record starts with a LOCUS line)")
    return out


def _check_origins(path: Path) -> None:
    """Every record (LOCUS ... //) has an ORIGIN block: Biopython's own message for a missing one
    depends on what precedes it, so say it plainly, with the line."""
    name, has_origin = None, False
    try:
        with open(path, errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                if line.startswith("LOCUS"):
                    parts = line.split()
                    name, has_origin = parts[1] if len(parts) > 1 else f"at line {n}", False
                elif line.startswith("ORIGIN"):
                    has_origin = True
                elif line.startswith("//") and name is not None:
                    if not has_origin:
                        raise UserError(f"{path}: line {n}: record {name}: no ORIGIN sequence")
                    name = None
    except OSError as exc:
        raise UserError(f"--genbank: cannot read {path} ({exc.strerror or exc})") from None


def _genes(path, name, rec, length: int) -> list[GbGene]:
    genes = []
    for k, feat in enumerate(f for f in rec.features if f.type == "CDS"):
        parts = list(feat.location.parts)
        strands = {p.strand for p in parts}
        if len(strands) != 1 or strands.pop() not in (1, -1):
            raise UserError(f"{path}: record {name}: CDS {feat.location} mixes or lacks strands")
        strand = "+" if parts[0].strand == 1 else "-"
        cds = sorted((int(p.start), int(p.end)) for p in parts)
        for s, e in cds:
            if s < 0 or e > length or e <= s:
                raise UserError(f"{path}: record {name}: CDS part {s + 1}..{e} is outside the record "
                                f"(1..{length})")
        for (s0, e0), (s1, e1) in zip(cds, cds[1:]):
            if s1 < e0:
                raise UserError(f"{path}: record {name}: CDS join parts {s0 + 1}..{e0} and {s1 + 1}..{e1} overlap")
        gene = (feat.qualifiers.get("gene") or feat.qualifiers.get("locus_tag") or [f"{name}.{k + 1}"])[0]
        if strand == "+":
            stop = (cds[-1][1], cds[-1][1] + 3) if cds[-1][1] + 3 <= length else None
        else:
            stop = (cds[0][0] - 3, cds[0][0]) if cds[0][0] >= 3 else None
        genes.append(GbGene(str(gene), strand, cds, stop))
    return genes


def stop_codon_reads(seq: str, gene: GbGene) -> str:
    """The stop codon's three bases read on the gene's strand ('' if the record ends first)."""
    if gene.stop is None:
        return ""
    s = seq[gene.stop[0]:gene.stop[1]]
    return s if gene.strand == "+" else s.translate(_COMPLEMENT)[::-1]
