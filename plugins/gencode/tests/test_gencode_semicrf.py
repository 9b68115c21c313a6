"""The fast semi-CRF against brute-force enumeration, gradcheck and flash-semicrf."""

import math

import pytest
import torch

from genotool_gencode.crf import reference as ref
from genotool_gencode.crf.recursion import (gold_max_durations, semicrf_log_partition, semicrf_nll,
                                      semicrf_viterbi)


def _params(T, K, C, B=1, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(B, T, C, generator=g, dtype=torch.float64) * scale
    tr = torch.randn(C, C, generator=g, dtype=torch.float64) * scale
    du = torch.randn(K, C, generator=g, dtype=torch.float64) * scale
    return e, tr, du


@pytest.mark.parametrize("T,K,C", [(4, 1, 3), (4, 2, 2), (5, 3, 2), (3, 4, 2), (5, 2, 3)])
def test_log_partition_matches_enumeration(T, K, C):
    e, tr, du = _params(T, K, C, seed=T * 100 + K * 10 + C)
    ours = semicrf_log_partition(e, tr, du).item()
    brute = ref.brute_log_partition(e[0].tolist(), tr.tolist(), du.tolist())
    loop = ref.loop_log_partition(e[0].tolist(), tr.tolist(), du.tolist())
    assert ours == pytest.approx(brute, abs=1e-9)
    assert loop == pytest.approx(brute, abs=1e-9)


@pytest.mark.parametrize("T,K,C", [(4, 1, 3), (5, 2, 2), (5, 3, 2), (4, 4, 2)])
def test_labelling_probabilities_sum_to_one(T, K, C):
    """sum over all C^T labellings of exp(-NLL) is 1: gold score and log Z are consistent."""
    e, tr, du = _params(T, K, C, seed=7 + T + K)
    labs = torch.tensor(list(ref.all_labellings(T, C)))
    n = labs.shape[0]
    nll = semicrf_nll(e.expand(n, T, C), tr, du, labs)
    assert torch.all(nll >= -1e-9)
    total = torch.exp(-nll).sum().item()
    assert total == pytest.approx(1.0, abs=1e-6)


def test_runs_longer_than_k_are_marginalised_like_brute_force():
    """A gold run longer than K is a chain of same-label segments, summed over its splits."""
    T, K, C = 6, 2, 2
    e, tr, du = _params(T, K, C, seed=3)
    for labels in ([0] * 6, [1, 1, 1, 0, 0, 0], [0, 1, 1, 1, 1, 1]):
        ours = semicrf_nll(e, tr, du, torch.tensor([labels])).item()
        brute = ref.brute_labelling_nll(e[0].tolist(), tr.tolist(), du.tolist(), labels)
        assert math.isfinite(ours)
        assert ours == pytest.approx(brute, abs=1e-9)


@pytest.mark.parametrize("T,K,C", [(4, 2, 2), (5, 3, 2), (4, 1, 3), (6, 3, 2)])
def test_viterbi_is_brute_force_argmax(T, K, C):
    for seed in range(3):
        e, tr, du = _params(T, K, C, seed=seed, scale=2.0)
        score, segs = semicrf_viterbi(e, tr, du)
        bscore, bsegs = ref.brute_viterbi(e[0].tolist(), tr.tolist(), du.tolist())
        assert score.item() == pytest.approx(bscore, abs=1e-9)
        assert segs[0] == list(bsegs)


def test_gradcheck_partition_and_nll_with_lengths():
    e, tr, du = _params(6, 3, 3, B=2, seed=11)
    e.requires_grad_()
    tr.requires_grad_()
    du.requires_grad_()
    L = torch.tensor([6, 4])
    y = torch.tensor([[0, 0, 1, 1, 1, 2], [2, 2, 2, 2, 0, 0]])
    assert torch.autograd.gradcheck(lambda a, b, c: semicrf_log_partition(a, b, c, L), (e, tr, du))
    assert torch.autograd.gradcheck(lambda a, b, c: semicrf_nll(a, b, c, y, L), (e, tr, du))


def test_variable_lengths_equal_truncated_sequences():
    e, tr, du = _params(12, 4, 3, B=2, seed=5)
    L = torch.tensor([12, 7])
    both = semicrf_log_partition(e, tr, du, L)
    alone = semicrf_log_partition(e[1:, :7], tr, du)
    assert both[1].item() == pytest.approx(alone.item(), abs=1e-9)
    _, segs = semicrf_viterbi(e, tr, du, L)
    assert segs[1][-1][1] == 7


def test_gold_max_durations():
    y = torch.tensor([[1, 1, 0, 0, 0]])
    md = gold_max_durations(y, torch.tensor([5]), 2)
    assert md[0, :, 0].tolist() == [0, 0, 0, 1, 2, 3]
    assert md[0, :, 1].tolist() == [0, 1, 2, 0, 0, 0]


def test_log_partition_agrees_with_flash_semicrf():
    fs = pytest.importorskip("flash_semicrf")
    torch.manual_seed(0)
    for B, T, K, C in [(2, 30, 1, 3), (2, 40, 2, 3), (2, 60, 5, 4), (2, 150, 12, 11)]:
        head = fs.SemiMarkovCRFHead(C, K)
        x = torch.randn(B, T, C, dtype=torch.float64)
        x = x - x.mean(1, keepdim=True)   # flash-semicrf centres scores over time; make it a no-op
        L = torch.tensor([T, T - 3])
        with torch.no_grad():
            theirs = head(x, L, use_triton=False, backend="streaming")["partition"]
            ours = semicrf_log_partition(x, head.transition.double(), head.duration_bias.double(), L)
        assert torch.allclose(ours, theirs.double(), rtol=1e-6, atol=1e-6)


def test_gold_pass_equals_masked_full_recursion():
    """The specialised gold recursion equals the full recursion restricted by gold run lengths."""
    from genotool_gencode.crf.recursion import semicrf_gold_log_partition

    e, tr, du = _params(25, 4, 3, B=3, seed=21)
    e.requires_grad_()
    tr.requires_grad_()
    du.requires_grad_()
    L = torch.tensor([25, 14, 6])
    y = torch.randint(0, 3, (3, 25), generator=torch.Generator().manual_seed(1))
    y[0, 2:13] = 2   # a run longer than K
    a = semicrf_gold_log_partition(e, tr, du, y, L)
    b = semicrf_log_partition(e, tr, du, L, gold_max_durations(y, L, 3))
    assert torch.allclose(a, b, atol=1e-10)
    ga = torch.autograd.grad(a.sum(), (e, tr, du))
    gb = torch.autograd.grad(b.sum(), (e, tr, du))
    for x, z in zip(ga, gb):
        assert torch.allclose(x, z, atol=1e-9)
    assert torch.autograd.gradcheck(lambda p, q, r: semicrf_gold_log_partition(p, q, r, y, L), (e, tr, du))


def test_float32_and_long_sequence_stay_finite():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(2, 3000, 11, generator=g) * 3
    tr = torch.randn(11, 11, generator=g)
    du = torch.randn(50, 11, generator=g)
    y = torch.randint(0, 11, (2, 3000), generator=g)
    e.requires_grad_()
    nll = semicrf_nll(e, tr, du, y)
    nll.sum().backward()
    assert torch.isfinite(nll).all() and (nll > 0).all()
    assert torch.isfinite(e.grad).all()
    # per position the emission gradient is (model marginal - gold marginal): sums to 0 over labels
    assert torch.allclose(e.grad.sum(-1), torch.zeros(2, 3000), atol=1e-4)


def test_flash_backend_loss_equals_ours():
    """--backend flash: flash-semicrf's log Z + our gold term == our exact NLL (centred emissions)."""
    pytest.importorskip("flash_semicrf")
    from genotool_gencode.crf.heads import SemiCRFHead, _centre

    torch.manual_seed(3)
    ours = SemiCRFHead(4, 5, backend="streaming")
    flash = SemiCRFHead(4, 5, backend="flash", use_triton=False)
    flash.load_state_dict(ours.state_dict())
    em = torch.randn(2, 40, 4, dtype=torch.float64)
    L = torch.tensor([40, 40])
    y = torch.randint(0, 4, (2, 40))
    a = flash.nll(em, y, L)
    b = ours.nll(_centre(em, L), y, L)
    assert torch.allclose(a.double(), b.double(), rtol=1e-5)
    a.sum().backward()
    assert flash.duration_bias.grad is not None and torch.isfinite(flash.duration_bias.grad).all()


# --- canonical chains: one segmentation per labelling ------------------------------------------
@pytest.mark.parametrize("T,K,C", [(5, 2, 2), (5, 3, 2), (4, 1, 3), (6, 2, 2)])
def test_canonical_matches_brute_force(T, K, C):
    """log Z, every labelling's NLL (summing to 1) and Viterbi (= MAP labelling) against
    enumeration of the canonical segmentations."""
    from genotool_gencode.crf.recursion import canonical_log_partition, canonical_nll, canonical_viterbi

    e, tr, du = _params(T, K, C, seed=11 + T + K, scale=1.5)
    E, TR, DU = e[0].tolist(), tr.tolist(), du.tolist()
    segs = ref.canonical_segmentations(T, K, C)
    scores = {ref.labelling_of(z, T): ref.canonical_score(z, E, TR, DU) for z in segs}
    assert len(scores) == len(segs) == C ** T          # one-to-one with labellings
    logz = ref._lse(scores.values())
    assert canonical_log_partition(e, tr, du).item() == pytest.approx(logz, abs=1e-9)
    labs = torch.tensor(list(ref.all_labellings(T, C)))
    nll = canonical_nll(e.expand(len(labs), T, C), tr, du, labs)
    for lab, v in zip(labs.tolist(), nll.tolist()):
        assert v == pytest.approx(logz - scores[tuple(lab)], abs=1e-9)
    assert torch.exp(-nll).sum().item() == pytest.approx(1.0, abs=1e-6)
    score, vsegs = canonical_viterbi(e, tr, du)
    best = max(segs, key=lambda z: ref.canonical_score(z, E, TR, DU))
    assert score.item() == pytest.approx(ref.canonical_score(best, E, TR, DU), abs=1e-9)
    assert vsegs[0] == list(best)


@pytest.mark.parametrize("T,K,C", [(5, 2, 2), (5, 3, 2), (4, 1, 3), (6, 2, 2)])
def test_canonical_boundary_scores_match_brute_force(T, K, C):
    """With start/end scores at label switches: log Z, every labelling's NLL (summing to 1) and
    Viterbi against enumeration; a long run's full pieces get no boundary scores."""
    from genotool_gencode.crf.recursion import canonical_log_partition, canonical_nll, canonical_viterbi

    e, tr, du = _params(T, K, C, seed=3 + T * K, scale=1.5)
    g = torch.Generator().manual_seed(T + C)
    st, en = (torch.randn(1, T, C, generator=g, dtype=torch.float64) * 2 for _ in range(2))
    E, TR, DU, ST, EN = e[0].tolist(), tr.tolist(), du.tolist(), st[0].tolist(), en[0].tolist()
    segs = ref.canonical_segmentations(T, K, C)
    scores = {ref.labelling_of(z, T): ref.canonical_score(z, E, TR, DU, ST, EN) for z in segs}
    logz = ref._lse(scores.values())
    assert logz != pytest.approx(ref._lse(ref.canonical_score(z, E, TR, DU) for z in segs), abs=1e-3)
    assert canonical_log_partition(e, tr, du, None, st, en).item() == pytest.approx(logz, abs=1e-9)
    labs = torch.tensor(list(ref.all_labellings(T, C)))
    n = len(labs)
    nll = canonical_nll(e.expand(n, T, C), tr, du, labs, None, st.expand(n, T, C), en.expand(n, T, C))
    for lab, v in zip(labs.tolist(), nll.tolist()):
        assert v == pytest.approx(logz - scores[tuple(lab)], abs=1e-9)
    assert torch.exp(-nll).sum().item() == pytest.approx(1.0, abs=1e-6)
    score, vsegs = canonical_viterbi(e, tr, du, None, st, en)
    best = max(segs, key=lambda z: ref.canonical_score(z, E, TR, DU, ST, EN))
    assert score.item() == pytest.approx(ref.canonical_score(best, E, TR, DU, ST, EN), abs=1e-9)
    assert vsegs[0] == list(best)


@pytest.mark.parametrize("bounds", [False, True])
@pytest.mark.parametrize("T,K,C", [(5, 2, 2), (5, 3, 2), (4, 1, 3), (6, 2, 2), (4, 4, 2)])
def test_canonical_censored_edges_match_brute_force(T, K, C, bounds):
    """Censored edges (the first and last piece score no duration): log Z, every labelling's NLL
    (summing to 1) and Viterbi against enumeration, with and without boundary scores."""
    from genotool_gencode.crf.recursion import canonical_log_partition, canonical_nll, canonical_viterbi

    e, tr, du = _params(T, K, C, seed=5 + T * K, scale=1.5)
    g = torch.Generator().manual_seed(T * C)
    st, en = (torch.randn(1, T, C, generator=g, dtype=torch.float64) * 2 if bounds else None for _ in range(2))
    E, TR, DU = e[0].tolist(), tr.tolist(), du.tolist()
    ST, EN = (st[0].tolist(), en[0].tolist()) if bounds else (None, None)
    segs = ref.canonical_segmentations(T, K, C)
    scores = {ref.labelling_of(z, T): ref.canonical_score(z, E, TR, DU, ST, EN, censor_edges=True) for z in segs}
    logz = ref._lse(scores.values())
    assert logz != pytest.approx(ref._lse(ref.canonical_score(z, E, TR, DU, ST, EN) for z in segs), abs=1e-3)
    assert canonical_log_partition(e, tr, du, None, st, en, censor_edges=True).item() == pytest.approx(logz, abs=1e-9)
    labs = torch.tensor(list(ref.all_labellings(T, C)))
    n = len(labs)
    big = (lambda x: None if x is None else x.expand(n, T, C))
    nll = canonical_nll(e.expand(n, T, C), tr, du, labs, None, big(st), big(en), censor_edges=True)
    for lab, v in zip(labs.tolist(), nll.tolist()):
        assert v == pytest.approx(logz - scores[tuple(lab)], abs=1e-9)
    assert torch.exp(-nll).sum().item() == pytest.approx(1.0, abs=1e-6)
    score, vsegs = canonical_viterbi(e, tr, du, None, st, en, censor_edges=True)
    best = max(segs, key=lambda z: ref.canonical_score(z, E, TR, DU, ST, EN, censor_edges=True))
    assert score.item() == pytest.approx(ref.canonical_score(best, E, TR, DU, ST, EN, censor_edges=True), abs=1e-9)
    assert vsegs[0] == list(best)


def test_canonical_censored_edges_ragged_and_gradcheck():
    """With censored edges a padded sequence scores as its unpadded self (the right edge is its
    own length, not the batch's), and the analytic gradients of all five inputs are right."""
    from genotool_gencode.crf.recursion import canonical_log_partition, canonical_nll, canonical_viterbi

    T, K, C = 9, 3, 3
    e, tr, du = _params(T, K, C, B=2, seed=13)
    g = torch.Generator().manual_seed(2)
    st, en = (torch.randn(2, T, C, generator=g, dtype=torch.float64) for _ in range(2))
    lengths = torch.tensor([9, 6])
    z = canonical_log_partition(e, tr, du, lengths, st, en, censor_edges=True)
    z6 = canonical_log_partition(e[1:, :6], tr, du, None, st[1:, :6], en[1:, :6], censor_edges=True)
    assert z[1].item() == pytest.approx(z6.item(), abs=1e-9)
    _, segs = canonical_viterbi(e, tr, du, lengths, st, en, censor_edges=True)
    _, segs6 = canonical_viterbi(e[1:, :6], tr, du, None, st[1:, :6], en[1:, :6], censor_edges=True)
    assert segs[1] == segs6[0]
    labels = torch.tensor([[0, 0, 0, 0, 1, 1, 2, 2, 2], [2, 2, 1, 1, 1, 1, 1, 0, 0]])
    args = tuple(t.requires_grad_() for t in (e, tr, du, st, en))
    assert torch.autograd.gradcheck(
        lambda a, b, c, s, x: canonical_nll(a, b, c, labels, lengths, s, x, censor_edges=True), args)


@pytest.mark.parametrize("censor", [False, True])
@pytest.mark.parametrize("T,K,C", [(5, 2, 2), (5, 3, 2), (4, 1, 3), (6, 2, 2), (4, 4, 2), (6, 3, 2)])
def test_canonical_tail_matches_brute_force(T, K, C, censor):
    """Geometric tails beyond K (with boundary scores, with and without censored edges): log Z,
    every labelling's NLL (summing to 1) and Viterbi (one segment per run) against enumeration."""
    e, tr, du = _params(T, K, C, seed=17 + T * K + C, scale=1.5)
    g = torch.Generator().manual_seed(T * K)
    st, en = (torch.randn(1, T, C, generator=g, dtype=torch.float64) * 2 for _ in range(2))
    E, TR, DU, ST, EN = e[0].tolist(), tr.tolist(), du.tolist(), st[0].tolist(), en[0].tolist()
    scores = {lab: ref.tail_labelling_score(lab, E, TR, DU, ST, EN, censor) for lab in ref.all_labellings(T, C)}
    _assert_tail_model_matches(scores, e, tr, du, st, en, censor_edges=censor, tail=True)


def _assert_tail_model_matches(scores, e, tr, du, st, en, **kw):
    """log Z, every labelling's NLL (their probabilities summing to 1) and Viterbi (one segment
    per run) of the canonical chain against enumerated labelling ``scores``."""
    from genotool_gencode.crf.recursion import canonical_log_partition, canonical_nll, canonical_viterbi

    _, T, C = e.shape
    labs = torch.tensor(list(scores))
    logz = ref._lse(scores.values())
    assert canonical_log_partition(e, tr, du, None, st, en, **kw).item() == pytest.approx(logz, abs=1e-9)
    n = len(labs)
    nkw = dict(kw)
    if kw.get("orf") is not None:
        stops, anchors, weight = kw["orf"]
        nkw["orf"] = (stops.expand(n, T, 2), anchors, weight)
    nll = canonical_nll(e.expand(n, T, C), tr, du, labs, None, st.expand(n, T, C), en.expand(n, T, C), **nkw)
    for lab, v in zip(labs.tolist(), nll.tolist()):
        assert v == pytest.approx(logz - scores[tuple(lab)], abs=1e-9)
    assert torch.exp(-nll).sum().item() == pytest.approx(1.0, abs=1e-6)
    score, vsegs = canonical_viterbi(e, tr, du, None, st, en, **kw)
    best = max(scores, key=scores.get)
    assert score.item() == pytest.approx(scores[best], abs=1e-9)
    assert vsegs[0] == ref.labels_to_runs(list(best))


def test_canonical_tail_ragged_and_gradcheck():
    """Tails with censored edges and boundary scores: a padded sequence scores as its unpadded
    self; analytic gradients of all five inputs, with runs far longer than K."""
    from genotool_gencode.crf.recursion import canonical_log_partition, canonical_nll, canonical_viterbi

    T, K, C = 10, 3, 3
    e, tr, du = _params(T, K, C, B=2, seed=19)
    g = torch.Generator().manual_seed(4)
    st, en = (torch.randn(2, T, C, generator=g, dtype=torch.float64) for _ in range(2))
    lengths = torch.tensor([10, 7])
    kw = dict(censor_edges=True, tail=True)
    z = canonical_log_partition(e, tr, du, lengths, st, en, **kw)
    z7 = canonical_log_partition(e[1:, :7], tr, du, None, st[1:, :7], en[1:, :7], **kw)
    assert z[1].item() == pytest.approx(z7.item(), abs=1e-9)
    _, segs = canonical_viterbi(e, tr, du, lengths, st, en, **kw)
    _, segs7 = canonical_viterbi(e[1:, :7], tr, du, None, st[1:, :7], en[1:, :7], **kw)
    assert segs[1] == segs7[0]
    labels = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 2, 2], [2, 2, 1, 1, 1, 1, 1, 0, 0, 0]])
    args = tuple(t.requires_grad_() for t in (e, tr, du, st, en))
    for censor in (False, True):
        assert torch.autograd.gradcheck(
            lambda a, b, c, s, x: canonical_nll(a, b, c, labels, lengths, s, x, censor_edges=censor, tail=True), args)



