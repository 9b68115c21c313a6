"""Entropy coding of token codes: a prior learned from the training set + an ANS coder (constriction).

The prior (``model/prior.npz``) holds, per codebook level ``l``, the code counts over the training
set's tokens (unigram) and, for ``l >= 1``, the counts of level ``l``'s code given level ``l-1``'s
code at the same token (the residual levels are coded conditioned on the level above). Whether the
context pays is decided per level on a held-out tenth of the training tokens: the smoothing weight
``alpha`` (conditional counts + alpha x unigram) with the lowest held-out cross-entropy is kept if
it beats the unigram, else the level is coded with its unigram (``alpha = 0``).

Coding order (so decoding can be vectorised: contexts are known before a level is decoded):
level 0 for all tokens with its unigram, then each level ``l >= 1`` grouped by context value in
ascending order, each group with one categorical model. ANS is a stack, so encoding runs the same
sequence backwards. Probabilities are float64 from integer counts, identical at both ends, and
constriction quantises them deterministically (``perfect=False``: every symbol keeps a nonzero
probability), so the codes round-trip bit for bit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError

PRIOR_FILE = "prior.npz"
ALPHAS = (1.0, 4.0, 16.0, 64.0, 256.0, 1024.0)
_UNIGRAM_PSEUDO = 0.5   # add-1/2 smoothing: a code never seen in training stays codable


@dataclass
class Prior:
    unigram: np.ndarray          # (N, K) float64 counts
    cross: np.ndarray            # (N-1, K, K) uint32 counts: cross[l-1, a, b] = #(code l-1 = a, code l = b)
    alpha: np.ndarray            # (N,) float64: 0 = unigram only; alpha[0] is always 0

    @property
    def n_levels(self) -> int:
        return int(self.unigram.shape[0])

    @property
    def k(self) -> int:
        return int(self.unigram.shape[1])

    @property
    def id(self) -> str:
        """Content hash: a token file records it, decoding with another prior is refused."""
        h = hashlib.sha256()
        for a in (self.unigram, self.cross, self.alpha):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def unigram_p(self, level: int) -> np.ndarray:
        u = self.unigram[level] + _UNIGRAM_PSEUDO
        return u / u.sum()

    def conditional_p(self, level: int, ctx: int) -> np.ndarray:
        p = self.cross[level - 1, ctx].astype(np.float64) + self.alpha[level] * self.unigram_p(level)
        return p / p.sum()

    def bit_tables(self, n: int) -> list[np.ndarray]:
        """Code lengths in bits under this prior for the first ``n`` levels: [(K,) for level 0,
        then (K, K) [code above, code] per level] (the unigram broadcast where ``alpha`` is 0)."""
        out = [-np.log2(self.unigram_p(0))]
        for lvl in range(1, n):
            if self.alpha[lvl] <= 0:
                out.append(np.broadcast_to(-np.log2(self.unigram_p(lvl)), (self.k, self.k)).copy())
            else:
                p = self.cross[lvl - 1].astype(np.float64) + self.alpha[lvl] * self.unigram_p(lvl)[None, :]
                out.append(-np.log2(p / p.sum(1, keepdims=True)))
        return [t.astype(np.float32) for t in out]


# ------------------------------------------------------------------------------------ fitting
def _count(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = codes.shape[1]
    uni = np.stack([np.bincount(codes[:, lvl], minlength=k) for lvl in range(n)]).astype(np.float64)
    cross = np.zeros((max(n - 1, 0), k, k), np.uint32)
    for lvl in range(1, n):
        np.add.at(cross[lvl - 1], (codes[:, lvl - 1], codes[:, lvl]), 1)
    return uni, cross


def fit_prior(codes: np.ndarray, k: int, heldout: float = 0.1) -> tuple[Prior, dict]:
    """Prior from training codes (M, N) int; returns it and the held-out bits/token per level
    (fixed width, unigram, best context) that chose each level's ``alpha``."""
    codes = np.asarray(codes, np.int64)
    m, n = codes.shape
    cut = int(m * (1 - heldout))
    fit, test = codes[:cut], codes[cut:]
    uni, cross = _count(fit, k)
    probe = Prior(uni, cross, np.zeros(n))
    alpha = np.zeros(n)
    stats = {"tokens": int(m), "heldout_tokens": int(len(test)), "fixed_bits": float(np.log2(k)), "levels": []}
    for lvl in range(n):
        u = probe.unigram_p(lvl)
        h_uni = float(-np.mean(np.log2(u[test[:, lvl]]))) if len(test) else float("nan")
        row = {"level": lvl, "unigram_bits": h_uni, "context_bits": None, "alpha": 0.0}
        if lvl >= 1 and len(test):
            c = cross[lvl - 1][test[:, lvl - 1]].astype(np.float64)   # (T, K) rows of the context
            best = None
            for a in ALPHAS:
                p = c + a * u[None, :]
                h = float(-np.mean(np.log2(p[np.arange(len(test)), test[:, lvl]] / p.sum(1))))
                if best is None or h < best[1]:
                    best = (a, h)
            row["context_bits"] = best[1]
            if best[1] < h_uni - 0.01:
                alpha[lvl] = row["alpha"] = best[0]
        stats["levels"].append(row)
    uni, cross = _count(codes, k)   # final counts from every training token
    return Prior(uni, cross, alpha), stats


