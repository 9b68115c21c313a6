"""Coding gene models as exon chains, and their checks against the sequence.

A :class:`CodingGene` is one transcript's coding exons: its CDS parts with the stop codon merged
into the 3' one (how gene finders and AUGUSTUS's evaluation count a coding exon, and how
``stopCodonExcludedFromCDS`` annotations compare with ones whose CDS holds the stop), 0-based
half-open, in genomic order. :func:`gene_problems` says why a gene is not a valid open reading
frame with canonical splice sites (real annotations hold a few such genes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genotool.genome.intervals import merge_intervals
from genotool_gencode.genes.dna import STOPS, decode, encode, revcomp


@dataclass
class CodingGene:
    transcript_id: str
    gene_id: str
    contig: str
    strand: str                           # '+' or '-'
    exons: list[tuple[int, int]]          # coding exons (CDS + stop codon), genomic order

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    @property
    def coding_length(self) -> int:
        return sum(e - s for s, e in self.exons)

    def introns(self) -> list[tuple[int, int]]:
        return [(a[1], b[0]) for a, b in zip(self.exons, self.exons[1:])]

    def shifted(self, offset: int, contig: str | None = None) -> "CodingGene":
        return CodingGene(self.transcript_id, self.gene_id, contig or self.contig, self.strand,
                          [(s + offset, e + offset) for s, e in self.exons])

    def on_reverse(self, length: int) -> "CodingGene":
        """The same gene in the coordinates of the reverse complement of a sequence of ``length``."""
        return CodingGene(self.transcript_id, self.gene_id, self.contig, "+" if self.strand == "-" else "-",
                          [(length - e, length - s) for s, e in reversed(self.exons)])

    def spliced(self, codes: np.ndarray) -> np.ndarray:
        """The coding exons' codes read on the gene's strand (5' -> 3'), stop codon included."""
        cat = np.concatenate([codes[s:e] for s, e in self.exons]) if self.exons else codes[:0]
        return revcomp(cat) if self.strand == "-" else cat


def named_genes(genes, contig: str, first: int = 0) -> list[CodingGene]:
    """[(strand, exons)] -> CodingGenes g<N> / g<N>.t1 (AUGUSTUS-style names), numbered from ``first``."""
    return [CodingGene(f"g{first + i + 1}.t1", f"g{first + i + 1}", contig, st, ex) for i, (st, ex) in enumerate(genes)]


def from_transcript(t) -> CodingGene | None:
    """A :class:`genotool.genome.gtf.Transcript` -> its coding gene (None without CDS)."""
    if not t.cds:
        return None
    return CodingGene(t.transcript_id, t.gene_id, t.chrom, t.strand, merge_intervals(t.cds + t.stop_codons))


PROBLEMS = ("length", "start", "stop", "in_frame_stop", "splice_site", "short_intron", "short_exon")


def gene_problems(gene: CodingGene, codes: np.ndarray, min_intron: int = 1, min_exon: int = 1) -> list[str]:
    """Why ``gene`` is not a valid gene model on ``codes`` (empty: valid): coding length not a
    multiple of 3, no ATG first, no stop last, an in-frame stop before the end, an intron not
    GT/GC..AG (on the gene's strand), or an intron/exon shorter than the decoder allows."""
    out = []
    if gene.start < 0 or gene.end > len(codes):
        return ["outside"]
    seq = decode(gene.spliced(codes))
    if len(seq) % 3:
        out.append("length")
    if not seq.startswith("ATG"):
        out.append("start")
    if seq[-3:] not in STOPS:
        out.append("stop")
    if any(seq[i:i + 3] in STOPS for i in range(0, len(seq) - 3, 3)):
        out.append("in_frame_stop")
    for s, e in gene.introns():
        intron = decode(codes[s:e])
        if gene.strand == "-":
            intron = decode(revcomp(encode(intron)))
        if intron[:2] not in ("GT", "GC") or intron[-2:] != "AG":
            out.append("splice_site")
            break
    if any(e - s < min_intron for s, e in gene.introns()):
        out.append("short_intron")
    if any(e - s < min_exon for s, e in gene.exons):
        out.append("short_exon")
    return out
