"""1D convolutional encoder: (B, T, 1) -> (B, T / prod(strides), latent_dim)."""

from __future__ import annotations

import jax
from flax import nnx


class ResBlock(nnx.Module):
    """x + conv(act(conv(act(x)))) at constant width; (B, T, C) -> (B, T, C)."""

    def __init__(self, ch: int, kernel: int, *, rngs: nnx.Rngs):
        self.c1 = nnx.Conv(ch, ch, (kernel,), padding="SAME", rngs=rngs)
        self.c2 = nnx.Conv(ch, ch, (1,), padding="SAME", rngs=rngs)

    def __call__(self, x):
        return x + self.c2(jax.nn.silu(self.c1(jax.nn.silu(x))))


class Encoder(nnx.Module):
    def __init__(self, cfg: dict, *, rngs: nnx.Rngs):
        ch, k = cfg["channels"], cfg["kernel"]
        self.conv_in = nnx.Conv(1, ch[0], (k,), padding="SAME", rngs=rngs)
        self.blocks = nnx.List()
        self.downs = nnx.List()
        for i, s in enumerate(cfg["strides"]):
            self.blocks.append(nnx.List([ResBlock(ch[i], k, rngs=rngs) for _ in range(cfg["res_blocks"])]))
            # kernel 2s with stride s: every output sees two hops of input (no aliasing gaps).
            self.downs.append(nnx.Conv(ch[i], ch[i + 1], (2 * s,), strides=(s,), padding="SAME", rngs=rngs))
        self.post = ResBlock(ch[-1], 3, rngs=rngs)
        self.conv_out = nnx.Conv(ch[-1], cfg["latent_dim"], (3,), padding="SAME", rngs=rngs)

    def __call__(self, x):
        h = self.conv_in(x)
        for blocks, down in zip(self.blocks, self.downs):
            for b in blocks:
                h = b(h)
            h = down(jax.nn.silu(h))
        h = self.post(h)
        return self.conv_out(jax.nn.silu(h))
