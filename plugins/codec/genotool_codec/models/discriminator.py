"""1D PatchGAN discriminator: (B, T, 1) -> (patch logits (B, T', 1), [features (B, T_i, C_i)])."""

from __future__ import annotations

import jax
from flax import nnx


class PatchDiscriminator(nnx.Module):
    def __init__(self, cfg: dict, *, rngs: nnx.Rngs):
        chans, strides = cfg["disc_channels"], cfg["disc_strides"]
        self.convs = nnx.List()
        c_in = 1
        for c, s in zip(chans, strides):
            self.convs.append(nnx.Conv(c_in, c, (max(2 * s, 3),), strides=(s,), padding="SAME", rngs=rngs))
            c_in = c
        self.out = nnx.Conv(c_in, 1, (3,), padding="SAME", rngs=rngs)

    def __call__(self, x):
        feats = []
        h = x
        for conv in self.convs:
            h = jax.nn.leaky_relu(conv(h), 0.2)
            feats.append(h)
        return self.out(h), feats
