"""Codec losses. Signals are normalised current (B, T, 1); discriminator logits are (B, T', 1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def time_l1(x, y):
    return jnp.mean(jnp.abs(x - y))


def hinge_d(real_logits, fake_logits):
    """Discriminator hinge loss: mean relu(1 - D(x)) + mean relu(1 + D(G(z)))."""
    return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_g(fake_logits):
    """Generator hinge loss: -mean D(G(z))."""
    return -jnp.mean(fake_logits)


def feature_matching(real_feats, fake_feats):
    """Mean L1 between discriminator features of real (stop-gradient) and generated signal."""
    tot = 0.0
    for r, f in zip(real_feats, fake_feats):
        tot = tot + jnp.mean(jnp.abs(jax.lax.stop_gradient(r) - f))
    return tot / max(len(real_feats), 1)
