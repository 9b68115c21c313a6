"""``snp preprocess``: VCF + sample table -> int8 genotype tensor, SNP list, haploblocks, LD graph, split.

Output folder:

* ``genotypes.npy``  (N, C, L) int8: C = 2 haplotype channels (0/1) when the VCF is phased, or
  C = 1 dosage channel (0/1/2) when it is not; -1 marks a missing allele/genotype (the model
  input turns it into a mask channel).
* ``snps.tsv``       index, chrom, pos, ref, alt, af (cohort alt allele frequency): predict aligns by site.
* ``samples.tsv``    the sample table rows in tensor order, with a ``split`` column.
* ``split.json``     the manifest (train/val/test sample names, seed, label column).
* ``blocks.tsv``     Gabriel haploblocks over SNPs with MAF >= ``block_maf`` (indices into snps.tsv).
* ``ld_graph.npz``   src, dst (SNP indices, src < dst), r2: the graph the GNN passes messages on.

The VCF is streamed in chunks of ``chunk_sites`` records; kept rows go to a scratch file in
site-major order and are transposed into the output one chunk at a time, so memory holds the
int8 output plus one chunk (plus the LD band, which is O(L x band)).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log, warn
from genotool_snp import ld, samples as sample_io
from genotool_snp.vcfio import ReadStats, read_chunks, vcf_samples


@dataclass
class PreprocessConfig:
    vcf: Path
    samples: Path
    output: Path
    label: str = "population"
    maf: float = 0.05
    phased: bool = False               # require phased genotypes (error otherwise)
    chunk_sites: int = 4096
    block_maf: float = 0.05
    block_max_kb: float = 200.0
    block_max_snps: int = 512
    ld_r2: float = 0.5
    ld_window_kb: float = 100.0
    ld_max_partners: int = 32
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    force: bool = False
    threads: int | None = None         # BLAS threads for the LD products (probe's choice)

    def check(self) -> None:
        if not 0 <= self.maf < 0.5:
            raise UserError(f"--maf must be in [0, 0.5), not {self.maf}")
        if not 0 < self.ld_r2 <= 1:
            raise UserError(f"--ld-r2 must be in (0, 1], not {self.ld_r2}")
        if self.val_fraction <= 0 or self.test_fraction <= 0 or self.val_fraction + self.test_fraction >= 1:
            raise UserError("--val-fraction and --test-fraction must be > 0 and sum to < 1")
        if self.chunk_sites < 1:
            raise UserError(f"--chunk-sites must be >= 1, not {self.chunk_sites}")


def stream_genotypes(vcf: Path, names: list[str], maf: float, chunk_sites: int, scratch: Path, progress=None):
    """Read ``vcf`` for ``names``; keep biallelic SNPs with MAF >= ``maf``.

    Returns (genotypes (N, 2, L) int8, site dict, ReadStats, maf-filtered count)."""
    stats = ReadStats()
    chrom, pos, ref, alt, afs = [], [], [], [], []
    filtered = 0
    n2 = 2 * len(names)
    with open(scratch, "wb") as fh:
        for ch in read_chunks(vcf, names, chunk_sites, stats):
            a = ch.alleles
            called = (a >= 0).sum(1)
            af = np.where(called > 0, np.clip(a, 0, 1).sum(1) / np.maximum(called, 1), 0.0)
            keep = (np.minimum(af, 1 - af) >= maf) & (called > 0)
            if maf == 0:
                keep &= (af > 0) & (af < 1)   # monomorphic sites carry nothing
            filtered += int((~keep).sum())
            fh.write(np.ascontiguousarray(a[keep]).tobytes())
            idx = np.flatnonzero(keep)
            chrom += [ch.chrom[i] for i in idx]
            pos.append(ch.pos[idx])
            ref += [ch.ref[i] for i in idx]
            alt += [ch.alt[i] for i in idx]
            afs.append(af[idx])
            if progress:
                progress(stats.records)
    L = len(chrom)
    if L == 0:
        return None, None, stats, filtered
    out = np.empty((len(names), 2, L), np.int8)
    with open(scratch, "rb") as fh:
        for a0 in range(0, L, chunk_sites):
            c = min(chunk_sites, L - a0)
            block = np.frombuffer(fh.read(c * n2), np.int8).reshape(c, n2)
            out[:, :, a0:a0 + c] = block.T.reshape(len(names), 2, c)
    sites = {"chrom": chrom, "pos": np.concatenate(pos), "ref": ref, "alt": alt, "af": np.concatenate(afs)}
    return out, sites, stats, filtered


def run_preprocess(cfg: PreprocessConfig, run) -> dict:
    """Write the preprocess outputs into ``run.path`` (a staging folder); returns a summary."""
    cfg.check()
    from threadpoolctl import threadpool_limits

    from genotool.probe import choose_cpu_threads

    # BLAS threads (the LD products) fighting other processes for the cores are many times slower
    # than one. No torch here: its import alone is ~2 s of CPU, a fifth of the 1,000 x 34k budget.
    threads, why = choose_cpu_threads(cfg.threads)
    run.plan = {"cpu_threads": threads, "reason": why}
    with threadpool_limits(limits=threads, user_api="blas"):
        return _preprocess(cfg, run)


def _preprocess(cfg: PreprocessConfig, run) -> dict:
    t0 = time.perf_counter()
    header, table = sample_io.read_table(cfg.samples)
    if cfg.label not in header:
        raise UserError(f"--label: column '{cfg.label}' is not in {cfg.samples} (columns: {', '.join(header)})")
    names_vcf = vcf_samples(cfg.vcf)
    rows = sample_io.match_samples(table, names_vcf, cfg.samples, cfg.vcf)
    names = [table["sample"][r] for r in rows]
    labels = [table[cfg.label][r] for r in rows]
    manifest = sample_io.stratified_split(names, sample_io.strata(labels), (1 - cfg.val_fraction - cfg.test_fraction,
                                          cfg.val_fraction, cfg.test_fraction), cfg.seed, cfg.label, cfg.samples)

    scratch = run.path / ".sites.scratch"
    try:
        geno, sites, stats, filtered = stream_genotypes(cfg.vcf, names, cfg.maf, cfg.chunk_sites, scratch)
    finally:
        if scratch.exists():
            scratch.unlink()
    t_read = time.perf_counter() - t0
    if stats.multiallelic or stats.non_snp:
        log(f"skipped {stats.multiallelic} multi-allelic and {stats.non_snp} non-SNP records")
    if geno is None:
        raise UserError(f"--vcf: {cfg.vcf}: all {stats.records} records were filtered out "
                        f"({stats.multiallelic} multi-allelic, {stats.non_snp} non-SNP, {filtered} below --maf {cfg.maf})")
    phased = stats.unphased_calls == 0
    if not phased and cfg.phased:
        raise UserError(f"--vcf: {cfg.vcf} has {stats.unphased_calls} unphased genotype calls and --phased was given")
    if not phased:
        warn(f"{cfg.vcf}: {stats.unphased_calls} unphased calls: using dosage (1 channel), no haploblocks")
        miss = (geno < 0).any(1)
        geno = np.where(miss, -1, geno.sum(1, dtype=np.int8))[:, None, :].astype(np.int8)
    N, C, L = geno.shape
    # Several contigs are fine: offset positions so that no LD pair spans two contigs.
    lin = _linear_positions(sites["chrom"], sites["pos"])

    t1 = time.perf_counter()
    rows2 = geno.reshape(N * C, L)          # (2N, L) haplotypes (or N dosages): a view, no copy
    blocks = []
    if phased:
        af = sites["af"]
        common = np.flatnonzero(np.minimum(af, 1 - af) >= cfg.block_maf)
        if len(common) > 1:
            bl = ld.gabriel_blocks(rows2, lin[common], int(cfg.block_max_kb * 1000), cfg.block_max_snps,
                                   cols=common)
            blocks = [(int(common[a]), int(common[b])) for a, b in bl]
    t_blocks = time.perf_counter() - t1
    t2 = time.perf_counter()
    src, dst, r2 = ld.ld_graph(rows2, lin, cfg.ld_r2, int(cfg.ld_window_kb * 1000), cfg.ld_max_partners)
    t_graph = time.perf_counter() - t2

    out = run.path
    np.save(out / "genotypes.npy", geno)
    with open(out / "snps.tsv", "w") as fh:
        fh.write("index\tchrom\tpos\tref\talt\taf\n")
        for i in range(L):
            fh.write(f"{i}\t{sites['chrom'][i]}\t{sites['pos'][i]}\t{sites['ref'][i]}\t{sites['alt'][i]}\t"
                     f"{sites['af'][i]:.6g}\n")
    split_of = {s: k for k in ("train", "val", "test") for s in manifest[k]}
    with open(out / "samples.tsv", "w") as fh:
        fh.write("\t".join(header + ["split"]) + "\n")
        for r in rows:
            fh.write("\t".join([table[h][r] for h in header] + [split_of[table["sample"][r]]]) + "\n")
    (out / "split.json").write_text(json.dumps(manifest, indent=1) + "\n")
    with open(out / "blocks.tsv", "w") as fh:
        fh.write("block\tfirst\tlast\tchrom\tstart\tend\tn_snps\n")
        for b, (i, j) in enumerate(blocks):
            fh.write(f"{b}\t{i}\t{j}\t{sites['chrom'][i]}\t{sites['pos'][i]}\t{sites['pos'][j]}\t{j - i + 1}\n")
    np.savez(out / "ld_graph.npz", src=src, dst=dst, r2=r2)
    info = {"samples": N, "channels": C, "snps": L, "phased": phased, "label": cfg.label,
            "records": stats.records, "multiallelic_skipped": stats.multiallelic, "non_snp_skipped": stats.non_snp,
            "maf_filtered": filtered, "missing_calls": stats.missing_calls,
            "has_missing": stats.missing_calls > 0,
            "contigs": stats.contigs, "blocks": len(blocks), "ld_edges": int(len(src)),
            "split_sizes": {k: len(manifest[k]) for k in ("train", "val", "test")},
            "read_seconds": round(t_read, 3), "blocks_seconds": round(t_blocks, 3),
            "graph_seconds": round(t_graph, 3), "seconds": round(time.perf_counter() - t0, 3)}
    (out / "data.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def _linear_positions(chrom: list[str], pos: np.ndarray) -> np.ndarray:
    """Positions on one axis with a 10^9 bp gap between contigs (so no LD pair spans two contigs)."""
    offsets, lin = {}, np.empty(len(pos), np.int64)
    for i, c in enumerate(chrom):
        if c not in offsets:
            offsets[c] = len(offsets) * 10**10
        lin[i] = pos[i] + offsets[c]
    return lin


def load_data(path: Path) -> dict:
    """Open a preprocess folder: genotypes (memory-mapped), sites, samples, split, blocks, graph."""
    from genotool.errors import require_dir

    path = require_dir(path, "--data")
    need = ("genotypes.npy", "snps.tsv", "samples.tsv", "split.json", "ld_graph.npz", "data.json")
    for f in need:
        if not (path / f).is_file():
            raise UserError(f"--data: {path} has no {f} (a `snp preprocess` output)")
    header, table = sample_io.read_table(path / "samples.tsv")
    snps = _read_snps(path / "snps.tsv")
    g = np.load(path / "genotypes.npy", mmap_mode="r")
    graph = np.load(path / "ld_graph.npz")
    blocks = []
    for ln in (path / "blocks.tsv").read_text().splitlines()[1:]:
        p = ln.split("\t")
        blocks.append((int(p[1]), int(p[2])))
    return {"path": path, "genotypes": g, "snps": snps, "table": table, "header": header,
            "split": json.loads((path / "split.json").read_text()), "info": json.loads((path / "data.json").read_text()),
            "graph": (graph["src"], graph["dst"], graph["r2"]), "blocks": blocks}


def _read_snps(path: Path) -> dict:
    chrom, pos, ref, alt, af = [], [], [], [], []
    for ln in path.read_text().splitlines()[1:]:
        p = ln.split("\t")
        chrom.append(p[1]); pos.append(int(p[2])); ref.append(p[3]); alt.append(p[4]); af.append(float(p[5]))
    return {"chrom": chrom, "pos": np.asarray(pos, np.int64), "ref": ref, "alt": alt, "af": np.asarray(af)}


