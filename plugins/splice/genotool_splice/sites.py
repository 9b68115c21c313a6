"""Splice sites and gene bodies from a GTF, per chromosome, labelled on the exon side.

Both base models peak on the exon side: the acceptor label sits on the first base of the
downstream exon, the donor label on the last base of the upstream exon (in transcript
orientation; on the minus strand the genomic coordinates swap accordingly). Every transcript
contributes its sites, so alternative transcripts add their alternative sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genotool.genome.gtf import Transcript

DONOR, ACCEPTOR, NEITHER = 0, 1, 2          # meta-layer label order
LABEL_NAMES = ("donor", "acceptor", "neither")


@dataclass
class ChromSites:
    """Sites of one chromosome: ``sites[strand]`` maps 0-based genomic position -> (label, gene);
    ``genes`` holds (start, end, strand, gene_id) spans (0-based half-open)."""

    chrom: str
    sites: dict = field(default_factory=lambda: {"+": {}, "-": {}})
    genes: list = field(default_factory=list)

    @property
    def n_sites(self) -> int:
        return len(self.sites["+"]) + len(self.sites["-"])


def chrom_sites(chrom: str, transcripts: list[Transcript]) -> ChromSites:
    out = ChromSites(chrom)
    spans: dict[tuple[str, str], list[int]] = {}
    for t in transcripts:
        exons = sorted(t.exons)
        if not exons:
            continue
        key = (t.gene_id, t.strand)
        sp = spans.setdefault(key, [exons[0][0], exons[-1][1]])
        sp[0], sp[1] = min(sp[0], exons[0][0]), max(sp[1], exons[-1][1])
        table = out.sites[t.strand]
        for k in range(len(exons) - 1):
            left_end, right_start = exons[k][1] - 1, exons[k + 1][0]      # exon-side bases around the intron
            if t.strand == "+":
                table.setdefault(left_end, (DONOR, t.gene_id))
                table.setdefault(right_start, (ACCEPTOR, t.gene_id))
            else:
                table.setdefault(left_end, (ACCEPTOR, t.gene_id))
                table.setdefault(right_start, (DONOR, t.gene_id))
    out.genes = sorted((s, e, strand, gid) for (gid, strand), (s, e) in spans.items())
    return out


def gene_index(genes: list, length: int, strand: str) -> np.ndarray:
    """(length,) int32: index into ``genes`` of a gene covering the position on this strand, -1 outside."""
    g = np.full(length, -1, dtype=np.int32)
    for i, (s, e, st, _) in enumerate(genes):
        if st == strand:
            g[max(0, s):min(length, e)] = i
    return g


@dataclass
class SpanTruth:
    """Annotated truth over [start, end) of a contig, per strand, genomic order: ``body`` (L,) bool
    (inside a transcript body: first exon start .. last exon end), ``donor``/``acceptor`` (L,) bool
    (exon-side site positions of those transcripts)."""

    start: int
    end: int
    body: dict
    donor: dict
    acceptor: dict

    @property
    def sites(self) -> dict:
        return {k: int(sum(getattr(self, k)[s].sum() for s in "+-")) for k in ("donor", "acceptor")}


def span_truth(transcripts: list[Transcript], start: int, end: int) -> SpanTruth:
    """Truth of the transcripts lying wholly inside [start, end) (the SpliceAI genome-wide protocol:
    every position of every annotated transcript body, both strands)."""
    L = end - start
    body = {s: np.zeros(L, bool) for s in "+-"}
    donor = {s: np.zeros(L, bool) for s in "+-"}
    acceptor = {s: np.zeros(L, bool) for s in "+-"}
    for t in transcripts:
        exons = sorted(t.exons)
        if not exons or exons[0][0] < start or exons[-1][1] > end:
            continue
        s = t.strand
        body[s][exons[0][0] - start:exons[-1][1] - start] = True
        for (_, e0), (s1, _) in zip(exons, exons[1:]):
            left, right = e0 - 1 - start, s1 - start          # exon-side bases around the intron
            (donor if s == "+" else acceptor)[s][left] = True
            (acceptor if s == "+" else donor)[s][right] = True
    return SpanTruth(start, end, body, donor, acceptor)
