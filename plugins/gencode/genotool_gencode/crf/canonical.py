"""log Z of the canonical-chain semi-CRF without doubling the labels in the duration window.

:func:`genotool_gencode.crf.recursion.canonical_expand` writes the canonical chain as an ordinary
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
base), something per-base emissions cannot express.

*Geometric tails* (``tail``): a run of n >= K bases is one piece of K and n - K one-base tail
steps, each scoring ``trans[c, c]``; ``alpha_full`` is then the state "in a run of at least K
bases", ``alpha_full_t = logaddexp(Q_{t-K} + dur[K-1] + S_t, alpha_full_{t-1} + trans[c, c] +
S_t - S_{t-1})``, and Q has no continuation term. Without tails the last piece of a long run (n -
K*floor((n-1)/K) bases) shares ``dur`` with runs of that length, so an exon of 250 bp and one of
50 bp get the same duration score at K = 200; with them the durations 1..K-1 describe short
runs only and the lengths beyond K follow a geometric tail, as in GHMM gene finders (AUGUSTUS).

*Censored edges* (``lengths`` passed to the recursions, ``censor_edges`` in the public
functions): a piece that starts at base 0 or ends at the sequence's last base scores no duration.
Training chunks are cut out of longer sequence, so the runs at their edges are truncated; scored
as whole segments they teach the duration model the lengths of the cuts, not of the segments (in
the default simulation's 1 kb training crops, 66% of the runs touch an edge: 2.4 runs a crop). A
memoryless linear chain is unaffected.

*ORF scores* (``orf``): a segment-level feature a linear chain cannot express. A coding exon is
an open reading frame, and for the first and last exon of a gene its frame is fixed by one of its
ends (the base after the start codon, the base before the stop codon). ``stops`` (B, T, 2) marks
where a stop codon of the plus (TAA/TAG/TGA) and of the minus strand (TTA/CTA/TCA) begins, and
``anchors`` (C,) says per state which strand and end fix its frame (ORF_* codes below); a short
piece of an anchored state that holds a stop codon in that frame scores ``weight[c]`` (learned,
negative). Only short pieces (fewer than K bases) are scored, and like durations not at censored
edges: a K piece's end, and a cut piece's frame, are unknown.

The backward pass mirrors the recursion (``R = gamma + S`` per state kind) and forms gradients
from segment and switch marginals. Tested against the 2C-state form and brute-force enumeration.
"""

from __future__ import annotations

import torch

from genotool_gencode.crf.common import NEG_INF, _backtrack, _check, _cumsum, _single_thread, off_diagonal


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


# ORF anchor codes per state: which strand's stop codons, and which end of the piece fixes the frame
ORF_NONE, ORF_PLUS_START, ORF_PLUS_END, ORF_MINUS_START, ORF_MINUS_END = range(5)