@pytest.mark.parametrize("K", [1, 4])
def test_canonical_padding_cannot_overflow_the_gradient(K):
    """A batch with a short sequence (short GenBank records): whatever the padding's emissions,
    the gradient is finite and each sequence's is that of its unpadded self. Strongly negative
    padding made exp overflow (inf * 0 = NaN in the duration gradient; training NaN from step 1)."""
    from genotool_gencode.crf.recursion import canonical_nll

    T, C = 40, 3
    e, tr, du = _params(T, K, C, B=2, seed=7)
    e[1, 25:, 0], e[1, 25:, 1:] = 80.0, -80.0                 # padding past the short sequence's end
    lengths = torch.tensor([40, 25])
    labels = torch.tensor([[0] * 10 + [1] * 20 + [2] * 10, [2] * 8 + [0] * 12 + [1] * 20])
    kw = dict(censor_edges=True, tail=True)
    grads = []
    for sl in (slice(0, 2), slice(1, 2)):
        args = [t.detach().clone().requires_grad_() for t in (e[sl], tr, du)]
        n = lengths[sl].tolist()[-1]
        x = args[0] if sl.start == 0 else args[0][:, :n]
        canonical_nll(x, args[1], args[2], labels[sl, :x.shape[1]], lengths[sl], **kw).sum().backward()
        grads.append([a.grad for a in args])
    (ge, gtr, gdu), (ge1, gtr1, gdu1) = grads
    assert all(torch.isfinite(g).all() for g in (ge, gtr, gdu))
    assert torch.allclose(ge[1, :25], ge1[0, :25]) and torch.all(ge[1, 25:] == 0)
    grads0 = [t.detach().clone().requires_grad_() for t in (e[:1], tr, du)]
    canonical_nll(*grads0[:1], grads0[1], grads0[2], labels[:1], lengths[:1], **kw).sum().backward()
    assert torch.allclose(gdu, gdu1 + grads0[2].grad) and torch.allclose(gtr, gtr1 + grads0[1].grad)


