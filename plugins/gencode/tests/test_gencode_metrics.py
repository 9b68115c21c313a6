"""Segment F1 / boundary F1 sanity: exact (start, end, label) matches only."""

import numpy as np
import pytest

from genotool_gencode.metrics import SegmentationMetrics


def _truth():
    return np.array([0] * 10 + [7] * 5 + [9] * 3 + [1] * 12 + [4] * 20 + [3] * 8 + [0] * 6)


def test_perfect_prediction_scores_one():
    m = SegmentationMetrics()
    t = _truth()
    m.update(t, t.copy())
    s = m.summary()
    assert s["segment_f1"] == 1.0 and s["boundary_f1_tol0"] == 1.0 and s["position_macro_f1"] == 1.0
    assert s["true_segments"] == s["pred_segments"] == 7


def test_one_base_shift_loses_exactly_the_two_touched_segments():
    t = _truth()
    p = t.copy()
    p[30] = 1          # the intron [30, 50) starts one base late; exon [18, 30) ends one base late
    m = SegmentationMetrics()
    m.update(t, p)
    s = m.summary()
    assert s["segment_precision"] == pytest.approx(5 / 7) and s["segment_recall"] == pytest.approx(5 / 7)
    assert s["boundary_f1_tol0"] == pytest.approx(5 / 6) and s["boundary_f1_tol1"] == 1.0


def test_segments_are_counted_per_chunk():
    m = SegmentationMetrics()
    t = _truth()
    m.update(t, t)
    p = t.copy()
    p[:10] = 8          # first run mislabelled: that segment alone is lost
    m.update(t, p)
    s = m.summary()
    assert s["segment_recall"] == pytest.approx(13 / 14)
