"""`gencode validate`: metrics on a split + HTML report (per-class table, duration histograms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genotool.outputs import write_json
from genotool_gencode.labels import LABELS


def run_validate(data_dir: Path, model_dir: Path, out_dir: Path, *, split: str, max_chunks, plan, log) -> dict:
    from genotool.report import Report

    from genotool_gencode.train import ChunkDataset, evaluate, load_model

    model, cfg = load_model(model_dir, plan.device)
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
