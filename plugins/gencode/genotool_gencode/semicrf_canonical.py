"""log Z of the canonical-chain semi-CRF without doubling the labels in the duration window.

:func:`genotool_gencode.semicrf.canonical_expand` writes the canonical chain as an ordinary
semi-CRF on 2C states: state ``c`` is a piece of label c shorter than K, state ``C + c`` a piece
of exactly K. Run through the generic recursion, every position scans a (B, K, 2C) window although
a full state has only one admissible duration. Both states of a label have the same incoming
transitions, so they share ``beta`` (hence ``Q = beta - S``), and the recursion splits into

    alpha_short_t(c) = S_t(c) + logsumexp_{d=1..K-1} [Q_{t-d}(c) + dur[d-1, c]]
    alpha_full_t(c)  = S_t(c) + Q_{t-K}(c) + dur[K-1, c]
    Q_t(c) = logsumexp( switch_t(c),  alpha_full_t(c) + trans(c, c) ) - S_t(c)
    switch_t(c) = start_t(c) + logsumexp_{c'} [A_t(c') + end_{t-1}(c') + off(c', c)]

with ``A = logsumexp(alpha_short, alpha_full)`` and ``off`` the transition matrix without its
diagonal: a (B, K-1, C) window plus one slot, half the work. ``start``/``end`` are optional
*boundary scores* (B, T, C): ``start[u, c]`` is added when a run of label c begins at base u and
``end[u, c']`` when a run of c' ends at base u, at every label switch inside the sequence (not at
its edges, which are chunk cuts, and not between the full pieces of one long run). They are the
signal sensors of a gene finder (a splice donor scores the exon -> intron switch, not every intron
base), something per-base emissions cannot express. The backward pass mirrors the recursion
(``R = gamma + S`` per state kind) and forms gradients from segment and switch marginals. Tested
against the 2C-state form and brute-force enumeration.
"""

from __future__ import annotations

import torch

from genotool_gencode.semicrf import NEG_INF, _backtrack, _check, _cumsum, _single_thread, off_diagonal


def _lse1(x: torch.Tensor) -> torch.Tensor:
    """logsumexp over dim 1 of (B, k, C); spelled out because torch.logsumexp is ~1.5x slower
    on these small CPU tensors (measured), and this is the inner loop."""
    m = x.max(1).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return torch.log(torch.exp(x - m.unsqueeze(1)).sum(1)) + m


def boundary_tables(starts, ends, T: int, like: torch.Tensor):
    """Per-boundary float64 tables (B, T+1, C) from per-base scores (B, T, C): ``SB[:, t]`` scores
    a run starting at base t, ``EB[:, t]`` a run ending at base t - 1; both 0 at t = 0 (the chunk's
    left edge is not a switch). None when there are no boundary scores."""
    if starts is None:
        return None, None
    SB = torch.zeros_like(like)
    EB = torch.zeros_like(like)
    SB[:, 1:T] = starts[:, 1:].detach().to(torch.float64)
    EB[:, 1:T + 1] = ends.detach().to(torch.float64)
    return SB, EB


def _switch_sources(a_s, a_f, EB_t):
    """(B, C) log-sum of every way a run of c' can end at t (short or full piece), + its end score."""
    A = torch.logaddexp(a_s, a_f)
    return A if EB_t is None else A + EB_t


def _forward(S, trans, dur, SB=None, EB=None):
    """-> (alpha_short, alpha_full, Q), each (B, T+1, C) float64."""
    B, T1, C = S.shape
    T, K = T1 - 1, dur.shape[0]
    off = off_diagonal(trans)
    diag = torch.diagonal(trans)
    a_s = torch.full_like(S, NEG_INF)
    a_f = torch.full_like(S, NEG_INF)
    Q = torch.empty_like(S)
    a_s[:, 0] = 0.0
    a_f[:, 0] = 0.0
    dur_rev = dur[:K - 1].flip(0)                                        # window slots ascend in start
    for t in range(T + 1):
        if t > 0:
            k = min(K - 1, t)
            if k > 0:
                a_s[:, t] = _lse1(Q[:, t - k:t] + dur_rev[K - 1 - k:]) + S[:, t]
            if t >= K:
                a_f[:, t] = Q[:, t - K] + dur[K - 1] + S[:, t]
        # t = 0: every one of the 2C virtual sources has alpha 0 (the start term)
        src = _switch_sources(a_s[:, t], a_f[:, t], None if EB is None else EB[:, t])
        sw = torch.logsumexp(src.unsqueeze(-1) + off, dim=1)
        if SB is not None:
            sw = sw + SB[:, t]
        Q[:, t] = torch.logaddexp(sw, a_f[:, t] + diag) - S[:, t]
    return a_s, a_f, Q


