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
    sequence: str                              # upper case, IUPAC codes read as N
    genes: list[GbGene] = field(default_factory=list)
    iupac: dict[str, int] = field(default_factory=dict)    # ambiguity codes read as N, by code


def read_genbank(path: Path) -> list[GbRecord]:
    """All records of one GenBank file; bad input -> one UserError line naming file and record.

    Checked beyond what Biopython enforces: every record ends with ``//`` (a file cut inside its
    last record is refused, not read short), its sequence is as long as its LOCUS line says, holds
    only DNA letters, and
    its CDS parts lie on the record itself. IUPAC ambiguity codes are read as N (counted per record)."""
    from Bio import BiopythonParserWarning, SeqIO
    from Bio.Seq import UndefinedSequenceError

    out, seen = [], set()
    declared = _scan_records(path)
    try:
        with open(path) as fh, warnings.catch_warnings(record=True) as caught:
            # AUGUSTUS's files have short LOCUS lines (no molecule type/date): harmless; the warnings
            # that matter (a length or a location Biopython cannot read) are checked below
            warnings.simplefilter("always", BiopythonParserWarning)
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
                want = declared[n - 1][1] if n - 1 < len(declared) else None
                if want is not None and want != len(seq):
                    raise UserError(f"{path}: record {name}: the LOCUS line says {want} bp, the sequence has "
                                    f"{len(seq)} (cut or edited?)")
                seq, iupac = _checked_alphabet(path, name, seq)
                bad_loc = [str(w.message) for w in caught if "location" in str(w.message).lower()]
                caught.clear()
                out.append(GbRecord(name, seq, _genes(path, rec, name, len(seq), bad_loc), iupac))
    except UserError:
        raise
    except (ValueError, IndexError, AttributeError, TypeError, AssertionError) as exc:
        raise UserError(f"{path}: not a readable GenBank file ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise UserError(f"--genbank: cannot read {path} ({exc.strerror or exc})") from None
    if not out:
        raise UserError(f"{path}: no GenBank record (a record starts with a LOCUS line)")
    return out


_IUPAC = set("RYSWKMBDHVN")


def _checked_alphabet(path, name, seq: str) -> tuple[str, dict[str, int]]:
    """Only A/C/G/T and IUPAC codes (read as N, counted); anything else is an error."""
    counts = {}
    for ch in sorted(set(seq) - set("ACGT")):
        if ch not in _IUPAC:
            raise UserError(f"{path}: record {name}: character '{ch}' at position {seq.index(ch) + 1} of the "
                            "sequence is not a DNA base or IUPAC code")
        if ch != "N":
            counts[ch] = seq.count(ch)
            seq = seq.replace(ch, "N")
    return seq, counts


def _scan_records(path: Path) -> list[tuple[str, int | None]]:
    """(name, declared length) per record, checking the layout Biopython is lenient about: every
    record (LOCUS ... //) has an ORIGIN block and ends with '//'."""
    import re

    name, has_origin, out, line_no = None, False, [], 0
    try:
        with open(path, errors="replace") as fh:
            for line_no, line in enumerate(fh, 1):
                if line.startswith("LOCUS"):
                    if name is not None:
                        raise UserError(f"{path}: line {line_no}: record {name} has no '//' line before the next "
                                        "LOCUS (cut or concatenated badly?)")
                    parts = line.split()
                    name, has_origin = parts[1] if len(parts) > 1 else f"at line {line_no}", False
                    m = re.search(r"\s(\d+)\s*(?:bp|aa)\b", line)
                    out.append((name, int(m.group(1)) if m else None))
                elif line.startswith("ORIGIN"):
                    has_origin = True
                elif line.startswith("//") and name is not None:
                    if not has_origin:
                        raise UserError(f"{path}: line {line_no}: record {name}: no ORIGIN sequence")
                    name = None
    except OSError as exc:
        raise UserError(f"--genbank: cannot read {path} ({exc.strerror or exc})") from None
    if name is not None:
        raise UserError(f"{path}: record {name} is cut: the file ends at line {line_no} without the '//' that ends "
                        "a record (truncated file?)")
    return out


def _genes(path, rec, name, length: int, bad_locations=()) -> list[GbGene]:
    genes = []
    for k, feat in enumerate(f for f in rec.features if f.type == "CDS"):
        if feat.location is None:
            why = bad_locations[0] if bad_locations else "no location"
            raise UserError(f"{path}: record {name}: a CDS location cannot be read ({why})")
        parts = list(feat.location.parts)
        remote = [p for p in parts if getattr(p, "ref", None) and p.ref not in (rec.id, rec.name)]
        if remote:
            raise UserError(f"{path}: record {name}: CDS part {remote[0].ref}:{int(remote[0].start) + 1}.."
                            f"{int(remote[0].end)} lies on another record; genes must lie wholly on their record")
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
