"""Phenotype task + importance: captum attributions, attention, ensemble and LD-aware causal recovery."""

import json

import numpy as np

from genotool.testing import invoke

TINY_SET = ["--set", "embed_dim=4", "--set", "channels=4,8", "--set", "window=8", "--set", "layers=1"]


def test_phenotype_importance_and_recovery(pre, sim, tmp_path):
    for seed in ("0", "1"):
        r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / f"m{seed}"), "--task", "phenotype",
                    "--phenotype-type", "quantitative", "--architecture", "cnn-transformer", "--epochs", "2",
                    "--threads", "1", "--seed", seed, *TINY_SET])
        assert r.exit_code == 0, r.stderr
    r = invoke(["snp", "importance", "-m", str(tmp_path / "m0"), "--also-model", str(tmp_path / "m1"),
                "-d", str(pre), "-o", str(tmp_path / "imp"), "--truth", str(sim / "truth.json"),
                "--threads", "1", "--max-samples", "8", "--k", "5",
                "--methods", "integrated-gradients,smoothgrad,saliency,gradient-x-input,attention"])
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "imp" / "importance.json").read_text())
    assert set(res["methods"]) == {"integrated-gradients", "smoothgrad", "saliency", "gradient-x-input",
                                   "attention", "ensemble"}
    rec = res["recovery"]
    assert {"marginal+clump", "ensemble", "attention", "gradient-x-input"} <= set(rec["methods"])
    # clumped rankings are scored (one lead per LD clump), the raw ones reported beside them
    assert rec["ranking"].startswith("clumped") and set(rec["methods_raw"]) == set(res["methods"])
    for name, leads in rec["leads"].items():
        assert len(set(leads)) == len(leads) >= 5
    for m in rec["methods"].values():
        assert 0 <= m["at_5"]["recall"] <= 1 and 0 <= m["at_5"]["precision"] <= 1
    assert "ran" in rec["susie"]
    rows = (tmp_path / "imp" / "importance.tsv").read_text().splitlines()
    ens = [float(x.split("\t")[-1]) for x in rows[1:]]
    assert ens == sorted(ens, reverse=True) and abs(sum(ens) - 1) < 1e-3
    assert (tmp_path / "imp" / "manhattan.png").stat().st_size > 1000


def test_hit_rule_and_clumping(pre, sim):
    from genotool_snp import causal
    from genotool_snp.preprocess import load_data

    data = load_data(pre)
    c = causal.causal_indices(data, sim / "truth.json")
    hap = causal.haplotype_rows(data)
    hits = causal.hit_mask(data, c, causal.r2_with(hap, c))
    ranked = np.array(c + [i for i in range(hits.shape[1]) if i not in c])
    assert causal.recall_precision(ranked, hits, len(c))["recall"] == 1.0
    assert causal.recall_precision(ranked, hits, len(c))["precision"] == 1.0
    # a SNP in perfect LD with a causal one is a hit; clumping keeps one lead per LD group
    p = np.ones(hits.shape[1])
    p[c[0]] = 1e-9
    leads = causal.clump(p, hap, data["snps"]["pos"], max_leads=3)
    assert leads[0] == c[0] and len(set(leads)) == len(leads)
    # an importance ranking whose top slots are one LD block: clumping keeps its best SNP only
    r2 = causal.r2_with(hap, [c[0]])[0]
    block = np.flatnonzero(r2 >= 0.9)
    score = np.zeros(hits.shape[1])
    score[block] = 2.0 + r2[block]
    score[c[0]] = 5.0
    other = int(np.argmin(r2))                            # r^2 < 0.5 with the lead: its own clump
    assert r2[other] < 0.5
    score[other] = 1.0
    cl = causal.clump(-score, hap, data["snps"]["pos"], max_leads=2)
    assert list(cl) == [c[0], other]


def test_focal_loss():
    import torch

    from genotool_snp.tasks import focal_loss

    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert torch.allclose(focal_loss(logits, y, gamma=0.0), ce)
    assert focal_loss(logits, y, gamma=2.0) < ce         # easy examples are down-weighted
