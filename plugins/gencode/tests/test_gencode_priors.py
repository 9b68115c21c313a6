"""Structure priors: counts, and that each head's estimate is the better model of run lengths."""

import numpy as np
import pytest
import torch

from genotool_gencode.priors import (canonical_semicrf_init, label_statistics, linear_chain_init)
from genotool_gencode.semicrf import canonical_nll, semicrf_nll


def _labelling(rng, n_runs=12):
    """Alternating runs: label 1 always 3 long (a codon), label 2 ~ 6-9, label 0 ~ 2-12."""
    y = []
    for i in range(n_runs):
        c = (0, 1, 2)[i % 3]
        n = 3 if c == 1 else int(rng.integers(6, 10)) if c == 2 else int(rng.integers(2, 13))
        y += [c] * n
    return np.array(y)


def test_label_statistics_counts_interior_runs_and_pairs():
    stats = label_statistics([np.array([0, 0, 1, 1, 1, 2, 0, 0, 0])], 3)
    assert stats.lengths[1].tolist() == [3] and stats.lengths[2].tolist() == [1]
    assert stats.lengths[0].tolist() == []            # both 0-runs touch an edge
    assert stats.pair_counts[0, 1] == 1 and stats.pair_counts[1, 2] == 1 and stats.pair_counts[2, 0] == 1
    assert stats.pair_counts.sum() == 3 and stats.first_counts.tolist() == [1, 0, 0]


def test_canonical_durations_peak_at_observed_lengths():
    rng = np.random.default_rng(0)
    stats = label_statistics([_labelling(rng) for _ in range(50)], 3)
    trans, dur = canonical_semicrf_init(stats, K=8)
    assert int(np.argmax(dur[:, 1])) == 2                 # codon: exactly 3 bp
    assert dur[2, 1] > np.log(0.9) and dur[0, 1] < -5
    # label 2 runs (6-9) exceed K=8 sometimes: mass on the full piece and a continuation odds
    assert dur[7, 2] > dur[0, 2] and trans[2, 2] > trans[1, 1]
    # never-seen switches start strongly disfavoured
    assert trans[1, 0] < -5 and trans[0, 1] > -1


def test_each_init_fits_run_lengths_better_than_random_and_semicrf_beats_linear():
    """With zero emissions the heads are pure length/label-order models: on held-out labellings
    the count-initialised semi-CRF has a lower NLL than the count-initialised linear chain (it can
    represent 'codons are 3 bp'), and both beat random parameters."""
    rng = np.random.default_rng(1)
    train = [_labelling(rng) for _ in range(200)]
    test = [_labelling(rng)[:40] for _ in range(20)]
    stats = label_statistics(train, 3)
    y = torch.tensor(np.stack(test))
    em = torch.zeros(y.shape[0], y.shape[1], 3, dtype=torch.float64)
    t_lin, _ = linear_chain_init(stats)
    nll_lin = semicrf_nll(em, torch.tensor(t_lin), torch.zeros(1, 3, dtype=torch.float64), y).mean()
    t_semi, d_semi = canonical_semicrf_init(stats, K=8)
    nll_semi = canonical_nll(em, torch.tensor(t_semi), torch.tensor(d_semi), y).mean()
    g = torch.Generator().manual_seed(0)
    nll_rand = canonical_nll(em, torch.randn(3, 3, generator=g, dtype=torch.float64) * 0.1,
                             torch.randn(8, 3, generator=g, dtype=torch.float64) * 0.1, y).mean()
    assert nll_semi < nll_lin < nll_rand
    assert float(nll_lin - nll_semi) / y.shape[1] > 0.05   # nats per position


@pytest.mark.parametrize("model", ["pytorch-crf", "linear", "semicrf"])
def test_heads_accept_structure_init(model):
    from genotool_gencode.models import SegmentationModel

    rng = np.random.default_rng(2)
    stats = label_statistics([np.minimum(_labelling(rng), 10) for _ in range(20)], 11)
    m = SegmentationModel({"model": model, "encoder": "bilstm", "max_duration": 8, "hidden_dim": 8,
                           "num_layers": 1, "chain": "canonical"})
    m.head.init_structure(stats)
    x = torch.randint(0, 4, (2, 30))
    yy = torch.randint(0, 3, (2, 30))
    loss = m.loss(x, yy, torch.tensor([30, 25]))
    assert torch.isfinite(loss)
