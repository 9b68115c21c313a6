"""`gencode predict`: a FASTA (whole, or ``--region``s) -> predictions.

* A gene finder (``--states gene``) streams each region in windows (genes/finder.py:
  ``predict_sequence``; no gene cut or found twice at a window edge, one window in memory) and
  writes complete gene models as ``predictions.gtf`` and ``predictions.gff3`` (gene, transcript /
  mRNA, exon, CDS with phase, start_codon, stop_codon), loadable wherever AUGUSTUS output is.
* A per-base model (``--states strand``) labels windows of ``--chunk-size`` (each base from the
  window where it is furthest from an edge) and writes ``predictions.bed`` and ``predictions.gtf``
  of its labelled segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions
from genotool_gencode.labels import LABELS

GENE_WINDOW = 200_000        # a gene finder's default window (bp) and overlap
GENE_OVERLAP = 20_000
LABEL_WINDOW = 10_000        # a per-base model's default (its training chunks)


@dataclass(kw_only=True)
class PredictConfig(RunOptions):
    fasta: Path
    model: Path
    output: Path
    region: str | None = None          # comma-separated CONTIG[:START-END], 1-based inclusive
    chunk_size: int | None = None      # window (default: GENE_WINDOW / LABEL_WINDOW by model)
    overlap: int | None = None
    force: bool = False

    def check(self) -> "PredictConfig":
        from genotool.errors import require_dir, require_file

        require_file(self.fasta, "--fasta")
        require_dir(self.model, "--model")
        if self.chunk_size is not None and self.chunk_size < 1000:
            raise UserError(f"--chunk-size must be >= 1000 bp, not {self.chunk_size}")
        if self.overlap is not None and self.overlap < 0:
            raise UserError(f"--overlap must be >= 0, not {self.overlap}")
        return self


def regions_of(region: str | None, lengths: dict[str, int]):
    """``--region`` (comma-separated CONTIG[:START-END], 1-based inclusive) -> [(contig, start0, end)];
    none: every contig whole."""
    from genotool.genome.regions import parse_regions

    if not region:
        return [(c, 0, n) for c, n in lengths.items()]
    out = []
    for r in parse_regions(region, "--region"):
        if r.contig not in lengths:
            raise UserError(f"--region: contig '{r.contig}' is not in the FASTA (it has {', '.join(list(lengths)[:3])}"
                            f"{'...' if len(lengths) > 3 else ''})")
        n = lengths[r.contig]
        if r.start >= n or (r.end is not None and r.end > n):
            raise UserError(f"--region: {r} is outside {r.contig} (1..{n})")
        out.append((r.contig, r.start, r.stop(n)))
    return out


def run_predict(cfg: PredictConfig, log) -> dict:
    from genotool.genome.fasta import open_fasta
    from genotool.outputs import run_output

    from genotool_gencode.loading import is_gene_finder, load_model

    cfg.check()
    plan = cfg.plan(default_batch_size=4)
    model, mcfg = load_model(cfg.model, plan.device)
    gene = is_gene_finder(model)
    window = cfg.chunk_size or (GENE_WINDOW if gene else LABEL_WINDOW)
    overlap = cfg.overlap if cfg.overlap is not None else (window // 10 if gene else 500)
    if overlap >= window:
        raise UserError(f"--overlap ({overlap}) must be smaller than --chunk-size ({window})")
    fa = open_fasta(cfg.fasta)
    try:
        intervals = regions_of(cfg.region, dict(zip(fa.references, fa.lengths)))
        if cfg.region:
            for contig, lo, hi in intervals:
                if hi - lo < window:
                    raise UserError(f"--region: {contig}:{lo + 1}-{hi} is {hi - lo:,} bp, shorter than one window "
                                    f"(--chunk-size {window:,}); give a longer region or --chunk-size <= "
                                    f"{hi - lo:,}")
        params = {"region": cfg.region, "chunk_size": window, "overlap": overlap, "model": str(cfg.model)}
        with run_output(cfg.output, command="gencode predict", parameters=params, inputs=[cfg.fasta, cfg.model],
                        force=cfg.force, resume=False) as run:
            run.plan = plan.to_dict()
            if gene:
                res = predict_genes(model, fa, intervals, run.path, window=window, overlap=overlap, log=log)
            else:
                res = predict_labels(model, mcfg, fa, intervals, run.path, chunk_size=window, overlap=overlap,
                                     plan=plan, log=log)
            run.runtime.update(res)
    finally:
        fa.close()
    if gene:
        log(f"wrote {res['genes']} gene models to {cfg.output}/predictions.gtf and predictions.gff3 "
            f"({res['bases']:,} bp in {res['seconds']:.1f} s)")
    else:
        log(f"wrote {res['segments']} segments to {cfg.output}/predictions.bed and predictions.gtf")
    return res


def predict_genes(finder, fa, intervals, out_dir: Path, *, window: int, overlap: int, log) -> dict:
    """Stream every interval through the gene finder; genes are written as soon as they are final."""
    import time

    from genotool_gencode.genes.dna import IUPAC, encode, odd_characters
    from genotool_gencode.genes.gff import write_gff3, write_gtf
    from genotool_gencode.genes.annotation import named_genes
    from genotool_gencode.progress import bar

    t0 = time.perf_counter()
    n_genes, iupac = 0, {}
    total = sum(hi - lo for _, lo, hi in intervals)
    with open(out_dir / "predictions.gtf", "w") as gtf, open(out_dir / "predictions.gff3", "w") as gff3, \
            bar("predicting genes", total) as advance:
        gff3.write("##gff-version 3\n")
        for contig, lo, hi in intervals:
            log(f"predicting {contig}:{lo + 1}-{hi} ...")

            def fetch(a, b, contig=contig, lo=lo):
                seq = fa.fetch(contig, lo + a, lo + b)
                for ch, n in odd_characters(seq).items():
                    if ch == "N":
                        continue
                    if ch not in IUPAC:
                        raise UserError(f"--fasta: {contig}:{lo + a + seq.upper().index(ch) + 1}: character "
                                        f"'{ch}' is not a DNA base or IUPAC code")
                    iupac[ch] = iupac.get(ch, 0) + n
                return encode(seq)

            def emit(genes, contig=contig, lo=lo):
                nonlocal n_genes
                models = [g.shifted(lo) for g in named_genes(genes, contig, n_genes)]
                n_genes += len(models)
                write_gtf(gtf, models)
                write_gff3(gff3, models, header=False)

            done = [0]

            def progress(pos, done=done):
                advance(pos - done[0])
                done[0] = pos

            from genotool_gencode.genes.finder import predict_sequence

            predict_sequence(finder, fetch, hi - lo, window=window, overlap=overlap, on_genes=emit, progress=progress)
    if iupac:
        log(f"warning: {sum(iupac.values())} IUPAC ambiguity codes in the FASTA "
            f"({', '.join(f'{k} {v}' for k, v in sorted(iupac.items()))}) read as N")
    return {"genes": n_genes, "intervals": len(intervals), "bases": total, "iupac_codes": iupac,
            "seconds": round(time.perf_counter() - t0, 2)}


def predict_interval(model, fetch, n: int, *, chunk_size, overlap, plan) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) uint8 and minus-strand flags (n,) bool of one interval, ``fetch(lo, hi)``
    giving its sequence, decoded in windows by the engine's predict loop (eval mode, no_grad, the
    plan's autocast, ``plan.batch_size`` windows a batch); each base from the window where it is
    furthest from an edge."""
    import torch

    from genotool.engine import predict_loop

    from genotool_gencode.dataset import collate
    from genotool_gencode.encoders import encode_sequence
    from genotool_gencode.chunks import chunk_starts

    starts = chunk_starts(n, chunk_size, overlap)
    out = np.zeros(n, dtype=np.uint8)
    minus = np.zeros(n, dtype=bool)
    windows = [(s, min(n, s + chunk_size)) for s in starts]
    batch_size = int(plan.batch_size or 4)
    groups = [windows[i:i + batch_size] for i in range(0, len(windows), batch_size)]

    def batches():
        for batch in groups:
            items = [(encode_sequence(fetch(s, e)), torch.zeros(e - s, dtype=torch.uint8)) for s, e in batch]
            x, _, lengths = collate(items)
            yield x, lengths

    decoded = predict_loop(model, batches(), lambda m, b: m.decode_strand(*b), plan=plan)
    for i, (batch, res) in enumerate(zip(groups, decoded)):
        for j, (s, e) in enumerate(batch):
            k = i * batch_size + j
            keep_lo = s if k == 0 else (s + windows[k - 1][1]) // 2 if windows[k - 1][1] > s else s
            keep_hi = e if k == len(windows) - 1 else (windows[k + 1][0] + e) // 2 if windows[k + 1][0] < e else e
            lab = np.asarray(res[j][0][:e - s], dtype=np.uint8)
            mi = np.asarray(res[j][1][:e - s], dtype=bool)
            out[keep_lo:keep_hi] = lab[keep_lo - s:keep_hi - s]
            minus[keep_lo:keep_hi] = mi[keep_lo - s:keep_hi - s]
    return out, minus