def _backward(S, trans, dur, a_s, a_f, Q, lengths, logZ, gout, SB=None, EB=None):
    """Gradients of sum_b gout[b] * logZ[b]: emissions (B, T, C), trans (C, C), dur (K, C), and
    the per-boundary tables (B, T+1, C) of SB and EB (None without boundary scores)."""
    B, T1, C = S.shape
    T, K = T1 - 1, dur.shape[0]
    dev = S.device
    off = off_diagonal(trans)
    diag = torch.diagonal(trans)
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
            into = d_s if SB is None else d_s + SB[:, s]
            g_s = torch.logsumexp(off.unsqueeze(0) + into.unsqueeze(1), dim=2)   # switch after c'
            if EB is not None:
                g_s = g_s + EB[:, s]
            g_f = torch.logaddexp(g_s, diag + d_s)                                  # or continue c'
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
    # switch marginals exp(src_s(i) + off(i, j) + SB_s(j) + delta_s(j) - logZ), separable per
    # position: no (T, C, C) tensor; stabilised by the per-position max of the sources
    src = _switch_sources(a_s[:, :T], a_f[:, :T], None if EB is None else EB[:, :T])
    m = src.max(2, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    into = delta[:, :T] if SB is None else delta[:, :T] + SB[:, :T]
    left = torch.exp(src - m)                                            # (B, T, C_src)
    right = torch.exp(into + m - lz) * wb                                # (B, T, C_dst)
    eoff = torch.exp(off)
    g_off = eoff * torch.einsum("bsi,bsj->ij", left, right)
    # same-label continuation after a full piece (no boundary scores)
    g_diag = torch.exp(diag) * (torch.exp(a_f[:, :T] + delta[:, :T] - lz) * wb).sum((0, 1))
    gtr = g_off + torch.diag(g_diag)
    gSB = gEB = None
    if SB is not None:
        gSB = torch.zeros_like(S)
        gEB = torch.zeros_like(S)
        gSB[:, :T] = right * torch.einsum("bsi,ij->bsj", left, eoff)
        gEB[:, :T] = left * torch.einsum("bsj,ij->bsi", right, eoff)
    return ge, gtr, gdur, gSB, gEB


class _CanonicalLogPartition(torch.autograd.Function):
    @staticmethod
    def forward(ctx, emissions, transition, duration, lengths, starts, ends):
        S = _cumsum(emissions.detach())
        tr = transition.detach().to(torch.float64)
        du = duration.detach().to(torch.float64)
        SB, EB = boundary_tables(starts, ends, S.shape[1] - 1, S)
        with _single_thread(S.device):
            a_s, a_f, Q = _forward(S, tr, du, SB, EB)
        idx = torch.arange(S.shape[0], device=S.device)
        Ln = lengths.long()
        logZ = torch.logsumexp(torch.cat([a_s[idx, Ln], a_f[idx, Ln]], -1), dim=-1)
        ctx.save_for_backward(S, tr, du, a_s, a_f, Q, lengths, logZ)
        ctx.bounds = (SB, EB)
        ctx.dtypes = (emissions.dtype, transition.dtype, duration.dtype,
                      None if starts is None else starts.dtype)
        return logZ.to(torch.promote_types(emissions.dtype, torch.float32))

    @staticmethod
    def backward(ctx, gout):
        S, tr, du, a_s, a_f, Q, lengths, logZ = ctx.saved_tensors
        SB, EB = ctx.bounds
        with _single_thread(S.device):
            ge, gt, gd, gSB, gEB = _backward(S, tr, du, a_s, a_f, Q, lengths.long(), logZ, gout, SB, EB)
        de, dt, dd, db = ctx.dtypes
        gst = gen = None
        if gSB is not None:
            T = S.shape[1] - 1
            gst = torch.zeros_like(ge)
            gst[:, 1:] = gSB[:, 1:T]          # a run cannot start a switch at base 0
            gen = gEB[:, 1:T + 1]             # boundary t scores the end of base t - 1
            gst, gen = gst.to(db), gen.to(db)
        return ge.to(de), gt.to(dt), gd.to(dd), None, gst, gen


def canonical_log_partition_fast(emissions, transition, duration, lengths=None, starts=None, ends=None):
    """(B,) log Z of the canonical-chain semi-CRF (same value as the 2C-state form); ``starts``
    and ``ends`` (B, T, C) are optional boundary scores (module docstring)."""
    lengths = _check(emissions, transition, duration, lengths)
    if (starts is None) != (ends is None):
        raise ValueError("boundary scores need both starts and ends")
    if starts is not None and (starts.shape != emissions.shape or ends.shape != emissions.shape):
        raise ValueError(f"starts and ends must be (B, T, C) = {tuple(emissions.shape)}")
    return _CanonicalLogPartition.apply(emissions, transition, duration, lengths, starts, ends)


@torch.no_grad()
def canonical_viterbi_fast(emissions, transition, duration, lengths=None, starts=None, ends=None):
    """Max-product form of :func:`_forward`, with back-pointers to the piece length and the
    source (label, short or full piece); see :func:`genotool_gencode.semicrf.canonical_viterbi`."""
    lengths = _check(emissions, transition, duration, lengths)
    S = _cumsum(emissions)
    tr = transition.to(torch.float64)
    du = duration.to(torch.float64)
    B, T1, C = S.shape
    T, K = T1 - 1, du.shape[0]
    SB, EB = boundary_tables(starts, ends, T, S)
    off = off_diagonal(tr)
    eye = torch.eye(C, dtype=torch.bool, device=S.device)
    a_s = torch.full_like(S, NEG_INF)
    a_f = torch.full_like(S, NEG_INF)
    Q = torch.empty_like(S)
    bp_d = torch.zeros((B, T1, C), dtype=torch.int64, device=S.device)    # duration of a short piece
    bp_src = torch.zeros((B, T1, C), dtype=torch.int64, device=S.device)  # source: c' short, C + c' full
    # the start term is the likelihood's logsumexp over the 2C virtual sources
    Q[:, 0] = torch.logsumexp(torch.cat([off, tr], 0), dim=0) - S[:, 0]
    dur_rev = du[:K - 1].flip(0)
    with _single_thread(S.device):
        for t in range(1, T + 1):
            k = min(K - 1, t)
            if k > 0:
                v, j = (Q[:, t - k:t] + dur_rev[K - 1 - k:]).max(dim=1)
                a_s[:, t] = v + S[:, t]
                bp_d[:, t] = k - j
            if t >= K:
                a_f[:, t] = Q[:, t - K] + du[K - 1] + S[:, t]
            into = off if SB is None else off + SB[:, t].unsqueeze(1)                # (B|1, C', C)
            out_s, out_f = a_s[:, t], a_f[:, t]
            if EB is not None:
                out_s, out_f = out_s + EB[:, t], out_f + EB[:, t]
            from_s = out_s.unsqueeze(-1) + into
            from_f = torch.where(eye, (a_f[:, t] + torch.diagonal(tr)).unsqueeze(-1), out_f.unsqueeze(-1) + into)
            v, i = torch.cat([from_s, from_f], 1).max(dim=1)
            Q[:, t] = v - S[:, t]
            bp_src[:, t] = i
    ar = torch.arange(B, device=S.device)
    final = torch.cat([a_s[ar, lengths], a_f[ar, lengths]], -1)
    scores, best = final.max(dim=-1)
    bp_d, bp_src = bp_d.cpu().numpy(), bp_src.cpu().numpy()

    def piece(b, t, state):
        c = state % C
        d = K if state >= C else int(bp_d[b, t, c])
        return d, c, int(bp_src[b, t - d, c]) if t > d else 0

    return scores, _backtrack(lengths, best, piece)
