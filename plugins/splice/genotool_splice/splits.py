"""Train / validation / test splits by region (``--train/--val/--test-regions``), with SpliceAI's
chromosome split as the default for human-style contig names.

Regions come from the core parser (:mod:`genotool.genome.regions`): ``CONTIG[:START-END],...``,
1-based inclusive; a transcript (or a window) belongs to a split only when it lies wholly
inside one of the split's regions. Without any region option and with human-style names
(chr1..chr22, X, Y, with or without ``chr``): SpliceAI's (and OpenSpliceAI's) test chromosomes
1, 3, 5, 7, 9, validation = the two highest-numbered training autosomes present (chr21, chr22
on a full genome), training = the rest. Other names need ``--test-regions`` and
``--val-regions`` (a plant's single chromosome is split by region: e.g. Arabidopsis chr1
``--train-regions NC_003070.9:1-16000000 --val-regions NC_003070.9:16000001-18000000
--test-regions NC_003070.9:20000001-22000000``).
"""

from __future__ import annotations

import re

from genotool.errors import UserError
from genotool.genome.fasta import canonical
from genotool.genome.regions import Region, RegionSplits

SPLICEAI_TEST = ("1", "3", "5", "7", "9")
_HUMAN = re.compile(r"^([1-9]|1[0-9]|2[0-2]|X|Y)$")


def is_human(name: str) -> bool:
    return bool(_HUMAN.match(canonical(name)))


def resolve_splits(train: str | None, val: str | None, test: str | None, lengths: dict[str, int], source,
                   need_val: bool = True) -> RegionSplits:
    """The region splits of a run, checked against ``lengths`` (contig -> bp of ``source``)."""
    splits = RegionSplits.parse(train, val, test)
    names = list(lengths)
    if not splits.test:
        if not any(is_human(c) for c in names):
            raise UserError(f"--test-regions: contig names of {source} are not chr1..chr22/X/Y-style (e.g. "
                            f"'{names[0] if names else '?'}'); give --test-regions and --val-regions "
                            f"(CONTIG or CONTIG:START-END, 1-based)")
        splits.test = [Region(c) for c in names if canonical(c) in SPLICEAI_TEST]
        if not splits.test:
            raise UserError(f"--test-regions: {source} has none of SpliceAI's test chromosomes 1, 3, 5, 7, 9; "
                            f"give --test-regions")
    if not splits.val and need_val:
        held = {r.key for r in splits.held_out}
        auto = sorted((int(canonical(c)), c) for c in names
                      if is_human(c) and canonical(c).isdigit() and canonical(c) not in held
                      and not any(r.key == canonical(c) for r in splits.train))
        if not auto:
            raise UserError("--val-regions: give the validation regions (early stopping needs held-out "
                            "annotated sequence apart from --test-regions)")
        splits.val = [Region(c) for _, c in auto[-2:]]
    # parsed again from the user's spelling of every region: the defaults must not overlap a given region
    splits = RegionSplits.parse(*(",".join(map(str, splits.regions(k))) for k in ("train", "val", "test")))
    splits.check(lengths, source)
    return splits


def region_spans(splits: RegionSplits, split: str, lengths: dict[str, int]) -> dict[str, list[tuple[int, int]]]:
    """contig (its name in ``lengths``) -> sorted [start, end) pieces of ``split``."""
    out: dict[str, list[tuple[int, int]]] = {}
    for r in splits.intervals(split, lengths):
        out.setdefault(r.contig, []).append((r.start, r.end))
    return {c: sorted(v) for c, v in out.items()}


def used_spans(splits: RegionSplits, lengths: dict[str, int]) -> dict[str, list[tuple[int, int]]]:
    """contig -> merged [start, end) pieces covered by any split (what preprocess scores)."""
    from genotool.genome.intervals import merge_intervals

    merged: dict[str, list[tuple[int, int]]] = {}
    for split in ("train", "val", "test"):
        for c, spans in region_spans(splits, split, lengths).items():
            merged.setdefault(c, []).extend(spans)
    return {c: merge_intervals(spans) for c, spans in merged.items()}
