"""Simulated sequences: random DNA, half of it carrying a motif at a random position.

Labels are exact by construction: a positive holds the motif at least once (forward strand); a
negative is resampled until it holds none, so chance occurrences cannot mislabel it.
Output: ``sequences.tsv`` with columns ``id``, ``sequence``, ``label``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEFAULT_MOTIF = "TATAAT"
BASES = np.array(list("ACGT"))


def random_sequences(rng: np.random.Generator, n: int, length: int, gc: float) -> np.ndarray:
    """(n, length) array of single characters with GC fraction ``gc``."""
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return BASES[rng.choice(4, size=(n, length), p=p)]


def simulate_records(n: int, length: int, motif: str = DEFAULT_MOTIF, positive_fraction: float = 0.5,
                     gc: float = 0.5, seed: int = 0) -> list[tuple[str, str, int]]:
    """``n`` records ``(id, sequence, label)``, deterministic for a given seed."""
    if len(motif) > length:
        raise ValueError("motif longer than the sequences")
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < positive_fraction).astype(int)
    seqs = ["".join(row) for row in random_sequences(rng, n, length, gc)]
    for i in range(n):
        if labels[i]:
            pos = int(rng.integers(0, length - len(motif) + 1))
            seqs[i] = seqs[i][:pos] + motif + seqs[i][pos + len(motif):]
        else:
            while motif in seqs[i]:  # rare (~length/4^k); resample rather than mislabel
                seqs[i] = "".join(random_sequences(rng, 1, length, gc)[0])
    return [(f"seq{i:06d}", s, int(y)) for i, (s, y) in enumerate(zip(seqs, labels))]


def write_tsv(records, path: Path) -> None:
    with open(path, "w") as fh:
        fh.write("id\tsequence\tlabel\n")
        for rid, seq, label in records:
            fh.write(f"{rid}\t{seq}\t{label}\n")
