"""Encode-time code search: which codes each token gets.

Decoding is the same whatever the search, so token files made with any search decode alike (and
the entropy-coding prior applies to all). Three searches, from fast to slow:

- ``greedy``: plain residual VQ, the nearest code at each level on what the levels before left.
- ``beam``: beam search over the residual levels (``beam`` paths kept per level); keep the path
  with the smallest final latent error (:meth:`ResidualSimVQ.candidates`).
- ``signal``: analysis by synthesis. The same candidate paths, but chosen by the error of the
  *decoded signal* around each token, not by the latent error the decoder never sees. Tokens are
  visited in ``phases`` interleaved sets (tokens ``phases`` apart barely share decoder output, so
  a whole set is tried at once): per set, every candidate is decoded and each token keeps the
  candidate with the least squared error over its neighbourhood. Cost: ``beam x phases`` decodes
  per window on top of the beam encode.

With ``rate_weight`` each candidate also pays its bits under the entropy-coding prior, so the
searched codes cost no more than greedy ones. Measured on simulated R9.4.1 reads at 2 codebooks
(docs/codec.md): greedy -> signal lowers the decoded RMSE ~10% and gains ~1.0-1.2 scrappie identity
points at a slightly lower rate (model7: 2.000 -> 1.963 bits/sample, drop 3.71 -> 2.52 points).
"""

from __future__ import annotations

from dataclasses import dataclass

SEARCHES = ("greedy", "beam", "signal")
#: Interleaved token sets for ``signal``; tokens this far apart are tried at the same time.
SIGNAL_PHASES = 4
#: Half-width, in tokens, of the neighbourhood whose decoded error judges a token's candidate.
SIGNAL_RADIUS = 3


def code_bits(tables, codes):
    """Bits of each token's codes under the prior: tables from ``Prior.bit_tables``, codes
    (..., n) int -> (...) float32 (level 0 unigram, each further level given the one above)."""
    bits = tables[0][codes[..., 0]]
    for lvl in range(1, codes.shape[-1]):
        bits = bits + tables[lvl][codes[..., lvl - 1], codes[..., lvl]]
    return bits


def signal_step(decode, x, cands, cur, phase, *, hop: int, phases: int = SIGNAL_PHASES,
                radius: int = SIGNAL_RADIUS, bits=None, rate_weight: float = 0.0):
    """One interleaved set of :func:`signal` search (traceable; jit it with ``phase`` traced).

    decode: codes (B, N, n) -> signal (B, N * hop); x (B, N * hop) target; cands (B, N, C, n)
    candidate paths; cur (B, N, n) current codes. Returns the new current codes (B, N, n), where
    tokens ``t % phases == phase`` hold their best candidate and the others are unchanged.
    ``bits``: codes (..., n) -> bits (...) under the entropy-coding prior; with it each candidate
    costs its squared error + ``rate_weight`` x its bits (rate-distortion optimisation: the
    searched codes are rarer than greedy ones, and the file would grow without this term).
    """
    import jax
    import jax.numpy as jnp

    b, n_tok, n_cand, _ = cands.shape
    on = (jnp.arange(n_tok) % phases == phase)[None, :, None]
    kernel = jnp.ones(2 * radius + 1, x.dtype)

    def local_error(codes):
        per_token = ((decode(codes) - x) ** 2).reshape(b, n_tok, hop).sum(-1)        # (B, N)
        return jax.vmap(lambda v: jnp.convolve(v, kernel, mode="same"))(per_token)  # (B, N)

    def try_candidate(c, carry):
        best_err, best = carry
        trial = jnp.where(on, cands[:, :, c], cur)
        err = local_error(trial)
        if bits is not None and rate_weight > 0:
            err = err + rate_weight * bits(cands[:, :, c])
        better = err < best_err
        return jnp.where(better, err, best_err), jnp.where(better[..., None], cands[:, :, c], best)

    init = (jnp.full((b, n_tok), jnp.inf, x.dtype), cur)
    _, best = jax.lax.fori_loop(0, n_cand, try_candidate, init)
    return jnp.where(on, best, cur)


@dataclass
class Search:
    """How ``encode`` picks each token's codes; decoding is the same for all, so token files are
    compatible. ``beam``: code paths kept per level (beam) and tried per token (signal)."""
    method: str = "greedy"
    beam: int = 4
    # signal: squared error (normalised units) one bit of the prior is worth; 0.02 kept the signal
    # search's codes at the greedy rate on the r941-cpu training windows (docs/codec.md).
    rate_weight: float = 0.02

    def __post_init__(self):
        from genotool.errors import UserError

        if self.method not in SEARCHES:
            raise UserError(f"--search must be one of {', '.join(SEARCHES)}, not {self.method!r}")
        if not 1 <= int(self.beam) <= 1024:
            raise UserError(f"--beam must be between 1 and 1024, not {self.beam}")
        if not self.rate_weight >= 0:
            raise UserError(f"--rate-weight must be >= 0, not {self.rate_weight}")

    @classmethod
    def parse_list(cls, text: str, beam: int = 4, rate_weight: float = 0.02) -> list["Search"]:
        """``--search greedy,signal`` -> one Search each (the same beam and rate weight)."""
        return [cls(m.strip(), beam, rate_weight) for m in text.split(",") if m.strip()] or [cls(beam=beam)]

    @property
    def width(self) -> int:
        """Candidates actually tried: 1 for greedy."""
        return 1 if self.method == "greedy" else int(self.beam)

    def as_dict(self) -> dict:
        d = {"method": self.method, "beam": self.width}
        return {**d, "rate_weight": float(self.rate_weight)} if self.method == "signal" else d

    @property
    def suffix(self) -> str:
        """Label suffix of a codec row: nothing for greedy (the default), else e.g. ' (beam search, beam 4)'."""
        if self.method == "greedy":
            return ""
        rate = f", rate weight {self.rate_weight:g}" if self.method == "signal" else ""
        return f" ({self.method} search, beam {self.width}{rate})"