class OrfScores:
    """ORF scores of one batch: two lookup tables built once per call, one comparison per window.

    ``stops`` (B, T, 2) marks stop-codon starts (plus, minus strand); ``anchors`` (C,) holds the
    ORF_* code of each state; ``weight`` (C,) the score of a hit. Only the A anchored states
    (``cols``) are ever scored. With ``nxt[u]`` the first stop of a strand at or after base u in
    u's frame (p >= u, p = u mod 3) and ``prv[t]`` the last one at or before t - 3 in t's frame, a
    piece [u, t) holds a stop in the frame of its start iff ``nxt[u] <= t - 3`` and in the frame
    of its end iff ``u <= prv[t]``. Both are ``lo[u, a] <= hi[t, a]``, with ``lo`` = (nxt, u) and
    ``hi`` = (t - 3, prv) per anchored state's kind, so a whole window of pieces ending at t (or
    starting at u) is one comparison of a slice against a row. ``K``: the recursions' duration
    window (short pieces: 1..K-1 bases)."""

    KINDS = (ORF_PLUS_START, ORF_MINUS_START, ORF_PLUS_END, ORF_MINUS_END)

    def __init__(self, stops: torch.Tensor, anchors: torch.Tensor, weight: torch.Tensor, K: int = 2):
        B, T, _ = stops.shape
        dev = stops.device
        hit = stops.detach() > 0.5                                                  # (B, T, 2)
        pos = torch.arange(T, device=dev).view(1, T, 1)
        nxt = torch.full((B, T + 1, 2), T + 3, dtype=torch.int64, device=dev)      # T + 3: none
        last = torch.full((B, T + 1, 2), -1, dtype=torch.int64, device=dev)       # last stop at <= u, u's frame
        for r in range(3):                     # scans along each frame's own bases
            h, p = hit[:, r::3], pos[:, r::3]
            nxt[:, r:T:3] = torch.flip(torch.cummin(torch.flip(torch.where(h, p, T + 3), [1]), 1).values, [1])
            last[:, r:T:3] = torch.cummax(torch.where(h, p, -1), 1).values
        prv = torch.full_like(last, -1)
        prv[:, 3:] = last[:, :T - 2]
        u = torch.arange(T + 1, device=dev).view(1, T + 1, 1).expand(B, T + 1, 2)
        lo = torch.cat([nxt, u], -1)                                                # (B, T+1, 4) by KINDS
        hi = torch.cat([u - 3, prv], -1)
        anchored = [(col, self.KINDS.index(c)) for col, c in enumerate(anchors.tolist()) if c > 0]
        kinds = torch.tensor([kind for _, kind in anchored], dtype=torch.long, device=dev)
        self.lo, self.hi = lo[..., kinds].contiguous(), hi[..., kinds].contiguous()  # (B, T+1, A)
        self.cols = torch.tensor([col for col, _ in anchored], dtype=torch.long, device=dev)    # (A,)
        self.weight = weight.detach().to(torch.float64)[self.cols]                  # (A,)
        self._acc = torch.zeros((B, max(K - 1, 0), len(anchored)), dtype=torch.float64, device=dev)

    def hits(self, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """Pieces [starts, ends), each (B, k) -> (B, k, A) bool: the piece, read as anchored state
        ``cols[a]``, holds a stop codon in its anchored frame."""
        A = len(self.cols)
        return self.lo.gather(1, starts.unsqueeze(-1).expand(-1, -1, A)) <= \
            self.hi.gather(1, ends.unsqueeze(-1).expand(-1, -1, A))

    def add_ending(self, win: torch.Tensor, t: int, keep=None) -> None:
        """Add to ``win`` (B, k, C), the pieces [t - k, t) ... [t - 1, t) (forward, Viterbi),
        their ORF scores, in place, except where ``keep`` (B, k, 1) is 0 (censored edge pieces)."""
        k = win.shape[1]
        sc = torch.where(self.lo[:, t - k:t] <= self.hi[:, t:t + 1], self.weight, 0.0)
        win.index_add_(2, self.cols, sc if keep is None else sc * keep)

    def add_starting(self, win: torch.Tensor, s: int, keep=None) -> torch.Tensor:
        """As :meth:`add_ending`, for the pieces [s, s + 1) ... [s, s + k) (backward); -> their
        hits (B, k, A) float64 for :meth:`accumulate`."""
        k = win.shape[1]
        h = (self.lo[:, s:s + 1] <= self.hi[:, s + 1:s + k + 1]).to(torch.float64)
        sc = h * self.weight
        win.index_add_(2, self.cols, sc if keep is None else sc * keep)
        return h

    def accumulate(self, seg: torch.Tensor, h: torch.Tensor) -> None:
        """Add the segment marginals ``seg`` (B, k, C) of a window where they hit ``h`` (the
        weight's gradient; censored pieces have marginal 0, so ``h`` needs no mask)."""
        self._acc[:, :seg.shape[1]].addcmul_(seg.index_select(2, self.cols), h)

    def weight_grad(self, C: int) -> torch.Tensor:
        """(C,) gradient of the weights from the accumulated marginals (0 off the anchored states)."""
        g = torch.zeros(C, dtype=torch.float64, device=self._acc.device)
        g[self.cols] = self._acc.sum((0, 1))
        self._acc.zero_()                      # a second backward starts afresh
        return g


def _switch_sources(a_s, a_f, EB_t):
    """(B, C) log-sum of every way a run of c' can end at t (short or full piece), + its end score."""
    A = torch.logaddexp(a_s, a_f)
    return A if EB_t is None else A + EB_t


def _censored(dur_win, starts, ends, L):
    """Duration scores of a window of k pieces with censored edges: ``dur_win`` (k, C), the
    pieces' start and end boundaries ``starts``, ``ends`` (k,) and the lengths ``L`` (B,); a piece
    starting at 0 or ending at its sequence's end scores 0. -> ((B, k, C), edge mask (B, k, 1))."""
    edge = (starts == 0).view(1, -1, 1) | (ends.view(1, -1, 1) == L.view(-1, 1, 1))
    return torch.where(edge, torch.zeros_like(dur_win), dur_win), edge


def _short_window(Q, dur_rev, dur_full, t: int, ar, lengths, last_bounds, orf=None):
    """Scores of the pieces ending at boundary t (forward and Viterbi): the short window
    ``Q[:, t-k:t] + durations (+ ORF scores)`` (B, k, C), k = min(K-1, t) (None if 0), slots
    ascending in start, and the full piece's duration (C,) or (B, C) (None before t = K); censored where
    ``lengths`` is given and an edge piece ends here (no duration, no ORF score)."""
    K = dur_rev.shape[0] + 1
    k = min(K - 1, t)
    w = dur_rev[K - 1 - k:]
    wf = dur_full if t >= K else None
    keep = None
    if lengths is not None:            # edge pieces exist only after the start and at an end
        if k > 0 and (t == k or t in last_bounds):
            w, edge = _censored(w, ar[t - k:t], ar[t].expand(k), lengths)
            keep = (~edge).to(w.dtype)
        if wf is not None and (t == K or t in last_bounds):
            wf = _censored(wf.unsqueeze(0), ar[t - K:t - K + 1], ar[t:t + 1], lengths)[0][:, 0]
    if k == 0:
        return None, wf
    win = Q[:, t - k:t] + w
    if orf is not None:
        orf.add_ending(win, t, keep)
    return win, wf


def _forward(S, trans, dur, SB=None, EB=None, lengths=None, tail=False, orf=None):
    """-> (alpha_short, alpha_full, Q), each (B, T+1, C) float64; ``lengths`` (B,) given: censored
    edges; ``tail``: runs of K or more bases are a K piece and a geometric tail (module docstring),
    and alpha_full is the state 'in a run of at least K bases'; ``orf``: an :class:`OrfScores`."""
    B, T1, C = S.shape
    T, K = T1 - 1, dur.shape[0]
    off = off_diagonal(trans)
    diag = torch.diagonal(trans)
    a_s = torch.full_like(S, NEG_INF)
    a_f = torch.full_like(S, NEG_INF)
    Q = torch.empty_like(S)
    a_s[:, 0] = 0.0
    if not tail:
        a_f[:, 0] = 0.0      # the start term's C virtual 'full' sources (a tail has no virtual source)
    dur_rev = dur[:K - 1].flip(0)                                        # window slots ascend in start
    ar = torch.arange(T1, device=S.device)
    last_bounds = set(lengths.tolist()) if lengths is not None else set()
    for t in range(T + 1):
        if t > 0:
            win, wf = _short_window(Q, dur_rev, dur[K - 1], t, ar, lengths, last_bounds, orf)
            if win is not None:
                a_s[:, t] = _lse1(win) + S[:, t]
            if wf is not None:
                a_f[:, t] = Q[:, t - K] + wf + S[:, t]
            if tail:         # one more base of a run already >= K long
                a_f[:, t] = torch.logaddexp(a_f[:, t], a_f[:, t - 1] + diag + S[:, t] - S[:, t - 1])
        # t = 0: every virtual source has alpha 0 (the start term)
        src = _switch_sources(a_s[:, t], a_f[:, t], None if EB is None else EB[:, t])
        sw = torch.logsumexp(src.unsqueeze(-1) + off, dim=1)
        if SB is not None:
            sw = sw + SB[:, t]
        Q[:, t] = (sw if tail else torch.logaddexp(sw, a_f[:, t] + diag)) - S[:, t]
    return a_s, a_f, Q


def _backward(S, trans, dur, a_s, a_f, Q, lengths, logZ, gout, SB=None, EB=None, censor=False, tail=False,
              orf=None):
    """Gradients of sum_b gout[b] * logZ[b]: emissions (B, T, C), trans (C, C), dur (K, C), the
    per-boundary tables (B, T+1, C) of SB and EB (None without boundary scores) and the ORF
    weights (C,) (None without ``orf``); ``censor``: the forward ran with censored edges;
    ``tail``: with geometric tails."""
    B, T1, C = S.shape
    T, K = T1 - 1, dur.shape[0]
    dev = S.device
    off = off_diagonal(trans)
    diag = torch.diagonal(trans)
    tvec = torch.arange(T1, device=dev)
    last_bounds = set(lengths.tolist())
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
        dw, df, keep, keep_f = dur[:k], dur[K - 1], 1.0, 1.0
        if censor and (s == 0 or any(s < n <= s + k for n in last_bounds)):   # edge pieces score no duration
            dw, edge = _censored(dw, tvec[s].expand(k), tvec[s + 1:s + k + 1], lengths)     # and get no gradient
            keep = (~edge).to(S.dtype)
        if censor and s + K <= T and (s == 0 or s + K in last_bounds):
            df, edge_f = _censored(df.unsqueeze(0), tvec[s:s + 1], tvec[s + K:s + K + 1], lengths)
            df, keep_f = df[:, 0], (~edge_f[:, 0]).to(S.dtype)
        win = R_s[:, s + 1:s + k + 1] + dw if k > 0 else None            # (B, k, C), d = 1..k
        if orf is not None and k > 0:
            hit = orf.add_starting(win, s, keep if torch.is_tensor(keep) else None)
        wf = R_f[:, s + K] + df if s + K <= T else ninf_bc               # (B, C), d = K
        m = wf if win is None else torch.maximum(win.max(1).values, wf)
        m = torch.where(torch.isfinite(m), m, zeros_bc)
        ef = torch.exp(wf - m)
        tot = ef.clone()
        scale = torch.exp(m + Q[:, s] - lz.view(B, 1)) * w.view(B, 1)
        # no piece starts at or past a sequence's end; there Q runs on over the padding and can
        # overflow exp (inf * 0 = NaN in the duration gradient of a batch with shorter sequences)
        scale = torch.where(tvec[s] < L, scale, zeros_bc)
        if win is not None:
            ew = torch.exp(win - m.unsqueeze(1))
            tot += ew.sum(1)
            seg = ew * scale.unsqueeze(1) * keep                      # segment marginals (B, k, C)
            gdur[:k] += seg.sum(0)
            if orf is not None:
                orf.accumulate(seg, hit)
        gdur[K - 1] += (ef * scale * keep_f).sum(0)
        d_s = torch.log(tot) + m - S[:, s]
        delta[:, s] = d_s
        if s > 0:
            into = d_s if SB is None else d_s + SB[:, s]
            g_s = torch.logsumexp(off.unsqueeze(0) + into.unsqueeze(1), dim=2)   # switch after c'
            if EB is not None:
                g_s = g_s + EB[:, s]
            # after a full piece: switch, or continue c' (tail: by one base; else: a new piece)
            g_f = torch.logaddexp(g_s, diag + (R_f[:, s + 1] - S[:, s] if tail else d_s))
            is_end, past = end_mask[:, s:s + 1], tvec[s] > L
            zero, ninf = torch.zeros_like(g_s), torch.full_like(g_s, NEG_INF)
            R_s[:, s] = torch.where(past, ninf, torch.where(is_end, zero, g_s)) + S[:, s]
            R_f[:, s] = torch.where(past, ninf, torch.where(is_end, zero, g_f)) + S[:, s]
    wb = gout.to(S.dtype).view(B, 1, 1)
    p_end = torch.exp(a_s + R_s - S - lz) + torch.exp(a_f + R_f - S - lz)
    p_end[:, 0] = 0.0
    p_start = torch.exp(Q + S + delta - lz)
    p_start[:, T] = 0.0
    if tail:   # a tail step is a one-base piece: it starts at t and ends at t + 1
        p_tail = torch.exp(a_f[:, :T] + diag + R_f[:, 1:] - S[:, :T] - lz)
        p_start[:, :T] += p_tail
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
    if tail:
        g_diag = (p_tail * wb).sum((0, 1))
    else:
        g_diag = torch.exp(diag) * (torch.exp(a_f[:, :T] + delta[:, :T] - lz) * wb).sum((0, 1))
    gtr = g_off + torch.diag(g_diag)
    gSB = gEB = None
    if SB is not None:
        gSB = torch.zeros_like(S)
        gEB = torch.zeros_like(S)
        gSB[:, :T] = right * torch.einsum("bsi,ij->bsj", left, eoff)
        gEB[:, :T] = left * torch.einsum("bsj,ij->bsi", right, eoff)
    return ge, gtr, gdur, gSB, gEB, None if orf is None else orf.weight_grad(C)


class _CanonicalLogPartition(torch.autograd.Function):
    @staticmethod
    def forward(ctx, emissions, transition, duration, lengths, starts, ends, censor, tail, stops, anchors,
                orf_weight):
        S = _cumsum(emissions.detach())
        tr = transition.detach().to(torch.float64)
        du = duration.detach().to(torch.float64)
        SB, EB = boundary_tables(starts, ends, S.shape[1] - 1, S)
        orf = _orf_args(stops, anchors, orf_weight, du.shape[0])
        with _single_thread(S.device):
            a_s, a_f, Q = _forward(S, tr, du, SB, EB, lengths.long() if censor else None, tail, orf)
        idx = torch.arange(S.shape[0], device=S.device)
        Ln = lengths.long()
        logZ = torch.logsumexp(torch.cat([a_s[idx, Ln], a_f[idx, Ln]], -1), dim=-1)
        ctx.save_for_backward(S, tr, du, a_s, a_f, Q, lengths, logZ)
        ctx.bounds, ctx.orf = (SB, EB), orf
        ctx.censor, ctx.tail = censor, tail
        ctx.dtypes = (emissions.dtype, transition.dtype, duration.dtype,
                      None if starts is None else starts.dtype, None if orf_weight is None else orf_weight.dtype)
        return logZ.to(torch.promote_types(emissions.dtype, torch.float32))

    @staticmethod
    def backward(ctx, gout):
        S, tr, du, a_s, a_f, Q, lengths, logZ = ctx.saved_tensors
        SB, EB = ctx.bounds
        with _single_thread(S.device):
            ge, gt, gd, gSB, gEB, gorf = _backward(S, tr, du, a_s, a_f, Q, lengths.long(), logZ, gout, SB, EB,
                                                    ctx.censor, ctx.tail, ctx.orf)
        de, dt, dd, db, dw = ctx.dtypes
        gst = gen = None
        if gSB is not None:
            T = S.shape[1] - 1
            gst = torch.zeros_like(ge)
            gst[:, 1:] = gSB[:, 1:T]          # a run cannot start a switch at base 0
            gen = gEB[:, 1:T + 1]             # boundary t scores the end of base t - 1
            gst, gen = gst.to(db), gen.to(db)
        gw = None if gorf is None else gorf.to(dw)
        return ge.to(de), gt.to(dt), gd.to(dd), None, gst, gen, None, None, None, None, gw


def _orf_args(stops, anchors, weight, K):
    """The :class:`OrfScores` of the recursions, or None without ORF scores."""
    return None if stops is None else OrfScores(stops, anchors.long(), weight, K)


def check_orf(emissions, stops, anchors, orf_weight, tail: bool) -> None:
    """ORF scores need all three inputs, shaped (B, T, 2), (C,), (C,), and geometric tails."""
    given = [v is not None for v in (stops, anchors, orf_weight)]
    if not any(given):
        return
    if not all(given):
        raise ValueError("ORF scores need stops, anchors and orf_weight")
    B, T, C = emissions.shape
    if stops.shape != (B, T, 2) or anchors.shape != (C,) or orf_weight.shape != (C,):
        raise ValueError(f"ORF scores: stops must be (B, T, 2) = {(B, T, 2)}, anchors and orf_weight ({C},)")
    if not tail:
        raise ValueError("ORF scores need geometric tails (tail=True): a piece of a longer run has no anchored frame")


def canonical_log_partition_fast(emissions, transition, duration, lengths=None, starts=None, ends=None,
                                 censor_edges=False, tail=False, stops=None, anchors=None, orf_weight=None):
    """(B,) log Z of the canonical-chain semi-CRF (same value as the 2C-state form without
    ``censor_edges``, ``tail`` and ORF scores); ``starts`` and ``ends`` (B, T, C) are optional
    boundary scores; ``stops`` (B, T, 2), ``anchors`` (C,) and ``orf_weight`` (C,) the optional
    ORF scores; all as in the module docstring."""
    lengths = _check(emissions, transition, duration, lengths)
    if (starts is None) != (ends is None):
        raise ValueError("boundary scores need both starts and ends")
    if starts is not None and (starts.shape != emissions.shape or ends.shape != emissions.shape):
        raise ValueError(f"starts and ends must be (B, T, C) = {tuple(emissions.shape)}")
    check_orf(emissions, stops, anchors, orf_weight, tail)
    return _CanonicalLogPartition.apply(emissions, transition, duration, lengths, starts, ends, bool(censor_edges),
                                        bool(tail), stops, anchors, orf_weight)


@torch.no_grad()
def canonical_viterbi_fast(emissions, transition, duration, lengths=None, starts=None, ends=None,
                           censor_edges=False, tail=False, stops=None, anchors=None, orf_weight=None):
    """Max-product form of :func:`_forward`, with back-pointers to the piece length and the
    source (label, short or full piece); see :func:`genotool_gencode.crf.recursion.canonical_viterbi`.
    With ``tail`` a run of K or more bases comes back as one segment."""
    lengths = _check(emissions, transition, duration, lengths)
    check_orf(emissions, stops, anchors, orf_weight, tail)
    orf = _orf_args(stops, anchors, orf_weight, duration.shape[0])
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
    bp_tail = torch.zeros((B, T1, C), dtype=torch.bool, device=S.device)  # long state reached by a tail step
    # the start term is the likelihood's logsumexp over the virtual sources
    Q[:, 0] = torch.logsumexp(off if tail else torch.cat([off, tr], 0), dim=0) - S[:, 0]
    dur_rev = du[:K - 1].flip(0)
    ar = torch.arange(T1, device=S.device)
    last_bounds = set(lengths.tolist())
    with _single_thread(S.device):
        for t in range(1, T + 1):
            k = min(K - 1, t)
            win, wf = _short_window(Q, dur_rev, du[K - 1], t, ar, lengths if censor_edges else None, last_bounds,
                                    orf)
            if k > 0:
                v, j = win.max(dim=1)
                a_s[:, t] = v + S[:, t]
                bp_d[:, t] = k - j
            if wf is not None:
                a_f[:, t] = Q[:, t - K] + wf + S[:, t]
            if tail:
                step = a_f[:, t - 1] + torch.diagonal(tr) + S[:, t] - S[:, t - 1]
                bp_tail[:, t] = step > a_f[:, t]
                a_f[:, t] = torch.maximum(a_f[:, t], step)
            into = off if SB is None else off + SB[:, t].unsqueeze(1)                # (B|1, C', C)
            out_s, out_f = a_s[:, t], a_f[:, t]
            if EB is not None:
                out_s, out_f = out_s + EB[:, t], out_f + EB[:, t]
            from_s = out_s.unsqueeze(-1) + into
            from_f = out_f.unsqueeze(-1) + into
            if not tail:     # a new piece of the same label after a full one
                from_f = torch.where(eye, (a_f[:, t] + torch.diagonal(tr)).unsqueeze(-1), from_f)
            v, i = torch.cat([from_s, from_f], 1).max(dim=1)
            Q[:, t] = v - S[:, t]
            bp_src[:, t] = i
    rows = torch.arange(B, device=S.device)
    final = torch.cat([a_s[rows, lengths], a_f[rows, lengths]], -1)
    scores, best = final.max(dim=-1)
    bp_d, bp_src, bp_tail = bp_d.cpu().numpy(), bp_src.cpu().numpy(), bp_tail.cpu().numpy()

    def piece(b, t, state):
        c = state % C
        d = K if state >= C else int(bp_d[b, t, c])
        if state >= C:   # tail steps back to the run's K piece
            while bp_tail[b, t - d + K, c]:
                d += 1
        return d, c, int(bp_src[b, t - d, c]) if t > d else 0

    return scores, _backtrack(lengths, best, piece)
