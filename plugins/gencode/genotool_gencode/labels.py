"""The 11-label scheme and the rules that turn a transcript into labelled intervals.

Labels follow the design note. Position labels (first/internal/last) are assigned in
*transcript order* (5' -> 3', strand-aware), for exons and introns alike:

* exon (or intron) ``i`` of ``n``: ``i == 0`` -> first, ``i == n - 1`` (n > 1) -> last, else
  internal; a single-exon transcript's exon is ``first_exon``.
* exon labels cover the coding part of every exon; the exonic bases 5' of the CDS are 5'UTR and
  those 3' of the CDS (stop codon excluded) are 3'UTR (UTRs derived as exon minus CDS, so GTFs
  without UTR lines work and a 3'UTR in the CDS-start exon is kept). Exons of non-coding
  transcripts get the exon labels (they are not intergenic).
* start/stop codons (3 bp, possibly split by an intron) override everything.
* priority where features (or genes) overlap: codon > CDS exon > UTR > intron > intergenic.
"""

from __future__ import annotations

LABELS = ["intergenic", "first_exon", "internal_exon", "last_exon", "first_intron",
          "internal_intron", "last_intron", "5UTR", "3UTR", "start_codon", "stop_codon"]
NUM_LABELS = len(LABELS)
INTERGENIC, FIRST_EXON, INTERNAL_EXON, LAST_EXON = 0, 1, 2, 3
FIRST_INTRON, INTERNAL_INTRON, LAST_INTRON = 4, 5, 6
UTR5, UTR3, START_CODON, STOP_CODON = 7, 8, 9, 10

# Strand-aware hidden states. Read left to right, a plus-strand gene runs 5'UTR -> start codon ->
# first exon -> first intron -> ... and a minus-strand gene the reverse (3'UTR -> stop codon -> last
# exon -> ...), so over the 11 labels alone a first-order chain can splice the two orders together
# (e.g. first intron -> internal exon -> first intron) and cannot tell first/internal/last apart.
# With the strand in the state, the gene grammar is first-order Markov, as in any gene finder:
# state 0 is intergenic, state c (1..10) is label c on the plus strand, state 10 + c label c on
# the minus strand. Models score states; metrics and outputs use labels.
NUM_STATES = 2 * NUM_LABELS - 1
STATE_LABEL = list(range(NUM_LABELS)) + list(range(1, NUM_LABELS))


def to_states(labels, minus):
    """labels (T,) and a boolean minus-strand mask (T,) -> states (T,), same array type."""
    return labels + (NUM_LABELS - 1) * (minus & (labels > 0))


PRIORITY = {INTERGENIC: 0, FIRST_INTRON: 1, INTERNAL_INTRON: 1, LAST_INTRON: 1, UTR5: 2, UTR3: 2,
            FIRST_EXON: 3, INTERNAL_EXON: 3, LAST_EXON: 3, START_CODON: 4, STOP_CODON: 4}

# Shortest biologically sensible segment per label (bp): a semi-CRF needs K >= this.
MIN_LENGTH = {START_CODON: 3, STOP_CODON: 3}

# The design note's typical lengths (bp) used by the simulator (median of a log-normal).
TYPICAL_LENGTH = {FIRST_EXON: 100, INTERNAL_EXON: 150, LAST_EXON: 200, FIRST_INTRON: 2000,
                  INTERNAL_INTRON: 1000, LAST_INTRON: 500, UTR5: 150, UTR3: 500}


def position_label(i: int, n: int, first: int, internal: int, last: int) -> int:
    if i == 0:
        return first
    if i == n - 1:
        return last
    return internal


def exon_label(i: int, n: int) -> int:
    return position_label(i, n, FIRST_EXON, INTERNAL_EXON, LAST_EXON)


def intron_label(i: int, n: int) -> int:
    return position_label(i, n, FIRST_INTRON, INTERNAL_INTRON, LAST_INTRON)


def _subtract(interval, cut):
    """interval minus cut (both half-open) -> list of pieces."""
    s, e = interval
    cs, ce = cut
    out = []
    if cs > s:
        out.append((s, min(e, cs)))
    if ce < e:
        out.append((max(s, ce), e))
    return [(a, b) for a, b in out if b > a]


def transcript_intervals(strand: str, exons, cds, start_codons=(), stop_codons=()):
    """Labelled intervals of one transcript.

    Args:
        strand: '+' or '-'.
        exons, cds, start_codons, stop_codons: lists of (start, end) half-open 0-based genomic
            intervals (any order).
    Returns:
        list of (start, end, label) half-open genomic intervals (may overlap; paint by PRIORITY).
    """
    rev = strand == "-"
    ex = sorted(exons, reverse=rev)
    n = len(ex)
    out = []
    # introns between consecutive exons in transcript order
    for i in range(n - 1):
        a, b = ex[i], ex[i + 1]
        lo, hi = (a[1], b[0]) if not rev else (b[1], a[0])
        if hi > lo:
            out.append((lo, hi, intron_label(i, n - 1)))
    cds = sorted(cds)
    if not cds:
        for i, (s, e) in enumerate(ex):
            out.append((s, e, exon_label(i, n)))
        return out
    cds_lo, cds_hi = cds[0][0], cds[-1][1]
    # codons: given or derived (first 3 CDS bases; 3 exonic bases after the CDS in transcript order)
    start_codons = list(start_codons) or _take_exonic(ex, cds_hi if rev else cds_lo, 3, rev, inside=True)
    stop_codons = list(stop_codons) or _take_exonic(ex, cds_lo if rev else cds_hi, 3, rev, inside=False)
    for i, (s, e) in enumerate(ex):
        lab = exon_label(i, n)
        for cs, ce in cds:
            lo, hi = max(s, cs), min(e, ce)
            if hi > lo:
                out.append((lo, hi, lab))
        # UTR = exon minus [CDS span]; 5' or 3' by transcript order
        for ps, pe in _subtract((s, e), (cds_lo, cds_hi)):
            five = (pe <= cds_lo) if not rev else (ps >= cds_hi)
            out.append((ps, pe, UTR5 if five else UTR3))
    out += [(s, e, START_CODON) for s, e in start_codons]
    out += [(s, e, STOP_CODON) for s, e in stop_codons]
    return out


def _take_exonic(exons_tx_order, pos, n, rev, inside):
    """``n`` exonic bases starting at genomic boundary ``pos`` walking 3' in transcript order.

    ``inside`` True: the bases from ``pos`` inwards (CDS start). False: the bases after ``pos``
    (after the CDS end). Returns a list of (start, end) pieces (empty if not enough exon).
    """
    pieces = []
    need = n
    for s, e in exons_tx_order:
        if need == 0:
            break
        if not rev:
            lo = max(s, pos)
            if lo >= e:
                continue
            hi = min(e, lo + need)
            pieces.append((lo, hi))
            need -= hi - lo
        else:
            hi = min(e, pos)
            if hi <= s:
                continue
            lo = max(s, hi - need)
            pieces.append((lo, hi))
            need -= hi - lo
    return pieces if need == 0 else []
