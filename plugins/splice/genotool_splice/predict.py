"""``splice predict``: FASTA (+ region) -> per-position base and meta-layer probabilities.

Both strands are scored by the base model (the one the meta-layer was trained over). Positions
whose base donor or acceptor probability reaches ``min_score`` are rescored by the meta-layer
(the rest are confidently "neither" for both and would only bloat the tracks). Writes
``{base,meta}.{donor,acceptor}.{plus,minus}.bedGraph`` (0-based, sparse: only rescored
positions) and ``sites.bed`` (meta-layer calls: donor/acceptor probability >= threshold).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions


@dataclass
class PredictConfig(RunOptions):
    fasta: Path
    model: Path
    output: Path
    region: str | None = None
    threshold: float = 0.5
    min_score: float | None = None
    base_weights: Path | None = None
    force: bool = False


def parse_region(text: str | None, fa) -> list[tuple[str, int, int]]:
    """'chr', 'chr:start-end' (1-based, inclusive) -> [(chrom, start0, end)]; None -> every contig."""
    if not text:
        return [(c, 0, fa.get_reference_length(c)) for c in fa.references]
    m = re.fullmatch(r"([^:]+)(?::([\d,]+)-([\d,]+))?", text.strip())
    if not m:
        raise UserError(f"--region: '{text}' is not chrom or chrom:start-end")
    chrom = m.group(1)
    if chrom not in fa.references:
        raise UserError(f"--region: contig '{chrom}' is not in the FASTA")
    n = fa.get_reference_length(chrom)
    if m.group(2) is None:
        return [(chrom, 0, n)]
    s, e = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    if s < 1 or e < s or e > n:
        raise UserError(f"--region: {text} is outside {chrom} (1..{n}) or empty")
    return [(chrom, s - 1, e)]


def load_models(model_dir: Path, base_weights: Path | None, plan):
    """(meta model, payload, base scorer) with the base model the meta-layer was trained over."""
    from genotool_splice.base import BaseSpec, load_base
    from genotool_splice.train import load_meta

    meta, payload = load_meta(model_dir, device=plan.device)
    spec = BaseSpec(**payload["config"]["base"])
    if base_weights:
        spec.weights = str(base_weights)
    if not Path(spec.weights).exists():
        raise UserError(f"--base-weights: the model's base weights {spec.weights} are not there; give "
                        f"--base-weights DIR")
    scorer = load_base(spec, device=plan.device, batch_size=32, precision=plan.precision)
    if scorer.flank != payload["config"]["base_context"]:
        raise UserError(f"--base-weights: {spec.weights} has a {scorer.flank} nt context, the meta-layer was "
                        f"trained over {payload['config']['base_context']} nt")
    return meta, payload, scorer


def meta_scores(meta, payload, probs_t: np.ndarray, codes_t: np.ndarray, idx: np.ndarray, plan) -> np.ndarray:
    """Meta-layer (donor, acceptor, neither) probabilities at idx of one strand in transcript orientation."""
    import torch

    from genotool.engine import autocast_context
    from genotool_splice.data import standardise
    from genotool_splice.features import score_features
    from genotool_splice.seqio import windows

    if len(idx) == 0:
        return np.zeros((0, 3), np.float32)
    f = torch.from_numpy(standardise(score_features(probs_t, idx), payload["config"]["feature_stats"]))
    w = torch.from_numpy(windows(codes_t, idx, payload["config"]["window"]))
    out = []
    bs = plan.batch_size or 512
    with torch.inference_mode(), autocast_context(plan):
        for i in range(0, len(idx), bs):
            logits = meta(w[i:i + bs].to(plan.device), f[i:i + bs].to(plan.device))
            out.append(torch.softmax(logits.float(), 1).cpu().numpy())
    return np.concatenate(out)


def run_predict(cfg: PredictConfig) -> dict:
    from genotool.genome.fasta import open_fasta
    from genotool.outputs import run_output
    from genotool_splice.base import reverse_complement
    from genotool_splice.seqio import fetch_codes

    if not 0 < cfg.threshold <= 1:
        raise UserError(f"--threshold must be in (0, 1], not {cfg.threshold}")
    if not Path(cfg.fasta).is_file():
        raise UserError(f"--fasta: {cfg.fasta} not found")
    plan = cfg.plan()
    fa = open_fasta(cfg.fasta)
    regions = parse_region(cfg.region, fa)
    meta, payload, scorer = load_models(cfg.model, cfg.base_weights, plan)
    min_score = cfg.min_score if cfg.min_score is not None else payload["config"].get("call_threshold", 0.1)
    margin = max(scorer.flank // 2, payload["config"]["window"] // 2) + 2
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    names = [f"{m}.{c}.{s}" for m in ("base", "meta") for c in ("donor", "acceptor") for s in ("plus", "minus")]
    n_called = n_bp = 0
    with run_output(cfg.output, command="splice predict", parameters=params, inputs=[cfg.fasta, cfg.model],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        tracks = {n: open(run.path / f"{n}.bedGraph", "w") for n in names}
        bed = open(run.path / "sites.bed", "w")
        try:
            for chrom, s, e in regions:
                lo, hi = max(0, s - margin), min(fa.get_reference_length(chrom), e + margin)
                codes = fetch_codes(fa, cfg.fasta, chrom, lo, hi)
                L = len(codes)
                n_bp += e - s
                for strand, tag in (("+", "plus"), ("-", "minus")):
                    codes_t = codes if strand == "+" else reverse_complement(codes)
                    probs_t = scorer.score(codes_t)
                    gpos = np.arange(s, e)                      # genomic positions of the region
                    tidx = gpos - lo if strand == "+" else L - 1 - (gpos - lo)
                    keep = np.maximum(probs_t[tidx, 1], probs_t[tidx, 2]) >= min_score
                    gpos, tidx = gpos[keep], tidx[keep]
                    mp = meta_scores(meta, payload, probs_t, codes_t, tidx, plan)
                    order = np.argsort(gpos)
                    for k in order:
                        p = int(gpos[k])
                        tracks[f"base.donor.{tag}"].write(f"{chrom}\t{p}\t{p + 1}\t{probs_t[tidx[k], 2]:.6g}\n")
                        tracks[f"base.acceptor.{tag}"].write(f"{chrom}\t{p}\t{p + 1}\t{probs_t[tidx[k], 1]:.6g}\n")
                        tracks[f"meta.donor.{tag}"].write(f"{chrom}\t{p}\t{p + 1}\t{mp[k, 0]:.6g}\n")
                        tracks[f"meta.acceptor.{tag}"].write(f"{chrom}\t{p}\t{p + 1}\t{mp[k, 1]:.6g}\n")
                        c = int(mp[k, :2].argmax())
                        if mp[k, c] >= cfg.threshold:
                            n_called += 1
                            bed.write(f"{chrom}\t{p}\t{p + 1}\t{('donor', 'acceptor')[c]}\t"
                                      f"{int(round(1000 * mp[k, c]))}\t{strand}\n")
        finally:
            for fh in tracks.values():
                fh.close()
            bed.close()
        run.runtime.update(bp=n_bp, called_sites=n_called)
    return {"bp": n_bp, "called_sites": n_called}
