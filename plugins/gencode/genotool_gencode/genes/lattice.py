"""The gene-structure decoder: exact Viterbi over gene models on both strands (numba).

States, read left to right over a sequence: intergenic (geometric length), and on each strand
coding exons of four kinds (single, initial, internal, terminal) with explicit length
distributions, and introns in three phases (geometric beyond an explicit range). A phase is the
number of bases of the codon an intron interrupts that lie before it, so the exon after an intron
continues the frame. Transitions exist only where biology allows them, so every decoded gene is
a valid model:

* a gene's coding sequence starts with ATG and ends with a stop codon (TAA/TAG/TGA), and its
  length is a multiple of 3;
* introns start GT (or GC) and end AG on the gene's strand;
* no in-frame stop codon inside any exon (the open-reading-frame test, below) and none split by
  an intron (the intron's phase bases and the next exon's first bases are checked together).

Candidate exons are sparse: an exon runs from a left signal (start codon or acceptor on the plus
strand) to a right signal (donor or stop) inside an open reading frame. For each right signal
and frame, the last in-frame stop codon before it bounds the exon's start, so only the left
signals after it are candidates (GENSCAN's and AUGUSTUS's pruning). On the minus strand, read
left to right, a gene starts at its stop codon (reverse complement TTA/CTA/TCA) and ends with
CAT; its acceptors (CT) end exons and its donors (AC/GC) start them.

Boundaries are 0..L (boundary b lies before base b). Score arrays (see
:meth:`genotool_gencode.genes.sensors.Sensors.score`): cumulative coding (2, 3, L+1) and intron
(2, L+1) scores, and signal scores at boundaries (-inf where no signal). The decoder sums, for a
parse: coding scores of its exons in their frame, intron scores, every signal at its boundary,
length scores of exons and introns, grammar transitions; intergenic bases add ``ig_stay`` each.
:func:`parse_score` recomputes that sum for any parse (tests check the two agree), and
:func:`parse_features` splits it into the channels the weights multiply.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; keep the module importable
    def njit(*a, **k):
        return (lambda f: f) if not a or not callable(a[0]) else a[0]

NEG = -np.inf
KINDS = ("single", "initial", "internal", "terminal")
CHANNELS = ("coding", "intron", "donor", "acceptor", "start", "stop")
# everything a weight multiplies: channels (sensors, encoder), length scores, biases
WEIGHTS = (*CHANNELS, *("enc_" + c for c in CHANNELS), "exon_length", "intron_length", "gene_bias",
           *(k + "_bias" for k in KINDS), "coding_base", "intron_base")
# exon kinds (sensors.EXON_TYPES): by strand, left end (0 gene end, 1 intron) and right end
SINGLE, INITIAL, INTERNAL, TERMINAL = 0, 1, 2, 3
EXON_KIND = np.array([[[SINGLE, INITIAL], [TERMINAL, INTERNAL]],       # plus: [left][right]
                      [[SINGLE, TERMINAL], [INITIAL, INTERNAL]]], dtype=np.int64)   # minus


@dataclass
class Lattice:
    """The decoder's inputs for one sequence (``codes`` (L,) uint8) and one parameter setting."""

    codes: np.ndarray
    coding: np.ndarray          # (2, 3, L+1) cumulative
    intron: np.ndarray          # (2, L+1) cumulative
    site_right: np.ndarray      # (2, L+1): exon end before an intron (plus donor, minus acceptor)
    site_left: np.ndarray       # (2, L+1): exon start after an intron (plus acceptor, minus donor)
    gene_left: np.ndarray       # (2, L+1): gene's left end (plus start codon, minus stop codon)
    gene_right: np.ndarray      # (2, L+1): gene's right end (plus stop codon, minus start codon)
    exon_len: np.ndarray        # (4, E+1) log P(length) per exon kind, lengths 0..E
    exon_tail: np.ndarray       # (4, 2): a + b * n beyond E
    intron_len: np.ndarray      # (D+1,) log P(length) up to D
    intron_tail: np.ndarray     # (2,): a + b * n beyond D
    exon_trans: np.ndarray      # (4,) score added per exon of each kind (grammar choices, biases)
    ig_stay: float              # per intergenic base
    gene_start: float           # per gene
    min_intron: int = 20
    min_exon: int = 3
    max_exon: int = 30000

    @classmethod
    def combine(cls, codes, channels: dict, weights: dict, lengths: dict, grammar: dict, **kw) -> "Lattice":
        """Weighted sum of score channels -> one Lattice.

        ``channels``: name -> array, with names ``coding``, ``intron``, ``donor``, ``acceptor``,
        ``start``, ``stop`` for the sensors and the same names prefixed ``enc_`` for the encoder
        (a signal channel marks where its motif is with -inf elsewhere; ``enc_`` signal channels
        are read only where the sensor's motif is). ``weights`` (:data:`WEIGHTS`; missing: 0 for
        channels and biases, 1 for the length scores): multiply the channels, the exon and intron
        length log probabilities, and add biases per gene, per exon kind, per coding base and per
        intron base. ``lengths``: ``exon_len`` (4 LengthModels) and ``intron_len``. ``grammar``:
        the fixed log probabilities of the gene grammar (Sensors.transitions)."""
        L = len(codes)
        w = weights.get

        def content(name, shape):
            out = np.zeros(shape)
            for key in (name, "enc_" + name):
                if w(key, 0.0) and key in channels:
                    out += w(key) * channels[key]
            return out

        cod = content("coding", (2, 3, L + 1))
        intr = content("intron", (2, L + 1))
        if w("coding_base", 0.0):
            cod += w("coding_base") * np.arange(L + 1)
        if w("intron_base", 0.0):
            intr += w("intron_base") * np.arange(L + 1)

        def signal(name):
            base = channels[name]
            ok = np.isfinite(base)
            out = np.where(ok, 0.0, NEG)
            for key in (name, "enc_" + name):
                if w(key, 0.0) and key in channels:
                    out = out + w(key) * np.where(ok, channels[key], 0.0)
            return out

        don, acc, sta, sto = signal("donor"), signal("acceptor"), signal("start"), signal("stop")
        ex = lengths["exon_len"]
        E = max(m.max_len for m in ex)
        wl, wi = w("exon_length", 1.0), w("intron_length", 1.0)
        exon_len = np.full((4, E + 1), NEG)
        exon_tail = np.zeros((4, 2))
        for k, m in enumerate(ex):
            exon_len[k] = wl * m.score(np.arange(E + 1))
            exon_tail[k] = wl * m.tail_a, wl * m.tail_b
        im = lengths["intron_len"]
        exon_trans = np.array([grammar[k] + w(k + "_bias", 0.0) for k in KINDS])
        return cls(codes=codes, coding=cod, intron=intr,
                   site_right=np.stack([don[0], acc[1]]), site_left=np.stack([acc[0], don[1]]),
                   gene_left=np.stack([sta[0], sto[1]]), gene_right=np.stack([sto[0], sta[1]]),
                   exon_len=np.where(np.isnan(exon_len), NEG, exon_len), exon_tail=exon_tail,
                   intron_len=wi * im.score(np.arange(im.max_len + 1)),
                   intron_tail=np.array([wi * im.tail_a, wi * im.tail_b]), exon_trans=exon_trans,
                   ig_stay=float(grammar["intergenic_stay"]),
                   gene_start=float(grammar["gene_start"] + w("gene_bias", 0.0)), **kw)

    def viterbi(self):
        """-> (best score, list of genes): each gene (strand '+'/'-', [(start, end), ...] coding
        exons in genomic order, stop codon included)."""
        score, rows = _viterbi(self.codes, self.coding, self.intron, self.site_right, self.site_left,
                               self.gene_left, self.gene_right, self.exon_len, self.exon_tail, self.intron_len,
                               self.intron_tail, self.exon_trans, self.ig_stay, self.gene_start,
                               self.min_intron, self.min_exon, self.max_exon)
        genes = []
        for gi in np.unique(rows[:, 0]) if len(rows) else []:
            r = rows[rows[:, 0] == gi]
            exons = sorted((int(s), int(e)) for s, e in r[:, 2:4])
            genes.append(("+" if r[0, 1] == 0 else "-", exons))
        genes.sort(key=lambda g: g[1][0][0])
        return float(score), genes


