"""End to end on a tiny simulation with an own base model: simulate, train-base, preprocess,
train (meta and score-only), validate, predict, variant, bench."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from genotool.genome.gtf import iter_chromosomes
from genotool_splice.features import FEATURE_NAMES
from genotool_splice.sites import chrom_sites

COMP = str.maketrans("ACGT", "TGCA")


def test_simulated_sites_have_consensus_on_both_strands(sim):
    import pysam

    fa = pysam.FastaFile(str(sim / "genome.fa"))
    n = gt = ag = 0
    strands = set()
    for chrom, tx in iter_chromosomes(sim / "annotation.gtf"):
        assert chrom.startswith("chr")
        cs = chrom_sites(chrom, tx)
        for strand, table in cs.sites.items():
            for p, (lab, _) in table.items():
                strands.add(strand)
                if strand == "+":
                    seq = fa.fetch(chrom, p - 2, p + 3)
                else:
                    seq = fa.fetch(chrom, p - 2, p + 3)[::-1].translate(COMP)
                n += 1
                gt += lab == 0 and seq[3:5] in ("GT", "GC", "AT")     # donor: intron starts after the exon base
                ag += lab == 1 and seq[0:2] in ("AG", "AC")           # acceptor: intron ends before it
    assert strands == {"+", "-"}
    assert gt + ag == n
    assert len(list(iter_chromosomes(sim / "annotation.gtf"))) == 12
    head = (sim / "splicevardb.tsv").read_text().splitlines()
    assert head[0].split("\t") == ["hg38", "gene", "classification", "method", "location"]
    assert {line.split("\t")[2] for line in head[1:]} == {"Splice-altering", "Normal", "Low-frequency"}


def test_preprocess_rows(pipeline):
    t = pq.read_table(pipeline["data"] / "candidates.parquet").to_pandas()
    for c in ("chrom", "position", "strand", "gene", "label", "split", "sample_weight", "sequence", *FEATURE_NAMES):
        assert c in t.columns
    assert not {"splice_type", "pred_type", "true_position", "predicted_position"} & set(t.columns)
    assert set(t.split) == {"train", "val", "test"}
    assert set(t[t.split == "test"].chrom) <= {"chr1", "chr3", "chr5", "chr7", "chr9"}
    assert set(t[t.split == "val"].chrom) == {"chr11", "chr12"}
    assert (t.sequence.str.len() == 501).all()
    pos, neg = (t.label < 2).sum(), (t.candidate == "negative").sum()
    assert abs(neg - 1.2 * pos) <= 0.05 * pos
    assert set(np.unique(t.sample_weight)) <= {0.5, 1.0, 1.5, 2.0} and (t.sample_weight != 1).any()
    # exon-side labels: a plus-strand donor window has GT right after its centre
    d = t[(t.label == 0) & (t.candidate == "true_site")]
    assert (d.sequence.str[251:253].isin(["GT", "GC", "AT"])).all()
    a = t[(t.label == 1) & (t.candidate == "true_site")]
    assert (a.sequence.str[248:250].isin(["AG", "AC"])).all()
    s = json.loads((pipeline["data"] / "preprocess.json").read_text())
    assert s["base"]["kind"] == "own" and s["base_context"] == 80
    assert not (pipeline["data"] / "base_scores").exists()


def test_train_outputs(pipeline):
    m = pipeline["meta"]
    for f in ("model.pt", "model_config.json", "history.json", "checkpoints/best.pt", "checkpoints/last.pt",
              "metadata.json", "train_summary.json"):
        assert (m / f).is_file(), f
    hist = json.loads((m / "history.json").read_text())
    assert len(hist) == 2 and "val_pr_auc" in hist[0]
    meta = json.loads((m / "metadata.json").read_text())
    assert meta["plan"]["device"] == "cpu"


def test_score_only_cross_attention_validate_predict_variant(pipeline, sim, splice_ok):
    run_ok = splice_ok
    root, data = pipeline["root"], pipeline["data"]
    run_ok("train", "-d", data, "-o", root / "score", "--architecture", "score-only", "--epochs", 1,
           "--threads", 1)
    run_ok("train", "-d", data, "-o", root / "xattn", "--protocol", "candidates", "--fusion", "cross-attention",
           "--epochs", 1, "--threads", 1)
    run_ok("validate", "-d", data, "-m", pipeline["meta"], "--score-only-model", root / "score", "-o", root / "val",
           "--also-model", root / "xattn", "--threads", 1)
    rep = json.loads((root / "val" / "validation.json").read_text())
    assert [r["model"] for r in rep["table"]] == ["base", "score-only", "meta", "xattn"]
    assert [r["model"] for r in rep["genome_wide"]["table"]] == ["base", "score-only", "meta", "xattn"]
    for r in rep["table"]:
        for k in ("pr_auc_donor", "ap_acceptor", "topk_donor", "top10_acceptor", "top500_donor", "ece"):
            assert 0 <= r[k] <= 1, (r["model"], k)
    html = (root / "val" / "report.html").read_text()
    assert "data:image/png;base64" in html and (root / "val" / "reliability.png").is_file()
    run_ok("predict", "--fasta", pipeline["fasta"], "-m", pipeline["meta"], "--region", "chr1:1001-3000",
           "-o", root / "pred", "--threads", 1, "--min-score", 0.0)
    lines = (root / "pred" / "base.donor.plus.bedGraph").read_text().splitlines()
    assert len(lines) == 2000 and all(len(x.split("\t")) == 4 for x in lines)   # min-score 0: every position
    assert lines[0].startswith("chr1\t1000\t1001\t")
    for x in (root / "pred" / "sites.bed").read_text().splitlines():
        c = x.split("\t")
        assert c[3] in ("donor", "acceptor") and c[5] in "+-" and 0 <= int(c[4]) <= 1000
    run_ok("variant", "--fasta", pipeline["fasta"], "-m", pipeline["meta"], "--variants", sim / "splicevardb.tsv",
           "--annotation", pipeline["gtf"], "-o", root / "var", "--threads", 1)
    tsv = (root / "var" / "delta_scores.tsv").read_text().splitlines()
    assert len(tsv) == 61 and "base_DS_AG" in tsv[0] and "meta_DP_DL" in tsv[0]
    vcf = (root / "var" / "delta_scores.vcf").read_text()
    assert "SPLICE_BASE=" in vcf and "SPLICE_META=" in vcf
    summ = json.loads((root / "var" / "summary.json").read_text())
    assert summ["auc"] is not None and 0 <= summ["auc"]["base"] <= 1


def test_bench_json(tmp_path, splice_ok):
    run_ok = splice_ok
    out = tmp_path / "bench.json"
    r = run_ok("bench", "--flanks", "80,400", "--bases", 10000, "--rows", 128, "--repeats", 1, "-o", out,
               "--threads", 1)
    res = json.loads(r.stdout)
    assert res["base_scoring"]["80nt"]["one_model_nt_per_s"] > 0 and res["meta_train_samples_per_s"] > 0
    fast = res["base_scoring"]["400nt"]          # the scorer and the plain nn.Module forward, interleaved
    assert fast["plain_forward_nt_per_s"] > 0 and fast["speedup_vs_plain_forward"] > 0 and fast["five_seed_nt_per_s"] > 0
    assert json.loads(out.read_text())["plugin"] == "splice"
    from genotool.testing import invoke

    again = invoke(["splice", "bench", "--flanks", "80", "--bases", "20000", "--rows", "128", "-o", str(out)])
    assert again.exit_code == 2 and "already exists" in again.stderr
