"""Training a gene finder from annotated sequence (`gencode train --states gene`).

1. Cross-fitting: the training pieces are split into folds; for each fold, sensors (and the
   encoder) are fitted on the other folds and score this one, so the CRF weights are learned on
   scores of sequence the models have not seen (as they will be used), not on their own
   training data, where they are overconfident.
2. The CRF weights are learned on those held-out scores by averaged MIRA (:mod:`.learn`).
3. The sensors (and the encoder) are fitted once more on all training pieces; with the learned
   weights they are the finder.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from genotool_gencode.genes.encoder import EncoderSettings, train_encoder
from genotool_gencode.genes.finder import GeneFinder, default_weights, lengths_for
from genotool_gencode.genes.lattice import CHANNELS, KINDS as EXON_KINDS
from genotool_gencode.genes.learn import gold_windows, learn_weights, slice_channels
from genotool_gencode.genes.sensors import SensorSettings, Sensors


@dataclass
class FitSettings:
    kind: str = "both"                 # sensors, encoder or both
    durations: str = "explicit"        # explicit (semi-Markov) or geometric (linear chain)
    folds: int = 2
    epochs: int = 4                    # MIRA passes over the held-out windows
    C: float = 0.02                    # MIRA's largest step
    window: int = 20_000               # gold windows for MIRA
    max_windows: int = 300             # at most this many (a random sample), bounding memory
    seed: int = 0
    sensors: SensorSettings = field(default_factory=SensorSettings)
    encoder: EncoderSettings = field(default_factory=EncoderSettings)

    def to_json(self) -> dict:
        return asdict(self)


def learnable(kind: str) -> tuple[str, ...]:
    names = ["exon_length", "intron_length", "gene_bias", *(k + "_bias" for k in EXON_KINDS), "coding_base",
             "intron_base"]
    if kind in ("sensors", "both"):
        names += list(CHANNELS)
    if kind in ("encoder", "both"):
        names += ["enc_" + c for c in CHANNELS]
    return tuple(names)


def split_folds(pieces, k: int) -> list[list[int]]:
    """Piece indices per fold: contiguous runs of roughly equal sequence length."""
    total = sum(len(c) for c, _ in pieces)
    out, acc = [[] for _ in range(k)], 0
    for i, (c, _) in enumerate(pieces):
        out[min(k - 1, int(acc * k / total))].append(i)
        acc += len(c)
    return [f for f in out if f]


def fit_models(pieces, s: FitSettings, log, progress=None, tag: str = "", sensors: Sensors | None = None):
    """Sensors (+ encoder) fitted on ``pieces`` (``sensors``: already fitted on them); -> (sensors,
    encoder or None, summary)."""
    t0 = time.perf_counter()
    sensors = sensors or Sensors(s.sensors).fit(pieces)
    summary = {"sensor_seconds": round(time.perf_counter() - t0, 1)}
    encoder = None
    if s.kind in ("encoder", "both"):
        encoder, enc_summary = train_encoder(pieces, s.encoder, seed=s.seed, log=lambda m: log(f"{tag}{m}"),
                                             progress=progress)
        summary["encoder"] = enc_summary
    return sensors, encoder, summary


def held_out_windows(pieces, s: FitSettings, log, progress=None):
    """Cross-fitted gold windows [(codes, channels, gold)] and the fold models' summaries."""
    rng = np.random.default_rng(s.seed)
    folds = split_folds(pieces, s.folds)
    candidates = []   # (fold, piece index, lo, hi, gold)
    for f, idx in enumerate(folds):
        for i in idx:
            codes, genes = pieces[i]
            for lo, hi, gold in gold_windows(codes, genes, target=s.window, min_intron=s.sensors.min_intron,
                                             min_exon=s.sensors.min_exon):
                candidates.append((f, i, lo, hi, gold))
    if len(candidates) > s.max_windows:
        keep = set(rng.choice(len(candidates), s.max_windows, replace=False).tolist())
        candidates = [c for j, c in enumerate(candidates) if j in keep]
    items, summaries = [], []
    for f, idx in enumerate(folds):
        others = [pieces[i] for g, ix in enumerate(folds) if g != f for i in ix]
        log(f"fold {f + 1}/{len(folds)}: fitting on {sum(len(c) for c, _ in others):,} bp, "
            f"scoring {sum(len(pieces[i][0]) for i in idx):,} bp")
        sensors, encoder, summ = fit_models(others, s, log, progress, tag=f"fold {f + 1}: ")
        summaries.append(summ)
        finder = GeneFinder(sensors, {}, kind=s.kind, durations=s.durations, encoder=encoder)
        for i in idx:
            mine = [c for c in candidates if c[1] == i]
            if not mine:
                continue
            ch = finder.channels(pieces[i][0])
            for _, _, lo, hi, gold in mine:
                items.append((pieces[i][0][lo:hi], _compact(slice_channels(ch, lo, hi)), gold))
            del ch
    return items, summaries


def _compact(ch: dict) -> dict:
    """Window channels in float32, cumulative ones rebased to 0 at the window start (exact to
    ~1e-3 over a window; only differences are read)."""
    out = {}
    for k, v in ch.items():
        if k in ("coding", "intron", "enc_coding", "enc_intron"):
            v = v - v[..., :1]
        out[k] = v.astype(np.float32)
    return out


def fit_gene_finder(pieces, s: FitSettings, log, progress=None) -> tuple[GeneFinder, dict]:
    """``pieces``: [(codes, valid genes, one transcript per gene)] -> (finder, summary)."""
    t0 = time.perf_counter()
    items, fold_summaries = held_out_windows(pieces, s, log, progress)
    log(f"learning CRF weights on {len(items)} held-out windows ({sum(len(c) for c, _, _ in items):,} bp, "
        f"{sum(len(g) for _, _, g in items)} genes)")
    # the learner reads float64 channels window by window
    items64 = [(c, {k: v.astype(np.float64) for k, v in ch.items()}, g) for c, ch, g in items]
    final_sensors = Sensors(s.sensors).fit(pieces)
    lengths = lengths_for(final_sensors, s.durations)
    grammar = final_sensors.transitions()
    t1 = time.perf_counter()
    weights, history = learn_weights(items64, default_weights(s.kind), learnable(s.kind), lengths, grammar,
                                     epochs=s.epochs, C=s.C, seed=s.seed, log=log)
    del items64, items
    weight_seconds = round(time.perf_counter() - t1, 1)
    log("final models on all training pieces")
    sensors, encoder, final_summary = fit_models(pieces, s, log, progress, tag="final: ", sensors=final_sensors)
    finder = GeneFinder(sensors, weights, kind=s.kind, durations=s.durations, encoder=encoder)
    summary = {"weights": weights, "weight_history": history, "weight_seconds": weight_seconds,
               "folds": fold_summaries, "final": final_summary, "seconds": round(time.perf_counter() - t0, 1),
               "training_genes": sum(len(g) for _, g in pieces)}
    return finder, summary
