"""Streaming GTF reader (GENCODE/Ensembl and UCSC/RefSeq flavours, plain or gzip).

Only exon, CDS, start_codon and stop_codon lines are used (UTRs are derived as exon minus CDS,
gene/transcript/UTR lines are optional). The file is read once, chromosome by chromosome: the
reader yields one chromosome's transcripts at a time, so memory is bounded by the largest
chromosome's annotation, not by the genome. A chromosome that reappears after another one
started is an error (sort the GTF by chromosome first).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

from genotool.errors import UserError

_ATTR = re.compile(r'\s*([A-Za-z_][\w.]*)\s+"?([^";]*)"?\s*;?')
FEATURES = {"exon", "CDS", "start_codon", "stop_codon"}


@dataclass
class Transcript:
    transcript_id: str
    gene_id: str
    chrom: str
    strand: str
    line: int                      # first GTF line of this transcript (for messages)
    exons: list = field(default_factory=list)      # (start, end) 0-based half-open
    cds: list = field(default_factory=list)
    start_codons: list = field(default_factory=list)
    stop_codons: list = field(default_factory=list)
    gene_name: str = ""
    cds_frames: list = field(default_factory=list)   # GTF frame (phase) of each CDS line: 0/1/2, None for '.'
    cds_lines: list = field(default_factory=list)    # line number of each CDS line

    @property
    def cds_length(self) -> int:
        return sum(e - s for s, e in self.cds)

    @property
    def exonic_length(self) -> int:
        return sum(e - s for s, e in self.exons)

    @property
    def start(self) -> int:
        return min(s for s, _ in self.exons)

    @property
    def end(self) -> int:
        return max(e for _, e in self.exons)


def open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt")
    return open(path, "rt")


def parse_attributes(text: str) -> dict:
    out = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        m = _ATTR.match(part)
        if m:
            out.setdefault(m.group(1), m.group(2))
    return out


def iter_chromosomes(path: Path):
    """Yield (chrom, list[Transcript]) per chromosome block, validating every line.

    Raises UserError with the line number for wrong column counts, bad coordinates or strands,
    missing gene_id/transcript_id, and for a chromosome that is not contiguous in the file.
    """
    path = Path(path)
    seen_done: set[str] = set()
    current = None
    tx: dict[str, Transcript] = {}
    n_lines = 0
    try:
        fh = open_text(path)
        with fh:
            for n_lines, line in enumerate(fh, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                cols = line.rstrip("\n\r").split("\t")
                if len(cols) != 9:
                    raise UserError(f"{path}: line {n_lines}: expected 9 tab-separated columns, found {len(cols)}")
                chrom, _src, feat, s, e, _score, strand, frame, attrs = cols
                try:
                    start, end = int(s), int(e)
                except ValueError:
                    raise UserError(f"{path}: line {n_lines}: start/end must be integers, got '{s}', '{e}'") from None
                if start < 1 or end < start:
                    raise UserError(f"{path}: line {n_lines}: bad coordinates {start}-{end} (need 1 <= start <= end)")
                if strand not in ("+", "-", "."):
                    raise UserError(f"{path}: line {n_lines}: strand must be +, - or ., got '{strand}'")
                if chrom != current:
                    if current is not None:
                        yield current, list(tx.values())
                        seen_done.add(current)
                        tx = {}
                    if chrom in seen_done:
                        raise UserError(f"{path}: line {n_lines}: chromosome '{chrom}' appears again after other "
                                        "chromosomes; sort the GTF by chromosome (sort -k1,1 -k4,4n)")
                    current = chrom
                if feat not in FEATURES:
                    continue
                a = parse_attributes(attrs)
                tid = a.get("transcript_id", "")
                gid = a.get("gene_id", "") or tid
                if not tid:
                    raise UserError(f"{path}: line {n_lines}: {feat} line without transcript_id")
                if strand == ".":
                    raise UserError(f"{path}: line {n_lines}: {feat} line of {tid} has no strand")
                t = tx.get(tid)
                if t is None:
                    t = tx[tid] = Transcript(tid, gid, chrom, strand, n_lines, gene_name=a.get("gene_name", ""))
                elif t.strand != strand:
                    raise UserError(f"{path}: line {n_lines}: transcript {tid} has features on both strands")
                iv = (start - 1, end)
                if feat == "exon":
                    t.exons.append(iv)
                elif feat == "CDS":
                    t.cds.append(iv)
                    t.cds_frames.append(int(frame) if frame in ("0", "1", "2") else None)
                    t.cds_lines.append(n_lines)
                elif feat == "start_codon":
                    t.start_codons.append(iv)
                else:
                    t.stop_codons.append(iv)
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise UserError(f"{path}: cannot read GTF ({type(exc).__name__}: {exc})") from None
    if current is not None:
        yield current, list(tx.values())
    if n_lines == 0:
        raise UserError(f"{path}: GTF is empty")


def pick_one_per_gene(transcripts: list[Transcript]) -> list[Transcript]:
    """One transcript per gene: longest CDS, then longest exonic length, then first seen.

    A transcript with CDS lines but no exon lines gets its exons from CDS + codons (some
    GTFs omit exon lines)."""
    best: dict[str, Transcript] = {}
    for t in transcripts:
        if not t.exons:
            if not t.cds:
                continue
            t.exons = _merge(t.cds + t.start_codons + t.stop_codons)
        key = (t.cds_length, t.exonic_length)
        cur = best.get(t.gene_id)
        if cur is None or key > (cur.cds_length, cur.exonic_length):
            best[t.gene_id] = t
    return sorted(best.values(), key=lambda t: (t.start, t.transcript_id))


def _merge(ivs):
    ivs = sorted(ivs)
    out = []
    for s, e in ivs:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def write_gtf_line(fh, chrom, feature, start0, end, strand, attrs: dict, frame=".", source="genotool"):
    attr = " ".join(f'{k} "{v}";' for k, v in attrs.items())
    fh.write(f"{chrom}\t{source}\t{feature}\t{start0 + 1}\t{end}\t.\t{strand}\t{frame}\t{attr}\n")
