"""log Z of the canonical-chain semi-CRF without doubling the labels in the duration window.

:func:`genotool_gencode.semicrf.canonical_expand` writes the canonical chain as an ordinary
semi-CRF on 2C states: state ``c`` is a piece of label c shorter than K, state ``C + c`` a piece
of exactly K. Run through the generic recursion, every position scans a (B, K, 2C) window although
a full state has only one admissible duration. Both states of a label have the same incoming
transitions, so they share ``beta`` (hence ``Q = beta - S``), and the recursion splits into

    alpha_short_t(c) = S_t(c) + logsumexp_{d=1..K-1} [Q_{t-d}(c) + dur[d-1, c]]
    alpha_full_t(c)  = S_t(c) + Q_{t-K}(c) + dur[K-1, c]
    Q_t(c) = logsumexp_{c'} [alpha_short_t(c') + off(c', c),  alpha_full_t(c') + trans(c', c)] - S_t(c)

with ``off`` the transition matrix without its diagonal: a (B, K-1, C) window plus one slot, half
the work. The backward pass mirrors it (``R = gamma + S`` per state kind) and forms gradients
from the same segment and boundary marginals as the generic code. Tested against the 2C-state
form and brute-force enumeration.
"""

from __future__ import annotations

import torch

from genotool_gencode.semicrf import NEG_INF, _check, _cumsum, _single_thread, off_diagonal


def _lse1(x: torch.Tensor) -> torch.Tensor:
    """logsumexp over dim 1 of (B, k, C); spelled out because torch.logsumexp is ~1.5x slower
    on these small CPU tensors (measured), and this is the inner loop."""
    m = x.max(1).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return torch.log(torch.exp(x - m.unsqueeze(1)).sum(1)) + m


def _forward(S, trans, dur):
    """-> (alpha_short, alpha_full, Q), each (B, T+1, C) float64."""
    B, T1, C = S.shape
    T, K = T1 - 1, dur.shape[0]
    off = off_diagonal(trans)
    src = torch.cat([off, trans], 0)                                     # (2C, C): short then full sources
    a_s = torch.full_like(S, NEG_INF)
    a_f = torch.full_like(S, NEG_INF)
    Q = torch.empty_like(S)
    a_s[:, 0] = 0.0
    a_f[:, 0] = 0.0
    Q[:, 0] = torch.logsumexp(src, dim=0) - S[:, 0]                      # virtual start over 2C sources
    dur_rev = dur[:K - 1].flip(0)                                        # window slots ascend in start
    for t in range(1, T + 1):
        k = min(K - 1, t)
        if k > 0:
            a_s[:, t] = _lse1(Q[:, t - k:t] + dur_rev[K - 1 - k:]) + S[:, t]
        if t >= K:
            a_f[:, t] = Q[:, t - K] + dur[K - 1] + S[:, t]
        both = torch.cat([a_s[:, t], a_f[:, t]], 1)                      # (B, 2C)
        Q[:, t] = torch.logsumexp(both.unsqueeze(-1) + src, dim=1) - S[:, t]
    return a_s, a_f, Q