def _orf_inputs(B, T, C, anchors, seed):
    """Dense random stop tracks (B, T, 2) so that pieces of a few bases hold stops in some
    frames and not in others; anchors (C,); weights (C,) of either sign."""
    g = torch.Generator().manual_seed(seed)
    stops = (torch.rand(B, T, 2, generator=g) < 0.6).to(torch.float64)
    weight = torch.randn(len(anchors), generator=g, dtype=torch.float64) * 3
    return stops, torch.tensor(anchors), weight


def test_orf_indicators_match_reference():
    """Every piece [s, t) and anchor: the prefix-count lookup equals the direct scan."""
    from genotool_gencode.crf.canonical import OrfScores

    T = 14
    stops, anchors, w = _orf_inputs(2, T, 5, [0, 1, 2, 3, 4], seed=3)
    orf = OrfScores(stops, anchors, w, K=T + 1)          # a window as wide as the sequence
    assert orf.cols.tolist() == [1, 2, 3, 4]
    n_hits = 0
    for s in range(T):
        ends = torch.arange(s + 1, T + 1)
        hit = orf.hits(torch.full((2, len(ends)), s), ends.expand(2, -1))     # (B, k, A)
        # the recursions' window forms: pieces starting at s, and pieces ending at t = s + 1
        k = len(ends)
        assert torch.equal(hit.double(), orf.add_starting(torch.zeros(2, k, 5, dtype=torch.float64), s))
        t = s + 1
        win = torch.zeros(2, t, 5, dtype=torch.float64)
        orf.add_ending(win, t)
        want = orf.hits(torch.arange(t).expand(2, -1), torch.full((2, t), t)).double() * w[orf.cols]
        assert torch.equal(win[..., orf.cols], want) and not win[..., 0].any()
        for b in range(2):
            for j, t in enumerate(ends.tolist()):
                for a, c in enumerate(orf.cols.tolist()):
                    assert bool(hit[b, j, a]) == ref.has_anchored_stop(stops[b].tolist(), s, t, int(anchors[c]))
        n_hits += int(hit.sum())
    assert 0 < n_hits < 2 * 4 * T * (T + 1) // 2


