"""The simulator writes real, self-consistent formats."""

import json

import numpy as np
import pandas as pd
import pysam


def test_files_and_contigs(sim_data):
    for name in ("reference.fa", "reference.fa.fai", "positive.bam", "positive.bam.bai", "negative.bam",
                 "negative.bam.bai", "positive.parquet", "negative.parquet", "training_regions.interval_list"):
        assert (sim_data / name).is_file(), name
    text = (sim_data / "training_regions.interval_list").read_text()
    sq = [line.split("\t")[1][3:] for line in text.splitlines() if line.startswith("@SQ")]
    assert sq == [f"chr{i}" for i in range(1, 23)]
    with pysam.AlignmentFile(str(sim_data / "positive.bam")) as fh:
        assert list(fh.references) == sq
        assert fh.header["HD"]["SO"] == "coordinate"


def test_bam_md_tags_and_ultima_tags_agree_with_reference(sim_data):
    fa = pysam.FastaFile(str(sim_data / "reference.fa"))
    n_clip = n_indel = n_checked = 0
    with pysam.AlignmentFile(str(sim_data / "negative.bam")) as fh:
        last = (-1, -1)
        for read in fh:
            assert (read.reference_id, read.reference_start) >= last   # sorted
            last = (read.reference_id, read.reference_start)
            ops = {op for op, _ in read.cigartuples}
            n_clip += 4 in ops
            n_indel += bool(ops & {1, 2})
            ref = fa.fetch(read.reference_name)
            for q, r, base in read.get_aligned_pairs(with_seq=True):   # MD-derived reference
                if r is not None:
                    assert base.upper() == ref[r]
            tp = read.get_tag("tp")
            assert len(tp) == read.query_length and set(tp) <= {-1, 0, 1}
            assert set(read.get_tag("t0")) <= set("-:ACDGNT")
            assert 0 < read.get_tag("rq") < 1
            assert read.get_tag("st") in {"MIXED", "MINUS", "PLUS", "UNDETERMINED"}
            n_checked += 1
            if n_checked > 150:
                break
    assert n_clip > 0 and n_indel > 0


def test_featuremap_columns_and_labels(sim_data):
    from genotool_srsnv.featuremap import XGB_FEATURES, REQUIRED_COLUMNS

    pos = pd.read_parquet(sim_data / "positive.parquet")
    neg = pd.read_parquet(sim_data / "negative.parquet")
    for df in (pos, neg):
        assert set(REQUIRED_COLUMNS) <= set(df.columns)
        assert set(XGB_FEATURES) <= set(df.columns)
        assert {"chr21", "chr22"} <= set(df["CHROM"])
    # positives: REF is the fake X_ALT reference, never the real base (= ALT)
    assert (pos["REF"] == pos["X_ALT"]).all() and (pos["REF"] != pos["ALT"]).all()
    fa = pysam.FastaFile(str(sim_data / "reference.fa"))
    for _, r in neg.head(50).iterrows():
        assert fa.fetch(r.CHROM, r.POS - 1, r.POS) == r.REF != r.ALT
    for _, r in pos.head(50).iterrows():
        assert fa.fetch(r.CHROM, r.POS - 1, r.POS) == r.ALT
    # real but imperfect signal: MIXED prevalence similar between classes
    mix = lambda d: ((d.st == "MIXED") | (d.et == "MIXED")).mean()  # noqa: E731
    assert abs(mix(pos) - mix(neg)) < 0.15
    s = json.loads((sim_data / "simulation.json").read_text())
    assert 5e-4 < s["raw_substitution_error_rate"] < 2e-2
