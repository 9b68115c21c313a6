"""``splice variant``: SpliceAI-style delta scores from the base model and the meta-layer.

For an SNV at genomic position p, the reference and alternative sequences around p are scored
on the variant's gene strand (both strands without an annotation; the strand with the larger
delta is reported). Over the positions p-D..p+D (D = ``distance``, SpliceAI's 50):

  DS_AG = max(alt_acceptor - ref_acceptor)   DS_AL = max(ref_acceptor - alt_acceptor)
  DS_DG = max(alt_donor - ref_donor)         DS_DL = max(ref_donor - alt_donor)

and DP_* the genomic offset (position - p) where each maximum sits. The meta-layer deltas use
its donor/acceptor probabilities at the same positions, each allele scored through the path
``predict`` uses (:func:`genotool_splice.scoring.score_span`). Indels are skipped (counted in
the summary).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions

DELTAS = ("DS_AG", "DS_AL", "DS_DG", "DS_DL")
POSITIONS = ("DP_AG", "DP_AL", "DP_DG", "DP_DL")


@dataclass
class VariantConfig(RunOptions):
    fasta: Path
    model: Path
    output: Path
    variants: Path
    gtf: Path | None = None
    distance: int = 50
    base_weights: Path | None = None
    force: bool = False


def deltas(ref_acc, ref_don, alt_acc, alt_don, offsets) -> dict:
    """Delta scores and their offsets from per-position acceptor/donor tracks (same length as offsets)."""
    out = {}
    for name, pos, d in (("DS_AG", "DP_AG", alt_acc - ref_acc), ("DS_AL", "DP_AL", ref_acc - alt_acc),
                         ("DS_DG", "DP_DG", alt_don - ref_don), ("DS_DL", "DP_DL", ref_don - alt_don)):
        k = int(np.argmax(d))
        out[name], out[pos] = max(0.0, float(d[k])), int(offsets[k])
    return out


def _gene_strands(gtf: Path | None) -> dict:
    """canonical chrom -> sorted [(start, end, strand, gene)] from the GTF (None: no annotation)."""
    if gtf is None:
        return {}
    from genotool.genome.fasta import canonical
    from genotool.genome.gtf import iter_chromosomes
    from genotool_splice.sites import chrom_sites

    return {canonical(c): chrom_sites(c, [x for x in t if x.exons]).genes for c, t in iter_chromosomes(gtf)}


def run_variant(cfg: VariantConfig) -> dict:
    from genotool.genome.fasta import canonical
    from genotool.log import warn
    from genotool.outputs import run_output, write_json
    from genotool_splice.inputs import Reference, check_annotation
    from genotool_splice.meta_io import load_models
    from genotool_splice.scoring import score_span
    from genotool_splice.variants_io import read_variants

    if not 1 <= cfg.distance <= 5000:
        raise UserError(f"--distance must be in 1..5000, not {cfg.distance}")
    variants, kind = read_variants(cfg.variants)
    ref = Reference.open(cfg.fasta)
    # every input problem is found before anything is scored or written
    for v in variants:
        chrom = ref.name_of(v.chrom)
        if chrom is None:
            raise UserError(f"{cfg.variants}: line {v.line}: contig '{v.chrom}' is not in {cfg.fasta}")
        n = ref.lengths[chrom]
        if not 1 <= v.pos <= n - len(v.ref) + 1:
            raise UserError(f"{cfg.variants}: line {v.line}: position {v.pos} is outside {chrom} (1..{n})")
        seen = ref.fa.fetch(chrom, v.pos - 1, v.pos - 1 + len(v.ref)).upper()
        if seen != v.ref:
            raise UserError(f"{cfg.variants}: line {v.line}: REF '{v.ref}' does not match the FASTA ('{seen}') at "
                            f"{chrom}:{v.pos}")
    if cfg.gtf is not None:
        check_annotation(cfg.gtf, ref)
    genes = _gene_strands(cfg.gtf)
    plan = cfg.plan()
    # a candidate-row meta-layer rescores every position of the +/-D span (min-score 0), as it always did
    head, payload, scorer = load_models(cfg.model, cfg.base_weights, plan, min_score=0.0)
    D = cfg.distance
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    rows, skipped = [], 0
    with run_output(cfg.output, command="splice variant", parameters=params,
                    inputs=[cfg.fasta, cfg.model, cfg.variants], force=cfg.force) as run:
        run.plan = plan.to_dict()
        for v in variants:
            if len(v.ref) != 1 or len(v.alt) != 1 or v.alt not in "ACGT":
                skipped += 1
                continue
            chrom = ref.name_of(v.chrom)
            p = v.pos - 1
            lo, hi = max(0, p - D), min(ref.lengths[chrom], p + D + 1)
            span = [g for g in genes.get(canonical(chrom), []) if g[0] <= p < g[1]]
            strands = tuple(sorted({g[2] for g in span})) or ("+", "-")
            gene = v.gene or (span[0][3] if span else "")
            code = "ACGT".index(v.alt)

            def alt_codes(a, b, chrom=chrom, p=p, code=code):
                c = ref.codes(chrom, a, b)
                c[p - a] = code
                return c

            best = None
            ref_chunks = score_span(scorer, [head], ref, chrom, lo, hi, strands=strands)
            alt_chunks = score_span(scorer, [head], ref, chrom, lo, hi, strands=strands, codes_fn=alt_codes)
            for r, a in zip(ref_chunks, alt_chunks):
                offsets = np.arange(lo, hi) - p
                base = deltas(r.base[:, 1], r.base[:, 2], a.base[:, 1], a.base[:, 2], offsets)
                rm, am = r.outputs[0], a.outputs[0]
                mdel = deltas(rm[:, 1], rm[:, 0], am[:, 1], am[:, 0], offsets)
                score = max(max(base[k] for k in DELTAS), max(mdel[k] for k in DELTAS))
                if best is None or score > best[0]:
                    best = (score, r.strand, base, mdel)
            _, strand, base, mdel = best
            rows.append({"id": v.vid, "chrom": chrom, "pos": v.pos, "ref": v.ref, "alt": v.alt, "gene": gene,
                         "strand": strand, "classification": v.classification,
                         **{f"base_{k}": base[k] for k in DELTAS + POSITIONS},
                         **{f"meta_{k}": mdel[k] for k in DELTAS + POSITIONS},
                         "base_max": max(base[k] for k in DELTAS), "meta_max": max(mdel[k] for k in DELTAS),
                         "_line": v.line})
        if skipped:
            warn(f"{cfg.variants}: {skipped} variant(s) that are not SNVs skipped (indels are not scored yet)")
        _write_tsv(run.path / "delta_scores.tsv", rows)
        _write_vcf(run.path / "delta_scores.vcf", rows, cfg.variants if kind == "vcf" else None)
        summary = {"scored": len(rows), "skipped_non_snv": skipped, "auc": _auc(rows)}
        write_json(run.path / "summary.json", summary)
        run.runtime.update(scored=len(rows))
    return summary


def _auc(rows: list[dict]) -> dict | None:
    from sklearn.metrics import roc_auc_score

    lab = [(r, 1 if r["classification"].lower() == "splice-altering" else 0) for r in rows
           if r["classification"].lower() in ("splice-altering", "normal")]
    ys = [y for _, y in lab]
    if len(set(ys)) < 2:
        return None
    return {m: float(roc_auc_score(ys, [r[f"{m}_max"] for r, _ in lab])) for m in ("base", "meta")} | {
        "splice_altering": int(sum(ys)), "normal": int(len(ys) - sum(ys))}


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _write_tsv(path: Path, rows: list[dict]) -> None:
    cols = [c for c in (rows[0] if rows else {"id": 0}) if not c.startswith("_")]
    with open(path, "w") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join(_fmt(r[c]) for c in cols) + "\n")


def _info(r: dict, m: str) -> str:
    vals = [r["alt"], r["gene"] or "."] + [f"{r[f'{m}_{k}']:.2f}" for k in DELTAS] + [str(r[f"{m}_{k}"])
                                                                                     for k in POSITIONS]
    return "|".join(vals)


def _write_vcf(path: Path, rows: list[dict], source_vcf: Path | None) -> None:
    """A VCF with SPLICE_BASE / SPLICE_META INFO fields (the input's INFO kept when it was a VCF)."""
    info_src = {}
    if source_vcf is not None:
        from genotool.genome.gtf import open_text

        with open_text(source_vcf) as fh:
            for n, line in enumerate(fh, 1):
                if not line.startswith("#"):
                    cols = line.rstrip("\n").split("\t")
                    info_src[n] = cols[7] if len(cols) > 7 and cols[7] != "." else ""
    fmt = "ALLELE|SYMBOL|DS_AG|DS_AL|DS_DG|DS_DL|DP_AG|DP_AL|DP_DG|DP_DL"
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        for c in dict.fromkeys(r["chrom"] for r in rows):
            fh.write(f"##contig=<ID={c}>\n")
        fh.write(f'##INFO=<ID=SPLICE_BASE,Number=.,Type=String,Description="Base-model delta scores. Format: {fmt}">\n')
        fh.write(f'##INFO=<ID=SPLICE_META,Number=.,Type=String,Description="Meta-layer delta scores. Format: {fmt}">\n')
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for r in rows:
            extra = info_src.get(r["_line"], "")
            info = (extra + ";" if extra else "") + f"SPLICE_BASE={_info(r, 'base')};SPLICE_META={_info(r, 'meta')}"
            fh.write(f"{r['chrom']}\t{r['pos']}\t{r['id']}\t{r['ref']}\t{r['alt']}\t.\t.\t{info}\n")
