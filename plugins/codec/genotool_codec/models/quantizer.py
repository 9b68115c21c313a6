"""Residual SimVQ quantizer.

SimVQ (arXiv 2411.02038): each level's codebook is a frozen random matrix C (K, D); the code
vectors are C @ W with one learned D x D linear map W, so every code moves whenever W moves and
the codebook does not collapse. Nearest-neighbour lookup, straight-through gradients, codebook
loss ||sg(r) - q||^2 + beta ||r - sg(q)||^2. Levels quantize the residual left by the previous
ones (EnCodec/DAC style), so the number of levels used sets the bitrate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class FrozenCodebook(nnx.Variable):
    """Not a Param: excluded from the optimiser, still saved in checkpoints."""


class ResidualSimVQ(nnx.Module):
    def __init__(self, cfg: dict, *, rngs: nnx.Rngs):
        self.n = int(cfg["n_codebooks"])
        self.k = int(cfg["codebook_size"])
        d = int(cfg["latent_dim"])
        g = np.random.default_rng(int(cfg["codebook_seed"]))
        self.codebook = FrozenCodebook(jnp.asarray(g.normal(0, d ** -0.5, (self.n, self.k, d)), jnp.float32))
        self.w = nnx.Param(jnp.stack([jnp.eye(d, dtype=jnp.float32)] * self.n))

    def codes(self):
        """(n, K, D) effective code vectors C @ W."""
        return jnp.einsum("nkd,nde->nke", self.codebook[...], self.w[...])

    @staticmethod
    def _nearest(r, e):
        """r (M, D), e (K, D) -> indices (M,) of the nearest code (squared L2)."""
        d = jnp.sum(e * e, -1)[None, :] - 2.0 * r @ e.T
        return jnp.argmin(d, axis=-1).astype(jnp.int32)

    def __call__(self, z, n_active=None):
        """z (B, N, D) -> (z_q (B, N, D) straight-through, aux: losses, idx (B, N, n))."""
        b, n, d = z.shape
        e_all = self.codes()
        r = z.reshape(-1, d)
        q_sum = jnp.zeros_like(r)
        cb_loss = 0.0
        commit = 0.0
        idx_all = []
        n_active = self.n if n_active is None else n_active
        for lvl in range(self.n):
            on = (lvl < n_active).astype(z.dtype) if not isinstance(n_active, int) else float(lvl < n_active)
            e = e_all[lvl]
            idx = self._nearest(jax.lax.stop_gradient(r), jax.lax.stop_gradient(e))
            q = e[idx]
            cb_loss = cb_loss + on * jnp.mean((jax.lax.stop_gradient(r) - q) ** 2)
            commit = commit + on * jnp.mean((r - jax.lax.stop_gradient(q)) ** 2)
            q_sum = q_sum + on * q
            r = r - on * jax.lax.stop_gradient(q)
            idx_all.append(idx)
        zf = z.reshape(-1, d)
        zq = zf + jax.lax.stop_gradient(q_sum - zf) + (q_sum - jax.lax.stop_gradient(q_sum))
        # The last term is zero in value but lets the codebook loss's W gradient flow through q_sum
        # too, so the decoder's signal also shapes the learned map (as in SimVQ's reference code).
        idx = jnp.stack(idx_all, -1).reshape(b, n, self.n)
        return zq.reshape(b, n, d), {"codebook_loss": cb_loss, "commit_loss": commit, "idx": idx}

    def encode(self, z, n: int | None = None, beam: int = 1):
        """z (B, N, D) -> codes (B, N, n) int32 for the first ``n`` levels (default all).

        ``beam`` 1 is plain residual VQ (nearest code per level). ``beam`` > 1 returns the best path
        of :meth:`candidates`: greedy residual VQ is not the best set of codes for a vector, and the
        beam search lowers the latent error (~10% at beam 8 on the r941-cpu model).
        """
        return self.candidates(z, n, beam)[:, :, 0]

    def candidates(self, z, n: int | None = None, beam: int = 1):
        """z (B, N, D) -> (B, N, beam, n) int32 code paths, smallest latent error first.

        Beam search over the levels: level 0 keeps its ``beam`` nearest codes; at each further
        level every kept path is extended by its ``beam`` nearest codes for its own residual and the
        ``beam`` best of those beam x beam paths are kept. ``beam`` 1 is plain greedy residual VQ.
        Cost: one level-0 search plus ``beam`` searches per further level.
        """
        b, t, d = z.shape
        n = self.n if n is None else int(n)
        beam = max(1, min(int(beam), self.k))
        e_all = self.codes()
        r = z.reshape(-1, d)
        if beam == 1:
            out = []
            for lvl in range(n):
                idx = self._nearest(r, e_all[lvl])
                r = r - e_all[lvl][idx]
                out.append(idx)
            return jnp.stack(out, -1).reshape(b, t, 1, n)
        m = r.shape[0]
        e0 = e_all[0]
        d0 = jnp.sum(e0 * e0, -1)[None, :] - 2.0 * r @ e0.T                  # (M, K), minus |r|^2
        paths = jax.lax.top_k(-d0, beam)[1].astype(jnp.int32)[:, :, None]    # (M, beam, 1)
        res = r[:, None, :] - e0[paths[:, :, 0]]                              # (M, beam, D)
        rows = jnp.arange(m)[:, None]
        for lvl in range(1, n):
            e = e_all[lvl]
            err = (jnp.sum(res * res, -1)[..., None] + jnp.sum(e * e, -1)
                   - 2.0 * jnp.einsum("mbd,kd->mbk", res, e))                # (M, beam, K)
            neg, child = jax.lax.top_k(-err, beam)                            # (M, beam, beam) each
            keep = jax.lax.top_k(neg.reshape(m, -1), beam)[1]                 # (M, beam) of beam*beam
            parent, child = keep // beam, child.reshape(m, -1)[rows, keep].astype(jnp.int32)
            paths = jnp.concatenate([paths[rows, parent], child[..., None]], -1)
            res = res[rows, parent] - e[child]
        return paths.reshape(b, t, beam, n)

    def decode(self, codes):
        """codes (B, N, m) int32 with m <= n levels (the first m) -> z_q (B, N, D)."""
        e_all = self.codes()
        m = codes.shape[-1]
        zq = 0.0
        for lvl in range(m):
            zq = zq + e_all[lvl][codes[..., lvl]]
        return zq


def usage_stats(idx, k: int):
    """idx (B, N, n) -> (usage fraction (n,), perplexity (n,)) over this batch."""
    onehot = jax.nn.one_hot(idx.reshape(-1, idx.shape[-1]), k)   # (M, n, K)
    p = onehot.mean(0)                                           # (n, K)
    usage = (p > 0).mean(-1)
    perplexity = jnp.exp(-jnp.sum(p * jnp.log(p + 1e-10), -1))
    return usage, perplexity
