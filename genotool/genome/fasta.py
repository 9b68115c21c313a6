"""Indexed FASTA access and chromosome-name matching."""

from __future__ import annotations

from pathlib import Path

from genotool.errors import UserError


def canonical(name: str) -> str:
    """Chromosome names compare without a leading 'chr' (GENCODE 'chr1' == Ensembl '1')."""
    return name[3:] if name.lower().startswith("chr") else name


def open_fasta(path: Path):
    """Open an indexed FASTA (plain or bgzip); build the .fai if missing; one-line errors."""
    import pysam

    try:
        return pysam.FastaFile(str(path))
    except (OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: FASTA has no index and cannot be indexed (plain gzip? use bgzip, "
                        f"or a writable folder for the .fai): {msg}") from None


def fasta_contig(fa_names: dict, chrom: str, transcripts, gtf, fasta) -> str:
    """The FASTA's name for GTF contig ``chrom`` (``fa_names``: canonical -> FASTA name), or a
    one-line UserError naming the first transcript on a contig the FASTA lacks."""
    name = fa_names.get(canonical(chrom))
    if name is None:
        t = transcripts[0]
        raise UserError(f"{gtf}: line {t.line}: transcript {t.transcript_id} is on contig '{chrom}', "
                        f"which is not in {fasta}")
    return name
