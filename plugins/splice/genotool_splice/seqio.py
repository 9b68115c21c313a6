"""Chromosome sequences as uint8 codes (A, C, G, T = 0..3, N = 4), their content digests and
windows around positions.

A FASTA whose ``.fai`` no longer matches the file (edited or cut after indexing) makes pysam
return line breaks, header text or too few bases: :func:`fetch_codes` refuses such a read with
one line naming the index instead of scoring garbage.
"""

from __future__ import annotations

import hashlib

import numpy as np

from genotool.errors import UserError
from genotool.log import warn
from genotool_splice.base import encode, reverse_complement

_ACGTN = np.zeros(256, dtype=bool)
for _c in b"ACGTNacgtn":
    _ACGTN[_c] = True
_BREAK = np.zeros(256, dtype=bool)
for _c in b"\n\r>":
    _BREAK[_c] = True
LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)


def _stale(fasta_path, chrom: str, why: str) -> UserError:
    return UserError(f"{fasta_path}: {chrom}: {why}: its index {fasta_path}.fai does not match the file (edited or "
                     f"cut after indexing?); delete the .fai and run again")


def fetch_raw(fa, fasta_path, chrom: str, start: int = 0, end: int | None = None, warn_bad: bool = True) -> bytes:
    """chrom[start:end] as bytes, checked: the expected length, no line breaks or headers inside
    (a stale index), characters other than ACGTN counted and warned about once (read as N later)."""
    n = fa.get_reference_length(chrom)
    end = n if end is None else end
    try:
        raw = fa.fetch(chrom, start, end).encode()
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise _stale(fasta_path, chrom, f"cannot read {start + 1}-{end} ({type(exc).__name__})") from None
    if len(raw) != end - start:
        raise _stale(fasta_path, chrom, f"{len(raw):,} bases read where {end - start:,} were expected")
    arr = np.frombuffer(raw, dtype=np.uint8)
    if _BREAK[arr].any():
        raise _stale(fasta_path, chrom, "line breaks or a header inside the sequence read")
    bad = ~_ACGTN[arr]
    if warn_bad and bad.any():
        example = chr(int(arr[bad][0]))
        warn(f"{fasta_path}: {chrom}: {int(bad.sum())} character(s) other than A, C, G, T, N "
             f"(e.g. {example!r}) treated as N")
    return raw


def fetch_codes(fa, fasta_path, chrom: str, start: int = 0, end: int | None = None,
                warn_bad: bool = True) -> np.ndarray:
    """Codes (end - start,) uint8 of chrom[start:end] (see :func:`fetch_raw`)."""
    return encode(fetch_raw(fa, fasta_path, chrom, start, end, warn_bad))


def digest(raw: bytes) -> str:
    """Content key of a sequence (case-insensitive: soft-masking does not change scores)."""
    return hashlib.blake2b(raw.upper(), digest_size=16).hexdigest()


def windows(codes: np.ndarray, idx: np.ndarray, size: int) -> np.ndarray:
    """(n, size) uint8 windows centred on idx (N-padded beyond the ends)."""
    half = size // 2
    padded = np.concatenate([np.full(half, 4, np.uint8), codes, np.full(half, 4, np.uint8)])
    take = np.asarray(idx, dtype=np.int64)[:, None] + np.arange(size)[None, :]
    return padded[take]


def to_text(win: np.ndarray) -> list[str]:
    """(n, size) codes -> strings of ACGTN."""
    return [row.tobytes().decode() for row in LETTERS[win]]


def from_text(seqs) -> np.ndarray:
    """Equal-length strings -> (n, size) uint8 codes."""
    return np.stack([encode(s) for s in seqs]) if len(seqs) else np.zeros((0, 0), np.uint8)


__all__ = ["fetch_raw", "fetch_codes", "digest", "windows", "to_text", "from_text", "reverse_complement"]
