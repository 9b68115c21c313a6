"""Genome-wide scoring and evaluation: the dense meta-layer, chunked scoring, the metrics against an
independent computation, regions, fine-tuning (--init)."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import numpy as np
import pytest
import torch

from genotool_splice.base import BaseScorer, BaseSpec, encode
from genotool_splice.features import dense_features, score_features
from genotool_splice.genome_meta import GenomeMetaNet, sliding_max
from genotool_splice.scoring import BaseHead, DenseMetaHead, score_span
from genotool_splice.spliceai_net import SpliceAINet


class _Plan:
    device, precision, batch_size = "cpu", "fp32", None


class _Ref:
    """A Reference stand-in over one in-memory sequence."""

    def __init__(self, codes):
        self._codes = codes
        self.lengths = {"c": len(codes)}

    def codes(self, contig, lo, hi):
        return self._codes[lo:hi].copy()


def _probs(n, seed=0):
    return np.random.default_rng(seed).dirichlet([0.3, 0.3, 4.0], size=n).astype(np.float32)


def test_dense_features_equal_row_features():
    probs = _probs(300)
    rows = score_features(probs, np.arange(300))
    padded = torch.zeros(1, 304, 3)
    padded[0, 2:302] = torch.from_numpy(probs)
    dense = dense_features(padded.double(), 2)[0].float().numpy()
    assert dense.shape == (300, 43)
    assert np.allclose(dense, rows, rtol=1e-5, atol=1e-6)


def test_sliding_max_is_a_window_max():
    x = torch.randn(2, 3, 600)
    for w in (1, 2, 5, 64, 501):
        want = torch.stack([x[..., j:j + w].amax(-1) for j in range(600 - w + 1)], -1)
        assert torch.equal(sliding_max(x, w), want)


def test_untrained_meta_layer_returns_its_base():
    torch.manual_seed(0)
    net = GenomeMetaNet(hidden=16, filters=8).eval()
    codes = np.random.default_rng(1).integers(0, 5, 3000).astype(np.uint8)
    base_t = _probs(3000, 1)
    out = DenseMetaHead(net, _Plan(), block=700)(codes, base_t)
    assert np.allclose(out, base_t[:, ::-1], atol=1e-6)


def test_chunked_scoring_equals_one_pass():
    """Chunks read with real flanking sequence, blocks of any size: the same scores as one pass."""
    torch.manual_seed(0)
    base = BaseScorer([SpliceAINet(80, channels=8).eval()], BaseSpec(flank=80), block=600)
    net = GenomeMetaNet(hidden=16, filters=8, window=101).eval()
    torch.nn.init.normal_(net.head[-1].weight, std=0.5)              # a meta-layer that changes the scores
    codes = np.random.default_rng(2).integers(0, 5, 9000).astype(np.uint8)
    ref = _Ref(codes)

    def run(chunk, block):
        heads = [BaseHead(), DenseMetaHead(net, _Plan(), block=block)]
        out = {s: [np.zeros((7000, 3)), np.zeros((7000, 3)), np.zeros((7000, 3))] for s in "+-"}
        for ch in score_span(base, heads, ref, "c", 1000, 8000, chunk=chunk):
            for k, arr in enumerate([ch.base, *ch.outputs]):
                out[ch.strand][k][ch.start - 1000:ch.end - 1000] = arr
        return out

    one, many = run(10 ** 9, 5000), run(1500, 333)
    for s in "+-":
        for a, b in zip(one[s], many[s]):
            assert np.allclose(a, b, atol=1e-5)
    assert not np.allclose(one["+"][2][:, :2], one["+"][1][:, :2], atol=1e-3)   # the meta-layer did move them


def _independent_genome_wide(fasta, gtf, contigs, weights_dir):
    """The reference scorer's algorithm, written again here: whole contigs, both strands."""
    import pysam
    from sklearn.metrics import average_precision_score

    from genotool_splice.base import load_base

    fa = pysam.FastaFile(str(fasta))
    sc = load_base(BaseSpec("own", str(weights_dir)))
    ys, ps = defaultdict(list), defaultdict(list)
    for contig in contigs:
        L = fa.get_reference_length(contig)
        tx = defaultdict(list)
        for line in open(gtf):
            f = line.rstrip("\n").split("\t")
            if len(f) < 9 or f[0] != contig or f[2] != "exon":
                continue
            t = re.search(r'transcript_id "([^"]+)"', f[8]).group(1)
            tx[t].append((int(f[3]) - 1, int(f[4]), f[6]))
        body = {"+": np.zeros(L, bool), "-": np.zeros(L, bool)}
        true = {(s, k): np.zeros(L, bool) for s in "+-" for k in ("donor", "acceptor")}
        for ex in tx.values():
            ex.sort()
            s = ex[0][2]
            body[s][ex[0][0]:ex[-1][1]] = True
            for (_, b0, _), (a1, _, _) in zip(ex, ex[1:]):
                if s == "+":
                    true[(s, "donor")][b0 - 1] = True
                    true[(s, "acceptor")][a1] = True
                else:
                    true[(s, "acceptor")][b0 - 1] = True
                    true[(s, "donor")][a1] = True
        plus, minus = sc.score_both(encode(fa.fetch(contig)))
        minus = minus[::-1]
        score = {("+", "acceptor"): plus[:, 1], ("+", "donor"): plus[:, 2], ("-", "acceptor"): minus[:, 1],
                 ("-", "donor"): minus[:, 2]}
        for k in ("donor", "acceptor"):
            for s in "+-":
                ys[k].append(true[(s, k)][body[s]])
                ps[k].append(score[(s, k)][body[s]])
    out = {}
    for k in ("donor", "acceptor"):
        y, p = np.concatenate(ys[k]), np.concatenate(ps[k])
        n = int(y.sum())
        out[k] = (y[np.argsort(-p, kind="stable")[:n]].mean(), average_precision_score(y, p), n)
    return out


