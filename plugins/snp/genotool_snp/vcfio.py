"""Streaming VCF/BCF reading with cyvcf2: chunks of biallelic SNPs as int8 haplotype rows.

A chunk holds ``alleles`` (sites, 2 * samples) int8 with 0/1 and -1 for missing, laid out
sample-major (haplotype 2s and 2s+1 are sample s's two chromosomes), plus the site table.
Multi-allelic and non-SNP records are skipped and counted, never errors.

Checked while reading (each a one-line UserError naming the file and the first record at fault):
a record without GT; an allele index beyond the record's ALT alleles (``0|3`` with one ALT);
haploid calls (counted over the whole file, then refused: ``bcftools +fixploidy``); an exact
duplicate record (same chrom, pos, ref, alt: ``bcftools norm --rm-dup exact``); and, where the
caller needs position order (preprocess: blocks and the LD graph), records out of order or a
contig that comes back (``bcftools sort``). Split multi-allelic sites (``bcftools norm -m-``:
several biallelic records at one position with different ALTs) are distinct sites.
A lone ``.`` in a diploid record is a missing call, not a haploid one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.genome.hts import quiet_htslib


@dataclass
class Chunk:
    alleles: np.ndarray          # (sites, 2 * samples) int8: 0 ref, 1 alt, -1 missing
    chrom: list
    pos: np.ndarray              # (sites,) int64, 1-based
    ref: list
    alt: list
    unphased: int                # genotype calls in the chunk that were not phased (missing excluded)


@dataclass
class ReadStats:
    records: int = 0
    multiallelic: int = 0
    non_snp: int = 0
    kept: int = 0
    unphased_calls: int = 0
    missing_calls: int = 0
    haploid_calls: int = 0
    first_haploid: str = ""        # "sample at chrom:pos" of the first haploid call
    contigs: dict = field(default_factory=dict)


def open_vcf(path: Path, samples: list[str] | None = None):
    """cyvcf2.VCF over ``path`` (plain, bgzip or BCF), restricted to ``samples`` in that order."""
    from cyvcf2 import VCF

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--vcf: {path} not found")
    try:
        with quiet_htslib():                          # our one line, not htslib's [E::...] lines before it
            vcf = VCF(str(path), gts012=False, lazy=True, threads=1)
    except (OSError, IOError, Exception) as exc:  # noqa: BLE001 - htslib's messages are the user's problem
        raise UserError(f"--vcf: {path} cannot be read as VCF/BCF ({exc})") from exc
    if "GT" not in _format_ids(vcf):
        raise UserError(f"--vcf: {path} has no GT FORMAT field (genotypes are required)")
    if samples is not None:
        vcf.set_samples(samples)
    return vcf


def _format_ids(vcf) -> set:
    ids = set()
    for h in vcf.header_iter():
        info = h.info()
        if info.get("HeaderType") == "FORMAT":
            ids.add(info.get("ID"))
    return ids


def vcf_samples(path: Path) -> list[str]:
    vcf = open_vcf(path)
    names = list(vcf.samples)
    vcf.close()
    return names


def duplicate_record(path, chrom, pos, ref, alt) -> UserError:
    return UserError(f"--vcf: {path}:{chrom}:{pos}: the record {ref}>{alt} appears twice (exact duplicate "
                     "records); remove them with `bcftools norm --rm-dup exact`")


def read_chunks(path: Path, samples: list[str], chunk_sites: int = 4096, stats: ReadStats | None = None,
                sorted_input: bool = True):
    """Yield :class:`Chunk` objects of at most ``chunk_sites`` biallelic SNPs, in file order.

    ``sorted_input``: refuse records out of position order (``bcftools sort``); without it any
    order is read (exact duplicates are then only caught when adjacent: the caller checks the
    sites it keeps).

    The per-record work is one copy of cyvcf2's genotype array into a chunk buffer; the sample
    reordering, the missing and phasing counts and the -2 (end of vector) -> -1 mapping run once
    per chunk on whole arrays (per-record numpy reductions cost more than htslib's parsing)."""
    stats = stats if stats is not None else ReadStats()
    vcf = open_vcf(path, samples)
    order = _sample_order(vcf, samples)
    ns = len(samples)
    buf = np.empty((chunk_sites, ns, 3), dtype=np.int16)    # cyvcf2 layout: allele 0, allele 1, phased
    chrom, pos, ref, alt = [], [], [], []
    contigs = stats.contigs

    def flush():
        k = len(pos)
        if buf[:k].max() > 1:       # an allele index > 1 (the phase column is 0/1); before the int8 cast wraps it
            idx = buf[:k, :, :2]
            r, col = np.argwhere(idx.max(2) > 1)[0]
            raise UserError(f"--vcf: {path}:{chrom[r]}:{pos[r]}: genotype allele {int(idx[r, col].max())} but the "
                            f"record has 1 ALT allele (sample {vcf.samples[col]})")
        g = buf[:k].astype(np.int8)                              # alleles 0/1, -1 missing, -2 end of vector
        if order is not None:
            g = g[:, order]
        a = np.ascontiguousarray(g[:, :, :2])
        if a.min() >= 0:                                         # the common case: nothing missing
            missing, unphased = 0, int(k * ns - np.count_nonzero(g[:, :, 2]))
        else:
            haploid = (a[:, :, 1] == -2) & (a[:, :, 0] >= 0)     # "1" in a diploid record ("." is missing)
            if haploid.any():
                _count_haploid(stats, haploid, chrom, pos, samples)
            called = (a >= 0).all(2)                             # (k, samples)
            missing = int(called.size - np.count_nonzero(called))
            unphased = int(np.count_nonzero((g[:, :, 2] == 0) & called))
            np.maximum(a, -1, out=a)
        alleles = a.reshape(k, 2 * ns)                           # sample-major: s0h0, s0h1, s1h0, ...
        stats.missing_calls += missing
        stats.unphased_calls += unphased
        return Chunk(alleles, chrom, np.asarray(pos, np.int64), ref, alt, unphased)

    seen_contigs: set = set()
    last_chrom, last_pos, at_pos = None, 0, set()             # at_pos: (ref, alt) kept at last_pos
    with quiet_htslib():                                      # a corrupt record is our one error line
        try:
            it = iter(vcf)
            while True:
                try:
                    v = next(it)
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - a truncated bgzip block surfaces here
                    raise UserError(f"--vcf: {path} is truncated or corrupt after record {stats.records} ({exc})") from exc
                stats.records += 1
                c, p = v.CHROM, v.POS
                if c != last_chrom:
                    if sorted_input and c in seen_contigs:
                        raise UserError(f"--vcf: {path}: records are not sorted: contig {c} comes back at {c}:{p} after "
                                        f"{last_chrom}:{last_pos}; sort it with `bcftools sort`")
                    seen_contigs.add(c)
                    last_chrom, last_pos, at_pos = c, p, set()
                elif p != last_pos:
                    if sorted_input and p < last_pos:
                        raise UserError(f"--vcf: {path}: records are not sorted: {c}:{p} after {c}:{last_pos}; "
                                        "sort it with `bcftools sort`")
                    last_pos, at_pos = p, set()
                al = v.ALT
                if len(al) != 1:
                    stats.multiallelic += 1
                    continue
                a0, r0 = al[0], v.REF
                if len(r0) != 1 or len(a0) != 1 or a0 not in "ACGTacgt":
                    stats.non_snp += 1
                    continue
                if (r0, a0) in at_pos:
                    raise duplicate_record(path, c, p, r0, a0)
                at_pos.add((r0, a0))
                try:
                    gt = v.genotype.array()                   # (samples, ploidy + 1) int16; last col phased
                except Exception:  # noqa: BLE001 - cyvcf2 raises a bare Exception for a record without GT
                    raise UserError(f"--vcf: {path}:{c}:{p}: the record has no GT (genotype) field; every record "
                                    "needs one") from None
                if gt.shape[1] == 2:                          # every call of the record haploid (or ".")
                    row = buf[len(pos)]                       # laid out as in a diploid record: allele, -2, phase
                    row[:, 0], row[:, 1], row[:, 2] = gt[:, 0], -2, 1
                elif gt.shape[1] != 3:
                    raise UserError(f"--vcf: {path}:{c}:{p}: genotypes must be diploid (found ploidy {gt.shape[1] - 1})")
                else:
                    buf[len(pos)] = gt
                chrom.append(c)
                pos.append(p)
                ref.append(r0)
                alt.append(a0)
                contigs[c] = contigs.get(c, 0) + 1
                stats.kept += 1
                if len(pos) == chunk_sites:
                    yield flush()
                    chrom, pos, ref, alt = [], [], [], []
            if pos:
                yield flush()
            if stats.haploid_calls:
                raise UserError(f"--vcf: {path}: {stats.haploid_calls} haploid genotype calls inside diploid records "
                                f"(first: {stats.first_haploid}); make them diploid with `bcftools +fixploidy` or "
                                "leave those records out")
        finally:
            vcf.close()


def _count_haploid(stats: ReadStats, haploid: np.ndarray, chrom, pos, samples) -> None:
    """Add the haploid calls of a chunk, ``haploid`` (sites, samples) bool, to ``stats``."""
    if not stats.haploid_calls:
        r, col = np.argwhere(haploid)[0]
        stats.first_haploid = f"sample {samples[col]} at {chrom[r]}:{pos[r]}"
    stats.haploid_calls += int(np.count_nonzero(haploid))


def _sample_order(vcf, samples: list[str]):
    """cyvcf2.set_samples keeps the file's order: indices that put columns in ``samples`` order."""
    got = list(vcf.samples)
    if got == list(samples):
        return None
    idx = {s: i for i, s in enumerate(got)}
    return np.asarray([idx[s] for s in samples])
