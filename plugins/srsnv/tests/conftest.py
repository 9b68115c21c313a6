"""Shared fixtures: one tiny simulated dataset per test process (a few seconds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TINY = {"n_reads": 700, "genome_size": 115_000, "seed": 7}


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> Path:
    from genotool_srsnv.simulate import simulate_dataset

    d = tmp_path_factory.mktemp("sim") / "data"
    d.mkdir()
    simulate_dataset(d, **TINY)
    return d


@pytest.fixture
def data_copy(sim_data, tmp_path) -> Path:
    """A private copy a test may damage."""
    d = tmp_path / "data"
    shutil.copytree(sim_data, d)
    return d


def data_args(d: Path) -> list[str]:
    return ["--positive-bam", str(d / "positive.bam"), "--negative-bam", str(d / "negative.bam"),
            "--positive-parquet", str(d / "positive.parquet"), "--negative-parquet", str(d / "negative.parquet"),
            "--training-regions", str(d / "training_regions.interval_list")]


def pre_cfg(d: Path, cache: Path, workers: int = 1, **kw):
    from genotool_srsnv import splits
    from genotool_srsnv.pipeline import PreprocessConfig

    mp = splits.manifest_params(single_model=True, holdout=["chr21", "chr22"], val_fraction=0.1, hash_key="RN",
                                seed=0, n_folds=1)
    kw.setdefault("batch_rows", 256)
    kw.setdefault("progress", False)
    return PreprocessConfig(d / "positive.bam", d / "negative.bam", d / "positive.parquet", d / "negative.parquet",
                            d / "training_regions.interval_list", cache, mp, num_workers=workers, **kw)


@pytest.fixture(scope="session")
def args_for():
    return data_args


@pytest.fixture(scope="session")
def make_cfg():
    return pre_cfg
