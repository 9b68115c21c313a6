"""The codec at work on reads: jitted encode/decode of whole reads, the model's prior, reconstruction.

Whole reads are coded: a read of n samples is normalised, cut into ``window``-sample windows
(the last one zero-padded, zero being the normalised median), and windows from many reads are
batched through one jitted function of fixed shape (batch, window), so it compiles once.
Only ceil(n / hop) tokens per read are stored; decoding pads the token tail by repeating the
last token and cuts the output back to the true length n.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from genotool.errors import UserError

from genotool_codec import pod5_io
from genotool_codec.config import hop as hop_of
from genotool_codec.data import normalise, pad_to
from genotool_codec.search import SIGNAL_PHASES, code_bits, signal_step


class CodecRunner:
    """Jitted encode/decode of (batch, window) float32 <-> (batch, window / hop, n) int32."""

    def __init__(self, model, cfg: dict, *, window: int | None = None, batch: int = 16,
                 n_codebooks: int | None = None, precision: str | None = None, search=None, prior=None):
        import jax
        import jax.numpy as jnp
        from flax import nnx

        from genotool_codec.runtime import cast_for_compute, compute_dtype
        from genotool_codec.search import Search

        self.cfg = cfg
        self.hop = hop_of(cfg["model"])
        self.window = int(window or cfg["data"]["window"])
        if self.window % self.hop:
            raise UserError(f"--window {self.window} is not a multiple of the model's hop {self.hop}")
        n_max = int(cfg["model"]["n_codebooks"])
        self.n = n_max if n_codebooks is None else int(n_codebooks)
        if not 1 <= self.n <= n_max:
            raise UserError(f"--codebooks must be between 1 and {n_max} for this model, not {self.n}")
        self.batch = int(batch)
        # Mixed precision (--precision bf16-mixed/fp16-mixed): encoder and decoder run in the
        # compute dtype, the codebook search in float32.
        self.dtype = compute_dtype(precision)
        gdef, state = nnx.split(model)
        self.state = cast_for_compute(state, self.dtype)
        dt = self.dtype

        self.search = search or Search()
        # One level has nothing to gain from a latent beam (the nearest code is the best); the
        # signal search still weighs its level-0 candidates by the decoded error.
        width = self.search.width if self.n > 1 or self.search.method == "signal" else 1

        def latent(m, x):
            return m.encoder(x[..., None].astype(dt)).astype(jnp.float32)

        def enc(state, x):
            m = nnx.merge(gdef, state)
            return m.quantizer.encode(latent(m, x), self.n, width)

        def cands(state, x):
            m = nnx.merge(gdef, state)
            return m.quantizer.candidates(latent(m, x), self.n, width)

        def dec(state, codes):
            m = nnx.merge(gdef, state)
            return m.decoder(m.quantizer.decode(codes).astype(dt))[..., 0].astype(jnp.float32)

        # The signal search weighs each candidate's bits under the entropy-coding prior when the
        # model has one (``prior``: entropy.Prior) and --rate-weight > 0.
        tables = None
        if prior is not None and self.search.method == "signal" and self.search.rate_weight > 0:
            tables = [jnp.asarray(t) for t in prior.bit_tables(self.n)]

        def refine(state, x, c, cur, phase):
            return signal_step(lambda codes: dec(state, codes), x, c, cur, phase, hop=self.hop,
                               bits=None if tables is None else (lambda codes: code_bits(tables, codes)),
                               rate_weight=float(self.search.rate_weight))

        self._enc = jax.jit(enc)
        self._cands = jax.jit(cands)
        self._dec = jax.jit(dec)
        self._refine = jax.jit(refine)

    def _encode_batch(self, x: np.ndarray) -> np.ndarray:
        """(batch, window) float32 -> (batch, window/hop, n) int32 under this runner's search."""
        if self.search.method != "signal":
            return np.asarray(self._enc(self.state, x))
        c = self._cands(self.state, x)
        cur = c[:, :, 0]
        for phase in range(SIGNAL_PHASES):
            cur = self._refine(self.state, x, c, cur, phase)
        return np.asarray(cur)

    def encode_windows(self, w: np.ndarray) -> np.ndarray:
        """(M, window) float32 -> (M, window/hop, n) int32 codes (first n levels)."""
        out = []
        for i in range(0, len(w), self.batch):
            chunk = w[i:i + self.batch]
            m = len(chunk)
            if m < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - m, w.shape[1]), np.float32)])
            c = self._encode_batch(chunk)[:m]
            out.append(c)
        return np.concatenate(out) if out else np.zeros((0, self.window // self.hop, self.n), np.int32)

    def decode_windows(self, codes: np.ndarray) -> np.ndarray:
        """(M, window/hop, n) int32 -> (M, window) float32."""
        out = []
        tpw = self.window // self.hop
        for i in range(0, len(codes), self.batch):
            chunk = codes[i:i + self.batch]
            m = len(chunk)
            if m < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - m, tpw, chunk.shape[-1]), np.int32)])
            out.append(np.asarray(self._dec(self.state, chunk))[:m])
        return np.concatenate(out) if out else np.zeros((0, self.window), np.float32)

    def encode_reads(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        """Normalised reads [(n_i,)] -> codes [(ceil(n_i / hop), n)]."""
        wins, counts = [], []
        for x in signals:
            w = pad_to(x, self.window).reshape(-1, self.window)
            wins.append(w)
            counts.append(len(w))
        allc = self.encode_windows(np.concatenate(wins).astype(np.float32)) if wins else None
        out, k = [], 0
        for x, c in zip(signals, counts):
            codes = allc[k:k + c].reshape(-1, self.n)
            out.append(codes[: math.ceil(len(x) / self.hop)])
            k += c
        return out

    def decode_reads(self, codes: list[np.ndarray], lengths: list[int]) -> list[np.ndarray]:
        """codes [(t_i, n)] + true lengths -> normalised signals [(n_i,)]."""
        tpw = self.window // self.hop
        wins, counts = [], []
        for c in codes:
            pad = (-len(c)) % tpw
            if pad:  # repeat the last token: the decoder sees a plausible continuation, then we cut
                c = np.concatenate([c, np.repeat(c[-1:], pad, axis=0)])
            w = c.reshape(-1, tpw, c.shape[-1])
            wins.append(w)
            counts.append(len(w))
        if not wins:
            return []
        sig = self.decode_windows(np.concatenate(wins).astype(np.int32))
        out, k = [], 0
        for n, cnt in zip(lengths, counts):
            out.append(sig[k:k + cnt].reshape(-1)[:n])
            k += cnt
        return out


def model_prior(meta: dict, wanted: bool = True, *, warn: bool = True, given: Path | None = None):
    """The entropy-coding prior in a loaded model's folder (``meta["dir"]``, see
    :func:`genotool_codec.model_io.load_model`); None (fixed width) when not wanted or absent
    (absent: a model trained before priors existed -> one warning naming ``given``, the ``--model``)."""
    from genotool_codec.entropy import PRIOR_FILE, load_prior

    if not wanted:
        return None
    d = Path(meta["dir"])
    prior = load_prior(d)
    if prior is None and warn:
        from genotool.log import warn as warn_line

        warn_line(f"{d}: no {PRIOR_FILE} (a model from before entropy coding): token codes are written at "
                  f"fixed width; `genotool codec prior -m {given or d} -d DATA` fits one")
    return prior


def reconstruct(runner: CodecRunner, reads: list) -> tuple[list, list, list, list]:
    """RawReads -> (decoded int16 ADC, original pA, decoded pA, codes) per read, all in memory."""
    norm = [normalise(rd.pa()) for rd in reads]
    codes = runner.encode_reads([n[0] for n in norm])
    dec = runner.decode_reads(codes, [len(n[0]) for n in norm])
    adc, pa_o, pa_d = [], [], []
    for rd, (x, med, sc), y in zip(reads, norm, dec):
        pa = y * sc + med
        a = pod5_io.to_int16(pa / rd.scale - rd.offset)
        adc.append(a)
        pa_o.append(rd.pa())
        pa_d.append((a.astype(np.float32) + rd.offset) * rd.scale)
    return adc, pa_o, pa_d, codes


def coding_grid(levels: list[int], searches) -> list[tuple]:
    """(codebook count, encode search) pairs, every search at each count; default search greedy."""
    from genotool_codec.search import Search

    return [(n, s) for n in levels for s in (searches or [Search()])]


def default_levels(n: int) -> list[int]:
    """Codebook counts a rate-distortion table shows by default: n/4, n/2, 3n/4, n."""
    return sorted({max(1, n // 4), max(1, n // 2), max(1, (3 * n) // 4), n})
