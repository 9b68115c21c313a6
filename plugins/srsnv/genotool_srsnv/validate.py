"""``srsnv validate``: holdout report (HTML + JSON), CNN beside the XGBoost baseline on the same manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError


def load_training_output(model_dir: Path) -> dict:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserError(f"--model: not a folder: {model_dir}")
    metas = sorted(model_dir.glob("*srsnv_dnn_metadata.json"))
    preds = sorted(model_dir.glob("*srsnv_dnn_predictions.parquet"))
    need = [model_dir / "split_manifest.json", model_dir / "calibration.json"]
    if not metas or not preds or not all(p.is_file() for p in need):
        raise UserError(f"--model: {model_dir} is not a `genotool srsnv train` output (metadata, predictions, "
                        "split_manifest.json, calibration.json expected)")
    import pandas as pd

    return {"dir": model_dir, "meta": json.loads(metas[0].read_text()), "pred": pd.read_parquet(preds[0]),
            "manifest": json.loads(need[0].read_text()), "calibration": json.loads(need[1].read_text())}


def _calibration_curve(snvq, label, prior, n_pos_tot, n_neg_tot, bins):
    """Empirical SNVQ per predicted-SNVQ bin (class-reweighted with the same prior)."""
    xs, ys = [], []
    w_neg, w_pos = prior / max(1, n_neg_tot), (1 - prior) / max(1, n_pos_tot)
    for a, b in zip(bins[:-1], bins[1:]):
        m = (snvq >= a) & (snvq < b)
        if m.sum() < 20:
            continue
        k = (label[m] == 0).sum()
        f = (k + 0.5) / (m.sum() + 1)
        perr = f * w_neg / (f * w_neg + (1 - f) * w_pos)
        xs.append(float(snvq[m].mean()))
        ys.append(float(-10 * np.log10(perr)))
    return xs, ys


@dataclass
class ValidateConfig:
    """One ``srsnv validate`` command line. The CNN side reads the holdout predictions ``train``
    wrote (no network runs here); the XGBoost baseline is trained on the same split manifest."""

    model: Path
    positive_parquet: Path
    negative_parquet: Path
    training_regions: Path
    output: Path
    xgb_depth: int = 8
    xgb_rounds: int = 600
    with_xgb: bool = True
    seed: int = 0
    force: bool = False


def run_validate(cfg: ValidateConfig) -> dict:
    model_dir, positive_parquet, negative_parquet = cfg.model, cfg.positive_parquet, cfg.negative_parquet
    training_regions, output, force = cfg.training_regions, cfg.output, cfg.force
    xgb_depth, xgb_rounds, with_xgb, seed = cfg.xgb_depth, cfg.xgb_rounds, cfg.with_xgb, cfg.seed
    from genotool.outputs import run_output, write_json
    from genotool_srsnv import splits
    from genotool_srsnv.calibration import apply_snvq, fit_snvq, mqual
    from genotool_srsnv.metrics import holdout_report
    from genotool_srsnv.pipeline import labelled_rows

    params = {"model": str(model_dir), "xgb_max_depth": xgb_depth, "xgb_rounds": xgb_rounds, "with_xgb": with_xgb,
              "seed": seed}
    with run_output(output, command="srsnv validate", parameters=params,
                    inputs=[model_dir, positive_parquet, negative_parquet, training_regions], force=force) as run:
        tr = load_training_output(model_dir)
        manifest = tr["manifest"]
        prior = tr["calibration"]["prior_error_rate"]
        pred = tr["pred"]
        report: dict = {"manifest": splits.params_of(manifest), "snv_error_prior": prior}
        test = pred["split"].to_numpy() == "test"
        if not test.any():
            raise UserError(f"--model: {model_dir} has no holdout (test) rows to validate on")
        cnn_y = pred["label"].to_numpy()[test]
        cnn_p = pred["prob"].to_numpy()[test]
        cnn_s = pred["SNVQ"].to_numpy()[test]
        mixed = pred["mixed"].to_numpy()[test]
        report["cnn"] = holdout_report(cnn_y, cnn_p, cnn_s, mixed)
        curves = {"CNN": (cnn_y, cnn_p, cnn_s)}
        if with_xgb:
            from genotool_srsnv.xgb_baseline import train_and_score

            df, _, _, _ = labelled_rows(positive_parquet, negative_parquet, training_regions)
            chrom = df["CHROM"].to_numpy().astype(str)
            split, fold = splits.apply_manifest(manifest, chrom, df["RN"].to_numpy().astype(str),
                                                label=df["label"].to_numpy(), check=True)
            xres = train_and_score(df, split, fold, manifest, max_depth=xgb_depth, rounds=xgb_rounds, seed=seed)
            xp = xres["prob"]
            xmq = mqual(xp)
            val = split == 1
            table = fit_snvq(xmq[val], df["label"].to_numpy()[val], prior)
            xs = apply_snvq(xmq, table)
            xdf = df[["CHROM", "POS", "RN", "label"]].assign(xgb_prob=xp, xgb_snvq=xs, split=split,
                                                            xmixed=(df["st"] == "MIXED") | (df["et"] == "MIXED")
                                                            if "st" in df else False)
            xt = xdf[xdf["split"] == 2]
            report["xgboost"] = holdout_report(xt["label"].to_numpy(), xt["xgb_prob"].to_numpy(),
                                               xt["xgb_snvq"].to_numpy(), xt["xmixed"].to_numpy())
            report["xgboost_training"] = {k: xres[k] for k in ("folds", "seconds", "params")}
            # the same rows for both models: holdout rows whose read the CNN found
            j = pred[test].merge(xt, on=["CHROM", "POS", "RN", "label"], how="inner")
            report["paired_rows"] = int(len(j))
            report["paired"] = {"cnn": holdout_report(j["label"], j["prob"], j["SNVQ"], j["mixed"])["all"],
                                "xgboost": holdout_report(j["label"], j["xgb_prob"], j["xgb_snvq"], j["mixed"])["all"]}
            curves["XGBoost"] = (xt["label"].to_numpy(), xt["xgb_prob"].to_numpy(), xt["xgb_snvq"].to_numpy())
            xdf.drop(columns=["xmixed"]).to_parquet(run.path / "xgboost_predictions.parquet", index=False)
        write_json(run.path / "holdout_report.json", report)
        _html(run.path, report, curves, prior)
        run.runtime.update(cnn_holdout_auc=report["cnn"]["all"]["roc_auc"],
                           xgb_holdout_auc=report.get("xgboost", {}).get("all", {}).get("roc_auc"))
    return report


def _html(out: Path, report: dict, curves: dict, prior: float) -> None:
    from sklearn.metrics import precision_recall_curve, roc_curve

    from genotool.report import Report

    rep = Report("srsnv holdout report")
    rows = []
    for name, key in (("CNN", "cnn"), ("XGBoost", "xgboost")):
        if key not in report:
            continue
        for sub in ("all", "mixed", "non_mixed"):
            m = report[key][sub]
            rows.append({"model": name, "reads": sub, "n": m["n"], "ROC AUC": m.get("roc_auc"),
                         "AUC (Phred)": m.get("roc_auc_phred"), "PR AUC": m.get("pr_auc"),
                         "log loss": m.get("log_loss"), "median SNVQ": m.get("median_snvq_positive"),
                         "recall@SNVQ50": m.get("recall_at_snvq_50"), "recall@SNVQ60": m.get("recall_at_snvq_60"),
                         "recall@SNVQ70": m.get("recall_at_snvq_70")})
    rep.add_table("Holdout metrics (test chromosomes " + ", ".join(report["manifest"]["holdout_chromosomes"]) + ")", rows)
    if "paired" in report:
        rep.add_text(f"Paired rows (present for both models): {report['paired_rows']}; CNN ROC AUC "
                     f"{report['paired']['cnn']['roc_auc']:.4f} vs XGBoost {report['paired']['xgboost']['roc_auc']:.4f}.")
    fig = rep.figure(10, 4)
    ax1, ax2 = fig.subplots(1, 2)
    for name, (y, p, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax1.plot(fpr, tpr, label=name)
        pr, rc, _ = precision_recall_curve(y, p)
        ax2.plot(rc, pr, label=name)
    ax1.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax2.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax1.legend()
    ax2.legend()
    rep.add_figure("ROC and PR curves on the holdout", fig, png_path=out / "roc_pr.png")
    fig = rep.figure(10, 4)
    ax1, ax2 = fig.subplots(1, 2)
    bins = np.linspace(0, 80, 41)
    for name, (y, p, s) in curves.items():
        xs, ys = _calibration_curve(s, y, prior, (y == 1).sum(), (y == 0).sum(), np.linspace(0, 80, 17))
        ax1.plot(xs, ys, "o-", label=name)
    ax1.plot([0, 80], [0, 80], "k:", lw=0.8)
    ax1.set(xlabel="predicted SNVQ", ylabel="empirical SNVQ (holdout)", title="SNVQ calibration")
    ax1.legend()
    for name, (y, p, s) in curves.items():
        ax2.hist(s[y == 1], bins=bins, histtype="step", label=f"{name} real")
        ax2.hist(s[y == 0], bins=bins, histtype="step", ls="--", label=f"{name} errors")
    ax2.set(xlabel="SNVQ", ylabel="reads", title="SNVQ histograms", yscale="log")
    ax2.legend(fontsize=7)
    rep.add_figure("SNVQ calibration and histograms", fig, png_path=out / "snvq.png")
    rep.add_text(f"SNVQ: calibrated on validation rows only, prior per-base error rate {prior:g}. "
                 "Recall at SNVQ t = fraction of real (positive) holdout reads with SNVQ >= t.")
    rep.write(out / "report.html")
