"""Each architecture trains, saves, resumes and predicts; validate writes its report; DDP under torchrun."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from genotool.testing import invoke

ARCHS = ["cnn", "cnn-transformer", "gnn"]
TINY_SET = ["--set", "embed_dim=4", "--set", "channels=4,8", "--set", "window=8", "--set", "layers=2"]


@pytest.mark.parametrize("arch", ARCHS)
def test_train_resume_predict(arch, pre, sim, tmp_path):
    from genotool.engine import read_model
    from genotool_snp.preprocess import load_data
    from genotool_snp.train import TrainOptions, parse_overrides, train_model

    data = load_data(pre)
    over = parse_overrides(TINY_SET[1::2])
    out = tmp_path / "run"
    out.mkdir()
    opts = TrainOptions(data=pre, output=out, architecture=arch, epochs=3, batch_size=16, threads=1,
                        overrides=over, progress=False)
    # a wall-clock budget stops after epoch 1 with last.pt written; a rerun without it resumes
    opts.max_minutes = 1e-9
    first = train_model(opts, data, out)
    assert first["epochs_run"] == 1
    opts.max_minutes = None
    second = train_model(opts, data, out)
    hist = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in hist] == [1, 2, 3] and second["epochs_run"] == 3
    payload = read_model(out, plugin="snp")
    assert payload["config"]["architecture"] == arch and payload["extra"]["label"]["kind"] == "classes"
    if arch == "gnn":
        assert payload["state_dict"]["edge_index"].shape[1] == 2 * len(np.load(pre / "ld_graph.npz")["src"]) > 0

    r = invoke(["snp", "predict", "--vcf", str(sim / "genotypes.vcf.gz"), "-m", str(out), "-o", str(tmp_path / "p"),
                "--threads", "1"])
    assert r.exit_code == 0, r.stderr
    import pandas as pd

    df = pd.read_parquet(tmp_path / "p" / "predictions.parquet")
    assert len(df) == 48 and {"prob_AFR", "prob_ADMIX", "prob_ASIA", "prob_EUR"} <= set(df.columns)
    np.testing.assert_allclose(df.filter(like="prob_").sum(1), 1.0, atol=1e-5)
    assert (tmp_path / "p" / "predictions.tsv").is_file()
    meta = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert meta["plan"]["device"] == "cpu"


def test_gnn_passes_messages(pre):
    """Changing one SNP changes the GNN's hidden state at its LD neighbours (real message passing)."""
    import torch

    from genotool_snp.models import build
    from genotool_snp.preprocess import load_data
    from genotool_snp.labels import label_spec
    from genotool_snp.train import hyperparameters, model_config, TrainOptions

    data = load_data(pre)
    hp = hyperparameters(TrainOptions(data=pre, output=pre))
    cfg = model_config(data, hp, "gnn", label_spec(data, "population", None, "auto"))
    m = build(cfg).eval()
    src, dst, _ = data["graph"]
    m.set_graph(*data["graph"])
    x = torch.from_numpy(np.array(data["genotypes"][:1]))
    e = m.input(x).transpose(1, 2)
    h0 = m.layers[0](e, m.adjacency())
    x2 = x.clone()
    x2[0, :, src[0]] = 1 - x2[0, :, src[0]]
    h1 = m.layers[0](m.input(x2).transpose(1, 2), m.adjacency())
    changed = (h0 - h1).abs().sum(-1)[0] > 1e-6
    assert changed[dst[0]]                       # a neighbour hears about it
    far = [i for i in range(len(changed)) if i not in set(dst[src == src[0]]) | set(src[dst == src[0]]) | {src[0]}]
    assert not changed[far].any()                # nobody else does after one layer


@pytest.mark.parametrize("arch", ARCHS)
def test_validate_report(arch, pre, tmp_path):
    r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / "m"), "--epochs", "2", "--threads", "1",
                "--architecture", arch, *TINY_SET])
    assert r.exit_code == 0, r.stderr
    r = invoke(["snp", "validate", "-m", str(tmp_path / "m"), "-d", str(pre), "-o", str(tmp_path / "v"),
                "--threads", "1"])
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "v" / "validation.json").read_text())
    assert set(res["methods"]) == {f"genotool-{arch}", "pca10+logistic", "pca10+nearest-centroid", "logistic-all-snps"}
    for m in res["methods"].values():
        assert 0 <= m["accuracy"] <= 1 and set(m["per_class"]) == {"AFR", "EUR", "ASIA", "ADMIX"}
    html = (tmp_path / "v" / "report.html").read_text()
    assert html.count("data:image/png;base64") == 3


def test_predict_bad_vcfs(pre, sim, tmp_path):
    import gzip

    r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / "m"), "--epochs", "1", "--threads", "1",
                *TINY_SET])
    assert r.exit_code == 0, r.stderr
    lines = gzip.open(sim / "genotypes.vcf.gz", "rt").read().splitlines()
    other = [ln.replace("##contig=<ID=1,", "##contig=<ID=2,") if ln.startswith("#") else "2" + ln[1:] for ln in lines]
    (tmp_path / "chr2.vcf").write_text("\n".join(other) + "\n")
    r = invoke(["snp", "predict", "--vcf", str(tmp_path / "chr2.vcf"), "-m", str(tmp_path / "m"),
                "-o", str(tmp_path / "p")])
    assert r.exit_code == 2 and "chr2.vcf has contigs 2" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "p").exists() and not (tmp_path / "p.partial").exists()
    # half of the sites gone: refused; a few gone: imputed with a warning
    head = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    (tmp_path / "half.vcf").write_text("\n".join(head + body[::2]) + "\n")
    r = invoke(["snp", "predict", "--vcf", str(tmp_path / "half.vcf"), "-m", str(tmp_path / "m"), "-o", str(tmp_path / "p")])
    assert r.exit_code == 2 and "--max-missing-fraction" in r.stderr
    r = invoke(["snp", "predict", "--vcf", str(tmp_path / "half.vcf"), "-m", str(tmp_path / "m"), "-o", str(tmp_path / "p"),
                "--max-missing-fraction", "0.9"])
    assert r.exit_code == 0 and "imputed as the training mean" in r.stderr


def test_ddp_torchrun_cpu(pre, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "genotool",
           "snp", "train", "-d", str(pre), "-o", str(tmp_path / "ddp"), "--epochs", "2", "--architecture", "gnn",
           "--threads", "1", *TINY_SET]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((tmp_path / "ddp" / "metadata.json").read_text())
    assert (tmp_path / "ddp" / "model.pt").is_file() and meta["runtime"]["world_size"] == 2
