"""genotool codec plugin: a SimVQ-GAN neural codec for nanopore POD5 raw current (JAX/Flax)."""

__version__ = "0.1.0"
