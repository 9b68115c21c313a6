"""1D decoder mirroring the encoder with pixel-shuffle upsampling: (B, N, D) -> (B, N * hop, 1)."""

from __future__ import annotations

import jax
from flax import nnx

from genotool_codec.models.encoder import ResBlock


class Decoder(nnx.Module):
    def __init__(self, cfg: dict, *, rngs: nnx.Rngs):
        ch, k = cfg["channels"], cfg["kernel"]
        self.conv_in = nnx.Conv(cfg["latent_dim"], ch[-1], (3,), padding="SAME", rngs=rngs)
        self.pre = ResBlock(ch[-1], 3, rngs=rngs)
        self.ups = nnx.List()
        self.blocks = nnx.List()
        self.strides = tuple(reversed(cfg["strides"]))
        for j, s in enumerate(self.strides):
            i = len(cfg["strides"]) - 1 - j
            # Pixel shuffle: a conv makes s * C_out channels that are folded into time
            # (cheaper than a transposed conv and free of its checkerboard artefacts).
            self.ups.append(nnx.Conv(ch[i + 1], ch[i] * s, (3,), padding="SAME", rngs=rngs))
            self.blocks.append(nnx.List([ResBlock(ch[i], k, rngs=rngs) for _ in range(cfg["res_blocks"])]))
        self.conv_out = nnx.Conv(ch[0], 1, (k,), padding="SAME", rngs=rngs)

    def __call__(self, z):
        h = self.pre(self.conv_in(z))
        for s, up, blocks in zip(self.strides, self.ups, self.blocks):
            h = up(jax.nn.silu(h))
            b, n, c = h.shape
            h = h.reshape(b, n * s, c // s)
            for blk in blocks:
                h = blk(h)
        return self.conv_out(jax.nn.silu(h))
