"""``hello preprocess``: encode sequences (A/C/G/T/N -> 0..4) and assign train/val/test splits.

Writes ``OUTPUT/data.npz`` (layout in :mod:`genotool_hello.data`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError, require_file
from genotool.log import log


@dataclass
class PreprocessOptions:
    """One ``hello preprocess`` command line."""

    input: Path                       # sequences.tsv or a `hello simulate` folder
    output: Path
    length: int | None = None         # None: the longest sequence
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    force: bool = False

    def tsv(self) -> Path:
        tsv = self.input / "sequences.tsv" if self.input.is_dir() else self.input
        return require_file(tsv, "--input")

    def check(self) -> None:
        v, t = self.val_fraction, self.test_fraction
        if not (0 <= v < 1 and 0 <= t < 1 and v + t < 1):
            raise UserError("--val-fraction and --test-fraction must be in [0, 1) and sum to < 1")


def run_preprocess(opts: PreprocessOptions) -> None:
    from genotool.outputs import run_output
    from genotool_hello.data import encode, read_tsv, split_assignments

    tsv = opts.tsv()
    opts.check()
    params = dict(length=opts.length, val_fraction=opts.val_fraction, test_fraction=opts.test_fraction,
                  seed=opts.seed)
    with run_output(opts.output, command="hello preprocess", parameters=params, inputs=[tsv], force=opts.force,
                    resume=False) as run:
        ids, seqs, labels = read_tsv(tsv)
        length = opts.length or max(len(s) for s in seqs)
        codes = encode(seqs, length, source=str(tsv))
        split = split_assignments(len(seqs), opts.val_fraction, opts.test_fraction, opts.seed)
        np.savez(run.path / "data.npz", codes=codes, labels=labels, ids=np.asarray(ids), split=split)
        run.runtime.update(n_sequences=len(seqs), length=length,
                           n_train=int((split == 0).sum()), n_val=int((split == 1).sum()),
                           n_test=int((split == 2).sum()))
    log(f"encoded {len(seqs)} sequences of length {length} -> {opts.output}/data.npz")
