"""Split manifests: the hash rule, K-fold balancing, SNVQ calibration."""

import hashlib

import numpy as np
import pytest

from genotool.errors import UserError
from genotool_srsnv import splits
from genotool_srsnv.calibration import apply_snvq, fit_snvq, mqual


def test_hash_rule_is_the_documented_one():
    names = [f"read{i}" for i in range(200)]
    got = splits.hash_fraction(names, 42)
    for n, g in zip(names, got):
        h = int.from_bytes(hashlib.sha256(f"42::{n}".encode()).digest()[:8], "big") / 2**64
        assert g == h
    frac = (splits.hash_fraction([f"r{i}" for i in range(20000)], 0) < 0.1).mean()
    assert 0.09 < frac < 0.11


def test_single_model_manifest_roundtrip_and_mismatch():
    rng = np.random.default_rng(0)
    chrom = np.array(rng.choice(["chr1", "chr2", "chr21", "chr22"], 500), dtype=str)
    rn = np.array([f"r{i}" for i in range(500)])
    label = rng.integers(0, 2, 500)
    p = splits.manifest_params(single_model=True, holdout=["chr21", "chr22"], val_fraction=0.2, hash_key="RN",
                               seed=3, n_folds=1)
    m = splits.build_manifest(p, chrom, label, rn, {"chr1": 10, "chr2": 5, "chr21": 2, "chr22": 2})
    split, fold = splits.apply_manifest(m, chrom, rn, label=label)
    assert (split[np.isin(chrom, ["chr21", "chr22"])] == 2).all()
    assert m["row_counts"]["test"] == (split == 2).sum() and (fold[split == 2] == -1).all()
    with pytest.raises(UserError, match="does not match"):
        splits.apply_manifest(m, chrom[:-1], rn[:-1], label=label[:-1])


def test_kfold_greedy_balance():
    lengths = {"a": 100, "b": 90, "c": 50, "d": 40, "e": 10}
    f = splits.assign_kfold(lengths, list(lengths), 2)
    tot = [sum(lengths[c] for c in f if f[c] == k) for k in range(2)]
    assert f["a"] != f["b"] and abs(tot[0] - tot[1]) <= 30


def test_snvq_table_is_monotone_and_uses_the_prior():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    p = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    mq = mqual(p)
    t1 = fit_snvq(mq, y, 1e-3)
    t2 = fit_snvq(mq, y, 1e-4)
    assert np.all(np.diff(t1["snvq"]) >= 0)
    s1, s2 = apply_snvq(mq, t1), apply_snvq(mq, t2)
    assert np.all(s2 >= s1) and abs(np.median(s2 - s1) - 10) < 1.5   # 10x rarer errors: +10 Phred
