"""Bad input: one clear error line, exit code 2, nothing overwritten."""

from __future__ import annotations

import json
import shutil

import numpy as np
from genotool.testing import run_cli  # the genotool_cli fixture's call, with its plan check




def _one_error_line(r):
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    errs = [x for x in r.stderr.splitlines() if x.startswith("genotool: error:")]
    assert len(errs) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return errs[0]


def test_non_pod5_file(tiny_model, tmp_path):
    bad = tmp_path / "notes.pod5"
    bad.write_text("this is not a pod5 file\n")
    line = _one_error_line(run_cli("codec", "encode", "--pod5", bad, "-m", tiny_model, "-o", tmp_path / "t.tokens"))
    assert "notes.pod5" in line and "not a POD5" in line
    assert not (tmp_path / "t.tokens").exists()
    line = _one_error_line(run_cli("codec", "preprocess", "--pod5", bad, "-o", tmp_path / "ds"))
    assert "no usable POD5" in line and not (tmp_path / "ds").exists()


def test_truncated_pod5_skipped_with_warning(sim, tmp_path):
    src = next((sim / "pod5").rglob("*.pod5"))
    d = tmp_path / "in"
    (d / "fc1").mkdir(parents=True)
    (d / "fc2").mkdir()
    good = d / "fc1" / "good.pod5"
    shutil.copy(src, good)
    trunc = d / "fc2" / "trunc.pod5"
    trunc.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    r = run_cli("codec", "preprocess", "--pod5", d, "-o", tmp_path / "ds", "--window", "2000")
    assert r.exit_code == 0, r.stderr
    assert "trunc.pod5" in r.stderr and "warning" in r.stderr
    idx = json.loads((tmp_path / "ds" / "index.json").read_text())
    assert idx["stats"]["n_files"] == 1 and idx["stats"]["skipped_files"][0]["file"].endswith("trunc.pod5")
    # Encoding must not silently drop data: a truncated file is an error naming it.
    line = _one_error_line(run_cli("codec", "encode", "--pod5", trunc, "-m", tmp_path, "-o", tmp_path / "t.tokens"))
    assert "trunc.pod5" in line or "--model" in line


def test_truncated_pod5_encode(tiny_model, sim, tmp_path):
    src = next((sim / "pod5").rglob("*.pod5"))
    trunc = tmp_path / "trunc.pod5"
    trunc.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    line = _one_error_line(run_cli("codec", "encode", "--pod5", trunc, "-m", tiny_model, "-o", tmp_path / "t.tokens"))
    assert "trunc.pod5" in line and ("corrupt" in line or "truncated" in line)


def test_reads_shorter_than_window(sim, tmp_path):
    line = _one_error_line(run_cli("codec", "preprocess", "--pod5", sim / "pod5", "-o", tmp_path / "ds",
                                   "--window", "1000000"))
    assert "window" in line
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds.partial").exists()


def test_mixed_sample_rates(tiny_model, sim, tmp_path):
    r = run_cli("codec", "simulate", "-o", tmp_path / "r10", "--chemistry", "r10.4.1", "--num-reads", "2",
                "--read-length", "600", "--num-files", "1")
    assert r.exit_code == 0, r.stderr
    line = _one_error_line(run_cli("codec", "encode", "--pod5", sim / "pod5", "--pod5", tmp_path / "r10" / "pod5",
                                   "-m", tiny_model, "-o", tmp_path / "t.tokens"))
    assert "mixed sample rates" in line and "5000" in line and "4000" in line
    # preprocess keeps the first rate and skips the other files with a warning naming them.
    r = run_cli("codec", "preprocess", "--pod5", sim / "pod5", "--pod5", tmp_path / "r10" / "pod5",
                "-o", tmp_path / "ds", "--window", "2000")
    assert r.exit_code == 0, r.stderr
    assert "r10" in r.stderr and "5000" in r.stderr


def test_output_exists_refused(tiny_model, sim, tmp_path):
    out = tmp_path / "exists.pod5"
    out.write_bytes(b"keep me")
    tok = tmp_path / "t.tokens"
    assert run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tok).exit_code == 0
    line = _one_error_line(run_cli("codec", "decode", "--tokens", tok, "-m", tiny_model, "-o", out))
    assert "already exists" in line and "--force" in line
    assert out.read_bytes() == b"keep me"
    line = _one_error_line(run_cli("codec", "simulate", "-o", sim, "--num-reads", "1"))
    assert "already exists" in line


def test_checkpoint_from_other_config(tiny_model, dataset, tiny_config, tmp_path):
    line = _one_error_line(run_cli("codec", "train", "--data", dataset, "-o", tmp_path / "r2", "--config", tiny_config,
                                   "--set", "model.latent_dim=4", "--resume", tiny_model, "--quiet"))
    assert "different model config" in line
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r2.partial").exists()


def test_token_file_from_other_model(tiny_model, sim, tmp_path):
    from genotool_codec.model_io import export_model, load_model
    from genotool_codec.config import load_config
    from genotool_codec.models import build
    from flax import nnx

    _, meta = load_model(tiny_model)
    cfg = load_config(base=meta["config"], overrides=["model.codebook_seed=99"])
    other = tmp_path / "other"
    export_model(other, nnx.state(build(cfg["model"])[0]), cfg, {})
    tok = tmp_path / "t.tokens"
    assert run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tok).exit_code == 0
    line = _one_error_line(run_cli("codec", "decode", "--tokens", tok, "-m", other, "-o", tmp_path / "d.pod5"))
    assert "another model" in line and not (tmp_path / "d.pod5").exists()
    garbage = tmp_path / "g.tokens"
    garbage.write_bytes(b"\x00" * 100)
    line = _one_error_line(run_cli("codec", "decode", "--tokens", garbage, "-m", tiny_model, "-o", tmp_path / "d.pod5"))
    assert "not a codec token file" in line
