"""The 43 score features: names, formulas on a hand-made track, zero padding at the edges."""

from __future__ import annotations

import numpy as np

from genotool_splice.features import EPS, FEATURE_NAMES, score_features


def test_formulas():
    # neither, acceptor, donor per position; a donor peak at index 3
    d = np.array([0.0, 0.01, 0.1, 0.8, 0.05, 0.02])
    a = np.array([0.0, 0.02, 0.01, 0.05, 0.1, 0.0])
    probs = np.stack([1 - d - a, a, d], axis=1).astype(np.float32)
    f = dict(zip(FEATURE_NAMES, score_features(probs, np.array([3]))[0].astype(np.float64)))
    assert len(FEATURE_NAMES) == 43
    s, m2, m1, p1, p2 = 0.8, 0.01, 0.1, 0.05, 0.02
    n = 1 - 0.8 - 0.05
    assert np.isclose(f["donor_score"], s) and np.isclose(f["neither_score"], n, atol=1e-6)
    assert np.allclose([f["context_score_m2"], f["context_score_m1"], f["context_score_p1"], f["context_score_p2"]],
                       [m2, m1, p1, p2])                                    # donor is the favoured type
    assert np.isclose(f["relative_donor_probability"], s / (s + 0.05), rtol=1e-5)
    assert np.isclose(f["donor_surge_ratio"], s / (m1 + p1 + EPS), rtol=1e-5)
    assert f["donor_is_local_peak"] == 1.0 and f["acceptor_is_local_peak"] == 0.0
    assert np.isclose(f["donor_weighted_context"], .1 * m2 + .2 * m1 + .4 * s + .2 * p1 + .1 * p2, rtol=1e-5)
    assert np.isclose(f["donor_second_derivative"], (s - m1) - (p1 - s), rtol=1e-5)
    assert np.isclose(f["donor_signal_strength"], s - np.mean([m2, m1, p1, p2]), rtol=1e-5)
    assert np.isclose(f["context_asymmetry"], (m1 + m2) - (p1 + p2), rtol=1e-5)
    p = np.array([s, 0.05, n])
    assert np.isclose(f["probability_entropy"], -(p * np.log(p + EPS)).sum(), rtol=1e-5)
    assert np.isclose(f["score_difference_ratio"], (s - 0.05) / (s + 0.05), rtol=1e-5)


def test_edges_are_zero_padded():
    probs = np.tile(np.array([[0.5, 0.2, 0.3]], np.float32), (3, 1))
    f = dict(zip(FEATURE_NAMES, score_features(probs, np.array([0]))[0]))
    assert f["context_score_m2"] == 0 and f["context_score_m1"] == 0 and np.isclose(f["context_score_p1"], 0.3)
