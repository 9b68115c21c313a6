"""genotool.genome.intervals: the merged union of half-open intervals, against a per-base reference."""

import random

from genotool.genome.intervals import merge_intervals


def _covered(spans):
    return {p for s, e in spans for p in range(s, e)}


def test_touching_and_overlapping_merge_disjoint_stay():
    assert merge_intervals([(10, 20), (0, 5), (20, 25), (3, 8), (30, 31)]) == [(0, 8), (10, 25), (30, 31)]
    assert merge_intervals([]) == []


def test_union_matches_per_base_reference():
    rng = random.Random(7)
    for _ in range(200):
        spans = [(s, s + rng.randint(1, 12)) for s in (rng.randint(0, 80) for _ in range(rng.randint(1, 10)))]
        merged = merge_intervals(spans)
        assert _covered(merged) == _covered(spans)
        # sorted, disjoint and not touching: every gap holds at least one uncovered base
        assert all(a[1] < b[0] for a, b in zip(merged, merged[1:]))
