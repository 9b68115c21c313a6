"""``hello simulate``: random DNA, half of it carrying a motif at a random position.

Labels are exact by construction: a positive holds the motif at least once (forward strand); a
negative is resampled until it holds none, so chance occurrences cannot mislabel it.
Output: ``sequences.tsv`` with columns ``id``, ``sequence``, ``label``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log

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


@dataclass
class SimulateOptions:
    """One ``hello simulate`` command line (no model runs, so no RunOptions)."""

    output: Path
    num_sequences: int = 2000
    length: int = 100
    motif: str = DEFAULT_MOTIF
    positive_fraction: float = 0.5
    gc: float = 0.5
    seed: int = 0
    force: bool = False

    def check(self) -> None:
        self.motif = self.motif.upper()
        if self.num_sequences < 10 or self.length < 1 or not set(self.motif) <= set("ACGT") or not self.motif:
            raise UserError("--num-sequences must be >= 10 and --motif a non-empty A/C/G/T string")
        if len(self.motif) > self.length:
            raise UserError(f"--motif ({len(self.motif)} bp) is longer than --length ({self.length})")
        if not 0 < self.positive_fraction < 1 or not 0 < self.gc < 1:
            raise UserError("--positive-fraction and --gc must be between 0 and 1")


def run_simulate(opts: SimulateOptions) -> None:
    """OUTPUT/sequences.tsv: random DNA, positives carry the motif (labels exact)."""
    from dataclasses import asdict

    from genotool.outputs import run_output

    opts.check()
    params = {k: v for k, v in asdict(opts).items() if k not in ("output", "force")}
    with run_output(opts.output, command="hello simulate", parameters=params, force=opts.force, resume=False) as run:
        records = simulate_records(opts.num_sequences, opts.length, opts.motif, opts.positive_fraction, opts.gc,
                                   opts.seed)
        write_tsv(records, run.path / "sequences.tsv")
        run.runtime.update(n_sequences=opts.num_sequences, n_positive=sum(r[2] for r in records))
    log(f"simulated {opts.num_sequences} sequences -> {opts.output}/sequences.tsv")
