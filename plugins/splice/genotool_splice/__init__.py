"""genotool splice: a meta-layer over a SpliceAI-style base splice-site model."""

__version__ = "0.1.0"
