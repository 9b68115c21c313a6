"""`gencode predict`: FASTA (+ region) -> predicted segments (BED + GTF).

The region is tiled in windows of ``chunk_size`` with ``overlap``; each window is decoded on its
own and the window's middle is kept (the overlap is split half/half between neighbours), so every
base is labelled by the window in which it is furthest from an edge. Adjacent equal labels are
merged into one segment.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool_gencode.labels import LABELS


def parse_region(region: str | None, lengths: dict[str, int]):
    """'chr' or 'chr:start-end' (1-based inclusive) -> list of (chrom, start0, end)."""
    if not region:
        return [(c, 0, n) for c, n in lengths.items()]
    m = re.fullmatch(r"([^:]+)(?::([\d,]+)-([\d,]+))?", region.strip())
    if not m:
        raise UserError(f"--region: cannot parse '{region}' (use chrom or chrom:start-end)")
    chrom = m.group(1)
    if chrom not in lengths:
        raise UserError(f"--region: contig '{chrom}' is not in the FASTA")
    if m.group(2) is None:
        return [(chrom, 0, lengths[chrom])]
    s, e = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    if s < 1 or e < s or e > lengths[chrom]:
        raise UserError(f"--region: {region} is outside {chrom} (1..{lengths[chrom]})")
    return [(chrom, s - 1, e)]


def predict_interval(model, fa, chrom, lo, hi, *, chunk_size, overlap, plan) -> np.ndarray:
    """Labels (hi - lo,) uint8 of one interval, decoded in windows by the engine's predict loop
    (eval mode, no_grad, the plan's autocast, ``plan.batch_size`` windows a batch)."""
    import torch

    from genotool.engine import predict_loop

    from genotool_gencode.encoders import encode_sequence
    from genotool_gencode.preprocess import chunk_starts
    from genotool_gencode.train import collate

    n = hi - lo
    starts = chunk_starts(n, chunk_size, overlap)
    out = np.zeros(n, dtype=np.uint8)
    windows = [(s, min(n, s + chunk_size)) for s in starts]
    batch_size = int(plan.batch_size or 4)
    groups = [windows[i:i + batch_size] for i in range(0, len(windows), batch_size)]

    def batches():
        for batch in groups:
            items = [(encode_sequence(fa.fetch(chrom, lo + s, lo + e)), torch.zeros(e - s, dtype=torch.uint8))
                     for s, e in batch]
            x, _, lengths = collate(items)
            yield x, lengths

    decoded = predict_loop(model, batches(), lambda m, b: m.decode(*b)[0], plan=plan)
    for i, (batch, labs) in enumerate(zip(groups, decoded)):
        for j, (s, e) in enumerate(batch):
            k = i * batch_size + j
            keep_lo = s if k == 0 else (s + windows[k - 1][1]) // 2 if windows[k - 1][1] > s else s
            keep_hi = e if k == len(windows) - 1 else (windows[k + 1][0] + e) // 2 if windows[k + 1][0] < e else e
            lab = np.asarray(labs[j][:e - s], dtype=np.uint8)
            out[keep_lo:keep_hi] = lab[keep_lo - s:keep_hi - s]
    return out


def run_predict(fasta: Path, model_dir: Path, out_dir: Path, *, region, chunk_size, overlap, plan, log) -> dict:
    from genotool_gencode.metrics import runs
    from genotool.genome.fasta import open_fasta
    from genotool_gencode.train import load_model

    model, cfg = load_model(model_dir, plan.device)
    fa = open_fasta(fasta)
    try:
        intervals = parse_region(region, dict(zip(fa.references, fa.lengths)))
        n_seg = 0
        with open(out_dir / "predictions.bed", "w") as bed, open(out_dir / "predictions.gtf", "w") as gtf:
            bed.write(f'track name="gencode {cfg.head}" description="genotool gencode predicted segments"\n')
            for chrom, lo, hi in intervals:
                log(f"predicting {chrom}:{lo + 1}-{hi} ...")
                lab = predict_interval(model, fa, chrom, lo, hi, chunk_size=chunk_size, overlap=overlap,
                                       plan=plan)
                for s, e, c in zip(*runs(lab)):
                    if c == 0:
                        continue   # intergenic is the background: not written
                    name = LABELS[int(c)]
                    bed.write(f"{chrom}\t{lo + s}\t{lo + e}\t{name}\t0\t.\n")
                    gtf.write(f'{chrom}\tgenotool-gencode\t{name}\t{lo + s + 1}\t{lo + e}\t.\t.\t.\t'
                              f'label "{name}"; model "{cfg.head}";\n')
                    n_seg += 1
    finally:
        fa.close()
    return {"segments": n_seg, "intervals": len(intervals)}
