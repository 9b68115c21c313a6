"""Simulator + preprocessing: labels follow transcript order on both strands, GT-AG, ATG, stops,
UTRs derived from exon minus CDS, GTF/FASTA flavours."""

import gzip
import json
import shutil

import numpy as np
import pytest

from genotool.genome.gtf import iter_chromosomes, pick_one_per_gene
from genotool_gencode.labels import (FIRST_EXON, FIRST_INTRON, INTERNAL_EXON, LABELS, LAST_EXON, LAST_INTRON,
                                     START_CODON, STOP_CODON, UTR3, UTR5, transcript_intervals)
from genotool_gencode.chunks import ChunkPainter, chunk_starts
from genotool_gencode.preprocess import preprocess

COMP = str.maketrans("ACGT", "TGCA")


def _rc(s):
    return s.translate(COMP)[::-1]


def test_simulated_genes_have_splice_sites_codons_and_both_strands(tiny_sim, tiny_genome):
    genome = tiny_genome
    strands = set()
    n_checked = 0
    for chrom, txs in iter_chromosomes(tiny_sim / "annotation.gtf"):
        for t in pick_one_per_gene(txs):
            strands.add(t.strand)
            seq = genome[chrom]
            ex = sorted(t.exons)
            for (s1, e1), (s2, e2) in zip(ex, ex[1:]):
                intron = seq[e1:s2]
                if t.strand == "-":
                    intron = _rc(intron)
                assert intron[:2] == "GT" and intron[-2:] == "AG"
            if t.cds:
                (a, b), = t.start_codons
                (c, d), = t.stop_codons
                start, stop = seq[a:b], seq[c:d]
                if t.strand == "-":
                    start, stop = _rc(start), _rc(stop)
                assert start == "ATG"
                assert stop in ("TAA", "TAG", "TGA")
                n_checked += 1
    assert strands == {"+", "-"}
    assert n_checked > 5


def test_transcript_order_labels_on_minus_strand():
    # minus strand: transcript order is descending coordinates; exon at the highest coordinate is first
    exons = [(100, 200), (300, 400), (500, 600)]
    cds = [(150, 200), (300, 400), (500, 540)]
    iv = transcript_intervals("-", exons, cds)
    lab = np.zeros(700, dtype=int)
    for s, e, c in sorted(iv, key=lambda x: {0: 0, 4: 1, 5: 1, 6: 1, 7: 2, 8: 2}.get(x[2], 3 if x[2] < 4 else 4)):
        lab[s:e] = c
    assert lab[510] == FIRST_EXON and lab[320] == INTERNAL_EXON and lab[160] == LAST_EXON
    assert lab[450] == FIRST_INTRON and lab[250] == LAST_INTRON
    assert lab[570] == UTR5 and lab[120] == UTR3          # 5'UTR at the high end on minus
    assert (lab[537:540] == START_CODON).all()             # derived: first 3 CDS bases in transcript order
    assert (lab[147:150] == STOP_CODON).all()              # derived: 3 exonic bases after the CDS
    # a single exon holding CDS start and end keeps both UTRs
    iv = transcript_intervals("+", [(0, 100)], [(20, 70)])
    labs = {c for _, _, c in iv}
    assert {UTR5, UTR3, START_CODON, STOP_CODON, FIRST_EXON} <= labs
    # non-coding exons are exons, not intergenic
    assert {c for _, _, c in transcript_intervals("+", [(0, 50), (80, 120)], [])} == {FIRST_EXON, LAST_EXON,
                                                                                     FIRST_INTRON}


def test_chunks_match_annotation(tiny_sim, tiny_data, tiny_genome):
    genome = tiny_genome
    recs = [json.loads(line) for line in open(tiny_data / "train.jsonl")]
    assert recs and all(len(r["sequence"]) == len(r["labels"]) == 2000 for r in recs)
    for r in recs:
        assert r["sequence"] == genome[r["chrom"]][r["start"]:r["end"]]
        lab = np.array(r["labels"])
        assert np.count_nonzero(lab) >= 0.1 * len(lab)
        seq = r["sequence"]
        # every start-codon run reads ATG (plus) or CAT (minus)
        for s in np.flatnonzero(np.diff(np.r_[0, (lab == START_CODON).astype(int)]) == 1):
            if s + 3 <= len(seq) and (lab[s:s + 3] == START_CODON).all():
                assert seq[s:s + 3] in ("ATG", "CAT")
    stats = json.loads((tiny_data / "train_segment_stats.json").read_text())
    assert set(stats) == set(LABELS)
    assert stats["start_codon"]["max"] == 3
    for s in ("train", "val", "test"):
        assert (tiny_data / f"{s}.jsonl").stat().st_size > 0


def test_gtf_flavours_give_identical_labels(tiny_sim, tmp_path):
    """GENCODE (UTR + codon lines), no UTR/codon lines, UCSC-like (no gene/transcript lines,
    gzip) and a bgzip FASTA all yield the same chunks."""
    import pysam

    src = (tiny_sim / "annotation.gtf").read_text().splitlines(keepends=True)
    bare = [line for line in src if line.startswith("#") or line.split("\t")[2] in ("exon", "CDS", "start_codon",
                                                                                      "stop_codon")]
    no_utr = [line for line in src if line.startswith("#") or line.split("\t")[2] not in ("UTR", "start_codon",
                                                                                          "stop_codon")]
    (tmp_path / "no_utr.gtf").write_text("".join(no_utr))
    with gzip.open(tmp_path / "ucsc.gtf.gz", "wt") as fh:
        fh.write("".join(bare))
    shutil.copy(tiny_sim / "genome.fa", tmp_path / "g.fa")
    pysam.tabix_compress(str(tmp_path / "g.fa"), str(tmp_path / "g.fa.gz"))
    splits = {"train": ["chr1"], "val": ["chr2"], "test": ["chr3"]}
    outs = []
    for i, (gtf, fa) in enumerate([(tiny_sim / "annotation.gtf", tiny_sim / "genome.fa"),
                                   (tmp_path / "no_utr.gtf", tmp_path / "g.fa"),
                                   (tmp_path / "ucsc.gtf.gz", tmp_path / "g.fa.gz")]):
        d = tmp_path / f"o{i}"
        d.mkdir()
        preprocess(gtf, fa, d, chunk_size=3000, overlap=200, splits=splits, log=lambda m: None)
        outs.append((d / "train.jsonl").read_text())
    assert outs[0] == outs[1] == outs[2]


