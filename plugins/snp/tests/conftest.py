"""Shared fixtures: one tiny simulation and its preprocess folder per test session (seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = dict(length=300_000, num_samples=12, hotspots_per_mb=10.0, seed=3)


@pytest.fixture(scope="session")
def sim(tmp_path_factory) -> Path:
    from genotool_snp.simulate import SimulateConfig, simulate

    d = tmp_path_factory.mktemp("snp") / "sim"
    simulate(SimulateConfig(d, **TINY), d)
    return d


@pytest.fixture(scope="session")
def pre(sim, tmp_path_factory) -> Path:
    from genotool.testing import invoke

    out = tmp_path_factory.mktemp("snp") / "pre"
    r = invoke(["snp", "preprocess", "--vcf", str(sim / "genotypes.vcf.gz"), "--samples", str(sim / "samples.tsv"),
                "-o", str(out), "--threads", "1"])
    assert r.exit_code == 0, r.stderr
    return out
