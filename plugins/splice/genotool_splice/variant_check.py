"""A variant-effect sanity check on real sequence (``evaluate --variant-check N``).

From the transcripts wholly inside the evaluated regions: N SNVs at the canonical dinucleotides
of annotated introns (the GT after a donor's exon base or the AG before an acceptor's, in
transcript orientation, changed to another base: they break the site) against N SNVs at random
exonic positions and N at random deep-intronic positions (>= 50 nt from every annotated site of
the strand). Every SNV is scored on its transcript's strand with SpliceAI's delta definition
(:func:`genotool_splice.variant.deltas`, +/-50 nt); the table gives, per model, the ROC AUC of
the largest |delta| for canonical vs all controls, vs exonic and vs deep-intronic ones.
Seeded; the SNVs are written to ``variant_check.tsv`` (SpliceVarDB columns, so ``splice variant``
reads the same file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genotool.log import log

DISTANCE = 50
DEEP = 50


def _pool(parts: list) -> tuple:
    """[(contig, strand, positions array)] -> (size, get(i) -> (contig, position, strand))."""
    sizes = np.cumsum([0] + [len(p) for _, _, p in parts])

    def get(i: int):
        k = int(np.searchsorted(sizes, i, "right")) - 1
        contig, strand, pos = parts[k]
        return contig, int(pos[i - sizes[k]]), strand

    return int(sizes[-1]), get


def sample_snvs(ref, gtf, regions: list, n: int, seed: int) -> list[dict]:
    """[{contig, pos (0-based), ref, alt, strand, group}] with groups canonical / exonic / deep_intronic."""
    from genotool_splice.inputs import transcripts_by_contig

    rng = np.random.default_rng(seed)
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    wanted = {c for c, _, _ in regions}
    canon, exonic, deep = [], [], []
    for contig, transcripts in transcripts_by_contig(gtf, ref):
        if contig not in wanted:
            continue
        for _, start, end in (r for r in regions if r[0] == contig):
            inside = [t for t in transcripts if t.start >= start and t.end <= end]
            seq = ref.codes(contig, start, end)
            letters = np.frombuffer(b"ACGTN", np.uint8)[seq].tobytes().decode()
            sites = {s: np.zeros(end - start, bool) for s in "+-"}
            exon = {s: np.zeros(end - start, bool) for s in "+-"}
            intron = {s: np.zeros(end - start, bool) for s in "+-"}
            for t in inside:
                ex = sorted(t.exons)
                for s, e in ex:
                    exon[t.strand][s - start:e - start] = True
                for (_, e0), (s1, _) in zip(ex, ex[1:]):
                    a, b = e0 - start, s1 - start                 # intron [a, b) relative to start
                    intron[t.strand][a:b] = True
                    sites[t.strand][[a - 1, b]] = True
                    plus_motif = (letters[a:a + 2], letters[b - 2:b])
                    if t.strand == "+" and plus_motif == ("GT", "AG"):
                        canon += [(contig, start + p, "+") for p in (a, a + 1, b - 2, b - 1)]
                    elif t.strand == "-":
                        donor = "".join(comp.get(c, "N") for c in reversed(letters[b - 2:b]))
                        acc = "".join(comp.get(c, "N") for c in reversed(letters[a:a + 2]))
                        if (donor, acc) == ("GT", "AG"):
                            canon += [(contig, start + p, "-") for p in (a, a + 1, b - 2, b - 1)]
            for s in "+-":
                near = np.convolve(sites[s].astype(np.int32), np.ones(2 * DEEP + 1, np.int32), mode="same") > 0
                ok = seq < 4
                exonic.append((contig, s, start + np.flatnonzero(exon[s] & ~sites[s] & ok)))
                deep.append((contig, s, start + np.flatnonzero(intron[s] & ~exon[s] & ~near & ok)))
    canon = sorted(set(canon))
    pools = [("canonical", len(canon), canon.__getitem__), ("exonic", *_pool(exonic)), ("deep_intronic", *_pool(deep))]
    out = []
    for group, size, get in pools:
        if not size:
            continue
        for i in sorted(rng.choice(size, size=min(n, size), replace=False)):
            contig, pos, strand = get(int(i))
            refb = ref.fa.fetch(contig, pos, pos + 1).upper()
            alt = rng.choice([b for b in "ACGT" if b != refb])
            out.append({"contig": contig, "pos": int(pos), "ref": refb, "alt": str(alt), "strand": strand,
                        "group": group})
    return out


def score_snv(scorer, heads, ref, v: dict) -> list[float]:
    """The largest of DS_AG/AL/DG/DL (SpliceAI, +/-50 nt, the SNV's strand) per head."""
    from genotool_splice.scoring import score_span
    from genotool_splice.variant import DELTAS, deltas

    contig, p = v["contig"], v["pos"]
    code = "ACGT".index(v["alt"])

    def alt_codes(lo, hi):
        c = ref.codes(contig, lo, hi)
        c[p - lo] = code
        return c

    r = next(score_span(scorer, heads, ref, contig, p - DISTANCE, p + DISTANCE + 1, strands=(v["strand"],)))
    a = next(score_span(scorer, heads, ref, contig, p - DISTANCE, p + DISTANCE + 1, strands=(v["strand"],),
                        codes_fn=alt_codes))
    offsets = np.arange(-DISTANCE, DISTANCE + 1)
    return [max(deltas(ro[:, 1], ro[:, 0], ao[:, 1], ao[:, 0], offsets)[k] for k in DELTAS)
            for ro, ao in zip(r.outputs, a.outputs)]


def run_variant_check(cands, ref, gtf, regions, n: int, seed: int, plan, out: Path) -> dict:
    from sklearn.metrics import roc_auc_score

    from genotool_splice.base import load_base
    from genotool_splice.scoring import BaseHead

    snvs = sample_snvs(ref, gtf, regions, n, seed)
    groups = np.array([v["group"] for v in snvs])
    with open(out / "variant_check.tsv", "w") as fh:
        fh.write("hg38\tgene\tclassification\tmethod\tlocation\tstrand\n")
        for v in snvs:
            cls = "Splice-altering" if v["group"] == "canonical" else "Normal"
            fh.write(f"{v['contig']}-{v['pos'] + 1}-{v['ref']}-{v['alt']}\t\t{cls}\tvariant-check\t{v['group']}\t"
                     f"{v['strand']}\n")
    by_base: dict = {}
    for c in cands:
        by_base.setdefault(c.base_key, []).append(c)
    score = {c.label: np.zeros(len(snvs)) for c in cands}
    for group in by_base.values():
        scorer = load_base(group[0].base, device=plan.device, batch_size=plan.batch_size or 32,
                           precision=plan.precision)
        heads = [c.make_head(plan) if c.make_head else BaseHead() for c in group]
        log(f"variant check: {len(snvs)} SNVs with {', '.join(c.label for c in group)}")
        for i, v in enumerate(snvs):
            for c, d in zip(group, score_snv(scorer, heads, ref, v)):
                score[c.label][i] = d
    y = groups == "canonical"
    table = []
    for c in cands:
        row = {"model": c.label}
        for name, ctrl in (("all", ~y), ("exonic", groups == "exonic"), ("deep_intronic", groups == "deep_intronic")):
            m = y | ctrl
            row[f"auc_{name}"] = float(roc_auc_score(y[m], score[c.label][m])) if y[m].any() and (~y[m]).any() \
                else float("nan")
        row["median_delta_canonical"] = float(np.median(score[c.label][y])) if y.any() else float("nan")
        row["median_delta_controls"] = float(np.median(score[c.label][~y])) if (~y).any() else float("nan")
        table.append(row)
    return {"snvs": {g: int((groups == g).sum()) for g in ("canonical", "exonic", "deep_intronic")},
            "seed": seed, "table": table}
