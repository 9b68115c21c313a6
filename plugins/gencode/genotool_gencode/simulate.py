"""Simulated genome + GTF whose gene structure follows the design note's length table.

Genes (both strands) are built 5' -> 3' in transcript orientation: 5'UTR, ATG, coding exons
split by introns with a GTRAGT donor and a polypyrimidine tract + AG acceptor, an in-frame stop
codon (TAA/TAG/TGA, no earlier in-frame stop), 3'UTR with an AATAAA polyadenylation signal 20 bp
before its end; a Kozak context (GCCACC) precedes the ATG and a TATA box sits 30 bp upstream of
the transcription start; minus-strand genes are reverse-complemented.
Segment lengths are log-normal around the table's typical values (first/internal/last exon CDS
parts ~100/150/200 bp, introns ~2000/1000/500 bp, UTRs ~150/500 bp). Composition differs by
region (GC-rich coding exons, AT-rich introns) so that a small encoder can learn the labels.
About 5% of genes are non-coding (exons only). Chromosomes are named chr1..chrN so the default
train/val/test splits (chr1-18 / chr19-20 / chr21-22) apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.genome.gtf import write_gtf_line
from genotool_gencode.labels import (FIRST_EXON, FIRST_INTRON, INTERNAL_EXON, INTERNAL_INTRON,
                                     LAST_EXON, LAST_INTRON, TYPICAL_LENGTH, UTR3, UTR5)

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
COMP = np.zeros(256, dtype=np.uint8)
for a, b in zip(b"ACGTN", b"TGCAN"):
    COMP[a] = b
STOPS = [b"TAA", b"TAG", b"TGA"]
# Region composition (GC fraction): distinct enough that a small encoder separates intergenic,
# intronic and coding sequence within a few hundred training steps on a CPU.
INTERGENIC_GC = 0.52
INTRON_GC = 0.30
# Transcript-boundary signals (fixed offsets so that a local model can place boundaries exactly):
# a TATA box 30 bp upstream of the transcription start, a Kozak context before ATG and a
# polyadenylation signal 20 bp before the end of the 3'UTR.
TATA_BOX, TATA_OFFSET = b"TATAAA", 30
KOZAK = b"GCCACC"
POLYA_SIGNAL, POLYA_OFFSET = b"AATAAA", 20
SENSE_CODONS = [bytes(c) for c in (a + b + c for a in (b"A", b"C", b"G", b"T") for b in (b"A", b"C", b"G", b"T")
                                   for c in (b"A", b"C", b"G", b"T")) if bytes(c) not in STOPS]


def _bases(rng, n: int, gc: float) -> np.ndarray:
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return BASES[rng.choice(4, size=n, p=p)]


def _length(rng, label: int, lo: int, sigma: float = 0.35) -> int:
    return max(lo, int(round(TYPICAL_LENGTH[label] * np.exp(rng.normal(0.0, sigma)))))


def _coding(rng, n_codons: int) -> np.ndarray:
    # GC-rich sense codons; codon usage skewed so coding frame is learnable
    w = np.array([1.0 + 1.5 * (c.count(b"G") + c.count(b"C")) for c in SENSE_CODONS])
    idx = rng.choice(len(SENSE_CODONS), size=n_codons, p=w / w.sum())
    return np.frombuffer(b"".join(SENSE_CODONS[i] for i in idx), dtype=np.uint8)


def _intron(rng, n: int) -> np.ndarray:
    body = _bases(rng, n, INTRON_GC)
    # donor consensus GTRAGT (R = A/G)
    body[:6] = np.frombuffer(b"GTAAGT" if rng.random() < 0.5 else b"GTGAGT", dtype=np.uint8)[:min(6, n)]
    tract = min(15, max(0, n - 6))
    if tract:
        body[n - 2 - tract:n - 2] = np.frombuffer(b"CT", dtype=np.uint8)[rng.integers(0, 2, tract)]
    body[n - 2:] = np.frombuffer(b"AG", dtype=np.uint8)
    return body


def build_gene(rng, coding: bool = True):
    """One gene in transcript orientation.

    Returns (sequence uint8 array, features) where features are (kind, start, end) in transcript
    coordinates, kind in exon/CDS/start_codon/stop_codon/UTR5/UTR3.
    """
    n_exons = 1 if rng.random() < 0.1 else int(2 + rng.poisson(3.0))
    parts: list[np.ndarray] = []
    feats = []
    pos = 0

    def add(arr, kind=None):
        nonlocal pos
        parts.append(arr)
        if kind:
            feats.append((kind, pos, pos + len(arr)))
        pos += len(arr)

    intron_lens = []
    for i in range(n_exons - 1):
        lab = FIRST_INTRON if i == 0 else (LAST_INTRON if i == n_exons - 2 else INTERNAL_INTRON)
        intron_lens.append(_length(rng, lab, 80, 0.4))
    if not coding:
        for i in range(n_exons):
            lab = FIRST_EXON if i == 0 else (LAST_EXON if i == n_exons - 1 else INTERNAL_EXON)
            n = _length(rng, lab, 30)
            s = pos
            add(_bases(rng, n, 0.5))
            feats.append(("exon", s, pos))
            if i < n_exons - 1:
                add(_intron(rng, intron_lens[i]))
        return np.concatenate(parts), feats
    # coding part lengths per exon (ATG counted in the first, stop codon excluded from CDS)
    cds_lens = []
    for i in range(n_exons):
        lab = FIRST_EXON if i == 0 else (LAST_EXON if i == n_exons - 1 else INTERNAL_EXON)
        cds_lens.append(_length(rng, lab, 24))
    total = sum(cds_lens)
    total += (-total) % 3                      # whole codons
    cds_lens[-1] += total - sum(cds_lens)
    cds = np.concatenate([np.frombuffer(b"ATG", dtype=np.uint8), _coding(rng, total // 3 - 1)])
    stop = np.frombuffer(STOPS[rng.integers(0, 3)], dtype=np.uint8)
    utr5 = _bases(rng, _length(rng, UTR5, 20), 0.5)
    utr5[-6:] = np.frombuffer(KOZAK, dtype=np.uint8)            # Kozak context gccacc|ATG
    utr3 = _bases(rng, _length(rng, UTR3, 30), 0.45)
    utr3[-POLYA_OFFSET:-POLYA_OFFSET + 6] = np.frombuffer(POLYA_SIGNAL, dtype=np.uint8)  # AATAAA ~20 bp before the end
    off = 0
    for i in range(n_exons):
        ex_start = pos
        if i == 0:
            add(utr5, "UTR5")
            feats.append(("start_codon", pos, pos + 3))
        piece = cds[off:off + cds_lens[i]]
        off += cds_lens[i]
        add(piece, "CDS")
        if i == n_exons - 1:
            add(stop, "stop_codon")
            add(utr3, "UTR3")
        feats.append(("exon", ex_start, pos))
        if i < n_exons - 1:
            add(_intron(rng, intron_lens[i]))
    return np.concatenate(parts), feats


@dataclass
class SimulateConfig:
    output: Path
    seed: int = 0
    num_chroms: int = 22
    chrom_length: int = 150_000
    genome_size: int | None = None      # total bp: sets chrom_length
    force: bool = False

    def check(self) -> "SimulateConfig":
        if self.num_chroms < 1:
            raise UserError(f"--num-chroms must be >= 1, not {self.num_chroms}")
        if self.genome_size is not None:
            self.chrom_length = self.genome_size // self.num_chroms
        if self.chrom_length < 20_000:
            raise UserError(f"--chrom-length must be >= 20000 bp, not {self.chrom_length}")
        return self


def run_simulate(cfg: SimulateConfig, log) -> dict:
    from genotool.outputs import run_output

    cfg.check()
    if cfg.num_chroms < 22:
        log(f"note: only {cfg.num_chroms} chromosomes; the default splits expect chr1..chr22 "
            "(pass --train-regions/--val-regions/--test-regions to preprocess)")
    params = {"seed": cfg.seed, "num_chroms": cfg.num_chroms, "chrom_length": cfg.chrom_length}
    with run_output(cfg.output, command="gencode simulate", parameters=params, force=cfg.force, resume=False) as run:
        summary = simulate_genome(run.path, num_chroms=cfg.num_chroms, chrom_length=cfg.chrom_length, seed=cfg.seed)
        run.runtime.update(summary)
    log(f"wrote {cfg.output}/genome.fa and annotation.gtf: {summary['genes_plus']} + {summary['genes_minus']} genes "
        f"(+/- strand) on {cfg.num_chroms} chromosomes of {cfg.chrom_length:,} bp")
    return summary


def simulate_genome(out_dir: Path, *, num_chroms: int = 22, chrom_length: int = 150_000, seed: int = 0,
                    gap_median: int = 2500, progress=None) -> dict:
    """Write ``genome.fa`` (+ .fai) and ``annotation.gtf`` into ``out_dir``; return counts."""
    rng = np.random.default_rng(seed)
    fa_path, gtf_path = out_dir / "genome.fa", out_dir / "annotation.gtf"
    n_genes = {"+": 0, "-": 0}
    n_coding = 0
    with open(fa_path, "wb") as fa, open(gtf_path, "w") as gtf:
        gtf.write("##description: genotool gencode simulated annotation (GENCODE-style GTF)\n")
        for ci in range(1, num_chroms + 1):
            chrom = f"chr{ci}"
            seq, placed = simulate_chromosome(rng, chrom_length, gap_median)
            for gi, (pos, L, strand, feats, coding) in enumerate(placed, 1):
                gid = f"{chrom}.g{gi}"
                _write_gene(gtf, chrom, pos, L, strand, feats, gid, coding)
                n_genes[strand] += 1
                n_coding += coding
            fa.write(f">{chrom}\n".encode())
            for i in range(0, chrom_length, 60):
                fa.write(seq[i:i + 60].tobytes() + b"\n")
            if progress:
                progress(ci)
    import pysam

    pysam.faidx(str(fa_path))
    return {"chromosomes": num_chroms, "chrom_length": chrom_length, "genes_plus": n_genes["+"],
            "genes_minus": n_genes["-"], "coding_genes": n_coding, "genome_bp": num_chroms * chrom_length}


def simulate_chromosome(rng, chrom_length: int, gap_median: int = 2500):
    """-> (sequence (chrom_length,) uint8 ASCII, genes [(start, length, strand, features, coding)])."""
    seq = _bases(rng, chrom_length, INTERGENIC_GC)
    pos = int(rng.integers(500, 3000))
    placed = []
    while True:
        coding = rng.random() >= 0.05
        gseq, feats = build_gene(rng, coding)
        L = len(gseq)
        if pos + L + 500 > chrom_length:
            break
        strand = "+" if rng.random() < 0.5 else "-"
        tata = np.frombuffer(TATA_BOX, dtype=np.uint8)
        if strand == "-":
            seq[pos:pos + L] = COMP[gseq[::-1]]
            u = pos + L + TATA_OFFSET - len(tata)
            seq[u:u + len(tata)] = COMP[tata[::-1]]
        else:
            seq[pos:pos + L] = gseq
            seq[pos - TATA_OFFSET:pos - TATA_OFFSET + len(tata)] = tata
        placed.append((pos, L, strand, feats, coding))
        pos += L + max(200, int(gap_median * np.exp(rng.normal(0, 0.6))))
    return seq, placed


def simulated_sequence(length: int, seed: int = 0):
    """One simulated chromosome in memory, for benches: (codes (length,) uint8 of genes/dna.py,
    its coding genes as genes.annotation.CodingGene, coding exons with the stop codon)."""
    from genotool.genome.intervals import merge_intervals
    from genotool_gencode.genes.annotation import CodingGene
    from genotool_gencode.genes.dna import encode

    seq, placed = simulate_chromosome(np.random.default_rng(seed), length)
    genes = []
    for gi, (g0, L, strand, feats, coding) in enumerate(placed, 1):
        if not coding:
            continue
        parts = [(g0 + s, g0 + e) if strand == "+" else (g0 + L - e, g0 + L - s)
                 for kind, s, e in feats if kind in ("CDS", "stop_codon")]
        genes.append(CodingGene(f"t{gi}", f"g{gi}", "sim", strand, merge_intervals(parts)))
    return encode(seq.tobytes().decode("ascii")), genes


def _write_gene(fh, chrom, g0, L, strand, feats, gid, coding):
    def to_genome(s, e):
        return (g0 + s, g0 + e) if strand == "+" else (g0 + L - e, g0 + L - s)

    tid = gid.replace(".g", ".t")
    btype = "protein_coding" if coding else "lncRNA"
    gattr = {"gene_id": gid, "gene_type": btype, "gene_name": gid}
    tattr = {**gattr, "transcript_id": tid, "transcript_type": btype}
    write_gtf_line(fh, chrom, "gene", g0, g0 + L, strand, gattr)
    write_gtf_line(fh, chrom, "transcript", g0, g0 + L, strand, tattr)
    exon_no = 0
    cds_done = 0
    for kind, s, e in feats:
        gs, ge = to_genome(s, e)
        if kind == "exon":
            exon_no += 1
            write_gtf_line(fh, chrom, "exon", gs, ge, strand, {**tattr, "exon_number": exon_no})
        elif kind == "CDS":
            frame = str((3 - cds_done % 3) % 3)
            cds_done += e - s
            write_gtf_line(fh, chrom, "CDS", gs, ge, strand, {**tattr, "exon_number": exon_no + 1}, frame=frame)
        elif kind in ("UTR5", "UTR3"):
            write_gtf_line(fh, chrom, "UTR", gs, ge, strand, tattr)
        else:
            write_gtf_line(fh, chrom, kind, gs, ge, strand, tattr, frame="0")
