"""Base codes of the gene finder: A, C, G, T = 0..3, anything else (N and IUPAC codes) = 4.

Sequences are numpy ``uint8`` arrays of these codes. Codon sets are held as 3-base code tuples;
:func:`motif_hits` marks where one of a set begins.
"""

from __future__ import annotations

import numpy as np

A, C, G, T, N = 0, 1, 2, 3, 4
_LUT = np.full(256, N, dtype=np.uint8)
for _i, _c in enumerate("ACGT"):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.lower())] = _i
_COMP = np.array([T, G, C, A, N], dtype=np.uint8)
IUPAC = set("RYSWKMBDHVN")     # ambiguity codes: read as N (counted, one warning)

STOPS = ("TAA", "TAG", "TGA")
STOPS_RC = ("TTA", "CTA", "TCA")   # reverse complements of the stops, read on the plus strand


def encode(seq: str) -> np.ndarray:
    """DNA string -> (L,) uint8 codes (case-insensitive; any other character is N)."""
    return _LUT[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


def revcomp(codes: np.ndarray) -> np.ndarray:
    """(L,) codes -> the reverse complement's codes."""
    return _COMP[codes[::-1]]


_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)


def decode(codes: np.ndarray) -> str:
    """(L,) codes -> DNA string (N for code 4)."""
    return _LETTERS[np.asarray(codes, dtype=np.int64)].tobytes().decode("ascii")


def motif_hits(codes: np.ndarray, motifs) -> np.ndarray:
    """(L,) bool: True at i when codes[i:i+k] is one of ``motifs`` (strings of one length k)."""
    k = len(next(iter(motifs)))
    out = np.zeros(len(codes), dtype=bool)
    if len(codes) < k:
        return out
    for m in motifs:
        hit = np.ones(len(codes) - k + 1, dtype=bool)
        for j, code in enumerate(encode(m)):
            hit &= codes[j:len(codes) - k + 1 + j] == code
        out[:len(hit)] |= hit
    return out


def odd_characters(seq: str) -> dict[str, int]:
    """Counts of the characters of ``seq`` that are not A/C/G/T (any case), by character."""
    up = seq.upper()
    out = {}
    for ch in set(up) - set("ACGT"):
        out[ch] = up.count(ch)
    return out
