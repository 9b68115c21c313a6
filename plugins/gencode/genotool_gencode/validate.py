"""`gencode validate`: a trained model on one split of a `preprocess` folder -> ``metrics.json``
and ``report.html``.

* A gene finder: its predicted gene models on the split's sequence against every annotated
  transcript (nucleotide / exon / gene sensitivity, specificity, F1; the predictions as
  ``predictions.gtf``), with predicted-vs-annotated exon length histograms.
* A per-base model: position, boundary and segment F1, duration KL per label and the label-derived
  gene levels on the split's chunks, with duration histograms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions
from genotool.outputs import write_json
from genotool_gencode.labels import LABELS


@dataclass(kw_only=True)
class ValidateConfig(RunOptions):
    data: Path
    model: Path
    output: Path
    split: str = "test"
    max_chunks: int | None = None
    force: bool = False

    def check(self) -> "ValidateConfig":
        from genotool.errors import require_dir

        require_dir(self.data, "--data")
        require_dir(self.model, "--model")
        if self.split not in ("train", "val", "test"):
            raise UserError(f"--split must be train, val or test, not '{self.split}'")
        return self


def run_validate(cfg: ValidateConfig, log) -> dict:
    from genotool.outputs import run_output

    from genotool_gencode.loading import is_gene_finder, load_model

    cfg.check()
    plan = cfg.plan(default_batch_size=4)
    model, mcfg = load_model(cfg.model, plan.device)
    params = {"split": cfg.split, "max_chunks": cfg.max_chunks, "model": str(cfg.model)}
    gene = is_gene_finder(model)
    if gene:
        from genotool_gencode.genes.pieces import load_split

        pieces = load_split(cfg.data, cfg.split)     # checked before the run folder exists
    with run_output(cfg.output, command="gencode validate", parameters=params, inputs=[cfg.data, cfg.model],
                    force=cfg.force, resume=False) as run:
        run.plan = plan.to_dict()
        if gene:
            summary = validate_genes(model, mcfg, pieces, run.path, split=cfg.split, log=log)
        else:
            summary = validate_labels(model, mcfg, cfg.data, run.path, split=cfg.split, max_chunks=cfg.max_chunks,
                                      plan=plan, log=log)
        run.runtime.update({k: v for k, v in summary.items() if not isinstance(v, (dict, list))})
    if gene:
        log(f"exon F1 {summary['exon_f1']:.4f}, gene F1 {summary['gene_f1']:.4f}, nucleotide F1 "
            f"{summary['nucleotide_f1']:.4f} -> {cfg.output}/report.html")
    else:
        log(f"segment F1 {summary['segment_f1']:.4f}, position macro-F1 {summary['position_macro_f1']:.4f}, "
            f"duration KL {summary['duration_kl']:.4f} -> {cfg.output}/report.html")
    return summary


def validate_genes(finder, mcfg: dict, pieces, out_dir: Path, *, split: str, log) -> dict:
    from genotool.report import Report

    from genotool_gencode.evaluation import evaluate_finder
    from genotool_gencode.genes.gff import write_gtf
    from genotool_gencode.progress import bar

    log(f"validating gene finder ({mcfg.get('head')}, {mcfg.get('features')}) on {len(pieces)} {split} "
        f"sequences ({sum(len(p.codes) for p in pieces):,} bp) ...")
    with bar("predicting genes", sum(len(p.codes) for p in pieces)) as advance:
        metrics, pred = evaluate_finder(finder, pieces, progress=advance)
    with open(out_dir / "predictions.gtf", "w") as fh:
        write_gtf(fh, pred)
    write_json(out_dir / "metrics.json", {**metrics, "model_config": mcfg})
    rep = Report(f"gencode validate: gene finder ({mcfg.get('head')}, {mcfg.get('features')}) on {split}")
    rep.add_table("Gene models", [{"level": lv, "sensitivity": metrics[f"{lv}_sensitivity"],
                                   "specificity": metrics[f"{lv}_specificity"], "F1": metrics[f"{lv}_f1"]}
                                  for lv in ("nucleotide", "exon", "gene")])
    truth = [e - s for p in pieces for g in p.genes for s, e in g.exons]
    predicted = [e - s for g in pred for s, e in g.exons]
    fig = rep.figure(width=7, height=3.5)
    ax = fig.subplots()
    bins = np.unique(np.round(np.geomspace(1, max([10, *truth, *predicted]) + 1, 40)).astype(int))
    ax.hist(truth, bins=bins, alpha=0.6, density=True, label=f"annotated (n={len(truth)})")
    ax.hist(predicted, bins=bins, alpha=0.6, density=True, label=f"predicted (n={len(predicted)})")
    ax.set_xscale("log")
    ax.set_xlabel("coding exon length (bp)")
    ax.legend(fontsize=8)
    rep.add_figure("Coding exon lengths, predicted vs annotated (log x axis, density)", fig,
                   png_path=out_dir / "exon_lengths.png")
    rep.write(out_dir / "report.html")
    return metrics


def validate_labels(model, cfg, data_dir: Path, out_dir: Path, *, split: str, max_chunks, plan, log) -> dict:
    from genotool.report import Report

    from genotool_gencode.dataset import ChunkDataset
    from genotool_gencode.evaluation import evaluate

    ds = ChunkDataset(data_dir / f"{split}.jsonl", max_chunks, states=model.strand_states)
    log(f"validating {cfg.head} ({cfg.encoder}) on {len(ds)} {split} chunks ...")
    metrics, nll, _ = evaluate(model, ds, plan, int(plan.batch_size))
    summary = metrics.summary()
    summary["nll_per_bp"] = nll
    summary["chunks"] = len(ds)
    per_class = metrics.per_class()
    write_json(out_dir / "metrics.json", {**summary, "per_class": per_class, "model_config": cfg.to_json()})

    rep = Report(f"gencode validate: {cfg.head} + {cfg.encoder} on {split}")
    rep.add_table("Summary", [{"metric": k, "value": v} for k, v in summary.items() if isinstance(v, (int, float))])
    rep.add_table("Per class", per_class)
    n = len(LABELS)
    cols = 4
    fig = rep.figure(width=14, height=3.2 * ((n + cols - 1) // cols))
    axes = fig.subplots((n + cols - 1) // cols, cols).ravel()
    for c in range(n):
        ax = axes[c]
        t, p = metrics.raw_true[c], metrics.raw_pred[c]
        hi = max([1, *t, *p])
        bins = np.unique(np.round(np.geomspace(1, hi + 1, 30)).astype(int))
        if t:
            ax.hist(t, bins=bins, alpha=0.6, label=f"true (n={len(t)})", density=True)
        if p:
            ax.hist(p, bins=bins, alpha=0.6, label=f"predicted (n={len(p)})", density=True)
        ax.set_xscale("log")
        kl = metrics.duration_kl(c)
        ax.set_title(f"{LABELS[c]}" + (f"  KL={kl:.3f}" if kl is not None else ""), fontsize=9)
        ax.set_xlabel("segment length (bp)", fontsize=8)
        if t or p:
            ax.legend(fontsize=7)
    for ax in axes[n:]:
        ax.axis("off")
    rep.add_figure("Segment duration histograms, predicted vs true (log x axis, density)", fig,
                   png_path=out_dir / "durations.png")
    rep.write(out_dir / "report.html")
    return summary
