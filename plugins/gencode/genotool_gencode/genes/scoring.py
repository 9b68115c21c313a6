"""Accuracy of predicted gene models against annotated ones, as gene finders report it.

Each transcript's coding exons are its CDS and stop codon merged (:class:`~.annotation.CodingGene`),
so a CDS written with or without its stop codon compares equal. Truth is every annotated
transcript (all isoforms):

* nucleotide level: coding bases (contig, strand, position); sensitivity = shared / annotated,
  specificity = shared / predicted;
* exon level: an exon (contig, start, end, strand) is right if it equals any annotated coding exon;
* gene level: a predicted gene is right if one of its transcripts' exon chains equals an annotated
  transcript's; sensitivity over annotated genes (one of whose transcripts is predicted exactly),
  specificity over predicted genes.
"""

from __future__ import annotations

from collections import defaultdict

LEVELS = ("nucleotide", "exon", "gene")


def _chain(g) -> tuple:
    return tuple((g.contig, s, e, g.strand) for s, e in g.exons)


def _bases(chains) -> set:
    out = set()
    for ch in chains:
        for contig, s, e, strand in ch:
            out.update((contig, strand, i) for i in range(s, e))
    return out


def score_genes(truth, pred) -> dict:
    """``truth``, ``pred``: iterables of CodingGene (gene_id groups transcripts into genes) ->
    {level_sensitivity, level_specificity, level_f1, counts}."""
    truth, pred = list(truth), list(pred)
    t_chains = {_chain(g) for g in truth}
    p_chains = {_chain(g) for g in pred}
    tb, pb = _bases(t_chains), _bases(p_chains)
    te = {e for ch in t_chains for e in ch}
    pe = {e for ch in p_chains for e in ch}
    t_genes, p_genes = defaultdict(set), defaultdict(set)
    for g in truth:
        t_genes[(g.contig, g.gene_id)].add(_chain(g))
    for g in pred:
        p_genes[(g.contig, g.gene_id)].add(_chain(g))
    gene_sn = sum(1 for chains in t_genes.values() if chains & p_chains)
    gene_sp = sum(1 for chains in p_genes.values() if chains & t_chains)
    out = {}
    for lv, tp_sn, n_true, tp_sp, n_pred in (("nucleotide", len(tb & pb), len(tb), len(tb & pb), len(pb)),
                                             ("exon", len(te & pe), len(te), len(te & pe), len(pe)),
                                             ("gene", gene_sn, len(t_genes), gene_sp, len(p_genes))):
        sn = tp_sn / n_true if n_true else 0.0
        sp = tp_sp / n_pred if n_pred else 0.0
        out[f"{lv}_sensitivity"], out[f"{lv}_specificity"] = sn, sp
        out[f"{lv}_f1"] = 2 * sn * sp / (sn + sp) if sn + sp else 0.0
    out.update(genes_true=len(t_genes), genes_pred=len(p_genes), genes_correct=gene_sp,
               exons_true=len(te), exons_pred=len(pe), exons_correct=len(te & pe))
    return out