@pytest.mark.parametrize("censor", [False, True])
@pytest.mark.parametrize("T,K,C,anchors", [(8, 5, 3, [1, 2, 0]), (8, 6, 3, [3, 4, 1]), (7, 7, 2, [2, 3]),
                                           (7, 4, 3, [4, 0, 1])])
def test_canonical_orf_matches_brute_force(T, K, C, anchors, censor):
    """ORF scores (with tails, boundary scores, censored edges on and off): log Z, every
    labelling's NLL (summing to 1) and Viterbi against enumeration."""
    e, tr, du = _params(T, K, C, seed=23 + T * K + C)
    g = torch.Generator().manual_seed(T + K)
    st, en = (torch.randn(1, T, C, generator=g, dtype=torch.float64) for _ in range(2))
    stops, anc, w = _orf_inputs(1, T, C, anchors, seed=K * C)
    orf = (stops, anc, w)
    E, TR, DU, ST, EN = e[0].tolist(), tr.tolist(), du.tolist(), st[0].tolist(), en[0].tolist()
    ORF = (stops[0].tolist(), anchors, w.tolist())
    scores = {lab: ref.tail_labelling_score(lab, E, TR, DU, ST, EN, censor, ORF) for lab in ref.all_labellings(T, C)}
    plain = {lab: ref.tail_labelling_score(lab, E, TR, DU, ST, EN, censor) for lab in scores}
    assert sum(scores[lab] != plain[lab] for lab in scores) > len(scores) // 100    # the feature is exercised
    _assert_tail_model_matches(scores, e, tr, du, st, en, censor_edges=censor, tail=True, orf=orf)


