"""Linkage disequilibrium from phased haplotypes: banded pair counts, Gabriel haploblocks, LD graph.

Pairs are only formed within a band (partners up to ``max_bp`` away and at most ``max_partners``
SNPs later), so the cost is O(L x band), computed as blocked matrix products of the haplotype
matrix (2N x L) in float32 (numpy + BLAS: exact, the counts stay far below 2^24; no torch, whose
import alone costs ~2 s of the preprocess budget). With phased data the 2x2 haplotype counts are observed, so no EM is
needed. Missing alleles (-1) count as the reference allele here (they are rare and masked in the
model input).

Haploblocks follow Gabriel et al. (2002) as implemented by Haploview and PLINK ``--blocks``:
the 90% likelihood interval of D' (5th..95th percentile of the likelihood over a D' grid, allele
frequencies fixed) classifies a pair as strong LD (lower >= 0.70 and upper >= 0.98), historical
recombination (upper < 0.90) or uninformative; a block [i..j] needs (i, j) in strong LD and more
than 95% of its informative pairs in strong LD; candidates are accepted by decreasing span in bp
when they overlap no accepted block. Haploview's extra rules for 2- and 3-SNP blocks are not
applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = 51  # D' grid 0, 0.02, ..., 1.0: the Gabriel thresholds 0.70, 0.90, 0.98 are grid points


@dataclass
class Band:
    """Counts for pairs (i, i + d), d = 1..D. Arrays are (L, D); invalid pairs have ``valid`` False."""

    n11: np.ndarray      # float32 sum over rows of x_i * x_j (haplotypes: carrying alt at both SNPs)
    valid: np.ndarray    # bool
    counts: np.ndarray   # (L,) float32 sum of x per SNP (alt allele count)
    squares: np.ndarray  # (L,) float32 sum of x^2 per SNP (equals counts for 0/1 haplotypes)
    n: int               # rows (haplotypes, or samples for dosages)


def _columns(hap: np.ndarray, cols, a: int, e: int) -> np.ndarray:
    """Columns a..e of ``hap`` (or of the subset ``cols``: fancy-indexed per block, never all at once)."""
    return hap[:, a:e] if cols is None else hap[:, cols[a:e]]


def column_sums(hap: np.ndarray, chunk: int = 512, cols=None) -> tuple[np.ndarray, np.ndarray]:
    """(sum of x, sum of x^2) per SNP, missing (-1) as 0; float32 (L,) each, chunked over SNPs
    (512 columns: with 20,000 haplotypes a float32 chunk is 41 MB)."""
    L = hap.shape[1] if cols is None else len(cols)
    s, q = np.zeros(L, np.float32), np.zeros(L, np.float32)
    for a in range(0, L, chunk):
        x = np.clip(_columns(hap, cols, a, a + chunk), 0, 2).astype(np.float32)
        s[a:a + chunk], q[a:a + chunk] = x.sum(0), (x * x).sum(0)
    return s, q


def band_width(pos: np.ndarray, max_bp: int, max_partners: int) -> int:
    """Partners per SNP the band needs: at most ``max_partners``, and no more than the most SNPs any
    window of ``max_bp`` holds after its first (pairs beyond it are invalid anyway; at 1.5 SNPs/kb a
    200 kb window holds ~300 of the 512 allowed, and every band array shrinks with it)."""
    L = len(pos)
    if L < 2:
        return 1
    reach = np.searchsorted(pos, pos + max_bp, side="right") - np.arange(L) - 1
    return int(max(1, min(max_partners, L - 1, int(reach.max()))))


def band_blocks(hap: np.ndarray, pos: np.ndarray, max_bp: int, max_partners: int, block: int = 256, cols=None):
    """Yield (a, Band) for rows a .. a + block of the band: memory O(block x band), not O(L x band).

    hap: (rows, L) int8: 0/1 haplotypes or 0/1/2 dosages (-1 = missing -> 0); ``cols``: use only
    these SNP columns (``pos`` then holds their positions)."""
    n = hap.shape[0]
    L = hap.shape[1] if cols is None else len(cols)
    D = band_width(pos, max_bp, max_partners)
    counts, squares = column_sums(hap, cols=cols)
    for a in range(0, L, block):
        b = min(L, a + block)
        e = min(L, b + D)
        x = np.clip(_columns(hap, cols, a, e), 0, 2).astype(np.float32)      # (rows, e - a)
        m = np.zeros((b - a, e - a + D + 1), np.float32)                   # room for r + d past the edge
        m[:, : e - a] = x[:, : b - a].T @ x                                # (b - a, e - a)
        r = np.arange(b - a)[:, None]
        d = np.arange(1, D + 1)[None, :]
        n11 = m[r, r + d]
        j = np.arange(a, b)[:, None] + np.arange(1, D + 1)[None, :]
        valid = (j < L) & ((pos[np.minimum(j, L - 1)] - pos[a:b, None]) <= max_bp)
        n11[~valid] = 0
        yield a, Band(n11, valid, counts, squares, n)


def band_counts(hap: np.ndarray, pos: np.ndarray, max_bp: int, max_partners: int, block: int = 1024) -> Band:
    """The whole band at once (L x band arrays; tests and small inputs)."""
    parts = list(band_blocks(hap, pos, max_bp, max_partners, block))
    if not parts:
        c, q = column_sums(hap)
        return Band(np.zeros((0, 1), np.float32), np.zeros((0, 1), bool), c, q, hap.shape[0])
    first = parts[0][1]
    return Band(np.concatenate([p.n11 for _, p in parts]), np.concatenate([p.valid for _, p in parts]),
                first.counts, first.squares, first.n)


def r2_band(band: Band, a: int = 0) -> np.ndarray:
    """(rows, D) squared Pearson correlation of each band pair (0 where invalid or monomorphic)
    for the band rows starting at SNP ``a``; for 0/1 haplotypes this is r^2 = D^2 / (p(1-p)q(1-q))."""
    R, D = band.n11.shape
    L = len(band.counts)
    m = band.counts / band.n
    var = band.squares / band.n - m * m
    i = np.arange(a, a + R)
    jc = np.minimum(i[:, None] + np.arange(1, D + 1)[None, :], L - 1)
    d = band.n11 / band.n - m[i, None] * m[jc]
    den = var[i, None] * var[jc]
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(den > 0, d * d / den, 0.0)
    r2[~band.valid] = 0
    return r2.astype(np.float32)


def _loglik(a, x, y, n, delta):
    """Log-likelihood of the pair's haplotype counts at |D'| = delta (allele frequencies fixed).

    a, x, y: (P, 1) float32 alt/alt count and alt counts; delta (1, G) or (P, G). Returns (P, G)."""
    f = np.float32
    p, q = x / f(n), y / f(n)
    pos = (a / f(n) - p * q) >= 0
    dmax = np.where(pos, np.minimum(p * (1 - q), (1 - p) * q), np.minimum(p * q, (1 - p) * (1 - q)))
    dk = np.where(pos, f(1.0), f(-1.0)) * delta * dmax
    eps = f(1e-10)
    return (a * np.log(np.maximum(p * q + dk, eps))
            + (x - a) * np.log(np.maximum(p * (1 - q) - dk, eps))
            + (y - a) * np.log(np.maximum((1 - p) * q - dk, eps))
            + (f(n) - x - y + a) * np.log(np.maximum((1 - p) * (1 - q) + dk, eps)))


def _classify_grid(a, x, y, n):
    """Full grid: (lower, upper) as (P,) arrays (Haploview's 5th and 95th likelihood percentiles)."""
    grid = np.linspace(0, 1, GRID, dtype=np.float32)[None, :]
    ll = _loglik(a, x, y, n, grid)
    w = np.exp(ll - ll.max(1, keepdims=True))
    c = np.cumsum(w, 1) / w.sum(1, keepdims=True)
    step = np.float32(1.0 / (GRID - 1))
    lo_i = np.minimum((c < 0.05).sum(1), GRID - 1)   # first grid point reaching 5% of the mass
    hi_i = np.minimum((c < 0.95).sum(1), GRID - 1)   # first grid point reaching 95%
    return lo_i.astype(np.float32) * step, hi_i.astype(np.float32) * step


def dprime_ci(n11, ci, cj, n, chunk: int = 262_144, screen: bool = True):
    """Lower and upper bounds of the 90% likelihood interval of |D'| on a 0.02 grid (Haploview's
    rule: the 5th and 95th percentiles of the likelihood over D', allele frequencies fixed).

    n11, ci, cj: (P,) alt/alt haplotype count and alt counts at each SNP; n haplotypes.
    Returns (lower, upper), (P,) float32 each.

    Screens (exact for the Gabriel classes, not for the bound values): the log-likelihood is
    concave in D', so beyond a grid point t on the far side of the mode the grid likelihoods fall
    at least geometrically with the ratio at t; their total is bounded by w(t) / (1 - w(t+1)/w(t)).
    * recombination: the estimate below 0.88 and the bounded mass at >= 0.90 under 5% of the
      mode's -> upper < 0.90 (reported as the estimate's grid point);
    * strong: the estimate >= 0.98, the bounded mass at <= 0.70 under 5% and at <= 0.96 under
      95% -> lower >= 0.70 and upper >= 0.98 (reported as 0.70 and 1.0).
    Only the remaining pairs get the full 51-point grid.
    """
    f = np.float32
    lo = np.zeros(len(n11), np.float32)
    hi = np.zeros(len(n11), np.float32)
    step = f(1.0 / (GRID - 1))
    for s in range(0, len(n11), chunk):
        a = np.asarray(n11[s:s + chunk], np.float32)[:, None]
        x = np.asarray(ci[s:s + chunk], np.float32)[:, None]
        y = np.asarray(cj[s:s + chunk], np.float32)[:, None]
        res_lo = np.zeros(a.shape[0], np.float32)
        res_hi = np.zeros(a.shape[0], np.float32)
        hard = np.arange(a.shape[0])
        if screen:
            p, q = x / f(n), y / f(n)
            d_obs = a / f(n) - p * q
            dmax = np.where(d_obs >= 0, np.minimum(p * (1 - q), (1 - p) * q), np.minimum(p * q, (1 - p) * (1 - q)))
            est = np.clip(np.where(dmax > 0, np.abs(d_obs) / np.maximum(dmax, f(1e-12)), f(0)), 0, 1)
            g_lo = np.floor(est / step + f(1e-6)) * step
            e = est[:, 0]
            # Each screen evaluates only the grid points it needs, on the pairs whose estimate
            # can pass it (most pairs of a 200 kb band are candidates for recombination only).
            cand = np.flatnonzero(e < 0.88)
            rec = np.zeros(len(e), bool)
            if len(cand):
                gl = g_lo[cand]
                pts = np.concatenate([gl, gl + step, np.full_like(gl, 0.90), np.full_like(gl, 0.92)], 1)
                w = _rel_weights(_loglik(a[cand], x[cand], y[cand], n, pts))
                rec[cand] = _tail(w, 2, 3, 2) < 0.05               # from 0.90 up, ratio w(.92)/w(.90)
            cand = np.flatnonzero(e >= 0.98)
            strong = np.zeros(len(e), bool)
            if len(cand):
                gl = g_lo[cand]
                pts = np.concatenate([gl, np.minimum(gl + step, f(1.0))] + [np.full_like(gl, v)
                                     for v in (0.70, 0.72, 0.96, 0.98, 1.0)], 1)
                w = _rel_weights(_loglik(a[cand], x[cand], y[cand], n, pts))
                mass_top = w[:, 5] + w[:, 6]                      # grid points 0.98 and 1.0
                # from 0.70 down (ratio w(.70)/w(.72)) under 5% of the top; upper >= 0.98
                strong[cand] = (_tail(w, 2, 2, 3) < 0.05 * mass_top) & _upper_ok(w[:, 4:7])
            res_hi[rec] = g_lo[:, 0][rec]
            res_lo[strong], res_hi[strong] = 0.70, 1.0
            hard = np.flatnonzero(~(rec | strong))
        if len(hard):
            l_, h_ = _classify_grid(a[hard], x[hard], y[hard], n)
            res_lo[hard], res_hi[hard] = l_, h_
        lo[s:s + chunk] = res_lo
        hi[s:s + chunk] = res_hi
    return lo, hi


def _rel_weights(ll):
    """Grid likelihoods relative to the larger of the first two points (the mode's grid neighbours)."""
    return np.exp(ll - ll[:, :2].max(1)[:, None])


def _tail(w, t, r_num, r_den):
    """Bound on the grid mass from point t away from the mode: w(t) / (1 - ratio), the ratio
    w(r_num) / w(r_den) of two neighbours (by concavity the mass falls at least that fast)."""
    ratio = np.minimum(w[:, r_num] / np.maximum(w[:, r_den], np.float32(1e-30)), np.float32(0.999))
    return w[:, t] / (1 - ratio)


def _upper_ok(w):
    """upper >= 0.98 for a mode at >= 0.98, from w at (0.96, 0.98, 1.0): the mass at <= 0.96
    (bounded from 0.96 down, ratio w(0.94)/w(0.96) <= w(0.96)/w(0.98) by concavity) stays under
    95% of the total."""
    ratio = np.minimum(w[:, 0] / np.maximum(w[:, 1], np.float32(1e-30)), np.float32(0.999))
    below = w[:, 0] / (1 - ratio)
    above = w[:, 1] + w[:, 2]
    return below < 0.95 * (below + above) - 1e-6


def classify(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gabriel classes from the D' interval: (strong, recombination) boolean arrays. The bounds
    are grid points: compare with a tolerance so 49 * 0.02 in float32 still counts as 0.98."""
    tol = 1e-4
    return (lo >= 0.70 - tol) & (hi >= 0.98 - tol), hi < 0.90 - tol


def gabriel_blocks(hap: np.ndarray, pos: np.ndarray, max_bp: int = 200_000, max_partners: int = 512,
                   strong_fraction: float = 0.95, cols=None) -> list[tuple[int, int]]:
    """Haploblocks as (first, last) indices, inclusive, sorted: into the columns of ``hap`` (2N, L),
    or into ``cols`` when only those columns are used (``pos`` then holds their positions)."""
    L = hap.shape[1] if cols is None else len(cols)
    if L < 2:
        return []
    Lb = L
    D = band_width(pos, max_bp, max_partners)
    strong = np.zeros((L, D), bool)
    inform = np.zeros((L, D), bool)
    for a, band in band_blocks(hap, pos, max_bp, max_partners, cols=cols):
        ii, dd = np.nonzero(band.valid)
        lo, hi = dprime_ci(band.n11[ii, dd], band.counts[a + ii], band.counts[a + ii + dd + 1], band.n)
        s, rec = classify(lo, hi)
        strong[a + ii, dd] = s
        inform[a + ii, dd] = s | rec
    # Triangle counts for every (i = j - t, j): sum over rows r in [i, j) of pairs (r, r + d <= j),
    # from row-wise prefix sums along the anti-diagonals; computed for chunks of ends j.
    ps = np.cumsum(strong, 1, dtype=np.int16)      # D <= 32767 partners
    pi = np.cumsum(inform, 1, dtype=np.int16)
    t = np.arange(1, D + 1)[None, :]
    tc = t - 1
    ends_l, starts_l = [], []
    for j0 in range(0, L, 2048):
        jj = np.arange(j0, min(L, j0 + 2048))[:, None]
        r = jj - t                                 # row of the pair (r, j) at offset t
        ok = r >= 0
        rc = np.where(ok, r, 0)
        a_s = np.where(ok, ps[rc, tc], 0).cumsum(1, dtype=np.int32)   # strong pairs in [j - t, j]
        a_i = np.where(ok, pi[rc, tc], 0).cumsum(1, dtype=np.int32)
        good = ok & strong[rc, tc] & (a_s > strong_fraction * a_i)
        e, o = np.nonzero(good)
        ends_l.append(e + j0)
        starts_l.append(e + j0 - (o + 1))
    ends, starts = np.concatenate(ends_l), np.concatenate(starts_l)
    span = pos[ends] - pos[starts]
    order = np.lexsort((starts, -span))
    taken = np.zeros(Lb, bool)
    blocks = []
    for k in order:
        i0, j0 = starts[k], ends[k]
        if taken[i0] or taken[j0] or taken[i0:j0 + 1].any():
            continue
        taken[i0:j0 + 1] = True
        blocks.append((int(i0), int(j0)))
    return sorted(blocks)


def ld_graph(hap: np.ndarray, pos: np.ndarray, r2_min: float = 0.5, max_bp: int = 100_000,
             max_partners: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (src < dst) between SNPs with r^2 >= r2_min within the window: (src, dst, r2) arrays."""
    L = hap.shape[1]
    if L < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    src, dst, w = [], [], []
    for a, band in band_blocks(hap, pos, max_bp, max_partners):
        r2 = r2_band(band, a)
        i, d = np.nonzero(r2 >= r2_min)
        src.append(a + i)
        dst.append(a + i + d + 1)
        w.append(r2[i, d])
    return (np.concatenate(src).astype(np.int64), np.concatenate(dst).astype(np.int64),
            np.concatenate(w).astype(np.float32))
