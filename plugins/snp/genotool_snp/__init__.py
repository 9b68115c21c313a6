"""genotool snp: deep models on phased genotypes (population and phenotype tasks)."""

__version__ = "0.1.0"
