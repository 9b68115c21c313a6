"""Genome-wide evaluation (SpliceAI's protocol): every position of every annotated transcript body
in the held-out regions, both strands, per site type.

For donors and for acceptors separately: top-k accuracy with k = the number of true sites (the
fraction of true sites among the k best-scored positions; SpliceAI's definition), PR-AUC as
average precision over all body positions, and at the 0.5 threshold the number of calls,
their precision and the recall. Truth: :func:`genotool_splice.sites.span_truth` (transcripts
wholly inside a region; sites on the exon side). Models are scored through
:func:`genotool_splice.scoring.score_span`, the path ``predict`` uses; models over the same base
share its scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log
from genotool_splice.base import BaseSpec

TYPES = ("donor", "acceptor")


@dataclass
class Candidate:
    """One model of an evaluation: its label, its base and how its head is built (lazily)."""

    label: str
    path: str
    kind: str                      # base | meta | rows
    base: BaseSpec
    make_head: object = None       # (plan) -> head; None for a base model alone
    info: dict = field(default_factory=dict)

    @property
    def base_key(self) -> tuple:
        """Models over the same weight files share one base scoring (a MANE folder and its 400nt/ too)."""
        from genotool_splice.base import _weight_files

        folder = Path(self.base.weights)
        if self.base.kind == "openspliceai":
            return ("openspliceai", *(str(p.resolve()) for p in _weight_files(folder, self.base.flank)[:self.base.seeds]))
        return (self.base.kind, str(folder.resolve()))


def candidate_from_path(text: str, flank: int | None, seeds: int, min_score: float | None,
                        base_weights: Path | None = None, option: str = "--model") -> Candidate:
    """``[LABEL=]PATH``: a `splice train` output (meta/score-only, genome-wide or candidate-row), a
    `splice train-base` output, or a folder of OpenSpliceAI weights."""
    from genotool_splice.base import resolve_base

    label, sep, rest = text.partition("=")
    if sep and rest and not Path(text).exists():
        path = Path(rest)
    else:                                     # no label (or a path that itself holds '=')
        label, path = "", Path(text)
    if not path.is_dir():
        raise UserError(f"{option}: {path} is not a folder")
    if (path / "model.pt").is_file():
        from genotool_splice.meta_io import base_spec_of, head_of, protocol_of, read_meta

        payload = read_meta(path, option)
        protocol = protocol_of(payload["config"])
        return Candidate(label or path.name, str(path), "meta" if protocol == "genome" else "rows",
                         base_spec_of(payload, base_weights), lambda plan: head_of(path, plan, min_score, option),
                         {"architecture": payload["config"]["model"]["architecture"], "protocol": protocol})
    spec = resolve_base(path, flank, seeds, option)
    if not label:
        if spec.kind == "own":
            label = path.name
        elif path.name == f"{spec.flank}nt":
            label = f"{path.parent.name}/{path.name}"
        else:
            label = f"{path.name}/{spec.flank}nt"
    return Candidate(label, str(path), "base", spec)


def metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """y (n,) bool truth, p (n,) scores -> top-k (k = y.sum()), average precision, calls at 0.5."""
    from sklearn.metrics import average_precision_score

    k = int(y.sum())
    if k == 0 or k == len(y):
        return {"sites": k, "topk": float("nan"), "pr_auc": float("nan"), "calls_05": int((p >= 0.5).sum()),
                "precision_05": float("nan"), "recall_05": float("nan")}
    top = np.argsort(-p, kind="stable")[:k]
    called = p >= 0.5
    n_called = int(called.sum())
    return {"sites": k, "topk": float(y[top].mean()), "pr_auc": float(average_precision_score(y, p)),
            "calls_05": n_called, "precision_05": float(y[called].mean()) if n_called else float("nan"),
            "recall_05": float(called[y].mean())}


def summarise(per_type: dict) -> dict:
    """{'donor': metrics, 'acceptor': metrics} -> one flat row (means over the two types)."""
    row = {}
    for t in TYPES:
        for k, v in per_type[t].items():
            row[f"{k}_{t}"] = v
    row["topk"] = float(np.mean([per_type[t]["topk"] for t in TYPES]))
    row["pr_auc"] = float(np.mean([per_type[t]["pr_auc"] for t in TYPES]))
    return row


@dataclass
class Evaluation:
    """Truth and each model's scores at the body positions of the evaluated regions, in one order."""

    truth: dict                    # type -> (n,) bool
    scores: dict                   # label -> type -> (n,) float32
    seconds: dict                  # label -> scoring seconds: its base's plus its own head's
    positions: int
    regions: list
    at: dict = field(default_factory=dict)   # label -> (contig, strand) -> (n, 3) outputs at asked positions

    def table(self) -> list[dict]:
        return [{"model": label, **summarise({t: metrics(self.truth[t], s[t]) for t in TYPES})}
                for label, s in self.scores.items()]


