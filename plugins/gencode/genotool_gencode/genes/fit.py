"""Training a gene finder from annotated sequence (`gencode train --states gene`, `compare`).

1. Cross-fitting (:func:`fit_folds`): the training pieces are split into folds; for each fold the
   sensors (and an encoder) are fitted on the other folds, and they score a sample of this fold's
   annotated windows, so the CRF weights are learned on scores of sequence the models have not
   seen, as they will be used, rather than on their own training data, where they are
   overconfident. Folds run in parallel processes, one core each.
2. The CRF weights are learned on those windows (:func:`learn`, :mod:`.learn`).
3. The finder: sensors fitted once more on all training pieces, the fold encoders as an ensemble
   (their channels averaged; each saw the genes of the other folds), and the learned weights.

Step 1 does not depend on the CRF's features or durations, so `compare` runs it once for all its
gene-state rows.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from genotool_gencode.genes.encoder import EncoderSettings, GeneEncoder, train_encoder
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
    max_windows: int = 200             # at most this many (a random sample), bounding memory
    workers: int = 2                   # processes training fold encoders at once
    seed: int = 0
    sensors: SensorSettings = field(default_factory=SensorSettings)
    encoder: EncoderSettings = field(default_factory=EncoderSettings)

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def uses_encoder(self) -> bool:
        return self.kind in ("encoder", "both")


class EnsembleEncoder(nn.Module):
    """Several GeneEncoders read as one: their channels averaged."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def channels(self, codes):
        out = None
        for m in self.members:
            ch = m.channels(codes)
            out = ch if out is None else {k: out[k] + v for k, v in ch.items()}
        return {k: v / len(self.members) for k, v in out.items()}

    def config(self) -> dict:
        return {**self.members[0].config(), "ensemble": len(self.members)}


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


@dataclass
class FoldModels:
    folds: list[list[int]]
    sensors: list[Sensors]
    encoders: list            # GeneEncoder per fold, or None
    summaries: list[dict]
    items: list               # held-out windows [(codes, channels, gold)] of every fold


def window_candidates(pieces, folds, s: FitSettings) -> list[list[tuple]]:
    """Per fold, the gold windows (piece index, lo, hi, gold) the weights learn from: a random
    sample of at most ``max_windows`` over all folds."""
    rng = np.random.default_rng(s.seed)
    cands = []
    for f, idx in enumerate(folds):
        for i in idx:
            codes, genes = pieces[i]
            for lo, hi, gold in gold_windows(codes, genes, target=s.window, min_intron=s.sensors.min_intron,
                                             min_exon=s.sensors.min_exon):
                cands.append((f, i, lo, hi, gold))
    if len(cands) > s.max_windows:
        keep = set(rng.choice(len(cands), s.max_windows, replace=False).tolist())
        cands = [c for j, c in enumerate(cands) if j in keep]
    return [[c[1:] for c in cands if c[0] == f] for f in range(len(folds))]


def _fold(pieces, folds, f: int, windows, s: FitSettings, with_encoder: bool):
    """One fold (a worker process: one torch thread): sensors and encoder fitted on the other
    folds, then this fold's windows scored by them -> (sensor state, encoder state or None,
    summary, items). Progress lines go straight to stderr, prefixed with the fold."""
    from genotool.log import log

    torch.set_num_threads(1)
    tag = f"fold {f + 1}: "
    other = [pieces[i] for g, ix in enumerate(folds) if g != f for i in ix]
    t0 = time.perf_counter()
    sensors = Sensors(s.sensors).fit(other)
    summary = {"sensor_seconds": round(time.perf_counter() - t0, 1), "fit_bases": int(sum(len(c) for c, _ in other))}
    encoder = None
    if with_encoder:
        encoder, summary["encoder"] = train_encoder(other, s.encoder, seed=s.seed + f,
                                                    log=lambda m: log(f"{tag}{m}"))
    finder = GeneFinder(sensors, {}, kind="both" if encoder is not None else "sensors", encoder=encoder)
    t1 = time.perf_counter()
    items = []
    for i in sorted({w[0] for w in windows}):
        ch = finder.channels(pieces[i][0])
        for _, lo, hi, gold in (w for w in windows if w[0] == i):
            items.append((pieces[i][0][lo:hi], _compact(slice_channels(ch, lo, hi)), gold))
        del ch
    summary["score_seconds"] = round(time.perf_counter() - t1, 1)
    log(f"{tag}scored {len(items)} held-out windows in {summary['score_seconds']:.0f} s")
    return sensors.state(), (encoder.state_dict() if encoder is not None else None), summary, items


