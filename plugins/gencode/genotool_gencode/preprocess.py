"""GTF + FASTA -> labelled chunks (train/val/test JSONL) and per-label segment statistics.

Streaming: the GTF is read one chromosome at a time (see :mod:`gtf`), each chunk's labels are
painted from the transcripts overlapping it and its sequence is fetched from the indexed FASTA,
then the chunk is written and forgotten. Memory is bounded by one chromosome's annotation and
one chunk, not by the genome.

Overlapping genes (same or opposite strand): every base takes the highest-priority label of any
selected transcript covering it (codon > CDS exon > UTR > intron > intergenic); between equal
priorities the transcript starting later wins. The number of overlapping gene pairs is counted
in the statistics and a warning is printed. Each chunk also stores ``minus``: the [start, end)
runs of its genic bases whose winning transcript is on the minus strand, from which models build
strand-aware states (labels.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.log import log as log_line
from genotool.errors import UserError
from genotool.genome.fasta import canonical, fasta_contig, open_fasta  # noqa: F401 - open_fasta re-exported
from genotool.genome.gtf import iter_chromosomes, pick_one_per_gene
from genotool.genome.regions import OPTIONS, Region, RegionSplits
from genotool_gencode.chunks import (SPLITS, ChunkPainter, SegmentStats, chunk_starts, mask_runs,
                                     warn_kept_problems)
from genotool_gencode.labels import transcript_intervals

# without region options: GENCODE-style chromosomes (simulate writes chr1..chr22)
DEFAULT_SPLITS = {
    "train": ",".join(f"chr{i}" for i in range(1, 19)),
    "val": "chr19,chr20",
    "test": "chr21,chr22",
}

def as_region_splits(splits) -> RegionSplits:
    """A RegionSplits, or a {split: [contig, ...]} mapping (whole contigs) turned into one."""
    if isinstance(splits, RegionSplits):
        return splits
    return RegionSplits.parse(*(",".join(splits.get(s, [])) or None for s in SPLITS))


def preprocess(gtf: Path, fasta: Path, out_dir: Path, *, chunk_size: int = 10_000, overlap: int = 500,
               splits, min_genic: float = 0.10, log=log_line, progress=None,
               single_split: str | None = None) -> dict:
    """Write ``{split}.jsonl`` + ``{split}_segment_stats.json`` (labelled chunks) and the gene
    finder's ``{split}.fa`` + ``{split}_genes.gtf`` + ``pieces.json`` (genes/pieces.py) into
    ``out_dir``; return a summary.

    ``splits``: a :class:`RegionSplits` (or {split: [contigs]}); a chunk or transcript belongs to a
    split when it lies wholly inside one of its regions. ``single_split``: every contig of the
    FASTA goes to that one split (evaluation-only data); only that split is written."""
    from genotool_gencode.genes.annotation import from_transcript, gene_problems
    from genotool_gencode.genes.dna import encode
    from genotool_gencode.genes.pieces import PieceWriter, write_index

    if chunk_size < 1:
        raise UserError(f"--chunk-size must be positive, not {chunk_size}")
    if overlap < 0 or overlap >= chunk_size:
        raise UserError(f"--overlap ({overlap}) must be >= 0 and smaller than --chunk-size ({chunk_size})")
    fa = open_fasta(fasta)
    fa_names = {canonical(n): n for n in fa.references}
    fa_len = dict(zip(fa.references, fa.lengths))
    if single_split is not None:
        splits = RegionSplits(**{single_split: [Region(c) for c in fa.references]})
        written = [single_split]
    else:
        splits = as_region_splits(splits)
        splits.check(fa_len, fasta)
        written = list(SPLITS)
    # each split's concrete regions, by FASTA contig
    regions = {s: splits.intervals(s, fa_len) for s in written}
    by_contig: dict[str, list[tuple[str, Region]]] = {}
    for s, rs in regions.items():
        for r in rs:
            by_contig.setdefault(r.contig, []).append((s, r))
    stats = {s: SegmentStats() for s in written}
    counts = {s: {"chunks": 0, "skipped_low_genic": 0, "regions": [str(r) for r in regions[s]], "bases": 0,
                  "transcripts": 0} for s in written}
    summary = {"genes": 0, "overlapping_gene_pairs": 0, "opposite_strand_overlaps": 0,
               "contigs_not_in_splits": [], "iupac_codes": {}, "transcripts_with_problems": {}}
    handles = {s: open(out_dir / f"{s}.jsonl", "w") for s in written}
    pieces = {s: PieceWriter(out_dir, s) for s in written}
    done_contigs = set()
    complete = False
    try:
        for chrom, transcripts in iter_chromosomes(gtf):
            if not transcripts:
                continue
            fa_chrom = fasta_contig(fa_names, chrom, transcripts, gtf, fasta)
            clen = fa_len[fa_chrom]
            for t in transcripts:
                if t.end > clen:
                    raise UserError(f"{gtf}: line {t.line}: transcript {t.transcript_id} ends at {t.end}, beyond "
                                    f"{chrom}'s length {clen} in {fasta}")
                check_cds_phases(t, gtf)
            mine = by_contig.get(fa_chrom, [])
            if not mine:
                summary["contigs_not_in_splits"].append(chrom)
                continue
            done_contigs.add(fa_chrom)
            chosen = pick_one_per_gene(transcripts)
            summary["genes"] += len(chosen)
            _count_overlaps(chosen, summary)
            ivs = []
            for order, t in enumerate(chosen):
                for s, e, lab in transcript_intervals(t.strand, t.exons, t.cds, t.start_codons, t.stop_codons):
                    ivs.append((s, e, lab, order, t.strand == "-"))
            painter = ChunkPainter(ivs)
            coding = [g for g in (from_transcript(t) for t in transcripts) if g is not None]
            for split, region in mine:
                fh = handles[split]
                lo0, hi0 = region.start, region.stop(clen)
                seq = fa.fetch(fa_chrom, lo0, hi0).upper()
                _count_odd(seq, fasta, f"{fa_chrom}:{lo0 + 1}-{hi0}", summary["iupac_codes"])
                inside = [g.shifted(0, chrom) for g in coding if g.start >= lo0 and g.end <= hi0]
                codes = encode(seq)
                for g in inside:
                    for pr in gene_problems(g.shifted(-lo0), codes):
                        summary["transcripts_with_problems"][pr] = summary["transcripts_with_problems"].get(pr, 0) + 1
                pieces[split].add(_piece_name(region, fa_chrom, clen), chrom, lo0, hi0, seq, inside)
                counts[split]["transcripts"] += len(inside)
                for off in chunk_starts(hi0 - lo0, chunk_size, overlap):
                    lo, hi = lo0 + off, min(hi0, lo0 + off + chunk_size)
                    lab, minus = painter.paint_with_strand(lo, hi)
                    genic = float(np.count_nonzero(lab)) / len(lab)
                    if genic < min_genic:
                        counts[split]["skipped_low_genic"] += 1
                        continue
                    stats[split].add(lab)
                    fh.write(json.dumps({"chrom": chrom, "start": lo, "end": hi, "sequence": seq[off:off + hi - lo],
                                         "labels": lab.tolist(), "minus": mask_runs(minus)},
                                        separators=(",", ":")) + "\n")
                    counts[split]["chunks"] += 1
                    counts[split]["bases"] += hi - lo
            if progress:
                progress(chrom)
        # regions on contigs the GTF never names: sequence without genes (the gene finder's intergenic)
        for contig, mine in by_contig.items():
            if contig in done_contigs:
                continue
            clen = fa_len[contig]
            for split, region in mine:
                seq = fa.fetch(contig, region.start, region.stop(clen)).upper()
                _count_odd(seq, fasta, str(region), summary["iupac_codes"])
                pieces[split].add(_piece_name(region, contig, clen), contig, region.start, region.stop(clen), seq, [])
        complete = True
    finally:
        for h in handles.values():
            h.close()
        index = [e for w in pieces.values() for e in w.close(complete)]
        fa.close()
    write_index(out_dir, index)
    for s in written:
        if counts[s]["chunks"] == 0:
            where = "--split" if single_split is not None else OPTIONS[s]
            raise UserError(f"{where}: the {s} split is empty (no chunk with >= {min_genic:.0%} genic bases "
                            f"on {','.join(counts[s]['regions']) or 'no region'})")
    for s in written:
        (out_dir / f"{s}_segment_stats.json").write_text(json.dumps(stats[s].to_dict(), indent=1) + "\n")
    if summary["overlapping_gene_pairs"]:
        log(f"warning: {summary['overlapping_gene_pairs']} overlapping gene pairs "
            f"({summary['opposite_strand_overlaps']} on opposite strands): labels merged by priority "
            "codon > CDS > UTR > intron")
    warn_kept_problems(summary, fasta, log)
    return {"splits": counts, **summary}


def check_cds_phases(t, gtf) -> None:
    """The GTF frame column of a transcript's CDS lines must follow from their coordinates: in
    transcript order, a part's phase is the bases it needs to finish the codon the part before it
    left open. A transcript whose first phase is not 0 (5' partial) is checked from there."""
    frames = getattr(t, "cds_frames", None)
    if not frames or len(frames) != len(t.cds) or any(f is None for f in frames):
        return
    parts = sorted(zip(t.cds, frames, getattr(t, "cds_lines", [t.line] * len(t.cds))), reverse=t.strand == "-")
    phase = parts[0][1]
    for ((s, e), _, _), ((_, _), got, line) in zip(parts, parts[1:]):
        want = (3 - ((e - s) - phase) % 3) % 3
        if got != want:
            raise UserError(f"{gtf}: line {line}: transcript {t.transcript_id}: CDS phase {got} disagrees with its "
                            f"coordinates (the CDS parts before it in the transcript imply phase {want})")
        phase = got


def _piece_name(region: Region, contig: str, length: int) -> str:
    whole = region.start == 0 and region.stop(length) == length
    return contig if whole else f"{contig}:{region.start + 1}-{region.stop(length)}"


def _count_odd(seq: str, fasta, where: str, counts: dict) -> None:
    """Count IUPAC ambiguity codes (read as N); any other non-base character is an error."""
    from genotool_gencode.genes.dna import IUPAC, odd_characters

    for ch, n in odd_characters(seq).items():
        if ch == "N":
            continue
        if ch not in IUPAC:
            pos = seq.find(ch)
            raise UserError(f"{fasta}: {where}: character '{ch}' at position {pos + 1} is not a DNA base or "
                            "IUPAC code")
        counts[ch] = counts.get(ch, 0) + n


def _count_overlaps(chosen, summary) -> None:
    # chosen is sorted by start: sweep with the genes still open
    active = []
    for t in chosen:
        active = [a for a in active if a.end > t.start]
        for a in active:
            summary["overlapping_gene_pairs"] += 1
            if a.strand != t.strand:
                summary["opposite_strand_overlaps"] += 1
        active.append(t)


@dataclass
class PreprocessConfig:
    """`gencode preprocess`'s options (one object from the CLI; :meth:`check` before any work)."""

    output: Path
    gtf: Path | None = None
    fasta: Path | None = None
    genbank: list[Path] = field(default_factory=list)
    test_genbank: list[Path] = field(default_factory=list)
    val_fraction: float = 0.1
    split: str | None = None
    chunk_size: int = 10_000
    overlap: int = 500
    train_regions: str | None = None
    val_regions: str | None = None
    test_regions: str | None = None
    min_genic: float = 0.10
    force: bool = False

    def check(self) -> "PreprocessConfig":
        from genotool.errors import require_file

        if (self.genbank or self.test_genbank) and (self.gtf or self.fasta):
            raise UserError("--genbank: GenBank records carry their own sequence and annotation; give either "
                            "--genbank/--test-genbank or --gtf with --fasta, not both")
        if self.split is not None and self.split not in SPLITS:
            raise UserError(f"--split must be one of {', '.join(SPLITS)}, not '{self.split}'")
        if self.chunk_size < 1:
            raise UserError(f"--chunk-size must be positive, not {self.chunk_size}")
        if self.overlap >= self.chunk_size or self.overlap < 0:
            raise UserError(f"--overlap ({self.overlap}) must be >= 0 and smaller than --chunk-size "
                            f"({self.chunk_size})")
        if self.genbank or self.test_genbank:
            for f in [*self.genbank, *self.test_genbank]:
                require_file(f, "--genbank")
            if self.train_regions or self.val_regions or self.test_regions:
                raise UserError("--train-regions/--val-regions/--test-regions apply to --gtf/--fasta input; "
                                "GenBank records are split by file (--genbank, --test-genbank, --val-fraction)")
        else:
            if self.gtf is None or self.fasta is None:
                raise UserError("--gtf and --fasta (or --genbank): no input given")
            require_file(self.gtf, "--gtf")
            require_file(self.fasta, "--fasta")
            self.region_splits()      # parse errors before anything is read
        return self

    def region_splits(self) -> RegionSplits:
        """The three region options, or (none given) the GENCODE-style default chromosomes."""
        given = (self.train_regions, self.val_regions, self.test_regions)
        if not any(given):
            given = tuple(DEFAULT_SPLITS[s] for s in SPLITS)
        return RegionSplits.parse(*given)


def run_preprocess(cfg: PreprocessConfig, log=log_line) -> dict:
    """The `preprocess` verb: checks, then the run folder (``.partial`` until complete)."""
    import resource
    import time

    from genotool.outputs import run_output

    cfg.check()
    if cfg.genbank or cfg.test_genbank:
        from genotool_gencode.genbank_preprocess import assign_splits, preprocess_genbank

        files = assign_splits(list(cfg.genbank), list(cfg.test_genbank), cfg.val_fraction, cfg.split)
        inputs = [f for f, _ in files]
        params = {"genbank": [str(f) for f in cfg.genbank], "test_genbank": [str(f) for f in cfg.test_genbank],
                  "val_fraction": cfg.val_fraction, "split": cfg.split, "chunk_size": cfg.chunk_size,
                  "overlap": cfg.overlap}
        body = lambda path: preprocess_genbank(files, path, chunk_size=cfg.chunk_size,  # noqa: E731
                                               overlap=cfg.overlap, val_fraction=cfg.val_fraction, log=log)
    else:
        splits = cfg.region_splits()
        inputs = [cfg.gtf, cfg.fasta]
        params = {"chunk_size": cfg.chunk_size, "overlap": cfg.overlap, "splits": splits.describe(),
                  "min_genic": cfg.min_genic, "split": cfg.split}
        body = lambda path: preprocess(cfg.gtf, cfg.fasta, path, chunk_size=cfg.chunk_size,  # noqa: E731
                                       overlap=cfg.overlap, splits=splits, min_genic=cfg.min_genic, log=log,
                                       single_split=cfg.split, progress=lambda c: log(f"  {c} done"))
    t0 = time.perf_counter()
    with run_output(cfg.output, command="gencode preprocess", parameters=params, inputs=inputs, force=cfg.force,
                    resume=False) as run:
        summary = body(run.path)
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        run.runtime.update(summary)
    s = summary["splits"]
    log("chunks: " + ", ".join(f"{k} {v['chunks']}" for k, v in s.items() if v["chunks"])
        + "; coding transcripts: " + ", ".join(f"{k} {v.get('transcripts', v.get('genes', 0))}" for k, v in s.items())
        + f" ({summary['genes']} genes, {summary['seconds']} s, peak RSS {summary['peak_rss_mb']} MB)")
    return summary
