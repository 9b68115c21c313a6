"""The inputs of a run, checked whole before anything is scored: the FASTA (:class:`Reference`)
and the GTF (:func:`check_annotation`).

What is refused up front, each with one line naming the file (and GTF line or transcript):
a GTF contig missing from the FASTA, a chromosome that reappears after another one (unsorted),
a truncated or damaged gzip (the whole file is read once), an exon that ends beyond its contig
(any exon, not only a transcript's last), two exons of one transcript that overlap, a FASTA
index that no longer matches its file (too few bases, line breaks or headers read back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.genome.fasta import canonical, open_fasta
from genotool.genome.gtf import Transcript, iter_chromosomes
from genotool_splice.seqio import digest, encode, fetch_raw


@dataclass
class Reference:
    """An indexed FASTA: contig lengths, canonical-name lookup, checked reads, content digests."""

    path: Path
    fa: object
    lengths: dict[str, int]
    by_key: dict[str, str]
    digests: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, path, option: str = "--fasta") -> "Reference":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{option}: {path} not found")
        fa = open_fasta(path)
        lengths = {n: fa.get_reference_length(n) for n in fa.references}
        if not lengths:
            raise UserError(f"{option}: {path} holds no sequences")
        return cls(path, fa, lengths, {canonical(n): n for n in lengths})

    def name_of(self, contig: str) -> str | None:
        """The FASTA's name of ``contig`` (compared without a leading 'chr'), or None."""
        return self.by_key.get(canonical(contig))

    def codes(self, contig: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """(end - start,) uint8 codes; problems of the characters were reported by :meth:`check`."""
        return encode(fetch_raw(self.fa, self.path, contig, start, end, warn_bad=False))

    def check(self, contigs) -> dict[str, str]:
        """Read each contig whole once: a stale index is refused, other characters than ACGTN are
        warned about; returns (and keeps) contig -> content digest (the base-score cache key)."""
        for c in contigs:
            if c not in self.digests:
                self.digests[c] = digest(fetch_raw(self.fa, self.path, c))
        return {c: self.digests[c] for c in contigs}


def check_transcript(t: Transcript, length: int, contig: str, gtf, fasta) -> list[tuple[int, int]]:
    """Sorted exons of ``t``, refused when one ends beyond the contig or two overlap."""
    exons = sorted(t.exons)
    for s, e in exons:
        if e > length:
            raise UserError(f"{gtf}: transcript {t.transcript_id} (line {t.line}): exon {s + 1}-{e} ends beyond "
                            f"{contig}'s length {length:,} in {fasta}")
    for (s0, e0), (s1, e1) in zip(exons, exons[1:]):
        if s1 < e0:
            raise UserError(f"{gtf}: transcript {t.transcript_id} (line {t.line}): exons {s0 + 1}-{e0} and "
                            f"{s1 + 1}-{e1} overlap (merge or fix them)")
    return exons


def check_annotation(gtf, ref: Reference, option: str = "--annotation") -> dict[str, int]:
    """Read the whole GTF once and check it against ``ref``; FASTA contig -> transcripts with exons."""
    gtf = Path(gtf)
    if not gtf.is_file():
        raise UserError(f"{option}: {gtf} not found")
    counts: dict[str, int] = {}
    for chrom, transcripts in iter_chromosomes(gtf):
        with_exons = [t for t in transcripts if t.exons]
        if not with_exons:
            continue
        name = ref.name_of(chrom)
        if name is None:
            t = with_exons[0]
            raise UserError(f"{gtf}: line {t.line}: transcript {t.transcript_id} is on contig '{chrom}', "
                            f"which is not in {ref.path}")
        for t in with_exons:
            check_transcript(t, ref.lengths[name], name, gtf, ref.path)
        counts[name] = counts.get(name, 0) + len(with_exons)
    if not counts:
        raise UserError(f"{gtf}: no transcripts with exon lines")
    return counts


def transcripts_by_contig(gtf, ref: Reference):
    """Yield (FASTA contig name, transcripts with exons) per GTF chromosome (after :func:`check_annotation`)."""
    for chrom, transcripts in iter_chromosomes(gtf):
        with_exons = [t for t in transcripts if t.exons]
        if with_exons:
            yield ref.name_of(chrom), with_exons
