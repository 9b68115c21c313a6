"""Genome annotation and sequence I/O shared by plugins (gencode, splice): GTF, FASTA, names.

Light: pysam is imported inside the functions that need it, never at module level.
"""
