"""Chromosome sequences as uint8 codes (A, C, G, T = 0..3, N = 4) and windows around positions."""

from __future__ import annotations

import numpy as np

from genotool.log import warn
from genotool_splice.base import encode, reverse_complement

_ACGTN = np.zeros(256, dtype=bool)
for _c in b"ACGTNacgtn":
    _ACGTN[_c] = True
LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)


def fetch_codes(fa, fasta_path, chrom: str, start: int = 0, end: int | None = None) -> np.ndarray:
    """Codes of chrom[start:end]; characters other than ACGTN are counted, warned about once and read as N."""
    raw = fa.fetch(chrom, start, end).encode()
    arr = np.frombuffer(raw, dtype=np.uint8)
    bad = ~_ACGTN[arr]
    if bad.any():
        example = chr(int(arr[bad][0]))
        warn(f"{fasta_path}: {chrom}: {int(bad.sum())} character(s) other than A, C, G, T, N "
             f"(e.g. '{example}') treated as N")
    return encode(raw)


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


__all__ = ["fetch_codes", "windows", "to_text", "from_text", "reverse_complement"]
