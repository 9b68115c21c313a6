"""Gene models in and out: GTF and GFF3 writers (what AUGUSTUS users load), and a reader of the
coding part of any GTF/GFF (CDS and stop_codon lines grouped by transcript), e.g. AUGUSTUS's output.

Written per gene: GTF 2.2 with ``gene``, ``transcript``, ``exon``, ``CDS`` (frame column =
phase), ``start_codon`` and ``stop_codon`` lines (CDS without the stop codon, as GTF 2.2 and
AUGUSTUS write it); GFF3 with ``gene``, ``mRNA``, ``exon``, ``CDS`` (phase), ``start_codon`` and
``stop_codon`` features linked by ID/Parent. Exons are the coding exons (no UTR is predicted).
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from pathlib import Path

from genotool.errors import UserError
from genotool.genome.intervals import merge_intervals
from genotool_gencode.genes.annotation import CodingGene

_TID = re.compile(r'transcript_id "([^"]*)"')
_GID = re.compile(r'gene_id "([^"]*)"')
_PARENT = re.compile(r"(?:^|;)\s*Parent=([^;]+)")


def cds_parts(gene: CodingGene) -> list[tuple[int, int]]:
    """The CDS parts (stop codon removed from the 3' exon), genomic order."""
    ex = [list(e) for e in gene.exons]
    if gene.strand == "+":
        ex[-1][1] -= 3
    else:
        ex[0][0] += 3
    return [(s, e) for s, e in ex if e > s]


def codon_parts(gene: CodingGene, which: str) -> list[tuple[int, int]]:
    """The start or stop codon's genomic pieces (a codon may be split by an intron): the first or
    last three coding bases in transcript order (plus strand: start on the left; minus: on the right)."""
    from_left = (which == "start") == (gene.strand == "+")
    order = gene.exons if from_left else gene.exons[::-1]
    need, out = 3, []
    for s, e in order:
        if need == 0:
            break
        take = min(need, e - s)
        out.append((s, s + take) if from_left else (e - take, e))
        need -= take
    return sorted(out)


def phases(gene: CodingGene) -> list[tuple[int, int, int]]:
    """CDS parts with their phase (bases to skip to reach the next codon start), genomic order."""
    parts = cds_parts(gene)
    tx = parts if gene.strand == "+" else parts[::-1]
    out, done = [], 0
    for s, e in tx:
        out.append((s, e, (3 - done % 3) % 3))
        done += e - s
    return sorted(out)


def write_gtf(fh, genes: list[CodingGene], source: str = "genotool-gencode") -> None:
    for g in genes:
        tid, gid = g.transcript_id, g.gene_id
        attrs = f'gene_id "{gid}"; transcript_id "{tid}";'
        fh.write(f'{g.contig}\t{source}\tgene\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\tgene_id "{gid}";\n')
        fh.write(f"{g.contig}\t{source}\ttranscript\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\t{attrs}\n")
        rows = [(s, "start_codon", e, ".") for s, e in codon_parts(g, "start")]
        rows += [(s, "exon", e, ".") for s, e in g.exons]
        rows += [(s, "CDS", e, str(ph)) for s, e, ph in phases(g)]
        rows += [(s, "stop_codon", e, ".") for s, e in codon_parts(g, "stop")]
        for s, feat, e, frame in sorted(rows, key=lambda r: (r[0], r[1])):
            fh.write(f"{g.contig}\t{source}\t{feat}\t{s + 1}\t{e}\t.\t{g.strand}\t{frame}\t{attrs}\n")


def write_gff3(fh, genes: list[CodingGene], source: str = "genotool-gencode", header: bool = True) -> None:
    if header:
        fh.write("##gff-version 3\n")
    for g in genes:
        gid, tid = g.gene_id, g.transcript_id
        fh.write(f"{g.contig}\t{source}\tgene\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\tID={gid}\n")
        fh.write(f"{g.contig}\t{source}\tmRNA\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\tID={tid};Parent={gid}\n")
        for i, (s, e) in enumerate(g.exons, 1):
            fh.write(f"{g.contig}\t{source}\texon\t{s + 1}\t{e}\t.\t{g.strand}\t.\tID={tid}.exon{i};Parent={tid}\n")
        for s, e, ph in phases(g):
            fh.write(f"{g.contig}\t{source}\tCDS\t{s + 1}\t{e}\t.\t{g.strand}\t{ph}\tID={tid}.cds;Parent={tid}\n")
        for which in ("start", "stop"):
            for s, e in codon_parts(g, which):
                fh.write(f"{g.contig}\t{source}\t{which}_codon\t{s + 1}\t{e}\t.\t{g.strand}\t.\tParent={tid}\n")


def read_gene_models(path: Path, source: str | None = None, what: str = "--gtf") -> list[CodingGene]:
    """Coding gene models of a GTF (or GFF3): per transcript, its CDS and stop_codon lines merged.

    ``source``: keep only lines whose column 2 is this, and skip lines that are not 9 columns
    (AUGUSTUS echoes annotated input with another source and prints its evaluation table in its
    output); without it every line must be well formed. Lines of other features are ignored."""
    parts: dict = defaultdict(list)
    meta: dict = {}
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            for n, line in enumerate(fh, 1):
                if line.startswith("#") or not line.strip():
                    continue
                c = line.rstrip("\n").split("\t")
                if len(c) != 9 and source:
                    continue
                if len(c) != 9:
                    raise UserError(f"{path}: line {n}: expected 9 tab-separated columns, found {len(c)}")
                if c[2] not in ("CDS", "stop_codon") or (source and c[1] != source):
                    continue
                m = _TID.search(c[8]) or _PARENT.search(c[8])
                if not m:
                    raise UserError(f"{path}: line {n}: {c[2]} line without transcript_id or Parent")
                tid = m.group(1)
                g = _GID.search(c[8])
                try:
                    s, e = int(c[3]) - 1, int(c[4])
                except ValueError:
                    raise UserError(f"{path}: line {n}: start/end must be integers") from None
                if s < 0 or e <= s:
                    raise UserError(f"{path}: line {n}: bad coordinates {c[3]}-{c[4]}")
                if c[6] not in "+-" or not c[6]:
                    raise UserError(f"{path}: line {n}: strand must be + or -, got '{c[6]}'")
                key = (c[0], tid)
                parts[key].append((s, e))
                meta.setdefault(key, (g.group(1) if g else tid, c[6]))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"{what}: cannot read {path} ({type(exc).__name__}: {exc})") from None
    return [CodingGene(tid, meta[(contig, tid)][0], contig, meta[(contig, tid)][1], merge_intervals(iv))
            for (contig, tid), iv in parts.items()]