# ---------------------------------------------------------------------------------------------
# numba kernels

@njit(cache=True)
def _is_stop(sigma, a, b, c):
    """The codon (a, b, c) (plus-strand codes, left to right) is a stop on strand sigma."""
    if sigma == 0:          # TAA TAG TGA
        return a == 3 and ((b == 0 and (c == 0 or c == 2)) or (b == 2 and c == 0))
    # minus: TTA CTA TCA
    return c == 0 and ((a == 3 and (b == 3 or b == 1)) or (a == 1 and b == 3))


@njit(cache=True)
def _last_stops(codes):
    """(2, 3, L+1) int64: the start x of the last stop codon of strand sigma in frame f (x % 3 ==
    f) lying wholly before boundary b (x + 3 <= b); -1 if none."""
    L = codes.shape[0]
    out = np.full((2, 3, L + 1), -1, dtype=np.int64)
    last = np.full((2, 3), -1, dtype=np.int64)
    for b in range(L + 1):
        x = b - 3
        if x >= 0:
            for sigma in range(2):
                if _is_stop(sigma, codes[x], codes[x + 1], codes[x + 2]):
                    last[sigma, x % 3] = x
        for sigma in range(2):
            for f in range(3):
                out[sigma, f, b] = last[sigma, f]
    return out