def fit_folds(pieces, s: FitSettings, log, with_encoder: bool | None = None) -> FoldModels:
    """Per fold, sensors (and an encoder) fitted on the other folds and this fold's held-out
    windows scored by them (module docstring); folds run in parallel processes."""
    folds = split_folds(pieces, s.folds)
    with_encoder = s.uses_encoder if with_encoder is None else with_encoder
    windows = window_candidates(pieces, folds, s)
    workers = min(s.workers, len(folds))
    log(f"cross-fitting {len(folds)} folds ({workers} at a time): sensors{' and encoders' if with_encoder else ''} "
        f"on the other folds, {sum(map(len, windows))} held-out windows scored")
    args = [(pieces, folds, f, windows[f], s, with_encoder) for f in range(len(folds))]
    if workers > 1:
        import concurrent.futures as cf

        from genotool.parallel import pool_kwargs, start_method

        with cf.ProcessPoolExecutor(workers, **pool_kwargs(start_method())) as ex:
            results = list(ex.map(_fold, *zip(*args)))
    else:
        results = [_fold(*a) for a in args]
    fm = FoldModels(folds, [], [], [], [])
    for sens_state, enc_state, summary, items in results:
        fm.sensors.append(Sensors.from_state(sens_state))
        enc = None
        if enc_state is not None:
            enc = GeneEncoder(s.encoder)
            enc.load_state_dict(enc_state)
            enc.eval()
        fm.encoders.append(enc)
        fm.summaries.append(summary)
        fm.items += items
    return fm


def _compact(ch: dict) -> dict:
    """Window channels in float32, cumulative ones rebased to 0 at the window start (exact to
    ~1e-3 over a window; only differences are read)."""
    out = {}
    for k, v in ch.items():
        if k in ("coding", "intron", "enc_coding", "enc_intron"):
            v = v - v[..., :1]
        out[k] = v.astype(np.float32)
    return out


def learn(items, kind: str, durations: str, sensors: Sensors, s: FitSettings, log) -> tuple[dict, list]:
    """CRF weights for ``kind`` and ``durations`` from held-out windows (only the channels that
    ``kind`` reads are passed on)."""
    keep = set(CHANNELS) | ({"enc_" + c for c in CHANNELS} if kind in ("encoder", "both") else set())
    items64 = [(c, {k: v.astype(np.float64) for k, v in ch.items() if k in keep}, g) for c, ch, g in items]
    return learn_weights(items64, default_weights(kind), learnable(kind), lengths_for(sensors, durations),
                         sensors.transitions(), epochs=s.epochs, C=s.C, seed=s.seed, log=log)


def fit_gene_finder(pieces, s: FitSettings, log) -> tuple[GeneFinder, dict]:
    """``pieces``: [(codes, valid genes, one transcript per gene)] -> (finder, summary)."""
    t0 = time.perf_counter()
    fm = fit_folds(pieces, s, log)
    items = fm.items
    log(f"learning CRF weights on {len(items)} held-out windows ({sum(len(c) for c, _, _ in items):,} bp, "
        f"{sum(len(g) for _, _, g in items)} genes)")
    sensors = Sensors(s.sensors).fit(pieces)
    t1 = time.perf_counter()
    weights, history = learn(items, s.kind, s.durations, sensors, s, log)
    fm.items = items = []
    encoder = EnsembleEncoder([e for e in fm.encoders]) if s.uses_encoder else None
    finder = GeneFinder(sensors, weights, kind=s.kind, durations=s.durations, encoder=encoder)
    summary = {"weights": weights, "weight_history": history, "weight_seconds": round(time.perf_counter() - t1, 1),
               "folds": fm.summaries, "seconds": round(time.perf_counter() - t0, 1),
               "training_genes": sum(len(g) for _, g in pieces)}
    return finder, summary
