"""The semi-Markov CRF over per-base label states (``--states strand`` models):

* :mod:`.recursion`: the shared forward/backward/Viterbi recursions (log Z, gold term, NLL) of the
  semi-CRF summed over all segmentations, and the entry points of the canonical chain;
* :mod:`.canonical`: the canonical chain (one segmentation per labelling) with boundary scores,
  geometric tails, censored edges and ORF scores, the model training uses;
* :mod:`.common`: helpers both share (cumulative sums, backtracking, checks);
* :mod:`.heads`: the CRF heads (ours, and pytorch-crf as the external baseline);
* :mod:`.durations`, :mod:`.priors`, :mod:`.orf`: smooth duration scores, count-based structure
  initialisation, stop-codon evidence;
* :mod:`.reference`: brute-force enumeration and plain-loop references for the tests.

The gene finder (``--states gene``) has its own decoder (genes/lattice.py).
"""
