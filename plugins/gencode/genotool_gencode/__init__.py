"""genotool gencode plugin: exon/intron segmentation with a semi-Markov CRF."""

__version__ = "0.1.0"
