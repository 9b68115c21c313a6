"""Half-open genomic intervals shared by plugins (gencode's coding exons, splice's transcript bodies)."""

from __future__ import annotations

from collections.abc import Iterable


def merge_intervals(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) intervals -> their sorted union; overlapping or touching ones merge.

    Touching merges too because annotations split one feature at a boundary: a CDS part and the
    stop codon that follows it, or two transcripts of a gene whose bodies abut.
    """
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]
