"""Simulated genome (FASTA) + annotation (GTF) + SpliceVarDB-style variant table.

Genes are multi-exon, on both strands, built 5' -> 3' in transcript orientation and
reverse-complemented onto the minus strand. Splice sites follow position weight patterns:

* donor  (exon | intron): exon end MAG, intron start GT (GC / AT rarely), then RAGT;
* acceptor (intron | exon): a polypyrimidine tract of 15-20 nt, a branch-point-like CTRAY
  about 25 nt upstream, then YAG | G (AC for the rare AT-AC introns).

Each site has a strength: weak sites keep the dinucleotide but lose part of the consensus,
so a base model's scores are informative but imperfect. Decoys (donor- and acceptor-like
motifs that are not used) are planted in introns and intergenic sequence. Exons are GC-richer
than introns (as in human genes), a context signal a meta-layer with a sequence window can use.
About 40% of genes get a second transcript (exon skipping, or an alternative 5'/3' site a few
nt away from the primary one). Contigs are chr1..chrN so the SpliceAI chromosome split applies.

Coordinates in this module are 0-based half-open unless stated.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.genome.gtf import write_gtf_line

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
COMP = np.zeros(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTN", b"TGCAN"):
    COMP[_a] = _b

EXON_GC, INTRON_GC, INTERGENIC_GC = 0.54, 0.38, 0.41
# donor exon-side PWM rows for positions -3, -2, -1 (A, C, G, T); intron +3..+6
DONOR_EXON = np.array([[.35, .35, .18, .12], [.62, .12, .13, .13], [.10, .05, .80, .05]])
DONOR_INTRON = np.array([[.60, .03, .35, .02], [.70, .08, .12, .10], [.08, .05, .82, .05], [.15, .15, .20, .50]])
ACCEPTOR_EXON_FIRST = np.array([.22, .14, .50, .14])


@dataclass
class SimGene:
    gene_id: str
    chrom: str
    strand: str
    start: int                                  # genomic span, 0-based half-open
    end: int
    transcripts: dict = field(default_factory=dict)   # transcript_id -> [(start, end)] genomic exons


def _bases(rng, n: int, gc: float) -> np.ndarray:
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return BASES[rng.choice(4, size=n, p=p)]


def _pwm(rng, rows: np.ndarray, strength: float) -> np.ndarray:
    """Sample one base per PWM row; a weak site draws some positions from the background."""
    out = np.empty(len(rows), dtype=np.uint8)
    for i, p in enumerate(rows):
        if rng.random() > strength:
            p = np.full(4, 0.25)
        out[i] = BASES[rng.choice(4, p=p)]
    return out


def _strength(rng) -> float:
    # mostly strong sites, a tail of weak ones (the hard cases for a base model)
    return float(np.clip(rng.beta(5.0, 1.4), 0.15, 1.0))


def _place_donor(rng, seq: np.ndarray, e: int, strength: float, dinuc: bytes = b"GT") -> None:
    """Donor at exon end ``e`` (exon = seq[:e]): exon bases e-3..e-1, intron e..e+5."""
    seq[e - 3:e] = _pwm(rng, DONOR_EXON, strength)
    seq[e:e + 2] = np.frombuffer(dinuc, dtype=np.uint8)
    seq[e + 2:e + 6] = _pwm(rng, DONOR_INTRON, strength)


def _place_acceptor(rng, seq: np.ndarray, s: int, strength: float, dinuc: bytes = b"AG") -> None:
    """Acceptor before exon start ``s``: tract s-20..s-4, Y at s-3, AG at s-2..s-1, exon s.."""
    tract = int(rng.integers(15, 21))
    p_py = 0.55 + 0.4 * strength
    for i in range(s - 3 - tract, s - 3):
        seq[i] = (b"CT"[rng.integers(0, 2)] if rng.random() < p_py else BASES[rng.integers(0, 4)])
    seq[s - 3] = b"CT"[rng.integers(0, 2)] if rng.random() < 0.6 + 0.35 * strength else BASES[rng.integers(0, 4)]
    seq[s - 2:s] = np.frombuffer(dinuc, dtype=np.uint8)
    seq[s] = BASES[rng.choice(4, p=ACCEPTOR_EXON_FIRST)]
    if rng.random() < 0.6 * strength:
        bp = s - 3 - tract - int(rng.integers(4, 12)) - 5
        if bp > 0:
            seq[bp:bp + 5] = np.frombuffer(b"CT" + bytes([b"AG"[rng.integers(0, 2)]]) + b"A" +
                                           bytes([b"CT"[rng.integers(0, 2)]]), dtype=np.uint8)


def _plant_decoys(rng, seq: np.ndarray, lo: int, hi: int, per_nt: float) -> None:
    """Donor/acceptor-like motifs that no transcript uses, between lo and hi."""
    n = rng.poisson(max(0, hi - lo) * per_nt)
    for _ in range(n):
        if hi - lo < 80:
            return
        p = int(rng.integers(lo + 30, hi - 30))
        if rng.random() < 0.5:
            _place_donor(rng, seq, p, _strength(rng))
        else:
            _place_acceptor(rng, seq, p, _strength(rng))


def _lognormal(rng, median: float, sigma: float, lo: int, hi: int) -> int:
    return int(np.clip(round(median * np.exp(rng.normal(0, sigma))), lo, hi))


def build_gene(rng, decoy_rate: float):
    """One gene in transcript orientation.

    Returns (seq uint8 array, transcripts: dict name -> list of (start, end) exons in gene
    coordinates). The first transcript is the primary one.
    """
    n_exons = int(np.clip(rng.geometric(0.22) + 2, 3, 12))
    exon_len = [_lognormal(rng, 140 if 0 < i < n_exons - 1 else 220, 0.45, 40, 600) for i in range(n_exons)]
    intron_len = [_lognormal(rng, 700, 0.7, 150, 5000) for _ in range(n_exons - 1)]
    pieces, exons, pos = [], [], 0
    for i in range(n_exons):
        pieces.append(_bases(rng, exon_len[i], EXON_GC))
        exons.append((pos, pos + exon_len[i]))
        pos += exon_len[i]
        if i < n_exons - 1:
            pieces.append(_bases(rng, intron_len[i], INTRON_GC))
            pos += intron_len[i]
    seq = np.concatenate(pieces)
    # decoys first, so that the real sites written afterwards are never overwritten
    for i in range(n_exons - 1):
        _plant_decoys(rng, seq, exons[i][1] + 10, exons[i + 1][0] - 10, decoy_rate)
    for i in range(n_exons - 1):
        kind = rng.random()
        dd, aa = (b"GC", b"AG") if kind < 0.012 else ((b"AT", b"AC") if kind < 0.016 else (b"GT", b"AG"))
        _place_donor(rng, seq, exons[i][1], _strength(rng), dd)
        _place_acceptor(rng, seq, exons[i + 1][0], _strength(rng), aa)
    transcripts = {"t1": list(exons)}
    if rng.random() < 0.4 and n_exons >= 3:
        alt = list(exons)
        r = rng.random()
        k = int(rng.integers(1, n_exons - 1))           # an internal exon
        if r < 0.5:                                     # exon skipping
            del alt[k]
        elif r < 0.75:                                  # alternative 5' site: donor a few nt into the intron
            shift = int(rng.integers(9, 40))         # >= 9: leaves the primary donor's GTRAGT intact
            e = exons[k][1] + shift
            if e + 6 < exons[k + 1][0] - 40:
                _place_donor(rng, seq, e, max(0.6, _strength(rng)))
                alt[k] = (exons[k][0], e)
        else:                                           # alternative 3' site: acceptor upstream in the intron
            shift = int(rng.integers(6, 40))
            s = exons[k][0] - shift
            if s - 50 > exons[k - 1][1] + 10:
                _place_acceptor(rng, seq, s, max(0.6, _strength(rng)))
                alt[k] = (s, exons[k][1])
        if alt != exons:
            transcripts["t2"] = alt
    return seq, transcripts


def simulate_genome(out_dir: Path, *, genome_size: int, num_chromosomes: int, seed: int = 0,
                    decoy_rate: float = 1 / 600, progress=None) -> tuple[dict, list[SimGene]]:
    """Write ``genome.fa`` (+ .fai) and ``annotation.gtf``; return (counts, genes)."""
    rng = np.random.default_rng(seed)
    fa_path, gtf_path = out_dir / "genome.fa", out_dir / "annotation.gtf"
    base_len = genome_size // num_chromosomes
    genes: list[SimGene] = []
    n_tx = 0
    with open(fa_path, "wb") as fa, open(gtf_path, "w") as gtf:
        gtf.write("##description: genotool splice simulated annotation (GENCODE-style GTF)\n")
        for ci in range(1, num_chromosomes + 1):
            chrom = f"chr{ci}"
            L = int(base_len * rng.uniform(0.85, 1.15))
            seq = _bases(rng, L, INTERGENIC_GC)
            _plant_decoys(rng, seq, 0, L, decoy_rate / 2)
            pos = int(rng.integers(500, 2500))
            gi = 0
            while True:
                gseq, txs = build_gene(rng, decoy_rate)
                n = len(gseq)
                if pos + n + 500 > L:
                    break
                strand = "+" if rng.random() < 0.5 else "-"
                seq[pos:pos + n] = gseq if strand == "+" else COMP[gseq[::-1]]
                gi += 1
                g = SimGene(f"{chrom}.g{gi}", chrom, strand, pos, pos + n)
                for name, exons in txs.items():
                    if strand == "+":
                        g.transcripts[f"{g.gene_id}.{name}"] = [(pos + s, pos + e) for s, e in exons]
                    else:
                        g.transcripts[f"{g.gene_id}.{name}"] = sorted((pos + n - e, pos + n - s) for s, e in exons)
                _write_gene(gtf, g)
                genes.append(g)
                n_tx += len(txs)
                pos += n + _lognormal(rng, 2500, 0.6, 600, 20000)
            fa.write(f">{chrom}\n".encode())
            for i in range(0, L, 60):
                fa.write(seq[i:i + 60].tobytes() + b"\n")
            if progress:
                progress(f"{chrom}: {L:,} bp, {gi} genes")
    import pysam

    pysam.faidx(str(fa_path))
    return ({"chromosomes": num_chromosomes, "genes": len(genes), "transcripts": n_tx,
             "genes_minus": sum(g.strand == "-" for g in genes)}, genes)


def _write_gene(fh, g: SimGene) -> None:
    gattr = {"gene_id": g.gene_id, "gene_type": "protein_coding", "gene_name": g.gene_id}
    write_gtf_line(fh, g.chrom, "gene", g.start, g.end, g.strand, gattr)
    for tid, exons in g.transcripts.items():
        tattr = {**gattr, "transcript_id": tid, "transcript_type": "protein_coding"}
        write_gtf_line(fh, g.chrom, "transcript", exons[0][0], exons[-1][1], g.strand, tattr)
        order = exons if g.strand == "+" else exons[::-1]
        for k, (s, e) in enumerate(order, 1):
            write_gtf_line(fh, g.chrom, "exon", s, e, g.strand, {**tattr, "exon_number": k})


# --- SpliceVarDB-style variant table ------------------------------------------------------------

VARIANT_COLUMNS = ("hg38", "gene", "classification", "method", "location")
CLASSES = ("Splice-altering", "Normal", "Low-frequency")
METHODS = ("RNA-seq", "Minigene", "MaPSy", "Saturation mutagenesis")


def _sites(g: SimGene) -> list[tuple[int, str, int]]:
    """(exon-side genomic position, 'donor'/'acceptor', direction into the intron) of all transcripts."""
    out = set()
    for exons in g.transcripts.values():
        for k, (s, e) in enumerate(exons):
            if k > 0:
                out.add((s, "acceptor" if g.strand == "+" else "donor", -1))
            if k < len(exons) - 1:
                out.add((e - 1, "donor" if g.strand == "+" else "acceptor", +1))
    return sorted(out)


def simulate_variants(fasta_path: Path, genes: list[SimGene], out_path: Path, *, num_variants: int,
                      seed: int = 0) -> dict:
    """Write a SpliceVarDB-style TSV: hg38 "chr-pos-ref-alt" (1-based), gene, classification, method, location.

    Splice-altering: the canonical dinucleotide of a true site is hit (the site is lost).
    Normal: intronic or exonic positions more than 60 nt from any site.
    Low-frequency: positions 3-20 nt from a site (mostly little effect).
    Roughly 25% / 25% / 50%, as in SpliceVarDB.
    """
    import pysam

    rng = np.random.default_rng(seed + 1)
    fa = pysam.FastaFile(str(fasta_path))
    rows, seen = [], set()
    counts = dict.fromkeys(CLASSES, 0)
    tries = 0
    while len(rows) < num_variants and tries < num_variants * 50:
        tries += 1
        g = genes[int(rng.integers(0, len(genes)))]
        sites = _sites(g)
        r = rng.random()
        if r < 0.25:
            cls = "Splice-altering"
            p, _kind, d = sites[int(rng.integers(0, len(sites)))]
            pos = p + d * int(rng.integers(1, 3))          # the intron's first/last two bases
        elif r < 0.5:
            cls = "Normal"
            pos = int(rng.integers(g.start, g.end))
            if min(abs(pos - s) for s, _, _ in sites) <= 60:
                continue
        else:
            cls = "Low-frequency"
            p, _kind, d = sites[int(rng.integers(0, len(sites)))]
            pos = p + int(rng.choice([-1, 1])) * int(rng.integers(3, 21))
        if (g.chrom, pos) in seen or not (g.start <= pos < g.end):
            continue
        ref = fa.fetch(g.chrom, pos, pos + 1).upper()
        if ref not in "ACGT":
            continue
        alt = "ACGT"[(("ACGT".index(ref)) + int(rng.integers(1, 4))) % 4]
        in_exon = any(s <= pos < e for ex in g.transcripts.values() for s, e in ex)
        seen.add((g.chrom, pos))
        counts[cls] += 1
        rows.append({"hg38": f"{g.chrom}-{pos + 1}-{ref}-{alt}", "gene": g.gene_id, "classification": cls,
                     "method": METHODS[int(rng.integers(0, len(METHODS)))],
                     "location": "exonic" if in_exon else "intronic"})
    rows.sort(key=lambda r: (int(r["hg38"].split("-")[0][3:]), int(r["hg38"].split("-")[1])))
    with open(out_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=VARIANT_COLUMNS, delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    return {"variants": len(rows), **{c.lower(): n for c, n in counts.items()}}


def simulate_dataset(out_dir: Path, *, genome_size: int, num_chromosomes: int, num_variants: int, seed: int,
                     decoy_rate: float = 1 / 600, progress=None) -> dict:
    counts, genes = simulate_genome(out_dir, genome_size=genome_size, num_chromosomes=num_chromosomes, seed=seed,
                                    decoy_rate=decoy_rate, progress=progress)
    counts.update(simulate_variants(out_dir / "genome.fa", genes, out_dir / "splicevardb.tsv",
                                    num_variants=num_variants, seed=seed))
    return counts


@dataclass
class SimulateConfig:
    output: Path
    genome_size: int = 4_000_000
    num_chromosomes: int = 22
    num_variants: int = 400
    seed: int = 0
    force: bool = False


def run_simulate(cfg: SimulateConfig) -> dict:
    """``splice simulate``: option checks, then :func:`simulate_dataset` into the run folder."""
    from genotool.errors import UserError
    from genotool.log import log
    from genotool.outputs import run_output

    if cfg.num_chromosomes < 1:
        raise UserError(f"--num-chromosomes must be >= 1, not {cfg.num_chromosomes}")
    if cfg.genome_size < 20_000 * cfg.num_chromosomes:
        raise UserError(f"--genome-size must be >= {20_000 * cfg.num_chromosomes} (20 kb per chromosome), "
                        f"not {cfg.genome_size}")
    if cfg.num_variants < 0:
        raise UserError(f"--num-variants must be >= 0, not {cfg.num_variants}")
    params = {"genome_size": cfg.genome_size, "num_chromosomes": cfg.num_chromosomes,
              "num_variants": cfg.num_variants, "seed": cfg.seed}
    with run_output(cfg.output, command="splice simulate", parameters=params, force=cfg.force) as run:
        s = simulate_dataset(run.path, genome_size=cfg.genome_size, num_chromosomes=cfg.num_chromosomes,
                             num_variants=cfg.num_variants, seed=cfg.seed, progress=lambda m: log(f"simulate: {m}"))
        run.runtime.update(s)
    return s