def test_canonical_orf_ragged_and_gradcheck():
    """ORF scores: a padded sequence scores as its unpadded self; analytic gradients of all six
    inputs (the ORF weights included), ragged lengths, runs longer than K; without tails an error."""
    from genotool_gencode.crf.recursion import canonical_log_partition, canonical_nll

    T, K, C = 11, 5, 3
    e, tr, du = _params(T, K, C, B=2, seed=29)
    g = torch.Generator().manual_seed(6)
    st, en = (torch.randn(2, T, C, generator=g, dtype=torch.float64) for _ in range(2))
    stops, anc, w = _orf_inputs(2, T, C, [1, 4, 2], seed=8)
    lengths = torch.tensor([11, 8])
    kw = dict(censor_edges=True, tail=True)
    z = canonical_log_partition(e, tr, du, lengths, st, en, orf=(stops, anc, w), **kw)
    z8 = canonical_log_partition(e[1:, :8], tr, du, None, st[1:, :8], en[1:, :8], orf=(stops[1:, :8], anc, w), **kw)
    assert z[1].item() == pytest.approx(z8.item(), abs=1e-9)
    labels = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], [2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 0]])
    args = tuple(t.requires_grad_() for t in (e, tr, du, st, en, w))
    for censor in (False, True):
        assert torch.autograd.gradcheck(
            lambda a, b, c, s, x, v: canonical_nll(a, b, c, labels, lengths, s, x, censor_edges=censor, tail=True,
                                                   orf=(stops, anc, v)), args)
    with pytest.raises(ValueError, match="tails"):
        canonical_log_partition(e, tr, du, lengths, st, en, orf=(stops, anc, w))