def test_overlapping_genes_painted_by_priority():
    # gene A (+) exon 0-100 CDS 10-90; gene B (-) intron covering 50-300: exon/codon beat intron
    a = [(s, e, c, 0) for s, e, c in transcript_intervals("+", [(0, 100), (400, 500)], [(10, 100), (400, 480)])]
    b = [(s, e, c, 1) for s, e, c in transcript_intervals("-", [(20, 50), (300, 350)], [])]
    lab = ChunkPainter(a + b).paint(0, 600)
    assert lab[60] == FIRST_EXON          # CDS of A beats the intron of B
    assert lab[150] == FIRST_INTRON       # only B's intron (B has 2 exons: its only intron is 'first')
    assert (lab[10:13] == START_CODON).all()
    # A's CDS and B's last exon (minus strand: lowest coordinates) tie on priority: the later gene wins
    assert lab[30] == LAST_EXON
    assert lab[550] == 0


def test_chunk_starts_cover_everything():
    for n in (5, 2000, 2001, 9999, 25_000):
        st = chunk_starts(n, 2000, 100)
        covered = np.zeros(n, bool)
        for s in st:
            covered[s:s + 2000] = True
            assert s + min(n, 2000) <= n
        assert covered.all()


def test_chunks_carry_the_strand_track_of_their_genes(tiny_sim, tiny_data):
    """``minus`` runs cover exactly the genic bases of minus-strand transcripts."""
    from genotool_gencode.chunks import mask_runs

    assert mask_runs(np.array([0, 1, 1, 0, 1], dtype=bool)) == [[1, 3], [4, 5]]
    minus_ivs = {}
    for chrom, txs in iter_chromosomes(tiny_sim / "annotation.gtf"):
        minus_ivs[chrom] = [(t.start, t.end) for t in pick_one_per_gene(txs) if t.strand == "-"]
    n_minus = 0
    for rec, labels, minus in _chunks_with_strand(tiny_data):
        pos = np.arange(rec["start"], rec["end"])
        in_minus_gene = np.zeros(len(labels), dtype=bool)
        for s, e in minus_ivs[rec["chrom"]]:
            in_minus_gene |= (pos >= s) & (pos < e)
        assert np.array_equal(minus, in_minus_gene & (labels > 0))
        n_minus += int(minus.sum())
    assert n_minus > 0


def _chunks_with_strand(data_dir):
    """(record, labels, minus-strand mask) for every chunk of every split."""
    for split in ("train", "val", "test"):
        for line in open(data_dir / f"{split}.jsonl"):
            rec = json.loads(line)
            labels = np.array(rec["labels"])
            minus = np.zeros(len(labels), dtype=bool)
            for a, b in rec["minus"]:
                minus[a:b] = True
            yield rec, labels, minus


def test_strand_states_make_the_gene_grammar_first_order(tiny_data):
    """Over the 11 labels, minus-strand genes put 'internal exon -> first intron' into the data
    beside the plus-strand 'first intron -> internal exon', so a first-order chain can alternate
    them; over strand-aware states neither strand ever goes from an internal exon to its first
    intron or from a first intron back to the first exon."""
    from genotool_gencode.labels import NUM_STATES, STATE_LABEL, to_states
    from genotool_gencode.crf.priors import label_statistics

    labs, states = [], []
    for _, y, minus in _chunks_with_strand(tiny_data):
        labs.append(y)
        states.append(to_states(y, minus))
        assert [STATE_LABEL[s] for s in states[-1]] == y.tolist()
    by_label = label_statistics(labs, len(LABELS)).pair_counts
    assert by_label[INTERNAL_EXON, FIRST_INTRON] > 0 and by_label[FIRST_INTRON, INTERNAL_EXON] > 0
    pairs = label_statistics(states, NUM_STATES).pair_counts
    plus = {c: c for c in range(1, len(LABELS))}
    minus = {c: c + len(LABELS) - 1 for c in range(1, len(LABELS))}
    assert pairs[plus[FIRST_INTRON], plus[INTERNAL_EXON]] > 0          # + strand, left to right
    assert pairs[plus[INTERNAL_EXON], plus[FIRST_INTRON]] == 0
    assert pairs[minus[INTERNAL_EXON], minus[FIRST_INTRON]] > 0        # - strand reads 3' -> 5'
    assert pairs[minus[FIRST_INTRON], minus[INTERNAL_EXON]] == 0
    assert pairs[plus[FIRST_INTRON], plus[FIRST_EXON]] == 0
    for c in range(1, len(LABELS)):                                    # strands never switch mid-gene
        for d in range(1, len(LABELS)):
            assert pairs[plus[c], minus[d]] == 0 and pairs[minus[c], plus[d]] == 0
