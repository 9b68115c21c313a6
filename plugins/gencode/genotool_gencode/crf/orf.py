"""Open-reading-frame evidence for the semi-CRF: stop-codon tracks and per-state frame anchors.

A coding exon is an open reading frame: no stop codon in its frame. For the first and the last
exon of a gene the frame is fixed by one end: a plus-strand first exon starts right after the ATG
(codons begin at its first base), a plus-strand last exon ends right before the stop codon
(codons end at its last base); read left to right, the minus strand swaps the two ends. A
segment-level score can therefore penalise a first/last exon candidate that holds an in-frame
stop, which is what gene finders use to place exon ends exactly. A linear chain scores bases, not
segments, and cannot express it. Internal exons carry no anchor: their frame depends on the
phase of the exons before them, which these states do not track.
"""

from __future__ import annotations

import torch

from genotool_gencode.labels import FIRST_EXON, LAST_EXON, NUM_LABELS, NUM_STATES
from genotool_gencode.crf.canonical import ORF_MINUS_END, ORF_MINUS_START, ORF_PLUS_END, ORF_PLUS_START

# base indices of encoders.ALPHABET ("ACGTN")
_A, _C, _G, _T = range(4)
PLUS_STOPS = ((_T, _A, _A), (_T, _A, _G), (_T, _G, _A))       # TAA TAG TGA
MINUS_STOPS = ((_T, _T, _A), (_C, _T, _A), (_T, _C, _A))      # their reverse complements, read on plus


def stop_codon_tracks(x: torch.Tensor) -> torch.Tensor:
    """(B, T) base indices -> (B, T, 2) float: 1 where a plus-strand (channel 0) or minus-strand
    (channel 1) stop codon begins at that base (its three bases in x[t:t+3])."""
    B, T = x.shape
    out = torch.zeros((B, T, 2), device=x.device)
    if T < 3:
        return out
    a, b, c = x[:, :-2], x[:, 1:-1], x[:, 2:]
    for ch, codons in enumerate((PLUS_STOPS, MINUS_STOPS)):
        hit = torch.zeros_like(a, dtype=torch.bool)
        for p, q, r in codons:
            hit |= (a == p) & (b == q) & (c == r)
        out[:, :T - 2, ch] = hit.float()
    return out


def state_anchors() -> torch.Tensor:
    """(NUM_STATES,) ORF anchor code of each strand-aware state (labels.py): plus first exon
    starts its frame, plus last exon ends it; minus first exon (read left to right) ends it,
    minus last exon starts it; every other state has none."""
    anchors = torch.zeros(NUM_STATES, dtype=torch.long)
    minus = NUM_LABELS - 1
    anchors[FIRST_EXON], anchors[LAST_EXON] = ORF_PLUS_START, ORF_PLUS_END
    anchors[minus + FIRST_EXON], anchors[minus + LAST_EXON] = ORF_MINUS_END, ORF_MINUS_START
    return anchors
