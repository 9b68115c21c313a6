"""Structure priors: counts, and that each head's estimate is the better model of run lengths."""

import numpy as np
import pytest
import torch

from genotool_gencode.crf.priors import (canonical_semicrf_init, label_statistics, linear_chain_init)
from genotool_gencode.crf.recursion import canonical_nll, semicrf_nll



def _cfg(**kw) -> dict:
    """A saved-config dict for ``head`` with the options off unless given (ModelConfig.for_head)."""
    from genotool_gencode.config import ModelConfig

    if "model" in kw:
        kw["head"] = kw.pop("model")
    base = dict(boundary_scores=False, censor_edges=False, long_runs="pieces", orf_scores=False)
    return ModelConfig(**{**base, **kw}).for_head().to_json()


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


def test_hat_basis_interpolates_between_knots():
    from genotool_gencode.crf.durations import duration_knots, hat_basis, weights_for

    assert duration_knots(8) == list(range(1, 9))
    assert torch.equal(hat_basis(8), torch.eye(8, dtype=torch.float64))   # short K: one score per length
    knots = duration_knots(200)
    assert knots[:8] == list(range(1, 9)) and knots[-2:] == [199, 200] and len(knots) < 40
    basis = hat_basis(200)
    assert torch.allclose(basis.sum(1), torch.ones(200, dtype=torch.float64)) and (basis >= 0).all()
    # the knot values are reproduced exactly and lengths between knots lie between them
    dur = np.log(np.linspace(1.0, 2.0, 200))[:, None] * np.array([[1.0, -3.0]])
    w = weights_for(dur)
    smooth = (basis @ torch.as_tensor(w)).numpy()
    idx = np.asarray(knots) - 1
    assert np.allclose(smooth[idx], dur[idx])
    assert np.all(np.diff(smooth[:, 0]) >= -1e-12) and np.all(np.diff(smooth[:, 1]) <= 1e-12)


def test_smoothed_counts_keep_mass_and_sharp_short_lengths():
    from genotool_gencode.crf.priors import smooth_length_counts

    counts = np.zeros(100)
    counts[2] = 50                          # a 3 bp codon
    counts[59:80:2] = 1                     # sparse long lengths: every other length seen once
    s = smooth_length_counts(counts)
    assert s.sum() == pytest.approx(counts.sum())
    assert int(np.argmax(s)) == 2 and s[2] > 0.6 * 50
    middle = s[64:75]
    assert middle.max() / middle.min() < 1.2    # the 0/1 comb becomes a smooth bump


def test_smooth_durations_generalise_better_from_few_segments():
    """Few training runs of a broadly distributed length: the count estimate on a free table
    memorises the lengths it saw; smoothed counts on the log-length basis give held-out labellings
    a lower NLL (zero emissions: a pure length model)."""
    from genotool_gencode.crf.heads import SemiCRFHead

    rng = np.random.default_rng(3)

    def labelling(n_runs):
        y = []
        for i in range(n_runs):
            y += [i % 2] * int(rng.integers(20, 61))
        return np.array(y)

    stats = label_statistics([labelling(6) for _ in range(5)], 2)      # ~20 interior runs per label
    test = torch.tensor(np.stack([labelling(8)[:200] for _ in range(30)]))
    em = torch.zeros(test.shape[0], test.shape[1], 2)
    nll = {}
    for durations in ("table", "smooth"):
        head = SemiCRFHead(2, 64, chain="canonical", durations=durations)
        head.init_structure(stats)
        with torch.no_grad():
            nll[durations] = float(head.nll(em, test, torch.full((30,), 200)).mean())
    assert nll["smooth"] < nll["table"] - 2.0


def test_smooth_head_trains_and_loads_old_table_checkpoints():
    from genotool_gencode.crf.heads import SemiCRFHead

    head = SemiCRFHead(3, 30, chain="canonical", durations="smooth")
    assert head.duration_bias.shape == (30, 3)
    y = torch.randint(0, 3, (2, 40))
    head.nll(torch.randn(2, 40, 3), y, torch.tensor([40, 33])).sum().backward()
    assert head.duration_weights.grad is not None and head.duration_weights.grad.abs().sum() > 0
    assert "duration_basis" not in head.state_dict()      # rebuilt from K, not stored
    # a state dict saved when the free table was the parameter "duration_bias"
    table = SemiCRFHead(3, 30, chain="canonical", durations="table")
    old = {"transition": torch.zeros(3, 3), "duration_bias": torch.full((30, 3), 0.5)}
    table.load_state_dict(old)
    assert torch.equal(table.duration_bias, torch.full((30, 3), 0.5))


def test_linear_warmup_trains_the_encoder_under_the_linear_chain_first():
    """--linear-warmup-epochs: the warm-up loss reaches the encoder and the linear-chain head
    only; afterwards the semi-CRF head; and the linear models ignore the option."""
    from genotool_gencode.models import SegmentationModel

    cfg = _cfg(head="semicrf", encoder="bilstm", max_duration=6, hidden_dim=8, num_layers=1,
                            linear_warmup_epochs=2)
    m = SegmentationModel(cfg)
    assert m.warmup_epochs == 2 and m.warmup_head.max_duration == 1
    x, y, lengths = torch.randint(0, 4, (2, 20)), torch.randint(0, 21, (2, 20)), torch.tensor([20, 15])
    for warmup, trained, idle in ((True, m.warmup_head, m.head), (False, m.head, m.warmup_head)):
        m.zero_grad(set_to_none=True)
        m.loss(x, y, lengths, warmup=warmup).backward()
        assert trained.transition.grad is not None and trained.transition.grad.abs().sum() > 0
        assert idle.transition.grad is None
        assert m.projection.weight.grad.abs().sum() > 0
    lin = SegmentationModel(_cfg(head="linear", encoder="bilstm", max_duration=6, hidden_dim=8,
                                              num_layers=1, linear_warmup_epochs=2))
    assert lin.warmup_head is None and lin.config.linear_warmup_epochs == 0