def predict_labels(model, cfg, fa, intervals, out_dir: Path, *, chunk_size, overlap, plan, log) -> dict:
    from genotool_gencode.metrics import runs

    n_seg = 0
    with open(out_dir / "predictions.bed", "w") as bed, open(out_dir / "predictions.gtf", "w") as gtf:
        bed.write(f'track name="gencode {cfg.head}" description="genotool gencode predicted segments"\n')
        for chrom, lo, hi in intervals:
            log(f"predicting {chrom}:{lo + 1}-{hi} ...")
            lab, _ = predict_interval(model, lambda a, b: fa.fetch(chrom, lo + a, lo + b), hi - lo,
                                      chunk_size=chunk_size, overlap=overlap, plan=plan)
            for s, e, c in zip(*runs(lab)):
                if c == 0:
                    continue   # intergenic is the background: not written
                name = LABELS[int(c)]
                bed.write(f"{chrom}\t{lo + s}\t{lo + e}\t{name}\t0\t.\n")
                gtf.write(f'{chrom}\tgenotool-gencode\t{name}\t{lo + s + 1}\t{lo + e}\t.\t.\t.\t'
                          f'label "{name}"; model "{cfg.head}";\n')
                n_seg += 1
    return {"segments": n_seg, "intervals": len(intervals)}
