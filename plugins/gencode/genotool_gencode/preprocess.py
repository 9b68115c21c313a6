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
from pathlib import Path

import numpy as np

from genotool.log import log as log_line
from genotool.errors import UserError
from genotool.genome.fasta import canonical, fasta_contig, open_fasta  # noqa: F401 - open_fasta re-exported
from genotool.genome.gtf import iter_chromosomes, pick_one_per_gene
from genotool_gencode.labels import LABELS, NUM_LABELS, PRIORITY, transcript_intervals

SPLITS = ("train", "val", "test")
DEFAULT_SPLITS = {
    "train": ",".join(f"chr{i}" for i in range(1, 19)),
    "val": "chr19,chr20",
    "test": "chr21,chr22",
}
HIST_MAX = 5000   # duration histogram range (bp), longer runs go to the last bin


def parse_chroms(text: str, option: str) -> list[str]:
    out = [c.strip() for c in text.split(",") if c.strip()]
    if not out:
        raise UserError(f"{option}: no chromosome given")
    return out


class ChunkPainter:
    """Labels of any window of one chromosome from its labelled intervals."""

    def __init__(self, intervals: list[tuple[int, int, int, int]]):
        # (start, end, label, order); paint by (priority, order) so higher priority wins
        ivs = sorted(intervals, key=lambda x: x[0])
        self.starts = np.array([i[0] for i in ivs], dtype=np.int64)
        self.ends = np.array([i[1] for i in ivs], dtype=np.int64)
        self.labels = np.array([i[2] for i in ivs], dtype=np.int64)
        self.order = np.array([i[3] for i in ivs], dtype=np.int64)
        self.prio = np.array([PRIORITY[i[2]] for i in ivs], dtype=np.int64)
        self.minus = np.array([i[4] if len(i) > 4 else False for i in ivs], dtype=bool)
        self.maxlen = int((self.ends - self.starts).max()) if len(ivs) else 0

    def paint(self, lo: int, hi: int) -> np.ndarray:
        return self.paint_with_strand(lo, hi)[0]

    def paint_with_strand(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """-> (labels (hi-lo,) uint8, minus-strand mask (hi-lo,) bool of the winning transcript)."""
        lab = np.zeros(hi - lo, dtype=np.uint8)
        minus = np.zeros(hi - lo, dtype=bool)
        if not len(self.starts):
            return lab, minus
        a = np.searchsorted(self.starts, lo - self.maxlen, side="left")
        b = np.searchsorted(self.starts, hi, side="left")
        idx = np.arange(a, b)
        idx = idx[self.ends[idx] > lo]
        if not len(idx):
            return lab, minus
        idx = idx[np.lexsort((self.order[idx], self.prio[idx]))]
        for i in idx:
            s, e = max(lo, self.starts[i]), min(hi, self.ends[i])
            lab[s - lo:e - lo] = self.labels[i]
            minus[s - lo:e - lo] = self.minus[i]
        return lab, minus & (lab > 0)


def mask_runs(mask: np.ndarray) -> list[list[int]]:
    """Boolean mask -> [[start, end), ...] of its True runs (how chunks store the strand track)."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.flatnonzero(np.diff(m))
    return d.reshape(-1, 2).tolist()


class SegmentStats:
    """Run lengths per label (count, sum, sum of squares, min, max, histogram)."""

    def __init__(self):
        self.hist = np.zeros((NUM_LABELS, HIST_MAX + 1), dtype=np.int64)
        # shortest run not cut by a chunk edge (edge runs are truncated, so their length says
        # nothing about the feature): what `train` compares --max-duration against
        self.interior_min = np.full(NUM_LABELS, np.iinfo(np.int64).max, dtype=np.int64)

    def add(self, labels: np.ndarray) -> None:
        change = np.flatnonzero(np.diff(labels)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(labels)]])
        lens = np.minimum(ends - starts, HIST_MAX)
        labs = labels[starts].astype(np.int64)
        np.add.at(self.hist, (labs, lens), 1)
        if len(starts) > 2:
            np.minimum.at(self.interior_min, labs[1:-1], (ends - starts)[1:-1])

    def to_dict(self) -> dict:
        out = {}
        x = np.arange(HIST_MAX + 1)
        for c, name in enumerate(LABELS):
            h = self.hist[c]
            n = int(h.sum())
            if n == 0:
                out[name] = {"label": c, "count": 0}
                continue
            mean = float((h * x).sum() / n)
            var = float((h * (x - mean) ** 2).sum() / n)
            cdf = np.cumsum(h)
            nz = np.flatnonzero(h)
            out[name] = {"label": c, "count": n, "mean": round(mean, 2), "std": round(var ** 0.5, 2),
                         "median": int(np.searchsorted(cdf, (n + 1) // 2)), "min": int(nz[0]),
                         "max": int(nz[-1]), "histogram_max": HIST_MAX,
                         "interior_min": (int(self.interior_min[c])
                                          if self.interior_min[c] < np.iinfo(np.int64).max else None),
                         "histogram": {str(int(i)): int(h[i]) for i in nz}}
        return out


def chunk_starts(length: int, chunk: int, overlap: int) -> list[int]:
    if length <= chunk:
        return [0]
    step = chunk - overlap
    starts = list(range(0, length - chunk + 1, step))
    if starts[-1] + chunk < length:
        starts.append(length - chunk)   # last chunk aligned to the end: every chunk has length `chunk`
    return starts


def preprocess(gtf: Path, fasta: Path, out_dir: Path, *, chunk_size: int = 10_000, overlap: int = 500,
               splits: dict[str, list[str]], min_genic: float = 0.10, log=log_line, progress=None,
               single_split: str | None = None) -> dict:
    """Write ``{split}.jsonl`` and ``{split}_segment_stats.json`` into ``out_dir``; return a summary.

    ``single_split``: every contig of the FASTA goes to that one split (evaluation-only data);
    ``splits`` is then ignored and only that split is written."""
    if chunk_size < 1:
        raise UserError(f"--chunk-size must be positive, not {chunk_size}")
    if overlap < 0 or overlap >= chunk_size:
        raise UserError(f"--overlap ({overlap}) must be >= 0 and smaller than --chunk-size ({chunk_size})")
    fa = open_fasta(fasta)
    fa_names = {canonical(n): n for n in fa.references}
    fa_len = dict(zip(fa.references, fa.lengths))
    if single_split is not None:
        splits = {single_split: list(fa.references)}
    split_of = {}
    for split, chroms in splits.items():
        for c in chroms:
            if canonical(c) in split_of:
                raise UserError(f"--{split}-chroms: {c} is also in --{split_of[canonical(c)]}-chroms")
            split_of[canonical(c)] = split
    for split, chroms in splits.items():
        if not any(canonical(c) in fa_names for c in chroms):
            raise UserError(f"--{split}-chroms: none of {','.join(chroms)} is in {fasta}; the {split} split "
                            "would be empty")
    written = list(splits) if single_split is not None else list(SPLITS)
    stats = {s: SegmentStats() for s in written}
    counts = {s: {"chunks": 0, "skipped_low_genic": 0, "chromosomes": [], "bases": 0} for s in written}
    summary = {"genes": 0, "overlapping_gene_pairs": 0, "opposite_strand_overlaps": 0,
               "chromosomes_not_in_splits": []}
    handles = {s: open(out_dir / f"{s}.jsonl", "w") for s in written}
    try:
        for ci, (chrom, transcripts) in enumerate(iter_chromosomes(gtf)):
            split = split_of.get(canonical(chrom))
            if not transcripts:
                continue
            fa_chrom = fasta_contig(fa_names, chrom, transcripts, gtf, fasta)
            if split is None:
                summary["chromosomes_not_in_splits"].append(chrom)
                continue
            chosen = pick_one_per_gene(transcripts)
            summary["genes"] += len(chosen)
            clen = fa_len[fa_chrom]
            for t in chosen:
                if t.end > clen:
                    raise UserError(f"{gtf}: line {t.line}: transcript {t.transcript_id} ends at {t.end}, beyond "
                                    f"{chrom}'s length {clen} in {fasta}")
            _count_overlaps(chosen, summary)
            ivs = []
            for order, t in enumerate(chosen):
                for s, e, lab in transcript_intervals(t.strand, t.exons, t.cds, t.start_codons, t.stop_codons):
                    ivs.append((s, e, lab, order, t.strand == "-"))
            painter = ChunkPainter(ivs)
            fh = handles[split]
            counts[split]["chromosomes"].append(chrom)
            for lo in chunk_starts(clen, chunk_size, overlap):
                hi = min(clen, lo + chunk_size)
                lab, minus = painter.paint_with_strand(lo, hi)
                genic = float(np.count_nonzero(lab)) / len(lab)
                if genic < min_genic:
                    counts[split]["skipped_low_genic"] += 1
                    continue
                seq = fa.fetch(fa_chrom, lo, hi).upper()
                stats[split].add(lab)
                fh.write(json.dumps({"chrom": chrom, "start": lo, "end": hi, "sequence": seq,
                                     "labels": lab.tolist(), "minus": mask_runs(minus)},
                                    separators=(",", ":")) + "\n")
                counts[split]["chunks"] += 1
                counts[split]["bases"] += hi - lo
            if progress:
                progress(chrom)
    finally:
        for h in handles.values():
            h.close()
        fa.close()
    for s in written:
        if counts[s]["chunks"] == 0:
            where = "--split" if single_split is not None else f"--{s}-chroms"
            raise UserError(f"{where}: the {s} split is empty (no chunk with >= {min_genic:.0%} genic bases "
                            f"on {','.join(splits[s])})")
    for s in written:
        (out_dir / f"{s}_segment_stats.json").write_text(json.dumps(stats[s].to_dict(), indent=1) + "\n")
    if summary["overlapping_gene_pairs"]:
        log(f"warning: {summary['overlapping_gene_pairs']} overlapping gene pairs "
            f"({summary['opposite_strand_overlaps']} on opposite strands): labels merged by priority "
            "codon > CDS > UTR > intron")
    return {"splits": counts, **summary}


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


def preprocess_command(output: Path, *, gtf, fasta, genbank: list[Path], test_genbank: list[Path],
                       val_fraction: float, split: str | None, chunk_size: int, overlap: int, chroms: dict,
                       min_genic: float, force: bool, log) -> dict:
    """The `preprocess` verb's body: check the input mode, write the run folder, log a summary."""
    import resource
    import time

    from genotool.errors import require_file
    from genotool.outputs import run_output

    if (genbank or test_genbank) and (gtf or fasta):
        raise UserError("--genbank: GenBank records carry their own sequence and annotation; give either "
                        "--genbank/--test-genbank or --gtf with --fasta, not both")
    if split is not None and split not in SPLITS:
        raise UserError(f"--split must be one of {', '.join(SPLITS)}, not '{split}'")
    if overlap >= chunk_size or overlap < 0:
        raise UserError(f"--overlap ({overlap}) must be >= 0 and smaller than --chunk-size ({chunk_size})")
    if genbank or test_genbank:
        from genotool_gencode.genbank_preprocess import assign_splits, preprocess_genbank

        for f in [*genbank, *test_genbank]:
            require_file(f, "--genbank")
        files = assign_splits(list(genbank), list(test_genbank), val_fraction, split)
        inputs = [f for f, _ in files]
        params = {"genbank": [str(f) for f in genbank], "test_genbank": [str(f) for f in test_genbank],
                  "val_fraction": val_fraction, "split": split, "chunk_size": chunk_size, "overlap": overlap}
        body = lambda path: preprocess_genbank(files, path, chunk_size=chunk_size, overlap=overlap,  # noqa: E731
                                               val_fraction=val_fraction, log=log)
    else:
        if gtf is None or fasta is None:
            raise UserError("--gtf and --fasta (or --genbank): no input given")
        require_file(gtf, "--gtf")
        require_file(fasta, "--fasta")
        splits = {s: parse_chroms(chroms[s] or DEFAULT_SPLITS[s], f"--{s}-chroms") for s in SPLITS}
        inputs = [gtf, fasta]
        params = {"chunk_size": chunk_size, "overlap": overlap, "splits": splits, "min_genic": min_genic,
                  "split": split}
        body = lambda path: preprocess(gtf, fasta, path, chunk_size=chunk_size, overlap=overlap,  # noqa: E731
                                       splits=splits, min_genic=min_genic, log=log, single_split=split,
                                       progress=lambda c: log(f"  {c} done"))
    t0 = time.perf_counter()
    with run_output(output, command="gencode preprocess", parameters=params, inputs=inputs, force=force,
                    resume=False) as run:
        summary = body(run.path)
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        run.runtime.update(summary)
    s = summary["splits"]
    log("chunks: " + ", ".join(f"{k} {v['chunks']}" for k, v in s.items() if v["chunks"])
        + f" ({summary['genes']} genes, {summary['seconds']} s, peak RSS {summary['peak_rss_mb']} MB)")
    return summary
