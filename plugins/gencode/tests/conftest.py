"""Shared tiny fixtures: one simulated genome and its preprocessed chunks per test session; this
folder on sys.path for the helpers module ``gencode_helpers``."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def tiny_sim(tmp_path_factory):
    from genotool.outputs import run_output
    from genotool_gencode.simulate import simulate_genome

    out = tmp_path_factory.mktemp("gencode") / "sim"
    with run_output(out, command="test simulate") as run:
        simulate_genome(run.path, num_chroms=3, chrom_length=40_000, seed=1)
    return out


@pytest.fixture(scope="session")
def tiny_data(tiny_sim, tmp_path_factory):
    from genotool.outputs import run_output
    from genotool_gencode.preprocess import preprocess

    out = tmp_path_factory.mktemp("gencode") / "data"
    with run_output(out, command="test preprocess") as run:
        preprocess(tiny_sim / "annotation.gtf", tiny_sim / "genome.fa", run.path, chunk_size=2000, overlap=100,
                   splits={"train": ["chr1"], "val": ["chr2"], "test": ["chr3"]}, log=lambda m: None)
    return out


@pytest.fixture(scope="session")
def tiny_genome(tiny_sim):
    """``tiny_sim``'s genome.fa as {contig: sequence}."""
    seqs, name = {}, None
    for line in open(tiny_sim / "genome.fa"):
        if line.startswith(">"):
            name = line[1:].strip()
            seqs[name] = []
        else:
            seqs[name].append(line.strip())
    return {k: "".join(v) for k, v in seqs.items()}