@njit(cache=True)
def _dangling(codes, d, p):
    """Class 0..24 of the p bases before boundary d (the part of a codon before an intron)."""
    if p == 1:
        return codes[d - 1]
    if p == 2:
        return codes[d - 2] * 5 + codes[d - 1]
    return 0


@njit(cache=True)
def _split_codon_ok(sigma, codes, cls, p, a):
    """Whether the codon made of dangling class ``cls`` (p bases) and the first 3 - p bases after
    boundary a is not a stop (N bases never make a stop)."""
    if p == 0:
        return True
    L = codes.shape[0]
    if a + 3 - p > L:
        return True
    if p == 1:
        return not _is_stop(sigma, cls, codes[a], codes[a + 1])
    return not _is_stop(sigma, cls // 5, cls % 5, codes[a])


@njit(cache=True)
def _len_score(table, tail_a, tail_b, n):
    if n < table.shape[0]:
        return table[n]
    return tail_a + tail_b * n


@njit(cache=True)
def _close_exon(left, sg, f, q, b, s, lt, rt, cod, exon_len, exon_tail, exon_trans, X, bpX_s, bpX_k, Nv, bpN_s,
                bpN_k):
    """Score the exon [s, b) in frame f on strand sg, its left end of type lt (0 gene end, 1
    intron) with score ``left`` so far, and keep it where it is best: as the best exon ending at b
    before an intron of phase q (rt = 1), or as a gene ending at b (rt = 0)."""
    kind = EXON_KIND[sg, lt, rt]
    v = (left + cod[sg, f, b] - cod[sg, f, s] + _len_score(exon_len[kind], exon_tail[kind, 0], exon_tail[kind, 1], b - s)
         + exon_trans[kind])
    if rt == 1:
        if v > X[sg, q, b]:
            X[sg, q, b] = v
            bpX_s[sg, q, b] = s
            bpX_k[sg, q, b] = lt
    elif v > Nv[b]:
        Nv[b] = v
        bpN_s[b] = s
        bpN_k[b] = sg * 2 + lt


@njit(cache=True)
def _viterbi(codes, cod, intr, siteR, siteL, geneL, geneR, exon_len, exon_tail, intron_len, intron_tail,
             exon_trans, ig_stay, gene_start, min_intron, min_exon, max_exon):
    L = codes.shape[0]
    D = intron_len.shape[0] - 1
    last = _last_stops(codes)
    Nv = np.full(L + 1, NEG)
    Nv[0] = 0.0
    bpN_s = np.full(L + 1, -1, dtype=np.int64)
    bpN_k = np.zeros(L + 1, dtype=np.int64)
    X = np.full((2, 3, L + 1), NEG)           # best parse ending with an exon at b, exit phase q, intron next
    bpX_s = np.full((2, 3, L + 1), -1, dtype=np.int64)
    bpX_k = np.zeros((2, 3, L + 1), dtype=np.int64)
    A = np.full((2, 3, L + 1), NEG)           # best parse ending with an intron at b (phase p), exon next
    bpA_d = np.full((2, 3, L + 1), -1, dtype=np.int64)
    S = np.full((2, L + 1), NEG)              # a gene may begin at b
    G = np.full((2, 3, 25), NEG)              # long introns: best donor side per phase and dangling class
    bpG = np.full((2, 3, 25), -1, dtype=np.int64)
    # candidate boundaries per strand
    posR = [np.flatnonzero(siteR[0] > NEG), np.flatnonzero(siteR[1] > NEG)]
    posL = [np.flatnonzero(siteL[0] > NEG), np.flatnonzero(siteL[1] > NEG)]
    posGL = np.flatnonzero(geneL[0] > NEG)    # plus start codons (minus gene starts come from `last`)
    ptrG = np.zeros(2, dtype=np.int64)
    ptrLo = np.zeros(2, dtype=np.int64)
    slope = intron_tail[1]
    for b in range(L + 1):
        # (1) introns ending at b
        for sg in range(2):
            if siteL[sg, b] == NEG or b < min_intron:
                continue
            pr = posR[sg]
            nR = pr.shape[0]
            while ptrG[sg] < nR and pr[ptrG[sg]] < b - D:
                d = pr[ptrG[sg]]
                base = siteR[sg, d] - intr[sg, d] - slope * d
                for p in range(3):
                    if X[sg, p, d] > NEG:
                        if p > 0 and (d - p < 0):
                            continue
                        c = _dangling(codes, d, p)
                        v = X[sg, p, d] + base
                        if v > G[sg, p, c]:
                            G[sg, p, c] = v
                            bpG[sg, p, c] = d
                ptrG[sg] += 1
            while ptrLo[sg] < nR and pr[ptrLo[sg]] < b - D:
                ptrLo[sg] += 1
            best = np.full(3, NEG)
            bestd = np.full(3, -1, dtype=np.int64)
            k = ptrLo[sg]
            while k < nR:
                d = pr[k]
                if d > b - min_intron:
                    break
                li = intron_len[b - d]
                if li > NEG:
                    common = siteR[sg, d] + intr[sg, b] - intr[sg, d] + li
                    for p in range(3):
                        x = X[sg, p, d]
                        if x > NEG:
                            if p > 0 and not _split_codon_ok(sg, codes, _dangling(codes, d, p), p, b):
                                continue
                            v = x + common
                            if v > best[p]:
                                best[p] = v
                                bestd[p] = d
                k += 1
            tail = intr[sg, b] + intron_tail[0] + slope * b
            for p in range(3):
                for c in range(25 if p == 2 else (5 if p == 1 else 1)):
                    g = G[sg, p, c]
                    if g > NEG and _split_codon_ok(sg, codes, c, p, b):
                        v = g + tail
                        if v > best[p]:
                            best[p] = v
                            bestd[p] = bpG[sg, p, c]
                if best[p] > NEG:
                    A[sg, p, b] = best[p] + siteL[sg, b]
                    bpA_d[sg, p, b] = bestd[p]
        # (2) exons ending at b
        for sg in range(2):
            for rt in range(2):          # right end: 0 gene end, 1 intron
                sig = geneR[sg, b] if rt == 0 else siteR[sg, b]
                if sig == NEG:
                    continue
                for f in range(3):
                    if rt == 0 and (b - 3) % 3 != f:
                        continue
                    if rt == 0 and b < 3:
                        continue
                    eff = b - 3 if (rt == 0 and sg == 0) else b
                    # a gene's right-end signal is added here; an intron's left-end one with the intron
                    end_sig = sig if rt == 0 else 0.0
                    ls = last[sg, f, eff] if eff >= 0 else -1
                    q = (b - f) % 3
                    # left ends after an intron: acceptors (plus) / donors (minus) in (ls, b - min_exon]
                    pl = posL[sg]
                    j = np.searchsorted(pl, b - min_exon, side="right") - 1
                    while j >= 0:
                        s = pl[j]
                        if s <= ls or b - s > max_exon:
                            break
                        a = A[sg, (s - f) % 3, s]
                        if a > NEG:
                            _close_exon(a + end_sig, sg, f, q, b, s, 1, rt, cod, exon_len, exon_tail, exon_trans,
                                        X, bpX_s, bpX_k, Nv, bpN_s, bpN_k)
                        j -= 1
                    # left ends at a gene's start: plus strand ATGs in frame after the last stop; on
                    # the minus strand the gene's stop codon is that last in-frame stop itself
                    if sg == 0:
                        j = np.searchsorted(posGL, b - 3, side="right") - 1
                        while j >= 0:
                            s = posGL[j]
                            if s <= ls or b - s > max_exon:
                                break
                            if (s - f) % 3 == 0 and S[0, s] > NEG:
                                _close_exon(S[0, s] + end_sig, 0, f, q, b, s, 0, rt, cod, exon_len, exon_tail,
                                            exon_trans, X, bpX_s, bpX_k, Nv, bpN_s, bpN_k)
                            j -= 1
                    elif ls >= 0 and 3 <= b - ls <= max_exon and S[1, ls] > NEG:
                        _close_exon(S[1, ls] + end_sig, 1, f, q, b, ls, 0, rt, cod, exon_len, exon_tail, exon_trans,
                                    X, bpX_s, bpX_k, Nv, bpN_s, bpN_k)
        # (3) intergenic
        if b > 0:
            v = Nv[b - 1] + ig_stay
            if v >= Nv[b]:
                Nv[b] = v
                bpN_s[b] = -1
        # (4) genes may begin at b
        for sg in range(2):
            if geneL[sg, b] > NEG and Nv[b] > NEG:
                S[sg, b] = Nv[b] + gene_start + geneL[sg, b]
    # traceback -> rows (gene index, strand, start, end)
    rows = np.zeros((0, 4), dtype=np.int64)
    out = []
    b = L
    gi = 0
    while b > 0:
        s = bpN_s[b]
        if s < 0:
            b -= 1
            continue
        k = bpN_k[b]
        sg = k // 2
        lt = k % 2
        out.append((gi, sg, s, b))
        f = (b - 3) % 3
        while lt == 1:
            p = (s - f) % 3
            d = bpA_d[sg, p, s]
            s2 = bpX_s[sg, p, d]
            lt = bpX_k[sg, p, d]
            f = (d - p) % 3
            out.append((gi, sg, s2, d))
            s = s2
        b = s
        gi += 1
    if len(out):
        rows = np.zeros((len(out), 4), dtype=np.int64)
        for i in range(len(out)):
            r = out[i]
            rows[i, 0] = r[0]
            rows[i, 1] = r[1]
            rows[i, 2] = r[2]
            rows[i, 3] = r[3]
    return Nv[L], rows



# ---------------------------------------------------------------------------------------------
# a parse's score and features (Python; genes are few)

def gene_frames(strand: str, exons) -> list[tuple[int, int, int, int]]:
    """(start, end, frame f, kind) per exon of a gene (genomic order). Codons are counted from the
    gene's left end (the plus start codon, the minus stop codon), so frame f = (start - p) % 3
    with p the coding bases before the exon, mod 3."""
    sg = 0 if strand == "+" else 1
    out, done = [], 0
    n = len(exons)
    for j, (s, e) in enumerate(exons):
        p = done % 3
        left = 0 if j == 0 else 1
        right = 0 if j == n - 1 else 1
        out.append((s, e, (s - p) % 3, int(EXON_KIND[sg, left, right])))
        done += e - s
    return out


def parse_features(genes, channels: dict, lengths: dict, L: int) -> dict[str, float]:
    """What a parse sums of everything a weight multiplies (:data:`WEIGHTS`: channel sums, length
    log probabilities, counts of genes, exons by kind, coding and intron bases) and of the fixed
    grammar terms (``intergenic_bases``, ``genes``, exons by kind ``single`` ... ``terminal``).
    ``genes``: [(strand, exons)]; ``channels`` as for :meth:`Lattice.combine`."""
    f = defaultdict(float)
    ig = L
    for strand, exons in genes:
        sg = 0 if strand == "+" else 1
        f["gene_bias"] += 1
        for s, e, fr, kind in gene_frames(strand, exons):
            f[KINDS[kind] + "_bias"] += 1
            f["coding_base"] += e - s
            f["exon_length"] += float(lengths["exon_len"][kind].score(e - s))
            ig -= e - s
            for key in ("coding", "enc_coding"):
                if key in channels:
                    f[key] += channels[key][sg, fr, e] - channels[key][sg, fr, s]
        for d, a in zip([e for _, e in exons[:-1]], [s for s, _ in exons[1:]]):
            f["intron_base"] += a - d
            f["intron_length"] += float(lengths["intron_len"].score(a - d))
            ig -= a - d
            for key in ("intron", "enc_intron"):
                if key in channels:
                    f[key] += channels[key][sg, a] - channels[key][sg, d]
        s0, e0 = exons[0][0], exons[-1][1]
        if sg == 0:
            sites = [("start", 0, s0), ("stop", 0, e0)]
            sites += [("donor", 0, e) for _, e in exons[:-1]] + [("acceptor", 0, s) for s, _ in exons[1:]]
        else:
            sites = [("stop", 1, s0), ("start", 1, e0)]
            sites += [("acceptor", 1, e) for _, e in exons[:-1]] + [("donor", 1, s) for s, _ in exons[1:]]
        for name, sgn, b in sites:
            for key in (name, "enc_" + name):
                if key in channels:
                    f[key] += channels[key][sgn, b]
    f["intergenic_bases"] = ig
    return dict(f)


def parse_score(features: dict, weights: dict, grammar: dict) -> float:
    """The decoder's score of a parse from its :func:`parse_features` (what Viterbi maximises)."""
    score = features.get("intergenic_bases", 0) * grammar["intergenic_stay"]
    score += features.get("gene_bias", 0) * grammar["gene_start"]
    for k in KINDS:
        score += features.get(k + "_bias", 0) * grammar[k]
    for key in WEIGHTS:
        default = 1.0 if key in ("exon_length", "intron_length") else 0.0
        score += features.get(key, 0.0) * weights.get(key, default)
    return float(score)
