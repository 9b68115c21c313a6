"""``snp validate``: a trained model on its preprocess folder's test split, beside the baselines.

Population task: accuracy, macro-F1, confusion, per-class accuracy and ROC AUC for the model and
for PCA(10) + logistic regression / + nearest centroid fitted on the same training split.
Phenotype task: ROC AUC (binary) or R^2 (quantitative) beside ridge / logistic regression on the
same SNPs. HTML report: confusion matrix, PCA plot coloured by truth and by prediction, Manhattan
plot of the model's per-SNP saliency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions


@dataclass
class ValidateOptions(RunOptions):
    model: Path
    data: Path
    output: Path
    truth: Path | None = None            # simulate's truth.json: causal recovery (phenotype task)
    seed: int = 0
    force: bool = False


def check_sites(data: dict, extra: dict, option: str = "--data") -> None:
    s = extra["sites"]
    if len(s["pos"]) != len(data["snps"]["pos"]) or list(s["pos"]) != [int(p) for p in data["snps"]["pos"]]:
        raise UserError(f"{option}: {data['path']} has other SNPs than the model was trained on "
                        "(use `snp predict` for a new VCF)")


def evaluate(model, payload: dict, data: dict, plan, batch_size: int, seed: int = 0) -> dict:
    """Model and baseline metrics on the test split; plus arrays for the report."""
    from genotool_snp import evaluate as ev
    from genotool_snp.predict import model_outputs
    from genotool_snp.train import split_rows, targets

    spec = payload["extra"]["label"]
    y = targets(data, spec)
    tr, va, te = (split_rows(data, k) for k in ("train", "val", "test"))
    geno = np.asarray(data["genotypes"])
    out = model_outputs(model, geno[te], plan, batch_size)
    x = ev.dosage(geno, tr)
    res = {"task": payload["extra"]["task"], "label": spec, "n_test": int(len(te)),
           "architecture": payload["config"]["architecture"]}
    arrays = {"test": te, "y": y, "out": out}
    if spec["kind"] == "classes" and not spec.get("binary"):
        prob = ev.softmax(out)
        res["methods"] = {f"genotool-{res['architecture']}": ev.classification_metrics(y[te], prob, spec["classes"])}
        base, extra = ev.pca_baselines(x, y, tr, te, spec["classes"], seed=seed)
        res["methods"].update(base)
        arrays.update(pcs=extra["pcs"], pred=prob.argmax(1))
    elif spec["kind"] == "classes":
        p1 = ev.softmax(out)[:, 1]
        res["methods"] = {f"genotool-{res['architecture']}": ev.binary_metrics(y[te], p1),
                          "logistic-all-snps": ev.linear_baseline(x, y, tr, va, te, binary=True)}
    else:
        res["methods"] = {f"genotool-{res['architecture']}": ev.regression_metrics(y[te], out[:, 0]),
                          "ridge-all-snps": ev.linear_baseline(x, y, tr, va, te, binary=False)}
    return res, arrays


def table_rows(res: dict) -> list[dict]:
    """One row per method: the headline metrics (and each class's accuracy for populations)."""
    rows = []
    for name, m in res["methods"].items():
        row = {"method": name}
        for k in ("accuracy", "macro_f1", "roc_auc", "pr_auc", "r2", "pearson_r"):
            if k in m:
                row[k] = m[k]
        for c, v in m.get("per_class", {}).items():
            row[f"acc_{c}"] = v["accuracy"]
        rows.append(row)
    return rows


def saliency(model, geno: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Mean |gradient x input| per SNP over samples (the model's own output for its top class). (L,)"""
    import torch

    dev = next(model.parameters()).device
    total = None
    for s in range(0, len(geno), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(geno[s:s + batch_size])).to(dev)
        emb = model.input(x).detach().requires_grad_(True)
        out = _forward_from_embedding(model, emb)
        top = out.max(1).values if out.shape[1] > 1 else out[:, 0]
        (g,) = torch.autograd.grad(top.sum(), emb)
        a = (g * emb).abs().sum(1).sum(0).detach().cpu().numpy()
        total = a if total is None else total + a
    return total / len(geno)


def _forward_from_embedding(model, emb):
    """Run a model from its input embedding (B, d, L) on (shared by saliency and importance)."""
    import torch

    class _Fixed(torch.nn.Module):
        def forward(self, x):
            return emb

    inp = model.input
    model.input = _Fixed()
    try:
        return model(torch.zeros(emb.shape[0], 1, 1))
    finally:
        model.input = inp


def write_report(res: dict, arrays: dict, sal: np.ndarray, data: dict, out: Path) -> None:
    from genotool.report import Report

    rep = Report(f"snp validate: {res['architecture']} ({res['task']})")
    rep.add_table("Test split: model and baselines", table_rows(res))
    spec = res["label"]
    key = f"genotool-{res['architecture']}"
    if "confusion" in res["methods"][key]:
        cm = np.asarray(res["methods"][key]["confusion"])
        fig = rep.figure(4.5, 4)
        ax = fig.subplots()
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(len(spec["classes"])), spec["classes"])
        ax.set_yticks(range(len(spec["classes"])), spec["classes"])
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center")
        ax.set_xlabel("predicted")
        ax.set_ylabel("truth")
        rep.add_figure("Confusion matrix (test)", fig, png_path=out / "confusion.png")
    if "pcs" in arrays:
        fig = rep.figure(9, 4)
        axes = fig.subplots(1, 2)
        y, pred, pcs = arrays["y"][arrays["test"]], arrays["pred"], arrays["pcs"]
        for ax, lab, title in ((axes[0], y, "truth"), (axes[1], pred, "prediction")):
            for k, c in enumerate(spec["classes"]):
                m = lab == k
                ax.scatter(pcs[m, 0], pcs[m, 1], s=10, label=c)
            ax.set_title(f"test samples: {title}")
            ax.set_xlabel("PC1")
            ax.set_ylabel("PC2")
        axes[0].legend(fontsize=7)
        rep.add_figure("PCA (fitted on the training split)", fig, png_path=out / "pca.png")
    manhattan(rep, data["snps"]["pos"], sal, "model saliency |grad x input| per SNP", out / "manhattan.png")
    rep.write(out / "report.html")


def manhattan(rep, pos, score, ylabel: str, png: Path, marks=None) -> None:
    fig = rep.figure(9, 3)
    ax = fig.subplots()
    ax.scatter(np.asarray(pos) / 1e6, score, s=3, c="#3465a4")
    for m in marks or []:
        ax.axvline(m / 1e6, color="#cc0000", lw=0.8, alpha=0.7)
    ax.set_xlabel("position (Mb)")
    ax.set_ylabel(ylabel)
    rep.add_figure(f"Manhattan: {ylabel}" + (" (red: causal SNPs)" if marks else ""), fig, png_path=png)


def run_validate(opts: ValidateOptions) -> dict:
    import json

    from genotool.outputs import run_output
    from genotool_snp.predict import load
    from genotool_snp.preprocess import load_data

    plan = opts.plan(default_batch_size=64)
    data = load_data(opts.data)
    model, payload = load(opts.model, "cuda" if plan.device.startswith("cuda") else plan.device)
    check_sites(data, payload["extra"])
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    with run_output(opts.output, command="snp validate", parameters=params,
                    inputs=[str(opts.model), str(opts.data)], force=opts.force) as run:
        run.plan = plan.to_dict()
        res, arrays = evaluate(model, payload, data, plan, plan.batch_size, opts.seed)
        geno = np.asarray(data["genotypes"])[arrays["test"]]
        sal = saliency(model, geno)
        if opts.truth is not None and (res["label"]["kind"] != "classes" or res["label"].get("binary")):
            from genotool_snp.causal import recovery_table

            res["causal_recovery"] = recovery_table(data, opts.truth, {"saliency": sal})
        (run.path / "validation.json").write_text(json.dumps(res, indent=1, default=float) + "\n")
        write_report(res, arrays, sal, data, run.path)
    for row in table_rows(res):
        log("  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return res