def _backward(S, trans, dur, a_s, a_f, Q, lengths, logZ, gout):
    """Gradients of sum_b gout[b] * logZ[b]: (emissions (B, T, C), trans (C, C), dur (K, C))."""
    B, T1, C = S.shape
    T, K = T1 - 1, dur.shape[0]
    dev = S.device
    off = off_diagonal(trans)
    tvec = torch.arange(T1, device=dev)
    L = lengths.view(B, 1)
    end_mask = tvec.view(1, T1) == L
    R_s = torch.full_like(S, NEG_INF)
    R_f = torch.full_like(S, NEG_INF)
    delta = torch.full_like(S, NEG_INF)
    last = torch.where(end_mask[:, T:T + 1], S[:, T], torch.full_like(S[:, T], NEG_INF))
    R_s[:, T] = last
    R_f[:, T] = last
    gdur = torch.zeros_like(dur)
    w = gout.to(S.dtype).view(B, 1, 1)
    lz = logZ.view(B, 1, 1)
    zeros_bc = torch.zeros((B, C), dtype=S.dtype, device=dev)
    ninf_bc = torch.full((B, C), NEG_INF, dtype=S.dtype, device=dev)
    for s in range(T - 1, -1, -1):
        k = min(K - 1, T - s)
        # one exp per window entry serves both the segment marginals (duration gradient) and
        # delta_s = logsumexp over durations: exp(win - m) * exp(m + Q_s - logZ)
        win = R_s[:, s + 1:s + k + 1] + dur[:k] if k > 0 else None       # (B, k, C), d = 1..k
        wf = R_f[:, s + K] + dur[K - 1] if s + K <= T else ninf_bc       # (B, C), d = K
        m = wf if win is None else torch.maximum(win.max(1).values, wf)
        m = torch.where(torch.isfinite(m), m, zeros_bc)
        ef = torch.exp(wf - m)
        tot = ef.clone()
        scale = torch.exp(m + Q[:, s] - lz.view(B, 1)) * w.view(B, 1)
        if win is not None:
            ew = torch.exp(win - m.unsqueeze(1))
            tot += ew.sum(1)
            gdur[:k] += (ew * scale.unsqueeze(1)).sum(0)
        gdur[K - 1] += (ef * scale).sum(0)
        d_s = torch.log(tot) + m - S[:, s]
        delta[:, s] = d_s
        if s > 0:
            g_s = torch.logsumexp(off.unsqueeze(0) + d_s.unsqueeze(1), dim=2)
            g_f = torch.logsumexp(trans.unsqueeze(0) + d_s.unsqueeze(1), dim=2)
            is_end, past = end_mask[:, s:s + 1], tvec[s] > L
            zero, ninf = torch.zeros_like(g_s), torch.full_like(g_s, NEG_INF)
            R_s[:, s] = torch.where(past, ninf, torch.where(is_end, zero, g_s)) + S[:, s]
            R_f[:, s] = torch.where(past, ninf, torch.where(is_end, zero, g_f)) + S[:, s]
    wb = gout.to(S.dtype).view(B, 1, 1)
    p_end = torch.exp(a_s + R_s - S - lz) + torch.exp(a_f + R_f - S - lz)
    p_end[:, 0] = 0.0
    p_start = torch.exp(Q + S + delta - lz)
    p_start[:, T] = 0.0
    gS = (p_end - p_start) * wb
    ge = torch.flip(torch.cumsum(torch.flip(gS[:, 1:], [1]), dim=1), [1])
    # boundary marginals, separable per position: stabilise by the max over both source kinds
    a_s, a_f = a_s[:, :T], a_f[:, :T]
    m = torch.maximum(a_s.max(2, keepdim=True).values, a_f.max(2, keepdim=True).values)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    right = torch.exp(delta[:, :T] + m - lz) * wb
    g_off = torch.exp(off) * torch.einsum("bsi,bsj->ij", torch.exp(a_s - m), right)
    g_full = torch.exp(trans) * torch.einsum("bsi,bsj->ij", torch.exp(a_f - m), right)
    return ge, g_off + g_full, gdur


class _CanonicalLogPartition(torch.autograd.Function):
    @staticmethod
    def forward(ctx, emissions, transition, duration, lengths):
        S = _cumsum(emissions.detach())
        tr = transition.detach().to(torch.float64)
        du = duration.detach().to(torch.float64)
        with _single_thread(S.device):
            a_s, a_f, Q = _forward(S, tr, du)
        idx = torch.arange(S.shape[0], device=S.device)
        Ln = lengths.long()
        logZ = torch.logsumexp(torch.cat([a_s[idx, Ln], a_f[idx, Ln]], -1), dim=-1)
        ctx.save_for_backward(S, tr, du, a_s, a_f, Q, lengths, logZ)
        ctx.dtypes = (emissions.dtype, transition.dtype, duration.dtype)
        return logZ.to(torch.promote_types(emissions.dtype, torch.float32))

    @staticmethod
    def backward(ctx, gout):
        S, tr, du, a_s, a_f, Q, lengths, logZ = ctx.saved_tensors
        with _single_thread(S.device):
            ge, gt, gd = _backward(S, tr, du, a_s, a_f, Q, lengths.long(), logZ, gout)
        de, dt, dd = ctx.dtypes
        return ge.to(de), gt.to(dt), gd.to(dd), None


def canonical_log_partition_fast(emissions, transition, duration, lengths=None):
    """(B,) log Z of the canonical-chain semi-CRF (same value as the 2C-state form)."""
    lengths = _check(emissions, transition, duration, lengths)
    return _CanonicalLogPartition.apply(emissions, transition, duration, lengths)
