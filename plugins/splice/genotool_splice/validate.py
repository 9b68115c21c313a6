"""``splice validate``: base model alone vs score-only vs meta-layer on the held-out rows.

Writes ``validation.json`` (one metric row per model), ``report.html`` (table, PR curves per
class, reliability diagram) and the PNGs beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions


@dataclass
class ValidateConfig(RunOptions):
    data: Path
    model: Path
    output: Path
    score_only_model: Path | None = None
    split: str = "test"
    force: bool = False


def model_probs(model_dir: Path, rows, plan, option: str = "--model", want: str | None = None):
    """(probs (n, 3), payload) of a trained meta/score-only model over ``rows``."""
    import torch

    from genotool.engine import autocast_context
    from genotool_splice.data import MetaDataset
    from genotool_splice.train import load_meta, predict_probs

    model, payload = load_meta(model_dir, device=plan.device)
    arch = payload["config"]["model"]["architecture"]
    if want and arch != want:
        raise UserError(f"{option}: {model_dir} is a '{arch}' model, not '{want}'")
    if rows.window.shape[1] != payload["config"]["window"] and arch == "meta":
        raise UserError(f"{option}: {model_dir} was trained on {payload['config']['window']} nt windows, the data has "
                        f"{rows.window.shape[1]}")
    ds = MetaDataset(rows, payload["config"]["feature_stats"])
    loader = torch.utils.data.DataLoader(ds, batch_size=plan.batch_size or 512, shuffle=False)
    with torch.inference_mode(), autocast_context(plan):
        return predict_probs(model, loader, plan.device), payload


def _figures(rep, out: Path, curves: dict, labels: np.ndarray) -> None:
    from sklearn.metrics import precision_recall_curve

    from genotool_splice.metrics import reliability

    fig = rep.figure(10, 4)
    axes = fig.subplots(1, 2)
    for c, (ax, name) in enumerate(zip(axes, ("donor", "acceptor"))):
        for model, probs in curves.items():
            p, r, _ = precision_recall_curve(labels == c, probs[:, c])
            ax.plot(r, p, label=model)
        ax.set_title(f"{name} sites")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.legend()
    rep.add_figure("Precision-recall curves on the held-out rows", fig, png_path=out / "pr_curves.png")
    fig = rep.figure(5, 4.5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], "k:", label="perfect")
    for model, probs in curves.items():
        rel = reliability(probs, labels)
        ax.plot([b["confidence"] for b in rel], [b["accuracy"] for b in rel], "o-", label=model)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.legend()
    rep.add_figure("Reliability diagram (10 bins)", fig, png_path=out / "reliability.png")


def run_validate(cfg: ValidateConfig) -> dict:
    from genotool.outputs import run_output, write_json
    from genotool.report import Report
    from genotool_splice.data import base_probs, load_split, read_summary
    from genotool_splice.metrics import evaluate

    if cfg.split not in ("test", "val"):
        raise UserError(f"--split must be test or val, not '{cfg.split}'")
    summary = read_summary(cfg.data)
    rows = load_split(cfg.data, cfg.split)
    if len(rows) == 0:
        raise UserError(f"--data: the {cfg.split} split of {cfg.data} is empty (chromosomes "
                        f"{', '.join(summary['splits'].get(cfg.split, [])) or 'none'})")
    if len(set(rows.label.tolist()) & {0, 1}) < 2:
        raise UserError(f"--data: the {cfg.split} split has no donor or no acceptor sites")
    plan = cfg.plan()
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    inputs = [cfg.data, cfg.model] + ([cfg.score_only_model] if cfg.score_only_model else [])
    with run_output(cfg.output, command="splice validate", parameters=params, inputs=inputs, force=cfg.force) as run:
        run.plan = plan.to_dict()
        b = base_probs(rows.features)
        curves = {"base": b}
        if cfg.score_only_model:
            curves["score-only"], _ = model_probs(cfg.score_only_model, rows, plan, "--score-only-model", "score-only")
        meta, payload = model_probs(cfg.model, rows, plan)
        curves[payload["config"]["model"]["architecture"]] = meta
        table, full = [], {}
        for name, probs in curves.items():
            m = evaluate(probs, rows.label)
            full[name] = m
            table.append({"model": name, **{k: v for k, v in m.items() if isinstance(v, float)}})
        base_desc = summary["base"]
        rep = {"split": cfg.split, "rows": len(rows), "sites": full["base"]["sites"], "base": base_desc,
               "table": table, "metrics": full}
        write_json(run.path / "validation.json", rep)
        r = Report(f"splice validation ({cfg.split} chromosomes: {', '.join(summary['splits'][cfg.split])})")
        r.add_text(f"Base model: {base_desc['kind']} ({base_desc['flank']} nt flank, {base_desc['seeds']} model(s)). "
                   f"Rows: {len(rows)} candidates ({full['base']['sites']['donor']} donors, "
                   f"{full['base']['sites']['acceptor']} acceptors). Top-k: k = number of true sites of the class.")
        keys = ["model", "pr_auc_donor", "pr_auc_acceptor", "ap_donor", "ap_acceptor", "topk_donor", "topk_acceptor",
                "top100_donor", "top500_donor", "ece", "accuracy"]
        r.add_table("Metrics", [{k: t[k] for k in keys} for t in table])
        _figures(r, run.path, curves, rows.label)
        r.write(run.path / "report.html")
    return rep
