"""A semi-Markov CRF with an exact likelihood and a hand-written O(T*K*C + T*C^2) forward-backward.

Model
-----
A *segmentation* of a sequence of length L is a list of segments ``[s, t)`` with label ``c`` and
duration ``d = t - s`` in ``1..K``, tiling ``0..L``. Its score is

    sum over segments of  E(s, t, c) + dur[d - 1, c] + trans[c_prev, c]

where ``E(s, t, c) = sum_{u=s}^{t-1} emissions[u, c]``, ``trans`` is ``(C_src, C_dst)`` and the first
segment's ``trans[c_prev, c]`` is replaced by ``logsumexp_{c'} trans[c', c]`` (a virtual start
label summed over uniformly). This is exactly the parameterisation whose partition function
flash-semicrf 0.2.0 computes (durations 1..K use ``duration_bias[d - 1]``; its ``alpha_0 = 0``).

Segments longer than K
----------------------
A *labelling* (one label per position) is the observable; a segmentation maps to one labelling,
and a labelling whose runs are all <= K long may come from several segmentations, because two
adjacent segments may carry the same label (scored with ``trans[c, c]``). A gold run longer than K
is therefore always representable: it is a chain of same-label segments. The likelihood of a
labelling is the sum over *all* segmentations consistent with it,

    NLL(y) = log Z - log Z_y,     Z_y = sum of exp(score) over segmentations whose labelling is y,

and ``Z_y`` is computed with the same recursion as ``Z`` restricted to segments that lie inside
one gold run (``max_dur`` below). Both terms use the same parameterisation, so
``sum_y exp(-NLL(y)) == 1`` exactly (tested by enumeration). For K = 1 every labelling has one
segmentation and the model is an ordinary linear-chain CRF.

Decoding (:func:`semicrf_viterbi`) returns the highest-scoring *segmentation* (the usual semi-CRF
MAP), with adjacent same-label segments merged into runs for the labelling.

Algorithm
---------
With cumulative emissions ``S_t = sum_{u<t} e_u`` (float64), ``alpha_t(c)`` (a segment of label c
ends at t) and ``beta_s(c) = logsumexp_{c'} alpha_s(c') + trans[c', c]`` (a segment of label c
starts at s):

    alpha_t(c) = S_t(c) + logsumexp_{d=1..K} [beta_{t-d}(c) - S_{t-d}(c) + dur[d-1, c]]

which costs O(K*C) + O(C^2) per position. The backward pass runs the mirror recursion
(``gamma_t``: completions after a segment ends at t; ``delta_s``: segment starting at s plus
completions) and forms the gradients analytically from segment marginals: emissions get
``P(end at t) - P(start at t)`` reverse-cumsummed, the duration bias gets the marginal of every
(start, duration, label), transitions the marginal of every boundary. Everything stored is
O(B*T*C); nothing of size T*K*C is ever allocated (the window over durations is a view).
"""

from __future__ import annotations

import math

import torch

from genotool_gencode.crf.common import (NEG_INF, _backtrack, _check, _cumsum, _single_thread,  # noqa: F401
                                            labels_to_runs, off_diagonal, segments_to_labels)
