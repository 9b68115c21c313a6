"""The gene finder (``--states gene``): gene-structure states with codon phase, counted sensors and a
neural encoder as channels of a semi-Markov CRF, an exact Viterbi over candidate exons (numba),
whole-chromosome prediction and gene-model evaluation.

* :mod:`.dna`: base codes, reverse complement, codon and motif hits, IUPAC handling.
* :mod:`.annotation`: coding gene models (exon chains) and their validity checks.
* :mod:`.sensors`: counted models (3-periodic Markov content, weight-array signal models, lengths).
* :mod:`.encoder`: the neural encoder (dilated CNN content classes, site networks) and its training.
* :mod:`.lattice`: the decoder (Viterbi over genes on both strands) and the features of a parse.
* :mod:`.learn`: discriminative CRF weights (averaged perceptron with AdaGrad, or MIRA).
* :mod:`.fit`: training a finder (cross-fitted sensors and encoders, weights, the final models).
* :mod:`.finder`: a trained finder and streaming prediction over a long sequence.
* :mod:`.pieces`: the finder's data in a `preprocess` folder (each split's sequence and genes).
* :mod:`.saved`: a finder as a genotool model file.
* :mod:`.scoring`: nucleotide / exon / gene sensitivity and specificity of predicted gene models.
* :mod:`.gff`: GTF and GFF3 writers, and a reader of the coding part of any GTF/GFF.
"""
