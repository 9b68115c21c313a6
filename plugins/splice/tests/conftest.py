"""Shared fixtures: a tiny simulated genome and a tiny own-base pipeline (train-base -> preprocess ->
train), built once per test session (well under a minute on 2 cores)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genotool.testing import invoke

REPO = Path(__file__).resolve().parents[3]


def weights_dir() -> Path | None:
    """The OpenSpliceAI MANE folder: $GENOTOOL_SPLICE_WEIGHTS or ../shared/data/openspliceai-mane (beside the
    repository, or beside the folder of worktrees)."""
    for p in (os.environ.get("GENOTOOL_SPLICE_WEIGHTS"), REPO.parent / "shared/data/openspliceai-mane",
              REPO.parent.parent / "shared/data/openspliceai-mane"):
        if p and (Path(p) / "80nt").is_dir():
            return Path(p)
    return None


def run_ok(*args):
    r = invoke(["splice", *map(str, args)])
    assert r.exit_code == 0, r.stderr[-2000:]
    return r


@pytest.fixture(scope="session")
def splice_ok():
    """``splice_ok(*args)``: run ``genotool splice ARGS`` in-process and require exit 0."""
    return run_ok


@pytest.fixture(scope="session")
def openspliceai_weights():
    return weights_dir()


@pytest.fixture(scope="session")
def sim(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("splice") / "sim"
    run_ok("simulate", "-o", d, "--genome-size", 480_000, "--num-chromosomes", 12, "--num-variants", 60,
           "--seed", 3)
    return d


@pytest.fixture(scope="session")
def pipeline(sim, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pipe")
    fa, gtf = sim / "genome.fa", sim / "annotation.gtf"
    base = root / "base"
    run_ok("train-base", "--fasta", fa, "--annotation", gtf, "-o", base, "--channels", 8, "--epochs", 2, "--lr", 5e-3,
           "--block", 500, "--threads", 1)
    data = root / "data"
    run_ok("preprocess", "--fasta", fa, "--annotation", gtf, "--base-model", "own", "--base-weights", base,
           "-o", data, "--variants", sim / "splicevardb.tsv", "--threads", 1)
    meta = root / "meta"
    run_ok("train", "-d", data, "-o", meta, "--epochs", 2, "--threads", 1)
    return {"root": root, "fasta": fa, "gtf": gtf, "base": base, "data": data, "meta": meta}