def test_canonical_boundary_gradcheck():
    """Analytic gradients of every input, boundary scores included, ragged lengths, runs longer than K."""
    from genotool_gencode.crf.recursion import canonical_nll

    T, K, C = 8, 3, 3
    e, tr, du = _params(T, K, C, B=2, seed=7)
    g = torch.Generator().manual_seed(1)
    st, en = (torch.randn(2, T, C, generator=g, dtype=torch.float64) for _ in range(2))
    labels = torch.tensor([[0, 0, 0, 0, 1, 1, 2, 2], [2, 2, 1, 1, 1, 1, 1, 0]])
    lengths = torch.tensor([8, 6])
    args = tuple(t.requires_grad_() for t in (e, tr, du, st, en))
    assert torch.autograd.gradcheck(lambda a, b, c, s, x: canonical_nll(a, b, c, labels, lengths, s, x), args)


def test_canonical_gradcheck():
    from genotool_gencode.crf.recursion import canonical_nll

    T, K, C = 7, 3, 3
    e, tr, du = _params(T, K, C, B=2, seed=5)
    labels = torch.tensor([[0, 0, 0, 0, 1, 1, 2], [2, 2, 1, 1, 1, 1, 1]])
    lengths = torch.tensor([7, 5])
    args = (e.requires_grad_(), tr.requires_grad_(), du.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b, c: canonical_nll(a, b, c, labels, lengths), args)


@pytest.mark.parametrize("T,K,C,B", [(7, 1, 3, 2), (9, 2, 2, 3), (12, 4, 3, 2), (5, 8, 2, 1), (30, 6, 4, 3)])
def test_canonical_fast_recursion_matches_expanded_form(T, K, C, B):
    """The specialised canonical recursion equals the 2C-state form through the generic one:
    log Z and all three gradients, ragged lengths included."""
    from genotool_gencode.crf.recursion import canonical_expand
    from genotool_gencode.crf.canonical import canonical_log_partition_fast

    e, tr, du = _params(T, K, C, B=B, seed=T + 31 * K)
    lengths = torch.tensor([T - (i % 3) for i in range(B)])
    w = torch.arange(1, B + 1, dtype=torch.float64)            # unequal upstream gradients
    vals, grads = [], []
    for fast in (True, False):
        p = [t.clone().requires_grad_(True) for t in (e, tr, du)]
        if fast:
            z = canonical_log_partition_fast(*p, lengths)
        else:
            z = semicrf_log_partition(*canonical_expand(*p), lengths)
        (z * w).sum().backward()
        vals.append(z.detach())
        grads.append([t.grad for t in p])
    assert torch.allclose(vals[0], vals[1], atol=1e-10)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-9)
