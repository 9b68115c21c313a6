"""simulate -> preprocess -> train -> encode -> decode -> predict -> validate -> dorado-validate (scrappie)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from genotool.testing import run_cli  # the genotool_cli fixture's call, with its plan check





def _reads(path):
    import pod5

    with pod5.Reader(path) as r:
        return {str(x.read_id): (x.signal.copy(), x.calibration.offset, x.calibration.scale,
                                 x.run_info.flow_cell_product_code, x.run_info.sequencing_kit,
                                 x.run_info.sample_rate, x.pore.channel, x.read_number, x.end_reason.reason.name,
                                 x.run_info.acquisition_id) for x in r.reads()}


def test_simulate_writes_valid_pod5(sim):
    from genotool_codec.simulate import read_fasta

    files = sorted((sim / "pod5").rglob("*.pod5"))
    assert len(files) == 2 and files[0].parent.name != files[1].parent.name  # flow-cell sub-folders
    truth = read_fasta(sim / "truth.fa")
    reads = {}
    for f in files:
        reads.update(_reads(f))
    assert set(reads) == set(truth) and len(reads) == 12
    for sig, off, scale, fc, kit, rate, *_ in reads.values():
        assert sig.dtype == np.int16 and (fc, kit, rate) == ("FLO-MIN106", "SQK-LSK109", 4000)
        pa = (sig.astype(np.float64) + off) * scale
        assert 50 < np.median(pa) < 130  # R9.4.1 levels in pA after calibration
    meta = json.loads((sim / "metadata.json").read_text())
    assert meta["command"] == "codec simulate"


def test_simulate_r10(tmp_path):
    r = run_cli("codec", "simulate", "-o", tmp_path / "s", "--chemistry", "r10.4.1", "--num-reads", "3",
                "--read-length", "300", "--num-files", "1")
    assert r.exit_code == 0, r.stderr
    reads = _reads(next((tmp_path / "s" / "pod5").rglob("*.pod5")))
    assert {v[3:6] for v in reads.values()} == {("FLO-MIN114", "SQK-LSK114", 5000)}


def test_simulated_signal_basecalls(sim):
    """The simulator is realistic enough for a real basecaller (scrappie) to read it."""
    from genotool_codec import basecall, pod5_io
    from genotool_codec.simulate import read_fasta

    truth = read_fasta(sim / "truth.fa")
    reads = [r for f in pod5_io.discover([sim / "pod5"]) for r in pod5_io.iter_reads(f)][:3]
    calls = basecall.scrappie_call([(r.read_id, r.signal, r.offset, r.scale, r.sample_rate) for r in reads],
                                   model="rgrgr_r941")
    ids = [basecall.identity(calls[r.read_id]["seq"], truth[r.read_id]) for r in reads if "seq" in calls[r.read_id]]
    assert ids and np.median(ids) > 0.8


def test_preprocess_index(dataset):
    idx = json.loads((dataset / "index.json").read_text())
    st = idx["stats"]
    assert st["n_files"] == 2 and st["sample_rate"] == 4000 and st["window"] == 2000
    w = np.load(dataset / "windows.npy")
    assert w.shape == (st["n_windows"], 2000)
    assert abs(st["norm_mean"]) < 0.3 and 0.5 < st["norm_std"] < 1.5


def test_train_outputs(tiny_model):
    meta = json.loads((tiny_model / "metadata.json").read_text())
    assert meta["runtime"]["steps"] == 4
    hist = [json.loads(x) for x in (tiny_model / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [2, 4]
    assert "d_loss" in hist[-1] and "usage" in hist[-1] and "perplexity" in hist[-1]  # GAN on after disc_start
    assert sorted(p.name for p in (tiny_model / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "4"]


def test_encode_decode_roundtrip(tiny_model, sim, tmp_path):
    tok = tmp_path / "r.tokens"
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tok)
    assert r.exit_code == 0, r.stderr
    enc = json.loads(r.stdout)
    assert enc["reads"] == 12 and enc["nominal_bits_per_sample"] == pytest.approx(1.0)
    assert enc["coding"] == "ans" and enc["payload_bits_per_sample"] < enc["nominal_bits_per_sample"]
    out = tmp_path / "dec.pod5"
    r = run_cli("codec", "decode", "--tokens", tok, "-m", tiny_model, "-o", out)
    assert r.exit_code == 0, r.stderr
    orig = {}
    for f in sorted((sim / "pod5").rglob("*.pod5")):
        orig.update(_reads(f))
    dec = _reads(out)
    assert set(dec) == set(orig)
    for rid, o in orig.items():
        d = dec[rid]
        assert d[0].dtype == np.int16 and len(d[0]) == len(o[0])  # whole read, tail included
        assert d[1:] == o[1:]  # calibration, run_info, pore, read number, end reason kept
    # Refuses to overwrite, leaves the file as it was.
    before = out.read_bytes()
    r = run_cli("codec", "decode", "--tokens", tok, "-m", tiny_model, "-o", out)
    assert r.exit_code == 2 and "already exists" in r.stderr and out.read_bytes() == before
    r = run_cli("codec", "decode", "--tokens", tok, "-m", tiny_model, "-o", out, "--force")
    assert r.exit_code == 0, r.stderr


def test_fewer_codebooks_smaller_file(tiny_model, sim, tmp_path):
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tmp_path / "a.tokens",
                "--codebooks", "1")
    assert r.exit_code == 0, r.stderr
    one = json.loads(r.stdout)
    assert one["nominal_bits_per_sample"] == pytest.approx(0.5) and one["payload_bits_per_sample"] < 0.5
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tmp_path / "c.tokens")
    assert json.loads(r.stdout)["payload_bits_per_sample"] > one["payload_bits_per_sample"]
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tmp_path / "b.tokens",
                "--codebooks", "3")
    assert r.exit_code == 2 and "--codebooks" in r.stderr


def test_predict_and_validate(tiny_model, sim, tmp_path):
    r = run_cli("codec", "predict", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tmp_path / "p")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "p" / "reads.tokens").is_file() and (tmp_path / "p" / "reconstructed.pod5").is_file()
    r = run_cli("codec", "validate", "-m", tiny_model, "--pod5", sim / "pod5", "-o", tmp_path / "v",
                "--codebooks", "1,2")
    assert r.exit_code == 0, r.stderr
    v = json.loads((tmp_path / "v" / "validation.json").read_text())
    rd = v["rate_distortion"]
    assert [x["n_codebooks"] for x in rd] == [1, 2]
    assert rd[0]["token_file_bits_per_sample"] < rd[1]["token_file_bits_per_sample"] < v["vbz_bits_per_sample"]
    for row in rd:   # entropy coding: the file is smaller than its fixed-width twin
        assert row["entropy_coded"] and row["token_file_bits_per_sample"] < row["fixed_width_file_bits_per_sample"]
    assert {b["method"] for b in v["baselines"]} == {"bit_round", "predictive"}
    for k in ("l1_pa", "rmse_pa", "snr_db", "spectral_distance_db", "usage_mean", "perplexity_mean"):
        assert np.isfinite(rd[1][k])
    html = (tmp_path / "v" / "report.html").read_text()
    assert "Rate-distortion" in html and "data:image/png;base64" in html


def test_dorado_validate_with_scrappie(tiny_model, sim, tmp_path):
    out = tmp_path / "dv"
    r = run_cli("codec", "dorado-validate", "-m", tiny_model, "--pod5", sim / "pod5", "--truth", sim / "truth.fa",
                "-o", out, "--max-reads", "3", "--trim-samples", "6000")
    assert r.exit_code == 0, r.stderr
    rep = json.loads((out / "dorado_report.json").read_text())
    assert rep["basecaller"].startswith("scrappie") and rep["reads"] == 3 and len(rep["per_read"]) == 3
    # The original signal is read well; a 4-step model's output may fail, which is recorded per read.
    assert rep["identity_original"]["median"] > 0.75
    assert rep["failed_reads"] == sum(p["status"] == "failed" for p in rep["per_read"])
    assert (out / "calls_original.fasta").read_text().count(">") >= 2
    pods = sorted(p.name for p in out.glob("*.pod5"))
    assert any(p.startswith("original") for p in pods) and any(p.startswith("generated") for p in pods)
    trimmed = {}
    for p in out.glob("original*.pod5"):
        trimmed.update(_reads(p))
    assert len(trimmed) == 3 and all(len(v[0]) <= 6000 for v in trimmed.values())
    # One rate-distortion table: the codec and both baselines, each with identity and actual bits.
    rd = rep["rate_distortion"]
    assert {r["method"] for r in rd} == {"codec", "bit_round", "predictive"}
    assert [r["setting"] for r in rd if r["method"] == "bit_round"] == [1, 2, 3, 4, 5]
    for r in rd:
        assert r["token_file_bits_per_sample"] > 0 and r["identity_generated"]["n"] + r["failed_reads"] == 3
    rounds = [r for r in rd if r["method"] == "bit_round"]
    assert all(a["token_file_bits_per_sample"] > b["token_file_bits_per_sample"] for a, b in zip(rounds, rounds[1:]))
    html = (out / "report.html").read_text()
    assert "Identity vs actual bits/sample" in html and "data:image/png;base64" in html


def test_dorado_validate_also_model(tiny_model, sim, tmp_path):
    """--also-model: a second model's codec rows on the same reads, labelled by its folder; a folder
    that is not a trained model is refused before any basecalling."""
    other = tmp_path / "other_run"
    shutil.copytree(tiny_model, other)
    out = tmp_path / "dv2"
    r = run_cli("codec", "dorado-validate", "-m", tiny_model, "--pod5", sim / "pod5", "--truth", sim / "truth.fa",
                "-o", out, "--max-reads", "2", "--trim-samples", "4000", "--no-baselines", "--codebooks", "2",
                "--also-model", other, "--also-codebooks", "1,2")
    assert r.exit_code == 0, r.stderr
    rep = json.loads((out / "dorado_report.json").read_text())
    rd = rep["rate_distortion"]
    assert [(x["model"], x["setting"]) for x in rd] == [(tiny_model.name, 2), ("other_run", 1), ("other_run", 2)]
    assert rep["n_codebooks"] == 2 and all(x["identity_generated"]["n"] + x["failed_reads"] == 2 for x in rd)
    # The copy is the same model: the same codes, so the same rate and the same calls at 2 codebooks.
    assert rd[2]["token_file_bits_per_sample"] == pytest.approx(rd[0]["token_file_bits_per_sample"])
    assert rd[2]["identity_generated"] == rd[0]["identity_generated"]
    assert rd[1]["bits_per_sample"] < rd[2]["bits_per_sample"]
    bad = run_cli("codec", "dorado-validate", "-m", tiny_model, "--pod5", sim / "pod5", "-o", tmp_path / "dv3",
                  "--also-model", sim, "--no-baselines")
    assert bad.exit_code == 2 and not (tmp_path / "dv3").exists()


def test_basecaller_crash_is_a_failed_read(tmp_path, monkeypatch):
    """A basecaller that crashes on one read: that read fails, the others are called."""
    from genotool_codec import basecall

    fake = tmp_path / "scrappie"
    fake.write_text("#!/bin/sh\nfor f in \"$@\"; do case $f in *bad*) kill -SEGV $$;; esac; done\n"
                    "for f in \"$@\"; do case $f in *.fast5) n=$(basename $f); echo \">$n\"; echo ACGTACGT;; esac; done\n")
    fake.chmod(0o755)
    reads = [(rid, np.zeros(100, np.int16), 0.0, 1.0, 4000) for rid in ("good1", "bad", "good2")]
    out = basecall.scrappie_call(reads, model="rgrgr_r941", binary=str(fake))
    assert out["good1"]["seq"] == "ACGTACGT" and out["good2"]["seq"] == "ACGTACGT"
    assert "crash" in out["bad"]["error"]


def test_bench_json(tiny_model, tmp_path):
    r = run_cli("codec", "bench", "-m", tiny_model, "--seconds", "2", "--train-steps", "2",
                "-o", tmp_path / "b.json")
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["plugin"] == "codec" and res["encode_decode_samples_per_second"] > 0
    assert res["train"]["generator_only"]["steps_per_second"] > 0 and res["peak_rss_mb"] > 0
    assert set(res["encode_search"]) == {"greedy", "beam", "signal"}
    assert all(v["encode_decode_samples_per_second"] > 0 for v in res["encode_search"].values())
    assert json.loads((tmp_path / "b.json").read_text())["samples"] == res["samples"]
    # bench writes -o like every verb: an existing file is refused unless --force.
    r = run_cli("codec", "bench", "-m", tiny_model, "--seconds", "1", "--train-steps", "0", "-o", tmp_path / "b.json")
    assert r.exit_code == 2 and "--force" in r.stderr


def test_run_options_are_honoured(tiny_model, sim, tmp_path):
    """--precision/--batch-size reach the model and the metadata (not only accepted, issue 14)."""
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tmp_path / "t.tokens",
                "--precision", "bf16-mixed", "--batch-size", "3", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    plan = json.loads(r.stdout)["plan"]
    assert plan["precision"] == "bf16-mixed" and plan["applied"]["compute_dtype"] == "bfloat16"
    assert plan["batch_size"] == 3 and plan["batch_size_source"] == "user"
    r = run_cli("codec", "validate", "-m", tiny_model, "--pod5", sim / "pod5", "-o", tmp_path / "v",
                "--codebooks", "2", "--precision", "bf16-mixed", "--batch-size", "5")
    assert r.exit_code == 0, r.stderr
    meta = json.loads((tmp_path / "v" / "metadata.json").read_text())
    assert meta["plan"]["precision"] == "bf16-mixed" and meta["plan"]["batch_size"] == 5
    # The compute dtype changes the numbers a little (bf16 activations): the option has an effect.
    from genotool_codec.model_io import load_model
    from genotool_codec.runner import CodecRunner

    model, m = load_model(tiny_model)
    x = np.random.default_rng(0).normal(size=(2, int(m["config"]["data"]["window"]))).astype(np.float32)
    c32 = CodecRunner(model, m["config"], batch=2)
    c16 = CodecRunner(model, m["config"], batch=2, precision="bf16-mixed")
    codes = c32.encode_windows(x)
    y32, y16 = c32.decode_windows(codes), c16.decode_windows(codes)
    assert y16.dtype == np.float32 and 0 < np.abs(y32 - y16).max() < 0.1 * np.abs(y32).max() + 1e-3


def test_dorado_adapter_with_fake_binary(tiny_model, sim, tmp_path):
    """--dorado BIN --dorado-model M runs `BIN basecaller M POD5 --emit-fastq` and parses its FASTQ."""
    import sys

    fake = tmp_path / "dorado"
    fake.write_text(f"#!{sys.executable}\n"
                    "import sys, pod5\n"
                    "assert sys.argv[1] == 'basecaller' and sys.argv[2] == 'fake_model'\n"
                    "with pod5.Reader(sys.argv[3]) as r:\n"
                    "    for rec in r.reads():\n"
                    "        print(f'@{rec.read_id}\\nACGTACGTAC\\n+\\nIIIIIIIIII')\n")
    fake.chmod(0o755)
    out = tmp_path / "dv"
    r = run_cli("codec", "dorado-validate", "-m", tiny_model, "--pod5", sim / "pod5", "-o", out, "--max-reads", "2",
                "--dorado", fake, "--dorado-model", "fake_model")
    assert r.exit_code == 0, r.stderr
    rep = json.loads((out / "dorado_report.json").read_text())
    assert rep["basecaller"] == "dorado fake_model" and rep["failed_reads"] == 0
    assert rep["identity_generated_vs_original_call"]["median"] == 1.0


def test_simulate_from_given_reference(tmp_path):
    from genotool_codec.simulate import read_fasta, revcomp

    ref = tmp_path / "ref.fa"
    rng = np.random.default_rng(4)
    seq = "".join(rng.choice(list("ACGT"), 5000))
    ref.write_text(">chrT\n" + seq + "\n")
    r = run_cli("codec", "simulate", "-o", tmp_path / "s", "--reference", ref, "--num-reads", "4", "--read-length", "300",
                "--num-files", "1")
    assert r.exit_code == 0, r.stderr
    assert not (tmp_path / "s" / "reference.fa").exists()
    for t in read_fasta(tmp_path / "s" / "truth.fa").values():
        assert t in seq or revcomp(t) in seq  # every read is a piece of the given reference
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\n")
    r = run_cli("codec", "simulate", "-o", tmp_path / "s2", "--reference", bad)
    assert r.exit_code == 2 and "not a FASTA" in r.stderr