def test_boundary_scores_start_neutral_and_reach_both_heads():
    """--boundary-scores: 2C more projection outputs, zero at start (so the model begins as the one
    without them), trained by the semi-CRF and the warm-up head alike; absent from pytorch-crf
    and from models saved before the option."""
    from genotool_gencode.models import SegmentationModel

    cfg = _cfg(head="semicrf", encoder="bilstm", max_duration=6, hidden_dim=8, num_layers=1,
                            linear_warmup_epochs=1, boundary_scores=True)
    m = SegmentationModel(cfg)
    x, y, lengths = torch.randint(0, 4, (2, 20)), torch.randint(0, 21, (2, 20)), torch.tensor([20, 15])
    _, em = m.encode(x, lengths)
    assert em.shape == (2, 20, 63) and torch.all(em[..., 21:] == 0)
    plain = canonical_nll(em[..., :21], m.head.transition, m.head.duration_bias, y, lengths)
    assert torch.allclose(m.head.nll(em, y, lengths), plain)
    for warmup in (True, False):
        m.zero_grad(set_to_none=True)
        m.loss(x, y, lengths, warmup=warmup).backward()
        assert m.projection.weight.grad[21:42].abs().sum() > 0 and m.projection.weight.grad[42:].abs().sum() > 0
    labels, segs = m.decode(x, lengths)
    assert [len(p) for p in labels] == [20, 15] and all(0 <= v < 11 for p in labels for v in p)
    base = dict(encoder="bilstm", max_duration=6, hidden_dim=8, num_layers=1, boundary_scores=True)
    assert _cfg(head="pytorch-crf", **base)["boundary_scores"] is False
    lin = SegmentationModel(_cfg(head="linear", **base))
    assert lin.head.chain == "canonical" and lin.projection.out_features == 63
    old = {k: v for k, v in cfg.items() if k != "boundary_scores"}
    assert SegmentationModel(old).projection.out_features == 21


def test_censor_edges_reaches_the_head_and_old_models_stay_uncensored():
    """--censor-edges: linear and semicrf score edge pieces without duration (the canonical chain's
    censored likelihood); pytorch-crf cannot; models saved before the option load uncensored."""
    from genotool_gencode.models import SegmentationModel

    base = dict(encoder="bilstm", max_duration=6, hidden_dim=8, num_layers=1, censor_edges=True)
    assert _cfg(head="pytorch-crf", **base)["censor_edges"] is False
    cfg = _cfg(head="semicrf", **base)
    m = SegmentationModel(cfg)
    x, y, lengths = torch.randint(0, 4, (2, 20)), torch.randint(0, 21, (2, 20)), torch.tensor([20, 15])
    _, em = m.encode(x, lengths)
    h = m.head
    censored = canonical_nll(em, h.transition, h.duration_bias, y, lengths, censor_edges=True)
    assert torch.allclose(h.nll(em, y, lengths), censored)
    assert not torch.allclose(censored, canonical_nll(em, h.transition, h.duration_bias, y, lengths))
    lin = SegmentationModel(_cfg(head="linear", **base))
    assert lin.head.chain == "canonical" and lin.head.censor_edges
    old = {k: v for k, v in cfg.items() if k != "censor_edges"}
    assert SegmentationModel(old).head.censor_edges is False


def test_tail_init_is_a_distribution_over_run_lengths():
    """--long-runs tail, count init: P(n = d) = exp(dur[d-1]) for d < K and exp(dur[K-1]) p^(n-K)
    beyond (p = exp(trans[c, c])) sums to 1, and the tail's mean excess is the data's."""
    stats = label_statistics([np.repeat([0, 1, 0, 1, 0, 1, 0], [4, 2, 9, 3, 13, 6, 5])], 2)
    K = 4
    trans, dur = canonical_semicrf_init(stats, K, tail=True)
    p = np.exp(trans[0, 0])                              # label 0: interior runs of 9 and 13 bases
    total = np.exp(dur[:K - 1, 0]).sum() + np.exp(dur[K - 1, 0]) / (1 - p)
    assert total == pytest.approx(1.0, abs=1e-9)
    assert p / (1 - p) == pytest.approx((5 + 9 + 0.1) / (2 + 0.1), rel=1e-6)   # mean excess (9-4, 13-4)
    from genotool_gencode.models import SegmentationModel

    cfg = _cfg(head="semicrf", encoder="bilstm", max_duration=6, hidden_dim=8, num_layers=1,
                            long_runs="tail")
    assert SegmentationModel(cfg).head.tail and cfg["long_runs"] == "tail"
    old = {k: v for k, v in cfg.items() if k != "long_runs"}
    assert not SegmentationModel(old).head.tail

