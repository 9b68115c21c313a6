"""``snp predict``: a new VCF + a trained model -> per-sample class probabilities or scores.

Sites are aligned to the model's SNP list by (chrom, pos, ref, alt), so the records of a split
multi-allelic site each find their own model site, in any record order. Model sites absent from
the VCF (or present with other alleles) are counted and imputed as the training mean; above
``max_missing_fraction`` the run is refused, and a VCF sharing no contig with the model is an
error of its own. A model site given twice (an exact duplicate record) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log, warn
from genotool.options import RunOptions
from genotool_snp.train import PLUGIN


@dataclass
class PredictOptions(RunOptions):
    vcf: Path
    model: Path
    output: Path
    max_missing_fraction: float = 0.1
    force: bool = False


def load(model_dir: Path, device: str = "cpu"):
    from genotool.engine import load_model
    from genotool_snp.models import build

    return load_model(model_dir, build, plugin=PLUGIN, device=device)


def aligned_genotypes(vcf: Path, sites: dict, phased_model: bool, max_missing: float, chunk_sites: int = 4096):
    """Read ``vcf`` and place its genotypes on the model's sites.

    Returns (samples, genotypes (N, C, L) int8 with -1 where missing, number of model sites missing)."""
    from genotool_snp.vcfio import ReadStats, duplicate_record, read_chunks, vcf_samples

    names = vcf_samples(vcf)
    if not names:
        raise UserError(f"--vcf: {vcf} has no samples")
    # A site is (chrom, pos, ref, alt): split multi-allelic records (`bcftools norm -m-`) put
    # several sites at one position, and the model may hold more than one of them.
    key = {(c, int(p), r, a): i for i, (c, p, r, a) in enumerate(zip(sites["chrom"], sites["pos"], sites["ref"],
                                                                     sites["alt"]))}
    model_pos = {(c, int(p)) for c, p in zip(sites["chrom"], sites["pos"])}
    L = len(sites["pos"])
    hap = np.full((len(names), 2, L), -1, np.int8)
    found = np.zeros(L, bool)
    stats = ReadStats()
    other_alleles = set()              # model positions seen with alleles the model does not hold
    model_contigs = set(sites["chrom"])
    # Any record order is read: sites are matched by key, not by position in the file.
    for ch in read_chunks(vcf, names, chunk_sites, stats, sorted_input=False):
        for r, (c, p, ref, alt) in enumerate(zip(ch.chrom, ch.pos, ch.ref, ch.alt)):
            i = key.get((c, int(p), ref, alt))
            if i is None:
                if (c, int(p)) in model_pos:
                    other_alleles.add((c, int(p)))
                continue
            if found[i]:
                raise duplicate_record(vcf, c, p, ref, alt)
            hap[:, :, i] = ch.alleles[r].reshape(len(names), 2)
            found[i] = True
    if not (set(stats.contigs) & model_contigs):
        raise UserError(f"--vcf: {vcf} has contigs {', '.join(sorted(stats.contigs)) or 'none'}; the model was "
                        f"trained on {', '.join(sorted(model_contigs))}")
    missing = int((~found).sum())
    mismatched = sum(1 for i in np.flatnonzero(~found) if (sites["chrom"][i], int(sites["pos"][i])) in other_alleles)
    if missing / L > max_missing:
        raise UserError(f"--vcf: {vcf} lacks {missing} of the model's {L} sites ({missing / L:.1%}; "
                        f"{mismatched} with other alleles), above --max-missing-fraction {max_missing}")
    if missing:
        warn(f"{vcf}: {missing} of {L} model sites missing ({mismatched} with other alleles): imputed as the "
             "training mean")
    if not phased_model:
        miss = (hap < 0).any(1)
        hap = np.where(miss, -1, hap.sum(1, dtype=np.int8))[:, None, :].astype(np.int8)
    elif stats.unphased_calls:
        warn(f"{vcf}: {stats.unphased_calls} unphased calls for a model trained on phased haplotypes")
    return names, hap, missing


def model_outputs(model, geno: np.ndarray, plan, batch_size: int) -> np.ndarray:
    """Raw model outputs (N, n_out) float64 for genotypes (N, C, L) int8."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from genotool.engine import predict_loop

    loader = DataLoader(TensorDataset(torch.from_numpy(np.ascontiguousarray(geno))), batch_size=batch_size)
    outs = predict_loop(model, loader, fn=lambda m, b: m(b[0].to(next(m.parameters()).device)).float(), plan=plan)
    return torch.cat(outs).numpy().astype(np.float64)


def to_table(names: list[str], out: np.ndarray, label: dict) -> dict:
    """Columns of the prediction table (sample, prediction, per-class probabilities or the score)."""
    if label["kind"] == "classes":
        z = out - out.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        cols = {"sample": names, "prediction": [label["classes"][i] for i in p.argmax(1)]}
        for k, c in enumerate(label["classes"]):
            cols[f"prob_{c}"] = p[:, k]
        return cols
    score = out[:, 0] * label["std"] + label["mean"]
    return {"sample": names, "prediction": score, "score": score}


def run_predict(opts: PredictOptions) -> dict:
    from dataclasses import asdict

    import pandas as pd

    from genotool.outputs import run_output

    if not 0 <= opts.max_missing_fraction <= 1:
        raise UserError(f"--max-missing-fraction must be in [0, 1], not {opts.max_missing_fraction}")
    plan = opts.plan(default_batch_size=64)
    model, payload = load(opts.model, "cuda" if plan.device.startswith("cuda") else plan.device)
    extra = payload["extra"]
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    with run_output(opts.output, command="snp predict", parameters=params, inputs=[str(opts.vcf), str(opts.model)],
                    force=opts.force) as run:
        names, geno, missing = aligned_genotypes(opts.vcf, extra["sites"], extra.get("phased", True),
                                                 opts.max_missing_fraction)
        run.plan = plan.to_dict()
        out = model_outputs(model, geno, plan, plan.batch_size)
        df = pd.DataFrame(to_table(names, out, extra["label"]))
        df.to_csv(run.path / "predictions.tsv", sep="\t", index=False, float_format="%.6g")
        df.to_parquet(run.path / "predictions.parquet", index=False)
        run.runtime.update(samples=len(names), sites_missing=missing)
    log(f"predicted {len(names)} samples ({missing} model sites missing); wrote {opts.output}")
    return {"samples": len(names), "sites_missing": missing}
