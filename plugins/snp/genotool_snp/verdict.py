"""Saying plainly when a baseline beats the model (issue 26), and the train report.

A user must not pick a worse model by accident: ``train`` sets the model beside PCA(10) +
nearest centroid / logistic regression on the validation split, ``compare`` on its validation
split or, with ``--cv``, on the folds' test accuracies (mean and spread). The sentences go to
stdout and into the reports.
"""

from __future__ import annotations

from pathlib import Path

PRETTY = {"pca10+nearest-centroid": "PCA(10) + nearest centroid", "pca10+logistic": "PCA(10) + logistic regression",
          "logistic-all-snps": "logistic regression on all SNPs"}


def pretty(name: str) -> str:
    return PRETTY.get(name, name)


def standard_error(acc: float, n: int) -> float:
    """Binomial standard error of an accuracy on n samples (Laplace-smoothed, so 0/n and n/n
    are not called certain): sqrt(p (1 - p) / n), p = (correct + 1) / (n + 2)."""
    p = (acc * n + 1) / (n + 2)
    return float((p * (1 - p) / n) ** 0.5)


def against_baselines(model: str, acc: float, baselines: dict[str, float], where: str,
                      spread: float | None = None, spread_name: str = "spread") -> dict:
    """{"baseline_wins": bool, "best_baseline", "sentence"}: the model's accuracy against the best
    baseline's. ``spread``: the model's standard deviation over folds, or the standard error of
    its accuracy on one split (a lead or a deficit within it is said to be within it)."""
    name, best = max(baselines.items(), key=lambda kv: kv[1])
    gap = acc - best
    within = spread is not None and abs(gap) <= spread
    unit = f" ({spread_name} {spread:.3f})" if spread is not None else ""
    if gap < 0:
        sentence = (f"{pretty(name)} is MORE ACCURATE than {model} {where}: {best:.3f} vs {acc:.3f}{unit}"
                    + (f"; the gap is within the {spread_name}." if within else
                       ". Prefer the baseline for this cohort (or give the model more samples)."))
    elif gap == 0:
        sentence = f"{model} ties {pretty(name)} {where}: {acc:.3f}{unit}."
    else:
        sentence = (f"{model} leads the baselines {where}: {acc:.3f} vs {best:.3f} ({pretty(name)}){unit}"
                    + (f"; the lead is within the {spread_name}." if within else "."))
    return {"baseline_wins": bool(gap < 0), "best_baseline": name, "baseline_accuracy": best,
            "model_accuracy": acc, "within_spread": bool(within), "sentence": sentence}


def write_train_report(summary: dict, out: Path) -> None:
    """report.html in a model folder: validation metrics beside the baselines, the verdict, the
    learning curve."""
    from genotool.report import Report

    rep = Report(f"snp train: {summary['architecture']} ({summary['task']})")
    val = summary.get("validation")
    if val:
        rep.add_text(val["verdict"]["sentence"])
        rep.add_table(f"Validation split ({val['n']} samples): model and baselines fitted on the training split",
                      [{"method": k, "accuracy": v} for k, v in val["accuracy"].items()])
    head = summary.get("linear_head")
    if head:
        kept = "kept" if head.get("residual_kept") else "dropped (the linear head alone is saved)"
        rep.add_text(f"Linear head: {head['choice']}; the network's residual was {kept}.")
        rep.add_table("Linear-head candidates: validation score (log-loss, or 1 - R^2; lower is better)",
                      [{"candidate": k, "score": v} for k, v in head["validation_scores"].items()])
    hist = summary.get("history") or []
    if hist:
        fig = rep.figure(6, 3.5)
        ax = fig.subplots()
        ep = [r["epoch"] for r in hist]
        for key in ("train_loss", "val_loss"):
            if all(key in r for r in hist):
                ax.plot(ep, [r[key] for r in hist], marker="o", label=key)
        if head and "val_loss_linear_head" in head:
            ax.axhline(head["val_loss_linear_head"], color="grey", ls="--", label="val_loss, linear head alone")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        rep.add_figure("Learning curve", fig, png_path=out / "learning_curve.png")
    rep.write(out / "report.html")
