"""genotool-srsnv: single-read SNV quality from BAM read tensors (CNN) with an XGBoost baseline."""

__version__ = "0.1.0"
