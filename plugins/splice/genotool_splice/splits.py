"""Chromosome splits: the SpliceAI protocol for human-style names, explicit lists otherwise.

SpliceAI (and OpenSpliceAI): test chromosomes 1, 3, 5, 7, 9; train 2, 4, 6, 8, 10-22, X, Y.
The meta-layer also needs a validation set for early stopping: by default the two
highest-numbered training autosomes present (chr21, chr22 on a full genome), so the test
chromosomes stay those of the base model's own held-out set.
"""

from __future__ import annotations

import re

from genotool.errors import UserError
from genotool.genome.fasta import canonical

SPLICEAI_TEST = ("1", "3", "5", "7", "9")
_HUMAN = re.compile(r"^([1-9]|1[0-9]|2[0-2]|X|Y)$")


def parse_list(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def is_human(name: str) -> bool:
    return bool(_HUMAN.match(canonical(name)))


def assign_splits(chroms: list[str], test: list[str] | None = None, val: list[str] | None = None) -> dict[str, str]:
    """chrom -> 'train' | 'val' | 'test'. Explicit lists are compared without a 'chr' prefix."""
    test_c = {canonical(c) for c in (test or [])}
    val_c = {canonical(c) for c in (val or [])}
    if not test_c:
        if not any(is_human(c) for c in chroms):
            raise UserError("--test-chromosomes: contig names are not chr1..chr22/X/Y-style "
                            f"(e.g. '{chroms[0] if chroms else '?'}'); give --test-chromosomes and --val-chromosomes")
        test_c = set(SPLICEAI_TEST)
    if test_c & val_c:
        raise UserError(f"--val-chromosomes: {', '.join(sorted(test_c & val_c))} also in --test-chromosomes")
    if not val_c:
        train_auto = sorted((int(canonical(c)) for c in chroms
                             if is_human(c) and canonical(c).isdigit() and canonical(c) not in test_c))
        val_c = {str(c) for c in train_auto[-2:]}
    out = {}
    for c in chroms:
        k = canonical(c)
        out[c] = "test" if k in test_c else ("val" if k in val_c else "train")
    return out
