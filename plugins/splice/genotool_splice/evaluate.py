"""``splice evaluate``: FASTA + GTF + held-out regions + any set of models -> the genome-wide table.

Models (``-m`` and each ``--also-model``, ``[LABEL=]PATH``): `splice train` outputs (a
genome-wide meta-layer or score-only model; a candidate-row model scores only the positions its
base calls, as its ``predict`` does), `splice train-base` outputs (own or fine-tuned bases) and
folders of OpenSpliceAI weights (one flank, or ``--base-flank``). Regions: ``--test-regions``
(default: SpliceAI's test chromosomes for human-style names). Writes ``evaluation.json``,
``genome_wide.tsv`` and ``report.html`` (table, precision-recall curves); with
``--variant-check N`` also the variant sanity check of :mod:`genotool_splice.variant_check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genotool.errors import UserError
from genotool.options import RunOptions


@dataclass
class EvaluateConfig(RunOptions):
    fasta: Path
    gtf: Path
    output: Path
    model: Path | None = None
    also_models: list = field(default_factory=list)
    test_regions: str | None = None
    base_flank: int | None = None
    base_seeds: int = 1
    base_weights: Path | None = None
    min_score: float | None = None
    variant_check: int = 0
    seed: int = 0
    force: bool = False

    def model_texts(self) -> list[str]:
        return [str(m) for m in ([self.model] if self.model else []) + list(self.also_models)]


def write_tsv(path: Path, rows: list[dict]) -> None:
    from genotool.outputs import atomic_file

    cols = list(rows[0])
    with atomic_file(path) as tmp:
        Path(tmp).write_text("\t".join(cols) + "\n" + "".join(
            "\t".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + "\n" for r in rows))


def run_evaluate(cfg: EvaluateConfig) -> dict:
    from genotool.outputs import run_output, write_json
    from genotool.report import Report
    from genotool_splice.genomewide import add_to_report, candidate_from_path, evaluate_regions, table_rows
    from genotool_splice.inputs import Reference, check_annotation
    from genotool_splice.progress import bp_progress
    from genotool_splice.splits import resolve_splits

    texts = cfg.model_texts()
    if not texts:
        raise UserError("--model: give at least one model (-m PATH, and --also-model PATH for more)")
    if cfg.min_score is not None and not 0 <= cfg.min_score <= 1:
        raise UserError(f"--min-score must be in [0, 1], not {cfg.min_score}")
    if cfg.variant_check < 0:
        raise UserError(f"--variant-check must be >= 0, not {cfg.variant_check}")
    ref = Reference.open(cfg.fasta)
    check_annotation(cfg.gtf, ref)
    splits = resolve_splits(None, None, cfg.test_regions, ref.lengths, cfg.fasta, need_val=False)
    regions = [(r.contig, r.start, r.end) for r in splits.intervals("test", ref.lengths)]
    cands = [candidate_from_path(t, cfg.base_flank, cfg.base_seeds, cfg.min_score, cfg.base_weights,
                                 "--model" if i == 0 and cfg.model else "--also-model") for i, t in enumerate(texts)]
    labels = [c.label for c in cands]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise UserError(f"--also-model: two models are labelled '{dup}'; name them LABEL=PATH")
    ref.check(sorted({c for c, _, _ in regions}))
    plan = cfg.plan()
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    params["also_models"] = [str(m) for m in cfg.also_models]
    total = 2 * sum(e - s for _, s, e in regions) * len({c.base_key for c in cands})
    with run_output(cfg.output, command="splice evaluate", parameters=params,
                    inputs=[cfg.fasta, cfg.gtf, *[c.path for c in cands]], force=cfg.force) as run:
        run.plan = plan.to_dict()
        with bp_progress("evaluate", total) as advance:
            ev = evaluate_regions(cands, ref, cfg.gtf, regions, plan, on_chunk=advance)
        table = table_rows(ev)
        rep = {"regions": ev.regions, "positions": ev.positions,
               "sites": {t: int(ev.truth[t].sum()) for t in ("donor", "acceptor")},
               "models": {c.label: {"path": c.path, "kind": c.kind, "base": c.base.to_dict(), **c.info} for c in cands},
               "table": table, "metrics": ev.table()}
        if cfg.variant_check:
            from genotool_splice.variant_check import run_variant_check

            rep["variant_check"] = run_variant_check(cands, ref, cfg.gtf, regions, cfg.variant_check, cfg.seed, plan,
                                                     run.path)
        write_json(run.path / "evaluation.json", rep)
        write_tsv(run.path / "genome_wide.tsv", table)
        r = Report("splice evaluate: genome-wide splice-site accuracy")
        add_to_report(r, ev, table, run.path, "Genome-wide")
        if cfg.variant_check:
            r.add_table("Variant check: ROC AUC of the largest |delta| (canonical-dinucleotide SNVs vs controls)",
                        rep["variant_check"]["table"])
        r.write(run.path / "report.html")
        run.runtime.update(positions=ev.positions, scoring_seconds={k: round(v, 2) for k, v in ev.seconds.items()})
    return rep
