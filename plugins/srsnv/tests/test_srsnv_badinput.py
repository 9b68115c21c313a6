"""Bad input: one clear error line, exit code 2, no partial outputs left behind."""

import json
import shutil

import pandas as pd
import pysam
import pytest


def _fails(genotool_cli, args, tmp_path, expect: str):
    out = tmp_path / "run"
    res = genotool_cli("srsnv", "train", *args, "-o", str(out), "--epochs", "1", "--preprocess-num-workers", "1")
    assert res.exit_code == 2, res.stderr
    lines = [x for x in res.stderr.strip().splitlines() if x.startswith("genotool: error")]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert expect.lower() in lines[0].lower(), lines[0]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("run")]
    assert leftovers == [], leftovers
    return lines[0]


def test_missing_bam_index(data_copy, args_for, genotool_cli, tmp_path):
    (data_copy / "negative.bam.bai").unlink()
    _fails(genotool_cli, args_for(data_copy), tmp_path, "no index")


def test_parquet_missing_required_columns(data_copy, args_for, genotool_cli, tmp_path):
    p = data_copy / "positive.parquet"
    pd.read_parquet(p).drop(columns=["RN", "X_ALT"]).to_parquet(p)
    msg = _fails(genotool_cli, args_for(data_copy), tmp_path, "missing required columns")
    assert "RN" in msg and "X_ALT" in msg


def test_empty_parquet(data_copy, args_for, genotool_cli, tmp_path):
    p = data_copy / "negative.parquet"
    pd.read_parquet(p).head(0).to_parquet(p)
    _fails(genotool_cli, args_for(data_copy), tmp_path, "no rows")


def test_read_names_not_in_bam_fail_above_threshold(data_copy, args_for, genotool_cli, tmp_path):
    p = data_copy / "negative.parquet"
    df = pd.read_parquet(p)
    df.loc[df.index[::3], "RN"] = "nonexistent_read"
    df.to_parquet(p)
    msg = _fails(genotool_cli, args_for(data_copy), tmp_path, "no matching read")
    assert "--max-missing-reads-fraction" in msg


def test_few_missing_read_names_are_counted_and_skipped(data_copy, args_for, genotool_cli, tmp_path):
    p = data_copy / "negative.parquet"
    df = pd.read_parquet(p)
    ok = df.index[(df.MAPQ >= 60) & (df.BCSQ > 40) & (df.ADJ_REF_DIFF == 0) & (df.EDIST < 10) & (df.X_HMER_ALT < 7)
                  & (df.RAW_VAF <= 0.05) & (df.DP >= 25) & (df.DP <= 55) & (df.CHROM == "chr1")]
    df.loc[ok[len(ok) // 2: len(ok) // 2 + 2], "RN"] = "nonexistent_read"
    df.to_parquet(p)
    res = genotool_cli("srsnv", "preprocess", *args_for(data_copy), "-o", str(tmp_path / "cache"),
                       "--preprocess-num-workers", "1", "--max-missing-reads-fraction", "0.5")
    assert res.exit_code == 0, res.stderr
    assert "have no matching read" in res.stderr
    assert json.loads(res.stdout)["telemetry"]["missing_rows"] >= 1


def test_contig_names_differ_between_parquet_and_bam(data_copy, args_for, genotool_cli, tmp_path):
    p = data_copy / "positive.parquet"
    df = pd.read_parquet(p)
    df["CHROM"] = df["CHROM"].str.replace("chr", "", regex=False)
    df.to_parquet(p)
    _fails(genotool_cli, args_for(data_copy), tmp_path, "contig names must match")


def test_contig_names_differ_in_interval_list(data_copy, args_for, genotool_cli, tmp_path):
    p = data_copy / "training_regions.interval_list"
    p.write_text(p.read_text().replace("chr", ""))
    _fails(genotool_cli, args_for(data_copy), tmp_path, "contig names must match")


def test_truncated_bam(data_copy, args_for, genotool_cli, tmp_path):
    p = data_copy / "positive.bam"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    _fails(genotool_cli, args_for(data_copy), tmp_path, "truncated")


def test_split_manifest_that_does_not_match_the_data(sim_data, args_for, genotool_cli, tmp_path):
    cache = tmp_path / "cache"
    res = genotool_cli("srsnv", "preprocess", *args_for(sim_data), "-o", str(cache), "--preprocess-num-workers", "1")
    assert res.exit_code == 0, res.stderr
    index = json.loads(next(cache.glob("*/index.json")).read_text())
    manifest = index["manifest"]
    manifest["row_counts"]["total"] += 17
    manifest["row_counts"]["train"] += 17
    mpath = tmp_path / "other_manifest.json"
    mpath.write_text(json.dumps(manifest))
    _fails(genotool_cli, [*args_for(sim_data), "--split-manifest-in", str(mpath)], tmp_path,
           "does not match the data")
    # a K-fold manifest that assigns none of the data's contigs
    manifest = {"version": 1, "mode": "kfold", "holdout_chromosomes": ["chr21", "chr22"], "val_fraction": 0.1,
                "split_hash_key": "RN", "seed": 0, "n_folds": 2, "chrom_to_fold": {"1": 0, "2": 1}}
    mpath.write_text(json.dumps(manifest))
    shutil.rmtree(cache)
    _fails(genotool_cli, [*args_for(sim_data), "--split-manifest-in", str(mpath)], tmp_path,
           "does not match the data")
