"""End to end on the tiny dataset: train (engine) -> predict -> validate (+ XGBoost), split parity."""

import json

import numpy as np
import pandas as pd
import pytest

TINY_MODEL = ["--epochs", "2", "--channels", "8", "--dilations", "1,2", "--model-window", "32", "--batch-size", "64",
              "--preprocess-num-workers", "1"]


@pytest.fixture(scope="module")
def trained(sim_data, tmp_path_factory):
    from genotool.testing import invoke

    from genotool_srsnv.cli import app  # noqa: F401  (plugin importable)

    root = tmp_path_factory.mktemp("train")
    out = root / "model"
    args = ["srsnv", "train", "--positive-bam", str(sim_data / "positive.bam"), "--negative-bam",
            str(sim_data / "negative.bam"), "--positive-parquet", str(sim_data / "positive.parquet"),
            "--negative-parquet", str(sim_data / "negative.parquet"), "--training-regions",
            str(sim_data / "training_regions.interval_list"), "-o", str(out), "--split-manifest-out",
            str(root / "manifest.json"), "--val-fraction", "0.2", *TINY_MODEL]
    res = invoke(args)
    assert res.exit_code == 0, res.stderr
    return {"out": out, "root": root, "args": args}


def test_train_outputs(trained):
    out = trained["out"]
    meta = json.loads((out / "srsnv_dnn_metadata.json").read_text())
    for key in ("training_runtime_metrics", "holdout_metrics", "split_summary", "preprocess", "calibration"):
        assert key in meta
    epochs = meta["training_runtime_metrics"]
    assert len(epochs) >= 1
    for e in epochs:
        for k in ("wait_seconds", "compute_seconds", "samples_per_second", "val_auc", "train_auc"):
            assert e[k] is not None and np.isfinite(e[k]), k
    assert (out / "model_fold0.pt").is_file() and (out / "feature_schema.json").is_file()
    assert (out / "metadata.json").is_file()
    # the default cache is what --preprocess-cache-dir's help says: <output>.deep_srsnv_cache, beside the output
    from pathlib import Path

    cache = Path(str(out) + ".deep_srsnv_cache")
    assert cache.is_dir() and Path(meta["preprocess"]["cache_dir"]).parent == cache
    assert not (out / "deep_srsnv_cache").exists()
    pred = pd.read_parquet(out / "srsnv_dnn_predictions.parquet")
    assert list(pred.columns[:9]) == ["CHROM", "POS", "RN", "label", "fold_id", "split", "prob", "MQUAL", "SNVQ"]
    assert set(pred["split"]) == {"train", "val", "test"}
    assert set(pred.loc[pred.split == "test", "CHROM"]) <= {"chr21", "chr22"}
    assert pred["prob"].between(0, 1).all() and (np.diff(pred.sort_values("MQUAL")["SNVQ"]) >= -1e-9).all()
    # the calibration table was fit on validation rows only
    n_val = int((pred.split == "val").sum())
    assert meta["calibration"]["n_validation_rows"] == n_val
    h = meta["holdout_metrics"]["all"]
    assert 0 <= h["roc_auc"] <= 1 and "recall_at_snvq_60" in h
    m = json.loads((trained["root"] / "manifest.json").read_text())
    assert m["mode"] == "single_model" and m["holdout_chromosomes"] == ["chr21", "chr22"]


def test_rerun_with_manifest_in_is_a_cache_hit_with_same_splits(trained, tmp_path):
    from genotool.testing import invoke

    args = list(trained["args"])
    i = args.index("-o")
    args[i + 1] = str(tmp_path / "again")
    cache = str(trained["out"]) + ".deep_srsnv_cache"
    args += ["--split-manifest-in", str(trained["root"] / "manifest.json"), "--preprocess-cache-dir", cache]
    res = invoke(args)
    assert res.exit_code == 0, res.stderr
    meta = json.loads((tmp_path / "again" / "srsnv_dnn_metadata.json").read_text())
    assert meta["preprocess"]["cache_hit"] is True
    a = pd.read_parquet(trained["out"] / "srsnv_dnn_predictions.parquet")
    b = pd.read_parquet(tmp_path / "again" / "srsnv_dnn_predictions.parquet")
    assert (a["split"].to_numpy() == b["split"].to_numpy()).all()


def test_predict_scores_a_featuremap(trained, sim_data, tmp_path):
    from genotool.testing import invoke

    out = tmp_path / "scores.parquet"
    res = invoke(["srsnv", "predict", "--bam", str(sim_data / "negative.bam"), "--parquet",
                  str(sim_data / "negative.parquet"), "--model", str(trained["out"]), "-o", str(out),
                  "--preprocess-num-workers", "1", "--batch-size", "100", "--device", "cpu", "--threads", "1"])
    assert res.exit_code == 0, res.stderr
    import pyarrow.parquet as pq

    facts = json.loads(pq.read_schema(out).metadata[b"genotool"])
    assert facts["command"] == "srsnv predict" and facts["model"] == str(trained["out"])
    assert (facts["plan"]["batch_size"], facts["plan"]["batch_size_source"], facts["plan"]["cpu_threads"]) == (100, "user", 1)
    df = pd.read_parquet(out)
    assert {"CHROM", "POS", "RN", "prob", "MQUAL", "SNVQ"} <= set(df.columns)
    assert len(df) == len(pd.read_parquet(sim_data / "negative.parquet"))
    assert df["prob"].notna().mean() > 0.95
    # same rows, same model -> same probabilities as in training
    tr = pd.read_parquet(trained["out"] / "srsnv_dnn_predictions.parquet")
    j = tr.merge(df, on=["CHROM", "POS", "RN"], suffixes=("_t", "_p"))
    assert len(j) > 50 and np.allclose(j["prob_t"], j["prob_p"], atol=1e-4)