from genotool_gencode.crf.canonical import OrfScores, canonical_log_partition_fast, canonical_viterbi_fast


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def gold_max_durations(labels: torch.Tensor, lengths: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per end position and label, the longest segment allowed by a gold labelling.

    Args:
        labels: (B, T) int, gold label per position (values outside ``0..C-1`` at padding are ok).
        lengths: (B,) int.
    Returns:
        (B, T+1, C) int32: entry ``[b, t, c]`` is the length of the run of label c ending at
        position t-1 (0 if ``labels[b, t-1] != c``), so a segment ``[t-d, t)`` of label c lies
        inside one gold run iff ``d <= value``.
    """
    B, T = labels.shape
    y = labels.clamp(0, num_classes - 1).long()
    idx = torch.arange(T, device=labels.device).expand(B, T)
    change = torch.ones_like(y, dtype=torch.bool)
    change[:, 1:] = y[:, 1:] != y[:, :-1]
    run_start = torch.where(change, idx, torch.zeros_like(idx)).cummax(dim=1).values
    run = (idx - run_start + 1).to(torch.int32)
    out = torch.zeros((B, T + 1, num_classes), dtype=torch.int32, device=labels.device)
    out[:, 1:].scatter_(2, y.unsqueeze(-1), run.unsqueeze(-1))
    return out


def _masked_lse(term: torch.Tensor, mask: torch.Tensor | None, dim: int) -> torch.Tensor:
    if mask is not None:
        term = term.masked_fill(mask, NEG_INF)
    return torch.logsumexp(term, dim=dim)


# ---------------------------------------------------------------------------------------------
# forward / backward recursions (float64, no autograd)
# ---------------------------------------------------------------------------------------------
def _forward(S: torch.Tensor, trans: torch.Tensor, dur: torch.Tensor, max_dur: torch.Tensor | None):
    """Alpha recursion.

    Args:
        S: (B, T+1, C) float64 cumulative emissions.
        trans: (C, C) float64, dur: (K, C) float64.
        max_dur: optional (B, T+1, C) int, see :func:`gold_max_durations`.
    Returns:
        alpha (B, T+1, C) and Q = beta - S (B, T+1, C).
    """
    B, T1, C = S.shape
    T = T1 - 1
    K = dur.shape[0]
    alpha = torch.empty_like(S)
    Q = torch.empty_like(S)
    alpha[:, 0] = 0.0
    beta0 = torch.logsumexp(trans, dim=0)  # (C,) virtual start label, flash-semicrf's alpha_0 = 0
    Q[:, 0] = beta0 - S[:, 0]
    dur_rev = dur.flip(0)  # dur_rev[K - d] = dur[d - 1]; window over starts ascends in s
    dvec_rev = torch.arange(K, 0, -1, device=S.device, dtype=torch.int32)  # d for each window slot
    for t in range(1, T + 1):
        k = min(K, t)
        term = Q[:, t - k:t] + dur_rev[K - k:]                      # (B, k, C) view + add
        mask = None
        if max_dur is not None:
            mask = dvec_rev[K - k:].view(1, k, 1) > max_dur[:, t].unsqueeze(1)
        a = _masked_lse(term, mask, 1) + S[:, t]
        alpha[:, t] = a
        Q[:, t] = torch.logsumexp(a.unsqueeze(-1) + trans, dim=1) - S[:, t]
    return alpha, Q


def _backward(S, trans, dur, max_dur, alpha, Q, lengths, logZ, gout):
    """Outside recursion and analytic gradients of sum_b gout[b] * logZ[b].

    Returns grad_emissions (B, T, C), grad_trans (C, C), grad_dur (K, C), all float64.
    """
    B, T1, C = S.shape
    T = T1 - 1
    K = dur.shape[0]
    dev = S.device
    tvec = torch.arange(T1, device=dev)
    L = lengths.view(B, 1)
    # gamma_t(c): log-sum of completions after a segment of label c ends at t (0 at t = L)
    R = torch.full_like(S, NEG_INF)        # R = gamma + S
    delta = torch.full_like(S, NEG_INF)    # delta_s(c): a segment of label c starts at s, + rest
    end_mask = (tvec.view(1, T1) == L)     # (B, T+1)
    R[:, T] = torch.where(end_mask[:, T:T + 1], S[:, T], torch.full_like(S[:, T], NEG_INF))
    gdur = torch.zeros_like(dur)
    dvec = torch.arange(1, K + 1, device=dev, dtype=torch.int32)
    w = (gout.to(torch.float64) * 1.0).view(B, 1, 1)
    lz = logZ.view(B, 1, 1)
    for s in range(T - 1, -1, -1):
        k = min(K, T - s)
        win = R[:, s + 1:s + k + 1] + dur[:k]                        # (B, k, C)
        mask = None
        if max_dur is not None:
            mask = dvec[:k].view(1, k, 1) > max_dur[:, s + 1:s + k + 1]
            win = win.masked_fill(mask, NEG_INF)
        # segment marginals for every (s, d, c): exp(beta_s + dur + S_{s+d} - S_s + gamma_{s+d} - logZ)
        marg = torch.exp(win + Q[:, s].unsqueeze(1) - lz)
        gdur[:k] += (marg * w).sum(0)
        d_s = torch.logsumexp(win, dim=1) - S[:, s]
        delta[:, s] = d_s
        if s > 0:
            g = torch.logsumexp(trans.unsqueeze(0) + d_s.unsqueeze(1), dim=2)  # (B, C_src)
            is_end = end_mask[:, s:s + 1]
            past = (tvec[s] > L)
            g = torch.where(is_end, torch.zeros_like(g), g)
            g = torch.where(past, torch.full_like(g, NEG_INF), g)
            R[:, s] = g + S[:, s]
    gamma = R - S
    beta = Q + S
    wb = gout.to(torch.float64).view(B, 1, 1)
    p_end = torch.exp(alpha + gamma - lz)                                # (B, T+1, C)
    p_end[:, 0] = 0.0
    p_start = torch.exp(beta + delta - lz)
    p_start[:, T] = 0.0
    gS = (p_end - p_start) * wb
    # e_u enters S_t for every t >= u + 1
    ge = torch.flip(torch.cumsum(torch.flip(gS[:, 1:], [1]), dim=1), [1])
    # transitions: sum_{b,s<L} exp(alpha_s(i) + trans(i,j) + delta_s(j) - logZ); alpha_0 = 0 is the
    # virtual start. Separable, so no (T, C, C) tensor: stabilise by the per-position max of alpha.
    a = alpha[:, :T]
    m = a.max(dim=2, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    left = torch.exp(a - m)                                              # (B, T, C)
    right = torch.exp(delta[:, :T] + m - lz) * wb                        # (B, T, C)
    gtrans = torch.exp(trans) * torch.einsum("bsi,bsj->ij", left, right)
    return ge, gtrans, gdur


class _LogPartition(torch.autograd.Function):
    @staticmethod
    def forward(ctx, emissions, transition, duration, lengths, max_dur):
        S = _cumsum(emissions.detach())
        tr = transition.detach().to(torch.float64)
        du = duration.detach().to(torch.float64)
        with _single_thread(S.device):
            alpha, Q = _forward(S, tr, du, max_dur)
        B = S.shape[0]
        logZ = torch.logsumexp(alpha[torch.arange(B, device=S.device), lengths.long()], dim=-1)
        ctx.save_for_backward(S, tr, du, alpha, Q, lengths, logZ)
        ctx.max_dur = max_dur
        ctx.dtypes = (emissions.dtype, transition.dtype, duration.dtype)
        # never hand a bf16/fp16 log Z back (it is O(T) in magnitude): at least float32
        return logZ.to(torch.promote_types(emissions.dtype, torch.float32))

    @staticmethod
    def backward(ctx, gout):
        S, tr, du, alpha, Q, lengths, logZ = ctx.saved_tensors
        with _single_thread(S.device):
            ge, gt, gd = _backward(S, tr, du, ctx.max_dur, alpha, Q, lengths.long(), logZ, gout)
        de, dt, dd = ctx.dtypes
        return ge.to(de), gt.to(dt), gd.to(dd), None, None


def _gold_setup(emissions, transition, labels):
    """Gold-run quantities shared by the gold forward and backward passes.

    Returns G (B, T+1) float64 cumulative gold emissions, run (B, T+1) int32 (see
    :func:`gold_max_durations`, restricted to the gold label), trv (B, T+1) float64 with
    ``trv[:, t] = trans[y_{t-1}, y_t]`` for 1 <= t < T, start (B,) the first segment's start term.
    """
    B, T, C = emissions.shape
    y = labels.clamp(0, C - 1).long()
    G = emissions.new_zeros((B, T + 1), dtype=torch.float64)
    G[:, 1:] = torch.cumsum(emissions.detach().to(torch.float64).gather(2, y.unsqueeze(-1)).squeeze(-1), dim=1)
    idx = torch.arange(T, device=y.device).expand(B, T)
    change = torch.ones_like(y, dtype=torch.bool)
    change[:, 1:] = y[:, 1:] != y[:, :-1]
    run_start = torch.where(change, idx, torch.zeros_like(idx)).cummax(dim=1).values
    run = torch.zeros((B, T + 1), dtype=torch.int32, device=y.device)
    run[:, 1:] = (idx - run_start + 1).to(torch.int32)
    tr = transition.detach().to(torch.float64)
    trv = torch.zeros((B, T + 1), dtype=torch.float64, device=y.device)
    trv[:, 1:T] = tr[y[:, :-1], y[:, 1:]]
    start = torch.logsumexp(tr, dim=0)[y[:, 0]]
    return y, G, run, tr, trv, start


class _GoldLogPartition(torch.autograd.Function):
    """log Z_y: sum over segmentations whose labelling is the gold y (a chain of same-label
    segments per gold run). Only one label is possible per position, so the recursion runs on
    (B, K) windows instead of (B, K, C): ~C times less work than masking the full recursion."""

    @staticmethod
    def forward(ctx, emissions, transition, duration, lengths, labels):
        y, G, run, tr, trv, start = _gold_setup(emissions, transition, labels)
        du = duration.detach().to(torch.float64)
        B, T1 = G.shape
        T, K = T1 - 1, du.shape[0]
        durT_rev = du.flip(0).t().contiguous()                 # [c, K - d] = dur[d - 1, c]
        dvec_rev = torch.arange(K, 0, -1, device=G.device, dtype=torch.int32)
        alpha = torch.full_like(G, NEG_INF)
        q = torch.full_like(G, NEG_INF)                        # beta - G
        alpha[:, 0] = 0.0
        q[:, 0] = start
        with _single_thread(G.device):
            for t in range(1, T + 1):
                k = min(K, t)
                rows = durT_rev[y[:, t - 1], K - k:]            # (B, k) durations of the gold label
                term = q[:, t - k:t] + rows
                mask = dvec_rev[K - k:].view(1, k) > run[:, t:t + 1]
                a = torch.logsumexp(term.masked_fill(mask, NEG_INF), dim=1) + G[:, t]
                alpha[:, t] = a
                q[:, t] = a + trv[:, t] - G[:, t]
        ar = torch.arange(B, device=G.device)
        logZ = alpha[ar, lengths.long()]
        ctx.save_for_backward(y, G, run, tr, trv, du, alpha, q, lengths, logZ)
        ctx.dtypes = (emissions.dtype, transition.dtype, duration.dtype)
        return logZ.to(torch.promote_types(emissions.dtype, torch.float32))

    @staticmethod
    def backward(ctx, gout):
        y, G, run, tr, trv, du, alpha, q, lengths, logZ = ctx.saved_tensors
        B, T1 = G.shape
        T, K = T1 - 1, du.shape[0]
        C = tr.shape[0]
        dev = G.device
        L = lengths.long().view(B, 1)
        tvec = torch.arange(T1, device=dev).view(1, T1)
        w = gout.to(torch.float64)
        lz = logZ.view(B, 1)
        durT = du.t().contiguous()                             # [c, d - 1]
        dvec = torch.arange(1, K + 1, device=dev, dtype=torch.int32)
        r = torch.full_like(G, NEG_INF)                        # gamma + G
        delta = torch.full_like(G, NEG_INF)
        r[:, T] = torch.where(L[:, 0] == T, G[:, T], torch.full_like(G[:, T], NEG_INF))
        acc = torch.zeros((B * C, K), dtype=torch.float64, device=dev)   # duration marginals per (b, label)
        base = torch.arange(B, device=dev) * C
        with _single_thread(dev):
            for s in range(T - 1, -1, -1):
                k = min(K, T - s)
                ys = y[:, s]
                win = r[:, s + 1:s + k + 1] + durT[ys, :k]
                mask = dvec[:k].view(1, k) > run[:, s + 1:s + k + 1]
                win = win.masked_fill(mask, NEG_INF)
                marg = torch.exp(win + (q[:, s:s + 1] - lz)) * w.view(B, 1)
                acc[:, :k].index_add_(0, base + ys, marg)
                d_s = torch.logsumexp(win, dim=1) - G[:, s]
                delta[:, s] = d_s
                if s > 0:
                    g = trv[:, s] + d_s
                    g = torch.where(L[:, 0] == s, torch.zeros_like(g), g)
                    g = torch.where(L[:, 0] < s, torch.full_like(g, NEG_INF), g)
                    r[:, s] = g + G[:, s]
        gamma = r - G
        beta = q + G
        p_end = torch.exp(alpha + gamma - lz)
        p_end[:, 0] = 0.0
        p_start = torch.exp(beta + delta - lz)
        p_start[:, T] = 0.0
        gG = (p_end - p_start) * w.view(B, 1)
        ge_gold = torch.flip(torch.cumsum(torch.flip(gG[:, 1:], [1]), dim=1), [1])   # (B, T)
        ge = torch.zeros((B, T, C), dtype=torch.float64, device=dev)
        ge.scatter_(2, y.unsqueeze(-1), ge_gold.unsqueeze(-1))
        gdur = acc.view(B, C, K).sum(0).t()
        gtr = torch.zeros(C * C, dtype=torch.float64, device=dev)
        if T > 1:
            m = torch.exp(alpha[:, 1:T] + trv[:, 1:T] + delta[:, 1:T] - lz) * w.view(B, 1)   # boundaries s=1..T-1
            gtr.index_add_(0, (y[:, :-1] * C + y[:, 1:]).reshape(-1), m.reshape(-1))
        gtr = gtr.view(C, C)
        # virtual start: beta_0(y_0) = logsumexp_c' trans[c', y_0]
        p0 = p_start[:, 0] * w
        soft = torch.softmax(tr, dim=0)                        # [c', c]
        gtr.index_add_(1, y[:, 0], soft[:, y[:, 0]] * p0.view(1, B))
        de, dt, dd = ctx.dtypes
        return ge.to(de), gtr.to(dt), gdur.to(dd), None, None


def semicrf_log_partition(emissions: torch.Tensor, transition: torch.Tensor, duration: torch.Tensor,
                          lengths: torch.Tensor | None = None,
                          max_dur: torch.Tensor | None = None) -> torch.Tensor:
    """log Z per sequence.

    Args:
        emissions: (B, T, C) per-position label scores.
        transition: (C, C), ``[src, dst]``.
        duration: (K, C), ``duration[d - 1, c]`` scores a segment of length d.
        lengths: (B,) valid lengths (default T).
        max_dur: optional (B, T+1, C) int restricting segments ``[t-d, t)`` of label c to
            ``d <= max_dur[b, t, c]`` (the gold-constrained partition).
    Returns:
        (B,) log partition (differentiable w.r.t. emissions, transition and duration).
    """
    lengths = _check(emissions, transition, duration, lengths)
    return _LogPartition.apply(emissions, transition, duration, lengths, max_dur)


def semicrf_nll(emissions: torch.Tensor, transition: torch.Tensor, duration: torch.Tensor,
                labels: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Exact negative log-likelihood of labellings, marginalised over their segmentations.

    Args:
        emissions: (B, T, C); transition (C, C); duration (K, C); labels (B, T) int; lengths (B,).
    Returns:
        (B,) ``log Z - log Z_gold`` (>= 0).
    """
    lengths = _check(emissions, transition, duration, lengths)
    if labels.shape != emissions.shape[:2]:
        raise ValueError(f"labels must be (B, T) = {tuple(emissions.shape[:2])}, got {tuple(labels.shape)}")
    logz = _LogPartition.apply(emissions, transition, duration, lengths, None)
    logz_gold = semicrf_gold_log_partition(emissions, transition, duration, labels, lengths)
    return logz - logz_gold


def semicrf_gold_log_partition(emissions, transition, duration, labels, lengths=None):
    """(B,) log-sum of exp(score) over segmentations whose labelling is ``labels`` (B, T)."""
    lengths = _check(emissions, transition, duration, lengths)
    return _GoldLogPartition.apply(emissions, transition, duration, lengths, labels.to(emissions.device))


@torch.no_grad()
def semicrf_viterbi(emissions: torch.Tensor, transition: torch.Tensor, duration: torch.Tensor,
                    lengths: torch.Tensor | None = None):
    """Highest-scoring segmentation per sequence.

    Args:
        emissions: (B, T, C); transition (C, C); duration (K, C); lengths (B,).
    Returns:
        (scores (B,) float64 tensor, segments: list of B lists of ``(start, end, label)`` with
        ``end`` exclusive, in order).
    """
    lengths = _check(emissions, transition, duration, lengths)
    S = _cumsum(emissions)
    tr = transition.to(torch.float64)
    du = duration.to(torch.float64)
    B, T1, C = S.shape
    T = T1 - 1
    K = du.shape[0]
    alpha = torch.empty_like(S)
    Q = torch.empty_like(S)
    bp_d = torch.zeros((B, T1, C), dtype=torch.int32, device=S.device)   # best duration of alpha_t(c)
    bp_c = torch.zeros((B, T1, C), dtype=torch.int64, device=S.device)   # best source label of beta_s(c)
    alpha[:, 0] = 0.0
    # the first segment is scored exactly as in the likelihood (logsumexp over the virtual start
    # label), so Viterbi maximises the same segmentation score whose softmax is the model
    Q[:, 0] = torch.logsumexp(tr, dim=0)
    dur_rev = du.flip(0)
    with _single_thread(S.device):
        _viterbi_loop(S, tr, dur_rev, alpha, Q, bp_d, bp_c)
    ar = torch.arange(B, device=S.device)
    final = alpha[ar, lengths]
    scores, last = final.max(dim=-1)
    bp_d = bp_d.cpu().numpy()
    bp_c = bp_c.cpu().numpy()

    def piece(b, t, c):
        d = int(bp_d[b, t, c])
        return d, c, int(bp_c[b, t - d, c])

    return scores, _backtrack(lengths, last, piece)


def _viterbi_loop(S, tr, dur_rev, alpha, Q, bp_d, bp_c):
    """Max-product version of :func:`_forward`, storing back-pointers (in place)."""
    T = S.shape[1] - 1
    K = dur_rev.shape[0]
    for t in range(1, T + 1):
        k = min(K, t)
        term = Q[:, t - k:t] + dur_rev[K - k:]
        v, j = term.max(dim=1)                 # j indexes the window: d = k - j
        alpha[:, t] = v + S[:, t]
        bp_d[:, t] = (k - j).to(torch.int32)
        bv, bi = (alpha[:, t].unsqueeze(-1) + tr).max(dim=1)
        Q[:, t] = bv - S[:, t]
        bp_c[:, t] = bi


def estimate_memory_bytes(B: int, T: int, K: int, C: int) -> dict:
    """Bytes held by this implementation vs. an edge tensor (B, T, K, C, C) float64."""
    ours = 10 * B * (T + 1) * C * 8 + 2 * B * K * C * 8   # ~10 (B,T+1,C) float64 buffers + window
    edge = B * T * K * C * C * 8
    return {"semicrf_streaming_bytes": ours, "edge_tensor_bytes": edge}


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


__all__ = ["semicrf_log_partition", "semicrf_gold_log_partition", "semicrf_nll", "semicrf_viterbi", "gold_max_durations",
           "segments_to_labels", "labels_to_runs", "estimate_memory_bytes", "format_bytes", "math"]


# ---------------------------------------------------------------------------------------------
# canonical chains: labellings and segmentations one-to-one
# ---------------------------------------------------------------------------------------------
def canonical_expand(emissions: torch.Tensor, transition: torch.Tensor, duration: torch.Tensor):
    """The canonical-chain semi-CRF as an ordinary semi-CRF on 2C states.

    A segment may be followed by one of the *same* label only if it has the full length K, so a
    run of n bases is exactly one chain (K, K, ..., K, r) with r in 1..K: every labelling has one
    segmentation, the likelihood needs no sum over splits, and Viterbi over segmentations is the
    MAP labelling (no penalty on long runs relative to label switches). State ``c`` (0..C-1) is
    a segment of label c shorter than K, state ``C + c`` one of length exactly K. Transitions
    ``c' -> c`` (c' != c) score ``trans[c', c]`` from either state; ``c -> c`` is allowed only from
    the full state ``C + c``, with ``trans[c, c]``. The first segment's start term is the
    logsumexp over all 2C virtual source states. Returns (emissions (B, T, 2C), transition
    (2C, 2C), duration (K, 2C)); differentiable, so the fast recursions and their analytic
    backward run unchanged. With K = 1 it is the linear-chain CRF.
    """
    K = duration.shape[0]
    off = off_diagonal(transition)
    tr2 = torch.cat([torch.cat([off, off], 1), torch.cat([transition, transition], 1)], 0)
    last = torch.zeros(K, 1, dtype=torch.bool, device=duration.device)
    last[K - 1] = True
    du2 = torch.cat([duration.masked_fill(last, NEG_INF), duration.masked_fill(~last, NEG_INF)], 1)
    return torch.cat([emissions, emissions], -1), tr2, du2


def canonical_log_partition(emissions, transition, duration, lengths=None, starts=None, ends=None,
                            censor_edges=False, tail=False, orf=None):
    """(B,) log Z of the canonical chain; the specialised recursion of canonical.py
    (half the window work of running :func:`canonical_expand` through the generic one).
    ``starts``/``ends`` (B, T, C): optional boundary scores; ``censor_edges``: pieces at the
    sequence's edges score no duration; ``tail``: runs of K or more bases are a K piece and a
    geometric tail; ``orf``: optional ORF scores, (stops (B, T, 2), anchors (C,), weight (C,))
    (all four in canonical.py)."""

    return canonical_log_partition_fast(emissions, transition, duration, lengths, starts, ends, censor_edges, tail,
                                        *(orf or ()))


def canonical_nll(emissions, transition, duration, labels, lengths=None, starts=None, ends=None,
                  censor_edges=False, tail=False, orf=None):
    """(B,) exact NLL of labellings under the canonical-chain semi-CRF (one segmentation each)."""
    lengths = _check(emissions, transition, duration, lengths)
    labels = labels.to(emissions.device)
    return (canonical_log_partition(emissions, transition, duration, lengths, starts, ends, censor_edges, tail, orf)
            - canonical_gold_score(emissions, transition, duration, labels, lengths, starts, ends, censor_edges,
                                   tail, orf))


def canonical_gold_score(emissions, transition, duration, labels, lengths, starts=None, ends=None,
                         censor_edges=False, tail=False, orf=None):
    """(B,) score of the one canonical segmentation of ``labels``: a run of n bases of label c is
    q = (n - 1) // K full pieces and a last piece of r = n - qK, scoring
    ``q * (dur[K-1, c] + trans[c, c]) + dur[r-1, c]``; plus ``trans[prev, c]`` (and the boundary
    scores ``ends[s-1, prev] + starts[s, c]``) at each switch s, and the start term of
    :func:`canonical_expand`; ``censor_edges``: without the durations of the first piece (of the
    first run) and the last piece (of the last run); ``tail``: a run of n >= K bases scores
    ``dur[K-1, c] + (n - K) * trans[c, c]`` (a K piece and n - K one-base tail steps) and the
    start term has no 'full' sources; ``orf``: a run of fewer than K bases (not at a censored
    edge) adds ``weight[c]`` if it holds a stop codon in its anchored frame. Closed form (no
    recursion), differentiable."""
    B, T, C = emissions.shape
    K = duration.shape[0]
    dev = emissions.device
    y = labels.clamp(0, C - 1).long()
    L = lengths.view(B, 1)
    tvec = torch.arange(T, device=dev).view(1, T)
    valid = tvec < L
    em = (emissions.gather(2, y.unsqueeze(-1)).squeeze(-1) * valid).sum(1)
    run = gold_max_durations(y, lengths, C)[:, 1:].gather(2, y.unsqueeze(-1)).squeeze(-1).long()  # (B, T)
    nxt_diff = torch.ones_like(valid)
    nxt_diff[:, :-1] = y[:, 1:] != y[:, :-1]
    is_end = valid & (nxt_diff | (tvec == L - 1))
    q = torch.div(run - 1, K, rounding_mode="floor")
    r = run - q * K
    diag = torch.diagonal(transition)
    last_piece = duration[(r - 1).clamp(0, K - 1), y]
    seg = q.to(emissions.dtype) * (duration[K - 1][y] + diag[y]) + last_piece
    if tail:
        long_run = run >= K
        seg = torch.where(long_run, duration[K - 1][y] + (run - K).to(emissions.dtype) * diag[y], last_piece)
        last_piece = torch.where(run > K, torch.zeros_like(last_piece), last_piece)   # a tail step
        q = long_run.long()
    if censor_edges:
        first_run = is_end & (torch.cumsum(is_end.long(), 1) == 1)
        last_run = tvec == L - 1
        first_piece = torch.where(q > 0, duration[K - 1][y], last_piece)
        one_piece = (q == 0) if not tail else run <= K
        seg = (seg - first_piece * first_run - last_piece * last_run
               + last_piece * (first_run & last_run & one_piece))     # one piece: censored once
    if orf is not None:

        scores = OrfScores(*orf)
        hit = scores.hits((tvec + 1 - run).clamp(min=0), (tvec + 1).expand(B, T))        # (B, T, A) bool
        scored = run < K
        if censor_edges:
            scored = scored & ~first_run & ~last_run
        weight = orf[2][scores.cols]                                                   # differentiable
        seg = seg + scored * (hit * (y.unsqueeze(-1) == scores.cols) * weight).sum(-1)
    segs = (seg * is_end).sum(1)
    prev_diff = torch.zeros_like(valid)
    prev_diff[:, 1:] = y[:, 1:] != y[:, :-1]
    is_start = valid & prev_diff                     # switches inside the sequence
    prev = torch.cat([y[:, :1], y[:, :-1]], 1)
    switch = transition[prev, y]
    if starts is not None:
        prev_end = torch.cat([ends[:, :1], ends[:, :-1]], 1).gather(2, prev.unsqueeze(-1)).squeeze(-1)
        switch = switch + starts.gather(2, y.unsqueeze(-1)).squeeze(-1) + prev_end
    trs = (switch * is_start).sum(1)
    off = off_diagonal(transition)
    start_all = torch.logsumexp(off if tail else torch.cat([off, transition], 0), dim=0)
    return em + segs + trs + start_all[y[:, 0]]


def canonical_viterbi(emissions, transition, duration, lengths=None, starts=None, ends=None, censor_edges=False,
                      tail=False, orf=None):
    """MAP labelling under the canonical-chain semi-CRF: (scores (B,), segments with labels in
    0..C-1, full pieces of one run listed separately); the max-product form of the recursion in
    canonical.py, so it scores exactly what the likelihood scores."""

    return canonical_viterbi_fast(emissions, transition, duration, lengths, starts, ends, censor_edges, tail,
                                  *(orf or ()))