def save_prior(model_dir: Path, prior: Prior, stats: dict) -> Path:
    """Write ``prior.npz`` (+ ``prior.json`` with the fit statistics) into a model folder, atomically."""
    from genotool.outputs import atomic_file, write_json

    path = Path(model_dir) / PRIOR_FILE
    with atomic_file(path, force=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, unigram=prior.unigram, cross=prior.cross, alpha=prior.alpha)
    write_json(Path(model_dir) / "prior.json", {**stats, "id": prior.id})
    return path


def load_prior(model_dir: Path) -> Prior | None:
    """The model folder's prior, or None when it has none (a model trained before priors existed)."""
    path = Path(model_dir) / PRIOR_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            return Prior(z["unigram"], z["cross"], z["alpha"])
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad prior file
        raise UserError(f"{path}: unreadable prior ({type(exc).__name__}); re-fit it with `codec prior`") from None


# ------------------------------------------------------------------------------------ coding
def _schedule(codes_or_ctx: np.ndarray, prior: Prior, n: int):
    """Decode-order groups: (level, context or -1, positions) for levels 0..n-1."""
    m = len(codes_or_ctx)
    yield 0, -1, np.arange(m)
    for lvl in range(1, n):
        if prior.alpha[lvl] <= 0:
            yield lvl, -1, np.arange(m)
            continue
        ctx = codes_or_ctx[:, lvl - 1]
        order = np.argsort(ctx, kind="stable")
        values, starts = np.unique(ctx[order], return_index=True)
        bounds = list(starts[1:]) + [m]
        for v, s, e in zip(values, starts, bounds):
            yield lvl, int(v), order[s:e]


def _model(prior: Prior, level: int, ctx: int, cache: dict):
    import constriction

    key = (level, ctx)
    if key not in cache:
        p = prior.unigram_p(level) if ctx < 0 else prior.conditional_p(level, ctx)
        cache[key] = constriction.stream.model.Categorical(p, perfect=False)
    return cache[key]


def encode_codes(codes: np.ndarray, prior: Prior) -> np.ndarray:
    """(M, n) codes (n <= prior levels) -> compressed uint32 words."""
    import constriction

    codes = np.asarray(codes, np.int32)
    if codes.shape[1] > prior.n_levels:
        raise UserError(f"the prior has {prior.n_levels} levels, the codes {codes.shape[1]}")
    groups = list(_schedule(codes, prior, codes.shape[1]))
    coder, cache = constriction.stream.stack.AnsCoder(), {}
    for lvl, ctx, pos in reversed(groups):
        coder.encode_reverse(np.ascontiguousarray(codes[pos, lvl]), _model(prior, lvl, ctx, cache))
    return coder.get_compressed()


def decode_codes(words: np.ndarray, m: int, n: int, prior: Prior) -> np.ndarray:
    """Inverse of :func:`encode_codes`: (M, n) int32 codes from the compressed words."""
    import constriction

    out = np.zeros((m, n), np.int32)
    coder, cache = constriction.stream.stack.AnsCoder(np.asarray(words, np.uint32)), {}
    # Level l's groups depend on level l-1, decoded just before: build the schedule level by level.
    for lvl in range(n):
        for g_lvl, ctx, pos in _schedule(out, prior, lvl + 1):
            if g_lvl != lvl:
                continue
            out[pos, lvl] = coder.decode(_model(prior, lvl, ctx, cache), len(pos))
    return out


def describe(stats: dict) -> str:
    return json.dumps({lv["level"]: (round(lv["unigram_bits"], 3), lv["alpha"]) for lv in stats["levels"]})
