"""A trained gene finder (sensors + CRF weights + optional neural encoder) and how it predicts a
long sequence: in windows, streaming, joined so that no gene is cut or found twice.

:class:`GeneFinder` is what `gencode train` saves for ``--states gene``. Its ``kind`` says which
channels it reads: ``sensors`` (counted models only), ``encoder`` (the neural encoder's channels
in place of the sensors' content and signal scores; lengths and grammar stay), ``both``; and
``durations``: ``explicit`` (semi-Markov: exon and intron length distributions) or ``geometric``
(the same states as a linear chain can hold them: every length geometric).

Streaming (:func:`predict_sequence`): decode [pos, pos + window); keep the genes that end before
the last intergenic stretch at least ``overlap`` before the window's end (the Viterbi path there
no longer depends on what lies beyond the window); continue from that intergenic point. A gene
is thus always decoded whole inside one window, and each base is decoded by exactly one kept
parse; memory is bounded by one window.
"""

from __future__ import annotations

import numpy as np

from genotool_gencode.genes.lattice import CHANNELS, Lattice
from genotool_gencode.genes.sensors import LengthModel, Sensors

KINDS = ("sensors", "encoder", "both")
DURATIONS = ("explicit", "geometric")


class GeneFinder:
    def __init__(self, sensors: Sensors, weights: dict, *, kind: str = "sensors", durations: str = "explicit",
                 encoder=None):
        self.sensors, self.weights, self.kind, self.durations, self.encoder = sensors, dict(weights), kind, \
            durations, encoder
        self.grammar = sensors.transitions()
        self.lengths = lengths_for(sensors, durations)

    def channels(self, codes: np.ndarray) -> dict:
        """Every channel the weights read (sensor signals always: they mark where motifs are)."""
        ch = self.sensors.score(codes)
        if self.kind in ("encoder", "both") and self.encoder is not None:
            ch.update(self.encoder.channels(codes))
        return ch

    def decode(self, codes: np.ndarray, channels: dict | None = None):
        """-> [(strand, exons)] of one window (complete genes only)."""
        ch = channels if channels is not None else self.channels(codes)
        s = self.sensors.settings
        lat = Lattice.combine(codes, ch, self.weights, self.lengths, self.grammar, min_intron=s.min_intron,
                              min_exon=s.min_exon)
        return lat.viterbi()[1]


def lengths_for(sensors: Sensors, durations: str) -> dict:
    """The length models the decoder uses: the fitted distributions, or geometric ones with the
    same means (a linear chain's only option)."""
    if durations == "explicit":
        return {"exon_len": sensors.exon_len, "intron_len": sensors.intron_len}
    st = sensors.stats
    means = st.get("exon_means") or [300.0, 250.0, 150.0, 250.0]
    s = sensors.settings
    return {"exon_len": [LengthModel.geometric(m, s.max_exon_table, 3) for m in means],
            "intron_len": LengthModel.geometric(st.get("intron_mean", 170.0), s.max_intron_table, s.min_intron)}


def default_weights(kind: str) -> dict:
    """Starting weights: the generative model for sensors (all 1), encoder channels at 1 alone, at
    0.5 beside the sensors."""
    w = {"exon_length": 1.0, "intron_length": 1.0}
    for c in CHANNELS:
        if kind in ("sensors", "both"):
            w[c] = 1.0
        if kind in ("encoder", "both"):
            w["enc_" + c] = 1.0 if kind == "encoder" else 0.5
    return w


def predict_sequence(finder: GeneFinder, codes_or_fetch, length: int | None = None, *, window: int = 200_000,
                     overlap: int = 20_000, progress=None, on_genes=None,
                     channels: dict | None = None) -> list[tuple[str, list[tuple[int, int]]]]:
    """Genes of a whole sequence decoded in streaming windows (module docstring); coordinates
    relative to the sequence's start. ``codes_or_fetch``: the (L,) codes, or ``fetch(lo, hi)``
    returning the codes of [lo, hi) (with ``length``), so only one window is ever in memory.
    ``on_genes(genes)`` receives each window's kept genes as soon as they are final (then the
    return value is empty); ``progress(bases_done)`` after each window. ``channels``: the whole
    sequence's score channels, computed once (`compare` decodes one sequence with several
    weightings of the same channels); else each window's are computed."""
    from genotool_gencode.genes.learn import slice_channels

    if callable(codes_or_fetch):
        fetch, L = codes_or_fetch, int(length)
    else:
        codes = codes_or_fetch
        fetch, L = (lambda lo, hi: codes[lo:hi]), len(codes)
    out = []
    emit = on_genes or out.extend
    pos = 0
    while pos < L:
        end = min(L, pos + window)
        genes = finder.decode(fetch(pos, end), None if channels is None else slice_channels(channels, pos, end))
        if end == L:
            emit([(st, [(s + pos, e + pos) for s, e in ex]) for st, ex in genes])
            if progress:
                progress(L)
            break
        cut = _cut_point(genes, end - pos - overlap)
        emit([(st, [(s + pos, e + pos) for s, e in ex]) for st, ex in genes if ex[-1][1] <= cut])
        pos += cut
        if progress:
            progress(pos)
    return out


def _cut_point(genes, limit: int) -> int:
    """Where to end a window's kept parse: ``limit`` when no gene covers it, else the middle of the
    intergenic gap before the gene that does (that gene is decoded again, whole, from there). Only
    a gene running from the window's start past ``limit`` (longer than a window) is cut at ``limit``."""
    spans = sorted((ex[0][0], ex[-1][1]) for _, ex in genes)
    prev_end = 0
    merged = []
    for s, e in spans:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    for s, e in merged:
        if s <= limit < e:
            cut = (prev_end + s) // 2
            return cut if cut > 0 else limit
        prev_end = e
    return limit