def evaluate_regions(candidates: list[Candidate], ref, gtf, regions: list, plan, chunk: int = 1_000_000,
                     on_chunk=None, positions: dict | None = None) -> Evaluation:
    """Score ``regions`` ([(contig, start, end)]) with every candidate; collect body positions.

    ``positions`` {(contig, strand): sorted genomic positions inside the regions}: each model's
    (donor, acceptor, neither) there too (``validate``'s candidate rows). ``on_chunk(scored_bp)``
    is called after each chunk (progress)."""
    from genotool_splice.base import load_base
    from genotool_splice.inputs import transcripts_by_contig
    from genotool_splice.scoring import BaseHead, score_span
    from genotool_splice.sites import span_truth

    wanted = {c for c, _, _ in regions}
    by_contig = {name: tx for name, tx in transcripts_by_contig(gtf, ref) if name in wanted}
    truths = [span_truth(by_contig.get(c, []), s, e) for c, s, e in regions]
    if sum(sum(t.sites.values()) for t in truths) == 0:
        raise UserError(f"{gtf}: no annotated splice sites in the evaluated regions "
                        f"({', '.join(f'{c}:{s + 1}-{e}' for c, s, e in regions)})")
    groups: dict[tuple, list[Candidate]] = {}
    for cand in candidates:
        groups.setdefault(cand.base_key, []).append(cand)
    order = [(i, s) for i in range(len(regions)) for s in "+-"]
    body_idx = {(i, s): np.flatnonzero(truths[i].body[s]) for i, s in order}
    out = {c.label: {t: {k: np.zeros(len(v), np.float32) for k, v in body_idx.items()} for t in TYPES}
           for c in candidates}
    seconds = {c.label: 0.0 for c in candidates}
    positions = positions or {}
    at = {c.label: {k: np.zeros((len(v), 3), np.float32) for k, v in positions.items()} for c in candidates}
    prepared = []                  # every model loaded (and so checked) before anything is scored
    for cands in groups.values():
        scorer = load_base(cands[0].base, device=plan.device, batch_size=plan.batch_size or 32,
                           precision=plan.precision)
        prepared.append((cands, scorer, [c.make_head(plan) if c.make_head else BaseHead() for c in cands]))
    for cands, scorer, heads in prepared:
        log(f"evaluate: scoring with {', '.join(c.label for c in cands)}")
        for i, (contig, start, end) in enumerate(regions):
            for ch in score_span(scorer, heads, ref, contig, start, end, chunk=chunk):
                idx = body_idx[(i, ch.strand)]
                a, b = np.searchsorted(idx, [ch.start - start, ch.end - start])
                local = idx[a:b] - (ch.start - start)
                for c, o in zip(cands, ch.outputs):
                    for j, t in enumerate(TYPES):
                        out[c.label][t][(i, ch.strand)][a:b] = o[local, j]
                want = positions.get((contig, ch.strand))
                if want is not None:
                    wa, wb = np.searchsorted(want, [ch.start, ch.end])
                    for c, o in zip(cands, ch.outputs):
                        at[c.label][(contig, ch.strand)][wa:wb] = o[want[wa:wb] - ch.start]
                for c, dt in zip(cands, ch.head_seconds):
                    seconds[c.label] += ch.base_seconds + dt
                if on_chunk:
                    on_chunk(ch.end - ch.start)
    truth = {t: np.concatenate([getattr(truths[i], t)[s][body_idx[(i, s)]] for i, s in order]) for t in TYPES}
    scores = {label: {t: np.concatenate([v[t][k] for k in order]) for t in TYPES} for label, v in out.items()}
    return Evaluation(truth, scores, seconds, int(sum(len(v) for v in body_idx.values())),
                      [f"{c}:{s + 1}-{e}" for c, s, e in regions], at)


TABLE_KEYS = ("model", "topk", "pr_auc", "topk_donor", "topk_acceptor", "pr_auc_donor", "pr_auc_acceptor",
              "calls_05_donor", "precision_05_donor", "recall_05_donor", "calls_05_acceptor",
              "precision_05_acceptor", "recall_05_acceptor", "seconds")


def table_rows(ev: Evaluation) -> list[dict]:
    """The genome-wide table with each model's scoring seconds."""
    rows = [row | {"seconds": round(ev.seconds[row["model"]], 2)} for row in ev.table()]
    return [{k: row[k] for k in TABLE_KEYS} for row in rows]


def add_to_report(rep, ev: Evaluation, table: list[dict], out: Path, title: str) -> None:
    """The genome-wide table and precision-recall curves (donor, acceptor) into a Report."""
    from sklearn.metrics import precision_recall_curve

    rep.add_text(f"{title}: {ev.positions:,} positions of annotated transcript bodies (both strands) in "
                 f"{', '.join(ev.regions)}; {int(ev.truth['donor'].sum()):,} donors, "
                 f"{int(ev.truth['acceptor'].sum()):,} acceptors. Top-k: k = the number of true sites of the "
                 f"type (SpliceAI); PR-AUC: average precision; calls/precision/recall at 0.5.")
    rep.add_table(title, [{k: r[k] for k in TABLE_KEYS if k in r} for r in table])
    fig = rep.figure(10, 4)
    axes = fig.subplots(1, 2)
    for ax, t in zip(axes, TYPES):
        for label, sc in ev.scores.items():
            p, r, _ = precision_recall_curve(ev.truth[t], sc[t])
            step = max(1, len(p) // 2000)
            ax.plot(r[::step], p[::step], label=label)
        ax.set_title(f"{t} sites, genome-wide")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.legend(fontsize=7)
    rep.add_figure(f"{title}: precision-recall curves", fig, png_path=out / "genome_pr_curves.png")