def test_evaluate_matches_an_independent_computation(pipeline, splice_ok, tmp_path):
    out = tmp_path / "ev"
    splice_ok("evaluate", "--fasta", pipeline["fasta"], "--annotation", pipeline["gtf"], "-m", pipeline["base"],
              "--also-model", f"meta={pipeline['meta']}", "-o", out, "--test-regions", "chr1,chr3", "--threads", 1)
    rep = json.loads((out / "evaluation.json").read_text())
    row = next(r for r in rep["metrics"] if r["model"] == "base")
    want = _independent_genome_wide(pipeline["fasta"], pipeline["gtf"], ["chr1", "chr3"], pipeline["base"])
    for k in ("donor", "acceptor"):
        assert row[f"sites_{k}"] == want[k][2]
        assert abs(row[f"topk_{k}"] - want[k][0]) < 1e-9
        assert abs(row[f"pr_auc_{k}"] - want[k][1]) < 1e-6
    assert {r["model"] for r in rep["table"]} == {"base", "meta"}
    assert (out / "genome_wide.tsv").read_text().startswith("model\ttopk\tpr_auc")
    assert "data:image/png;base64" in (out / "report.html").read_text()


def test_validate_genome_wide_is_primary(pipeline, splice_ok, tmp_path):
    out = tmp_path / "val"
    splice_ok("validate", "-d", pipeline["data"], "-m", pipeline["meta"], "-o", out, "--threads", 1)
    rep = json.loads((out / "validation.json").read_text())
    assert [r["model"] for r in rep["genome_wide"]["table"]] == ["base", "meta"]
    assert rep["genome_wide"]["sites"]["donor"] > 0 and rep["genome_wide"]["positions"] > 10_000
    assert [r["model"] for r in rep["table"]] == ["base", "meta"]
    assert set(rep["ranking"]["topk"]) == {"genome_wide", "candidate_rows", "same"}
    html = (out / "report.html").read_text()
    assert html.index("Genome-wide (primary)") < html.index("Candidate rows (secondary)")


def test_meta_layer_trains_on_tracks(pipeline):
    s = json.loads((pipeline["meta"] / "train_summary.json").read_text())
    assert s["protocol"] == "genome" and s["positions"]["train"] > 50_000
    assert s["exported"] == ("best epoch" if s["validation_gain"]["gain_p5"] > 0 else "base-equivalent start")
    assert s["validation_gain"]["resamples"] > 50
    cfg = json.loads((pipeline["meta"] / "model_config.json").read_text())
    assert cfg["protocol"] == "genome" and cfg["model"]["window"] == 501