def test_validate_report_with_xgboost(trained, sim_data, tmp_path):
    from genotool.testing import invoke

    out = tmp_path / "val"
    res = invoke(["srsnv", "validate", "--model", str(trained["out"]), "--positive-parquet",
                  str(sim_data / "positive.parquet"), "--negative-parquet", str(sim_data / "negative.parquet"),
                  "--training-regions", str(sim_data / "training_regions.interval_list"), "-o", str(out),
                  "--xgb-rounds", "40"])
    assert res.exit_code == 0, res.stderr
    rep = json.loads((out / "holdout_report.json").read_text())
    for model in ("cnn", "xgboost"):
        for sub in ("all", "mixed", "non_mixed"):
            assert sub in rep[model]
        a = rep[model]["all"]
        for k in ("roc_auc", "pr_auc", "log_loss", "recall_at_snvq_50", "recall_at_snvq_60", "recall_at_snvq_70"):
            assert k in a
    # split parity: XGBoost trained on exactly the manifest's rows
    assert rep["xgboost_training"]["folds"][0]["val_rows"] == json.loads(
        (trained["out"] / "split_manifest.json").read_text())["row_counts"]["val"]
    html = (out / "report.html").read_text()
    assert html.count("<img") >= 2 and "SNVQ" in html


def test_kfold_mode_and_dry_run(sim_data, args_for, tmp_path):
    from genotool.testing import invoke

    res = invoke(["srsnv", "train", *args_for(sim_data), "-o", str(tmp_path / "k"), "--preprocess-dry-run",
                  "--kfold-split", "--num-folds", "2"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["preprocess_plan"]["shards"] >= 1
    assert not (tmp_path / "k").exists()
    res = invoke(["srsnv", "train", *args_for(sim_data), "-o", str(tmp_path / "k"), "--kfold-split", "--num-folds",
                  "2", "--max-steps-per-epoch", "3", *TINY_MODEL])
    assert res.exit_code == 0, res.stderr
    pred = pd.read_parquet(tmp_path / "k" / "srsnv_dnn_predictions.parquet")
    assert set(pred.loc[pred.split != "test", "fold_id"]) == {0, 1}
    assert (tmp_path / "k" / "model_fold1.pt").is_file()
    assert pred["prob"].notna().all()


def test_autotune_batch_size_uses_the_engine_search(sim_data, make_cfg, tmp_path, monkeypatch):
    """On CUDA --autotune-batch-size measures; here the same search runs on the CPU (measure_on_cpu)."""
    monkeypatch.setenv("GENOTOOL_CACHE_DIR", str(tmp_path / "gcache"))
    from genotool.options import RunOptions
    from genotool_srsnv.cache import load_records
    from genotool_srsnv.model import encode_records, known_vocab
    from genotool_srsnv.pipeline import preprocess
    from genotool_srsnv.train import Network, autotune_batch_size, train_plan

    res = preprocess(make_cfg(sim_data, tmp_path / "c"))
    rec = load_records(res.path, res.index)
    vocab = known_vocab()
    enc = encode_records(rec["pos"], rec["num"], rec["cat"], vocab)
    plan = train_plan(RunOptions())
    size = autotune_batch_size(enc, rec["rows"]["label"].to_numpy().astype("float32"), vocab,
                               Network(channels=8, dilations=(1, 2), window=32), plan,
                               measure_on_cpu=True, max_size=64)
    assert 2 <= size <= 64 and plan.batch_size == size
    assert any("measured batch size" in r for r in plan.reasons)


def test_models_use_the_engine_format_and_older_folders_still_load(trained, sim_data, tmp_path):
    import shutil

    import torch

    from genotool.engine.model_io import MODEL_FORMAT, read_model
    from genotool.testing import invoke

    payload = read_model(trained["out"], plugin="srsnv", name="model_fold0")
    assert payload["format"] == MODEL_FORMAT and payload["extra"]["fold"] == 0
    assert set(payload["extra"]["vocab"]) >= {"base", "t0"}
    # a folder written before the engine format: model_fold0.pt as a plain dict
    old = tmp_path / "old"
    shutil.copytree(trained["out"], old)
    torch.save({"state_dict": payload["state_dict"], "model_config": payload["config"],
                "vocab": payload["extra"]["vocab"], "fold": 0}, old / "model_fold0.pt")
    out = tmp_path / "scores.parquet"
    res = invoke(["srsnv", "predict", "--bam", str(sim_data / "negative.bam"), "--parquet",
                  str(sim_data / "negative.parquet"), "-m", str(old), "-o", str(out), "--preprocess-num-workers", "1"])
    assert res.exit_code == 0, res.stderr
    tr = pd.read_parquet(trained["out"] / "srsnv_dnn_predictions.parquet")
    j = tr.merge(pd.read_parquet(out), on=["CHROM", "POS", "RN"], suffixes=("_t", "_p"))
    assert len(j) > 50 and np.allclose(j["prob_t"], j["prob_p"], atol=1e-4)
    # an unreadable model file is one line, exit 2, and no output
    (old / "model_fold0.pt").write_bytes(b"\x00" * 64)
    res = invoke(["srsnv", "predict", "--bam", str(sim_data / "negative.bam"), "--parquet",
                  str(sim_data / "negative.parquet"), "-m", str(old), "-o", str(tmp_path / "x.parquet"),
                  "--preprocess-num-workers", "1"])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "model_fold0.pt" in res.stderr and not (tmp_path / "x.parquet").exists()
