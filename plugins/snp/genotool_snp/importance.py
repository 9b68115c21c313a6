"""``snp importance``: per-SNP importance by attention, integrated gradients, SmoothGrad,
saliency and gradient x (input - baseline) (captum), averaged over several trained models (attributions vary between retrained
models); ranked TSV, Manhattan PNG, and causal recovery when simulate's truth.json is given.

Attributions are taken on the float genotype input (B, C, L) against the training-mean baseline
(the genotype the model imputes for a missing site), summed as |attribution| over the channels
and averaged over the attributed samples. The target is the predicted class (population), the
case logit (binary phenotype) or the score (quantitative). Each model's scores are normalised to
sum 1 before the ensemble mean, so no model dominates by scale.

``gradient-x-input`` is the gradient times the input's difference from the training-mean
baseline (the first-order term of integrated gradients, one backward pass): for an additive
signal it is |effect| x |centred genotype|, the model's own per-SNP contribution, while
saliency (|gradient| alone) ignores how much a SNP's genotype actually varies.

With ``--truth``, rankings are scored after the marginal test's LD clumping (``--clump``, on by
default; ``--no-clump`` scores the raw rankings); the raw rankings' numbers are always reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions

METHODS = ("attention", "integrated-gradients", "smoothgrad", "saliency", "gradient-x-input")


@dataclass
class ImportanceOptions(RunOptions):
    model: Path
    data: Path
    output: Path
    extra_models: list = field(default_factory=list)
    methods: list = field(default_factory=lambda: ["integrated-gradients", "smoothgrad", "saliency", "attention"])
    truth: Path | None = None
    k: int = 10
    split: str = "test"
    max_samples: int = 64
    ig_steps: int = 32
    smoothgrad_samples: int = 8
    smoothgrad_sigma: float = 0.3
    clump: bool = True               # score rankings after LD clumping (as the marginal test is)
    seed: int = 0
    force: bool = False


def _target(model, x, label: dict):
    import torch

    if label["kind"] != "classes":
        return 0
    if label.get("binary"):
        return 1
    with torch.no_grad():
        return model(x).argmax(1)


def attributions(model, geno: np.ndarray, label: dict, method: str, opts: ImportanceOptions) -> np.ndarray | None:
    """(L,) mean |attribution| per SNP, or None when the method does not apply (attention without attention)."""
    import torch
    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    from genotool_snp.models import CNNTransformer

    dev = next(model.parameters()).device
    L = geno.shape[2]
    total = np.zeros(L)
    bs = opts.batch_size or 8
    if method == "attention":
        if not isinstance(model, CNNTransformer):
            return None
        for b in model.blocks:
            b.keep_attention = True
        try:
            for s in range(0, len(geno), bs):
                x = torch.from_numpy(np.ascontiguousarray(geno[s:s + bs])).to(dev)
                with torch.no_grad():
                    model(x)
                total += model.snp_attention(L).sum(0).float().cpu().numpy()
        finally:
            for b in model.blocks:
                b.keep_attention = False
                b.attention = None
        return total / len(geno)
    torch.manual_seed(opts.seed)
    for s in range(0, len(geno), bs):
        x = torch.from_numpy(np.ascontiguousarray(geno[s:s + bs])).to(dev).float()
        x = torch.where(x < 0, model.input.mean.expand_as(x), x)    # missing -> the imputed value
        x = x.contiguous().requires_grad_(True)                     # captum would warn and set it
        base = model.input.mean.expand_as(x).contiguous()
        target = _target(model, x, label)
        if method == "integrated-gradients":
            a = IntegratedGradients(model).attribute(x, baselines=base, target=target, n_steps=opts.ig_steps,
                                                     internal_batch_size=bs * 4)
        elif method == "saliency":
            a = Saliency(model).attribute(x, target=target, abs=True)
        elif method == "gradient-x-input":
            a = Saliency(model).attribute(x, target=target, abs=False) * (x - base).detach()
        elif method == "smoothgrad":
            a = NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=opts.smoothgrad_samples,
                                                       stdevs=opts.smoothgrad_sigma, target=target, abs=True)
        else:
            raise UserError(f"--methods: unknown method '{method}' (known: {', '.join(METHODS)})")
        total += a.detach().abs().sum(1).sum(0).cpu().numpy()
    return total / len(geno)


def run_importance(opts: ImportanceOptions) -> dict:
    import json

    import pandas as pd

    from genotool.outputs import run_output
    from genotool.report import Report
    from genotool_snp.predict import load
    from genotool_snp.preprocess import load_data
    from genotool_snp.labels import split_rows
    from genotool_snp.validate import check_sites, manhattan

    for m in opts.methods:
        if m not in METHODS:
            raise UserError(f"--methods: unknown method '{m}' (known: {', '.join(METHODS)})")
    if opts.k < 1:
        raise UserError(f"--k must be >= 1, not {opts.k}")
    plan = opts.plan()
    dev = "cuda" if plan.device.startswith("cuda") else plan.device
    data = load_data(opts.data)
    rows = split_rows(data, opts.split)
    if len(rows) == 0:
        raise UserError(f"--split: no samples in the '{opts.split}' split of {opts.data}")
    rng = np.random.default_rng(opts.seed)
    if len(rows) > opts.max_samples:
        rows = np.sort(rng.choice(rows, opts.max_samples, replace=False))
    geno = np.asarray(data["genotypes"])[rows]
    models = [opts.model] + list(opts.extra_models)
    params = {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if isinstance(v, list) else v)
              for k, v in asdict(opts).items()}
    with run_output(opts.output, command="snp importance", parameters=params,
                    inputs=[str(m) for m in models] + [str(opts.data)], force=opts.force) as run:
        run.plan = plan.to_dict()
        per_method: dict[str, list[np.ndarray]] = {}
        for path in models:
            model, payload = load(path, dev)
            check_sites(data, payload["extra"], "--model")
            for method in opts.methods:
                log(f"importance: {method} on {path}")
                a = attributions(model, geno, payload["extra"]["label"], method, opts)
                if a is not None:
                    per_method.setdefault(method, []).append(a / max(a.sum(), 1e-30))
        if not per_method:
            raise UserError("--methods: none of the methods applies to these models (attention needs cnn-transformer)")
        scores = {m: np.mean(v, 0) for m, v in per_method.items()}
        scores["ensemble"] = np.mean([s / s.sum() for s in scores.values()], 0)
        snps = data["snps"]
        df = pd.DataFrame({"index": np.arange(len(snps["pos"])), "chrom": snps["chrom"], "pos": snps["pos"],
                           **{m: s for m, s in scores.items()}})
        df = df.sort_values("ensemble", ascending=False, kind="stable")
        df.to_csv(run.path / "importance.tsv", sep="\t", index=False, float_format="%.6g")
        res = {"models": [str(m) for m in models], "methods": list(scores), "samples": int(len(rows))}
        marks = None
        if opts.truth is not None:
            from genotool_snp.causal import recovery_table

            res["recovery"] = recovery_table(data, opts.truth, scores, ks=sorted({opts.k, 10, 20}),
                                            clumped=opts.clump)
            marks = [int(snps["pos"][c]) for c in res["recovery"]["causal_indices"]]
        (run.path / "importance.json").write_text(json.dumps(res, indent=1, default=float) + "\n")
        rep = Report("snp importance")
        manhattan(rep, snps["pos"], scores["ensemble"], "ensemble importance", run.path / "manhattan.png", marks)
        if "recovery" in res:
            rep.add_table(f"Causal recovery at k (LD-aware: {res['recovery']['hit_rule']}; "
                          f"ranking {res['recovery']['ranking']})",
                          [{"method": m, **{f"{a}_{b}": v[a][b] for a in v for b in ("recall", "precision")}}
                           for m, v in res["recovery"]["methods"].items()])
        rep.write(run.path / "report.html")
    if "recovery" in res:
        for m, v in res["recovery"]["methods"].items():
            a = v[f"at_{opts.k}"]
            raw = res["recovery"]["methods_raw"].get(m)
            log(f"{m}: recall@{opts.k} {a['recall']:.2f}, precision@{opts.k} {a['precision']:.2f}"
                + (f" (raw ranking: {raw[f'at_{opts.k}']['recall']:.2f}, {raw[f'at_{opts.k}']['precision']:.2f})"
                   if raw and opts.clump else ""))
    return res
