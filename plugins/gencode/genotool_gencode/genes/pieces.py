"""The gene finder's data in a `gencode preprocess` folder: the sequence of each split's regions
and the coding transcripts wholly inside them.

* ``{split}.fa`` (+ ``.fai``): one record per region (named as the region is written, e.g.
  ``NC_003070.9:16000001-18000000``, or the contig / GenBank record name when whole);
* ``{split}_genes.gtf``: every coding transcript wholly inside the split's regions (all isoforms:
  the truth gene models are scored against), on the original contig's coordinates;
* ``pieces.json``: per record its split, name, contig and [start, end) on the contig.

:func:`load_split` reads them back as :class:`Piece` objects (codes and genes in the piece's own
coordinates); :func:`training_genes` picks one valid transcript per gene and cuts long pieces
into sub-pieces between genes (for cross-fitting and bounded memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool_gencode.genes.annotation import CodingGene, gene_problems
from genotool_gencode.genes.dna import encode
from genotool_gencode.genes.gff import read_gene_models, write_gtf

INDEX = "pieces.json"


@dataclass
class Piece:
    name: str
    contig: str
    start: int
    end: int
    codes: np.ndarray
    genes: list[CodingGene] = field(default_factory=list)     # piece coordinates, every transcript

    def to_contig(self, genes: list[CodingGene]) -> list[CodingGene]:
        """Gene models of this piece's coordinates -> the contig's."""
        return [g.shifted(self.start, self.contig) for g in genes]


class PieceWriter:
    """Writes a split's pieces (``add``) and their transcripts; ``close`` indexes the FASTA."""

    def __init__(self, out_dir: Path, split: str):
        self.out_dir, self.split = out_dir, split
        self.fa = open(out_dir / f"{split}.fa", "w")
        self.gtf = open(out_dir / f"{split}_genes.gtf", "w")
        self.index: list[dict] = []
        self.transcripts = 0

    def add(self, name: str, contig: str, start: int, end: int, sequence: str, genes: list[CodingGene]) -> None:
        self.fa.write(f">{name}\n")
        for i in range(0, len(sequence), 60):
            self.fa.write(sequence[i:i + 60] + "\n")
        write_gtf(self.gtf, sorted(genes, key=lambda g: (g.start, g.transcript_id)), source="annotation")
        self.transcripts += len(genes)
        self.index.append({"split": self.split, "name": name, "contig": contig, "start": start, "end": end,
                           "transcripts": len(genes)})

    def close(self, complete: bool = True) -> list[dict]:
        """Close the files; index the FASTA when ``complete`` (a failed run leaves it to be removed)."""
        import pysam

        self.fa.close()
        self.gtf.close()
        if complete:
            pysam.faidx(str(self.out_dir / f"{self.split}.fa"))
        return self.index


def write_index(out_dir: Path, entries: list[dict]) -> None:
    (out_dir / INDEX).write_text(json.dumps(entries, indent=1) + "\n")


def has_pieces(data_dir: Path, split: str) -> bool:
    return (data_dir / INDEX).is_file() and (data_dir / f"{split}.fa").is_file()


def load_split(data_dir: Path, split: str) -> list[Piece]:
    """The pieces of ``split`` with their transcripts (piece coordinates)."""
    import pysam

    if not has_pieces(data_dir, split):
        raise UserError(f"--data: {data_dir} has no {split}.fa / {INDEX} (gene models need a folder written by "
                        "this version's `gencode preprocess`; re-run it)")
    try:
        entries = [e for e in json.loads((data_dir / INDEX).read_text()) if e["split"] == split]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"--data: {data_dir / INDEX} is damaged ({type(exc).__name__})") from None
    genes = read_gene_models(data_dir / f"{split}_genes.gtf", what="--data")
    by_contig: dict[str, list[CodingGene]] = {}
    for g in genes:
        by_contig.setdefault(g.contig, []).append(g)
    fa = pysam.FastaFile(str(data_dir / f"{split}.fa"))
    out = []
    try:
        for e in entries:
            seq = fa.fetch(e["name"])
            if len(seq) != e["end"] - e["start"]:
                raise UserError(f"--data: {data_dir / split}.fa: record {e['name']} has {len(seq)} bp, "
                                f"{INDEX} says {e['end'] - e['start']}")
            mine = [g.shifted(-e["start"]) for g in by_contig.get(e["contig"], [])
                    if g.start >= e["start"] and g.end <= e["end"]]
            out.append(Piece(e["name"], e["contig"], e["start"], e["end"], encode(seq), mine))
    finally:
        fa.close()
    return out


def one_per_gene(genes: list[CodingGene]) -> list[CodingGene]:
    """One transcript per gene: the longest coding sequence (then the first by id)."""
    best: dict[str, CodingGene] = {}
    for g in sorted(genes, key=lambda g: g.transcript_id):
        cur = best.get(g.gene_id)
        if cur is None or g.coding_length > cur.coding_length:
            best[g.gene_id] = g
    return sorted(best.values(), key=lambda g: (g.start, g.transcript_id))


def training_genes(pieces: list[Piece], min_intron: int, min_exon: int, sub_piece: int = 1_000_000):
    """-> ([(codes, genes)] sub-pieces of at most ~``sub_piece`` bp cut between genes, each with its
    valid genes (one transcript per gene), counts of the genes left out by problem)."""
    out, dropped = [], {}
    for p in pieces:
        chosen = one_per_gene(p.genes)
        valid = []
        for g in chosen:
            probs = gene_problems(g, p.codes, min_intron, min_exon)
            for pr in probs:
                dropped[pr] = dropped.get(pr, 0) + 1
            if not probs:
                valid.append(g)
        spans = sorted((g.start, g.end) for g in chosen)
        cuts, cover = [0], 0
        for s, e in spans:
            if s > cover and s - cuts[-1] >= sub_piece:
                cuts.append((cover + s) // 2)
            cover = max(cover, e)
        cuts.append(len(p.codes))
        for lo, hi in zip(cuts, cuts[1:]):
            if hi > lo:
                out.append((p.codes[lo:hi], [g.shifted(-lo) for g in valid if g.start >= lo and g.end <= hi]))
    return out, dropped
