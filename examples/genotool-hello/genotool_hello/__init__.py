"""genotool-hello: an example genotool plugin (motif detection with a small 1D CNN)."""

__version__ = "0.1.0"