def test_regions_split_one_contig(sim, pipeline, splice_ok, tmp_path):
    """--train/--val/--test-regions on pieces of contigs: rows and tracks stay inside their pieces."""
    import pyarrow.parquet as pq

    out = tmp_path / "pre"
    splice_ok("preprocess", "--fasta", sim / "genome.fa", "--annotation", sim / "annotation.gtf", "--base-model", "own",
              "--base-weights", pipeline["base"], "-o", out, "--threads", 1,
              "--train-regions", "chr2,chr4,chr6:1-30000", "--val-regions", "chr6:30001-40000,chr8",
              "--test-regions", "chr1:1-25000,chr3")
    t = pq.read_table(out / "candidates.parquet").to_pandas()
    test = t[t.split == "test"]
    assert set(test.chrom) <= {"chr1", "chr3"} and (test[test.chrom == "chr1"].position < 25000).all()
    assert set(t[t.split == "val"].chrom) <= {"chr6", "chr8"}
    assert (t[(t.split == "val") & (t.chrom == "chr6")].position >= 30000).all()
    assert set(t.chrom) <= {"chr1", "chr2", "chr3", "chr4", "chr6", "chr8"}
    tracks = json.loads((out / "tracks" / "val.json").read_text())
    assert all(iv["start"] >= 30000 for iv in tracks["intervals"] if iv["contig"] == "chr6")
    s = json.loads((out / "preprocess.json").read_text())
    assert s["splits"]["test"] == ["chr1:1-25000", "chr3"]


def test_old_chromosome_options_are_hidden_aliases(sim, pipeline, splice_ok, tmp_path):
    from genotool.testing import invoke

    out = tmp_path / "pre"
    r = invoke(["splice", "preprocess", "--fasta", str(sim / "genome.fa"), "--annotation", str(sim / "annotation.gtf"),
                "--base-model", "own", "--base-weights", str(pipeline["base"]), "-o", str(out), "--threads", "1",
                "--test-chromosomes", "chr1,chr3", "--val-chromosomes", "chr2"])
    assert r.exit_code == 0, r.stderr[-1500:]
    assert "--test-chromosomes is now spelled --test-regions" in r.stderr
    s = json.loads((out / "preprocess.json").read_text())
    assert s["splits"]["test"] == ["chr1", "chr3"] and s["splits"]["val"] == ["chr2"]


def test_fine_tuning_from_openspliceai_weights(sim, splice_ok, tmp_path):
    """train-base --init reads an OpenSpliceAI weights folder (through model_io) and fine-tunes it."""
    torch.manual_seed(1)
    w = tmp_path / "w"
    w.mkdir()
    torch.save(SpliceAINet(80).state_dict(), w / "model_80nt_rs10.pt")
    out = tmp_path / "ft"
    splice_ok("train-base", "--fasta", sim / "genome.fa", "--annotation", sim / "annotation.gtf", "--init", w,
              "-o", out, "--epochs", 1, "--block", 500, "--threads", 1, "--steps-per-epoch", 3)
    s = json.loads((out / "train_summary.json").read_text())
    assert s["init_val_pr_auc"] is not None and s["epochs"] == 1
    cfg = json.loads((out / "base_model_config.json").read_text())
    assert cfg["init"]["kind"] == "openspliceai" and cfg["net"]["flank"] == 80


@pytest.mark.skipif(not __import__("pathlib").Path("/work/data/atha/chr1.fa").is_file(),
                    reason="needs the real Arabidopsis chromosome (/work/data/atha)")
def test_real_chromosome_piece(openspliceai_weights, splice_ok, tmp_path):
    """A 300 kb piece of Arabidopsis chr1 with the human 400 nt base: evaluate agrees with the
    independent genome-wide algorithm (real GTF, real FASTA)."""
    if openspliceai_weights is None:
        pytest.skip("OpenSpliceAI MANE weights not found")
    import os

    fa = tmp_path / "chr1.fa"
    os.symlink("/work/data/atha/chr1.fa", fa)                       # its .fai goes here, not into /work/data
    out = tmp_path / "ev"
    splice_ok("evaluate", "--fasta", fa, "--annotation", "/work/data/atha/chr1.gtf.gz", "-m",
              openspliceai_weights / "400nt", "-o", out, "--test-regions", "NC_003070.9:20000001-20300000")
    rep = json.loads((out / "evaluation.json").read_text())
    assert rep["sites"]["donor"] > 100 and 0.3 < rep["table"][0]["topk"] < 0.95
