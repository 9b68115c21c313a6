"""The gene finder: gene-structure states with codon phase, classical sensors, an exact semi-Markov
Viterbi over candidate exons (numba), whole-chromosome prediction and gene-model evaluation.

* :mod:`.dna`: base codes, reverse complement, codon sets, IUPAC handling.
* :mod:`.annotation`: coding gene models (exon chains), their checks and GTF/GenBank reading.
* :mod:`.sensors`: counted models (periodic Markov content, weight-array signal models, lengths).
* :mod:`.lattice`: the decoder (Viterbi over genes on both strands) and the features of a parse.
* :mod:`.finder`: a trained gene finder (sensors + weights + optional neural encoder), streaming
  prediction over a long sequence.
* :mod:`.scoring`: nucleotide / exon / gene sensitivity and specificity of predicted gene models.
* :mod:`.gff`: GTF and GFF3 writers.
"""
