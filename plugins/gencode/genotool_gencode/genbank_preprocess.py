"""GenBank records -> labelled chunks, the `preprocess --genbank` path.

Each record is a contig of its own. A record no longer than ``chunk_size`` is one chunk, whole
(AUGUSTUS training sets are single genes with 1 kb flanks, 0.4-120 kb); a longer one is tiled
like a chromosome. Every chunk is kept (no --min-genic: records are chosen by their annotation,
and evaluation must cover their intergenic flanks too). Labels as for a GTF without UTR lines:
exons are the CDS parts, the start codon the first three coding bases, the stop codon the three
bases after the CDS (genbank.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from genotool.log import log as log_line
from genotool.errors import UserError
from genotool_gencode.genbank import STOPS, read_genbank, stop_codon_reads
from genotool_gencode.labels import transcript_intervals
from genotool_gencode.genes.pieces import PieceWriter, write_index
from genotool_gencode.chunks import (SPLITS, ChunkPainter, SegmentStats, chunk_starts, mask_runs,
                                     warn_kept_problems)


def assign_splits(train_files: list[Path], test_files: list[Path], val_fraction: float,
                  single_split: str | None) -> list[tuple[Path, str | None]]:
    """(file, split) pairs; split None: the file's records are shared between train and val."""
    if single_split is not None:
        return [(f, single_split) for f in [*train_files, *test_files]]
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction must be in [0, 1), not {val_fraction}")
    if not test_files:
        raise UserError("--test-genbank: no test file (give one, or --split to write all records as one split)")
    both = {f.resolve() for f in train_files} & {f.resolve() for f in test_files}
    if both:
        raise UserError(f"--test-genbank: {sorted(both)[0]} is also a --genbank (training) file")
    return [(f, None) for f in train_files] + [(f, "test") for f in test_files]


def preprocess_genbank(files: list[tuple[Path, str | None]], out_dir: Path, *, chunk_size: int, overlap: int,
                       val_fraction: float = 0.1, log=log_line) -> dict:
    """Write ``{split}.jsonl`` + ``{split}_segment_stats.json`` for the splits that get records.

    Records of files with split None go to train, except every ``round(1 / val_fraction)``-th,
    which goes to val (deterministic, spread over the file)."""
    if overlap < 0 or overlap >= chunk_size:
        raise UserError(f"--overlap ({overlap}) must be >= 0 and smaller than --chunk-size ({chunk_size})")
    every = round(1 / val_fraction) if val_fraction > 0 else 0
    parsed = [(f, s, read_genbank(f)) for f, s in files]    # all input checked before anything is written
    names = set()
    for f, _, recs in parsed:
        for r in recs:
            if r.name in names:
                raise UserError(f"{f}: record name {r.name} also occurs in another input file")
            names.add(r.name)
    stats = {s: SegmentStats() for s in SPLITS}
    counts = {s: {"chunks": 0, "records": 0, "bases": 0, "genes": 0} for s in SPLITS}
    summary = {"genes": 0, "records_without_cds": 0, "genes_plus": 0, "genes_minus": 0,
               "stop_codons_canonical": 0, "stop_codons_missing": 0, "records_split_into_chunks": 0,
               "iupac_codes": {}, "transcripts_with_problems": {}}
    handles: dict[str, object] = {}
    pieces: dict[str, PieceWriter] = {}
    complete = False
    try:
        k = 0
        for f, split, recs in parsed:
            for r in recs:
                if split is None:
                    k += 1
                    s = "val" if every and k % every == 0 else "train"
                else:
                    s = split
                if s not in handles:
                    handles[s] = open(out_dir / f"{s}.jsonl", "w")
                    pieces[s] = PieceWriter(out_dir, s)
                _write_record(r, s, handles[s], stats[s], counts[s], summary, chunk_size, overlap)
                _write_piece(r, pieces[s], summary)
        complete = True
    finally:
        for h in handles.values():
            h.close()
        index = [e for w in pieces.values() for e in w.close(complete)]
    write_index(out_dir, index)
    written = [s for s in SPLITS if counts[s]["chunks"]]
    _copy_genbank(files, out_dir / "genbank")
    for s in written:
        (out_dir / f"{s}_segment_stats.json").write_text(json.dumps(stats[s].to_dict(), indent=1) + "\n")
    odd = summary["genes"] - summary["stop_codons_canonical"]
    if odd:
        log(f"warning: {odd} of {summary['genes']} genes are not followed by TAA/TAG/TGA (if the CDS includes its "
            "stop codon, that codon is labelled exon and the next three bases stop codon)")
    if summary["records_without_cds"]:
        log(f"note: {summary['records_without_cds']} records have no CDS (kept: intergenic only)")
    warn_kept_problems(summary, "the GenBank records", log)
    return {"splits": {s: counts[s] for s in written}, **summary}


def _write_record(r, split, fh, stats, count, summary, chunk_size, overlap) -> None:
    ivs = []
    for order, g in enumerate(r.genes):
        stop = [g.stop] if g.stop is not None else []
        for s, e, lab in transcript_intervals(g.strand, g.exons(), g.cds, (), stop):
            ivs.append((s, e, lab, order, g.strand == "-"))
        summary["genes"] += 1
        summary["genes_plus" if g.strand == "+" else "genes_minus"] += 1
        summary["stop_codons_canonical"] += stop_codon_reads(r.sequence, g) in STOPS
        summary["stop_codons_missing"] += g.stop is None
    summary["records_without_cds"] += not r.genes
    painter = ChunkPainter(ivs)
    L = len(r.sequence)
    starts = chunk_starts(L, chunk_size, overlap)
    summary["records_split_into_chunks"] += len(starts) > 1
    for lo in starts:
        hi = min(L, lo + chunk_size)
        lab, minus = painter.paint_with_strand(lo, hi)
        stats.add(lab)
        fh.write(json.dumps({"chrom": r.name, "start": lo, "end": hi, "sequence": r.sequence[lo:hi],
                             "labels": lab.tolist(), "minus": mask_runs(minus)}, separators=(",", ":")) + "\n")
        count["chunks"] += 1
        count["bases"] += hi - lo
    count["records"] += 1
    count["genes"] += len(r.genes)



def _write_piece(r, writer, summary) -> None:
    """The record as a gene-finder piece: its sequence and its CDS as coding gene models."""
    from genotool_gencode.genes.annotation import CodingGene, gene_problems
    from genotool_gencode.genes.dna import encode

    genes = [CodingGene(g.name, g.name, r.name, g.strand, g.exons()) for g in r.genes]
    codes = encode(r.sequence)
    for g in genes:
        for pr in gene_problems(g, codes):
            summary["transcripts_with_problems"][pr] = summary["transcripts_with_problems"].get(pr, 0) + 1
    for ch, n in r.iupac.items():
        summary["iupac_codes"][ch] = summary["iupac_codes"].get(ch, 0) + n
    writer.add(r.name, r.name, 0, len(r.sequence), r.sequence, genes)


def _copy_genbank(files: list[tuple[Path, str | None]], folder: Path) -> None:
    """The input records, by split, for gene finders that train on GenBank (`compare --augustus`):
    ``train.gb`` holds every record our models learn from (train and val), ``test.gb`` the test ones."""
    folder.mkdir()
    for name, wanted in (("train.gb", (None, "train", "val")), ("test.gb", ("test",))):
        chosen = [f for f, s in files if s in wanted]
        if chosen:
            with open(folder / name, "wb") as out:
                for f in chosen:
                    data = f.read_bytes()
                    out.write(data if data.endswith(b"\n") else data + b"\n")
