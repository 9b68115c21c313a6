"""``splice predict``: FASTA (+ regions) -> per-position base and meta-layer probabilities.

Both strands are scored by the base model the meta-layer was trained over and then by the
meta-layer (:func:`genotool_splice.scoring.score_span`, 1 Mb chunks with real flanking
sequence: memory is one chunk, whatever the chromosome's length). A genome-wide meta-layer
rescores every position; a candidate-row meta-layer only the positions whose base donor or
acceptor probability reaches ``--min-score`` (0 elsewhere). Written, sorted by position:
``{base,meta}.{donor,acceptor}.{plus,minus}.bedGraph`` (0-based, sparse: the positions where the
base or the meta-layer gives donor or acceptor >= ``--min-score``; a missing position reads as
0) and ``sites.bed`` (meta-layer calls: donor/acceptor probability >= ``--threshold``).

``--min-score`` is at most 0.5: a sparse track read as 0 elsewhere keeps the genome-wide top-k of
the meta-layer (k = the true sites) only while at least k positions are written; on Arabidopsis
chr1 20-22 Mb the meta-layer over the human base keeps its top-k 0.796 up to 0.2, 0.787 at 0.3,
0.717 at 0.5 (the base alone: 0.670), and would fall to 0.627 at 0.7 (docs/splice.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions

GENOME_MIN_SCORE = 0.01      # default --min-score of a genome-wide meta-layer (what is written)
MAX_MIN_SCORE = 0.5          # above the call threshold a sparse track loses true sites the top-k needs


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


def parse_regions(text: str | None, ref) -> list[tuple[str, int, int]]:
    """``CONTIG[:START-END],...`` (1-based inclusive, samtools) -> [(contig, start0, end)]; None: every contig."""
    from genotool.genome.regions import parse_regions as parse

    if not text:
        return [(c, 0, n) for c, n in ref.lengths.items()]
    out = []
    for r in parse(text, "--region"):
        name = ref.name_of(r.contig)
        if name is None:
            raise UserError(f"--region: contig '{r.contig}' is not in {ref.path}")
        n = ref.lengths[name]
        if r.start >= n or (r.end is not None and r.end > n):
            raise UserError(f"--region: {r} is outside {name} (1..{n:,})")
        out.append((name, r.start, r.stop(n)))
    return out


def _lines(chrom: str, pos: np.ndarray, values: np.ndarray) -> str:
    return "".join(f"{chrom}\t{p}\t{p + 1}\t{v:.6g}\n" for p, v in zip(pos.tolist(), values.tolist()))


def run_predict(cfg: PredictConfig) -> dict:
    from genotool.outputs import run_output
    from genotool_splice.inputs import Reference
    from genotool_splice.meta_io import load_models, protocol_of
    from genotool_splice.progress import bp_progress
    from genotool_splice.scoring import score_span

    if not 0 < cfg.threshold <= 1:
        raise UserError(f"--threshold must be in (0, 1], not {cfg.threshold}")
    if cfg.min_score is not None and not 0 <= cfg.min_score <= MAX_MIN_SCORE:
        raise UserError(f"--min-score must be in [0, {MAX_MIN_SCORE}] (positions below it are not written; "
                        f"--threshold sets the calls), not {cfg.min_score}")
    ref = Reference.open(cfg.fasta)
    regions = parse_regions(cfg.region, ref)
    plan = cfg.plan()
    head, payload, scorer = load_models(cfg.model, cfg.base_weights, plan, cfg.min_score)
    genome = protocol_of(payload["config"]) == "genome"
    min_score = cfg.min_score if cfg.min_score is not None else (
        GENOME_MIN_SCORE if genome else payload["config"].get("call_threshold", 0.1))
    ref.check(sorted({c for c, _, _ in regions}))
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()} | {"min_score": min_score}
    names = [f"{m}.{c}.{s}" for m in ("base", "meta") for c in ("donor", "acceptor") for s in ("plus", "minus")]
    n_called = n_bp = n_written = 0
    with run_output(cfg.output, command="splice predict", parameters=params, inputs=[cfg.fasta, cfg.model],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        tracks = {n: open(run.path / f"{n}.bedGraph", "w") for n in names}
        bed = open(run.path / "sites.bed", "w")
        try:
            with bp_progress("predict", sum(e - s for _, s, e in regions)) as advance:
                for chrom, s, e in regions:
                    n_bp += e - s
                    for ch in score_span(scorer, [head], ref, chrom, s, e):
                        tag = "plus" if ch.strand == "+" else "minus"
                        base, meta = ch.base, ch.outputs[0]          # (n, 3): base (N, A, D), meta (D, A, N)
                        keep = np.flatnonzero(np.maximum.reduce([base[:, 1], base[:, 2], meta[:, 0], meta[:, 1]])
                                              >= min_score)
                        pos = ch.start + keep
                        n_written += len(keep)
                        tracks[f"base.donor.{tag}"].write(_lines(chrom, pos, base[keep, 2]))
                        tracks[f"base.acceptor.{tag}"].write(_lines(chrom, pos, base[keep, 1]))
                        tracks[f"meta.donor.{tag}"].write(_lines(chrom, pos, meta[keep, 0]))
                        tracks[f"meta.acceptor.{tag}"].write(_lines(chrom, pos, meta[keep, 1]))
                        best = meta[keep, :2].argmax(1)
                        p_best = meta[keep, :2].max(1)
                        for p, c, v in zip(pos[p_best >= cfg.threshold].tolist(), best[p_best >= cfg.threshold],
                                           p_best[p_best >= cfg.threshold].tolist()):
                            bed.write(f"{chrom}\t{p}\t{p + 1}\t{('donor', 'acceptor')[c]}\t{int(round(1000 * v))}\t"
                                      f"{ch.strand}\n")
                            n_called += 1
                        if ch.strand == "-":
                            advance(ch.end - ch.start)
        finally:
            for fh in tracks.values():
                fh.close()
            bed.close()
        _sort_bed(run.path / "sites.bed")
        run.runtime.update(bp=n_bp, called_sites=n_called, written_positions=n_written)
    return {"bp": n_bp, "called_sites": n_called, "min_score": min_score, "written_positions": n_written}


def _sort_bed(path: Path) -> None:
    """sites.bed by contig order of writing, then position (plus and minus calls interleave)."""
    lines = path.read_text().splitlines(keepends=True)
    order = {}
    for line in lines:
        order.setdefault(line.split("\t", 1)[0], len(order))
    lines.sort(key=lambda x: (order[x.split("\t", 1)[0]], int(x.split("\t", 2)[1])))
    path.write_text("".join(lines))
