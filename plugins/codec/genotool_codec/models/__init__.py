"""SimVQ-GAN modules (Flax NNX). Arrays are channel-last: signals (B, T, 1), latents (B, N, D)."""

from __future__ import annotations

from flax import nnx

from genotool_codec.models.decoder import Decoder
from genotool_codec.models.discriminator import PatchDiscriminator
from genotool_codec.models.encoder import Encoder
from genotool_codec.models.quantizer import ResidualSimVQ


class Codec(nnx.Module):
    """Encoder -> residual SimVQ -> decoder. ``hop`` = product of the strides."""

    def __init__(self, cfg: dict, *, rngs: nnx.Rngs):
        self.encoder = Encoder(cfg, rngs=rngs)
        self.quantizer = ResidualSimVQ(cfg, rngs=rngs)
        self.decoder = Decoder(cfg, rngs=rngs)

    def __call__(self, x, n_active=None):
        """x (B, T, 1) -> (recon (B, T, 1), aux dict of quantizer losses and code indices)."""
        z = self.encoder(x)
        zq, aux = self.quantizer(z, n_active=n_active)
        return self.decoder(zq), aux

    def encode(self, x):
        """x (B, T, 1) -> codes (B, T/hop, n_codebooks) int32."""
        return self.quantizer.encode(self.encoder(x))

    def decode(self, codes, n_active=None):
        """codes (B, N, n) int32 (n <= n_codebooks) -> (B, N*hop, 1)."""
        return self.decoder(self.quantizer.decode(codes))


def build(cfg: dict, seed: int = 0):
    """(Codec, PatchDiscriminator) for a model config section."""
    rngs = nnx.Rngs(seed)
    return Codec(cfg, rngs=rngs), PatchDiscriminator(cfg, rngs=rngs)
