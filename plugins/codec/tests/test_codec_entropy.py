"""Entropy-coded token files (issue 18): exact round trip, old formats, bad input, baselines."""

from __future__ import annotations

import json
import shutil
import zlib

import numpy as np
import pytest
from genotool.testing import run_cli  # the genotool_cli fixture's call, with its plan check





def _one_error_line(r):
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("warning")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def _correlated_codes(m=20000, k=64, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.zipf(1.5, m) % k
    b = (3 * a + rng.integers(0, 4, m)) % k          # level 1 depends on level 0: the context pays
    c = rng.integers(0, k, m)                         # level 2 is noise: unigram (alpha 0) expected
    return np.stack([a, b, c], 1).astype(np.int32)


def test_entropy_round_trip_exact_and_below_fixed_width():
    from genotool_codec.entropy import decode_codes, encode_codes, fit_prior

    codes = _correlated_codes()
    prior, stats = fit_prior(codes[:15000], 64)
    assert stats["levels"][1]["alpha"] > 0 and stats["levels"][2]["alpha"] == 0
    test = codes[15000:]
    for n in (1, 2, 3):
        words = encode_codes(test[:, :n], prior)
        back = decode_codes(words, len(test), n, prior)
        assert np.array_equal(back, test[:, :n])                        # bit for bit
        assert 32 * words.size < len(test) * n * 6                      # below 6 bits/code fixed width
    # A code never seen in training is still codable (smoothed prior).
    odd = test.copy()
    odd[0] = 63
    assert np.array_equal(decode_codes(encode_codes(odd, prior), len(odd), 3, prior), odd)


def test_token_file_round_trips_codes_exactly(tiny_model, sim, tmp_path):
    from genotool_codec import tokens
    from genotool_codec.model_io import load_model
    from genotool_codec.data import normalise
    from genotool_codec.entropy import load_prior
    from genotool_codec.pod5_io import read_inputs
    from genotool_codec.runner import CodecRunner

    assert (tiny_model / "model" / "prior.npz").is_file()          # train fits the prior
    tok = tmp_path / "t.tokens"
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tok)
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["coding"] == "ans" and res["payload_bits_per_sample"] < res["nominal_bits_per_sample"]
    prior = load_prior(tiny_model / "model")
    got = tokens.read_tokens(tok, lambda h: prior)
    assert got["header"]["version"] == 2 and got["header"]["prior_id"] == prior.id
    model, meta = load_model(tiny_model)
    runner = CodecRunner(model, meta["config"])
    reads = read_inputs([sim / "pod5"]).reads
    want = runner.encode_reads([normalise(rd.pa())[0] for rd in reads])
    assert len(want) == len(got["codes"]) and all(np.array_equal(a, b) for a, b in zip(want, got["codes"]))


def _write_v1(src_tokens, dst, prior):
    """The version-1 layout (fixed-width bit-packed codes, format .../1), from a version-2 file."""
    from genotool_codec import tokens

    t = tokens.read_tokens(src_tokens, lambda h: prior)
    h = {k: v for k, v in t["header"].items() if k not in ("version", "coding", "prior_id")}
    h["format"] = tokens.FORMAT_V1
    allc = np.concatenate(t["codes"])
    with open(dst, "wb") as fh:
        np.savez(fh, header=np.frombuffer(zlib.compress(json.dumps(h).encode()), np.uint8),
                 codes=tokens.pack_codes(allc, h["bits"]), n_tokens=np.array([len(c) for c in t["codes"]]),
                 n_samples=t["n_samples"], median=t["median"], scale=t["scale"])


def test_decode_reads_old_fixed_width_and_new_files(tiny_model, sim, tmp_path):
    import pod5

    from genotool_codec.entropy import load_prior

    tok = tmp_path / "new.tokens"
    assert run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tok).exit_code == 0
    _write_v1(tok, tmp_path / "old.tokens", load_prior(tiny_model / "model"))
    sigs = []
    for name in ("new", "old"):
        r = run_cli("codec", "decode", "--tokens", tmp_path / f"{name}.tokens", "-m", tiny_model,
                    "-o", tmp_path / f"{name}.pod5")
        assert r.exit_code == 0, r.stderr
        with pod5.Reader(tmp_path / f"{name}.pod5") as rd:
            sigs.append({str(x.read_id): x.signal.copy() for x in rd.reads()})
    assert sigs[0].keys() == sigs[1].keys()
    assert all(np.array_equal(sigs[0][k], sigs[1][k]) for k in sigs[0])


def test_truncated_token_file(tiny_model, sim, tmp_path):
    tok = tmp_path / "t.tokens"
    assert run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tok).exit_code == 0
    cut = tmp_path / "cut.tokens"
    cut.write_bytes(tok.read_bytes()[: tok.stat().st_size // 2])
    line = _one_error_line(run_cli("codec", "decode", "--tokens", cut, "-m", tiny_model, "-o", tmp_path / "d.pod5"))
    assert "truncated" in line and str(cut) in line and not (tmp_path / "d.pod5").exists()


def test_prior_missing_falls_back_to_fixed_width(tiny_model, sim, tmp_path):
    old = tmp_path / "old_model"
    shutil.copytree(tiny_model / "model", old / "model")
    (old / "model" / "prior.npz").unlink()
    tok = tmp_path / "t.tokens"
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", old, "-o", tok)
    assert r.exit_code == 0, r.stderr
    assert "warning" in r.stderr and "fixed width" in r.stderr
    assert json.loads(r.stdout)["coding"] == "fixed"
    r = run_cli("codec", "decode", "--tokens", tok, "-m", old, "-o", tmp_path / "d.pod5")
    assert r.exit_code == 0, r.stderr
    # An entropy-coded file cannot be decoded with a model folder whose prior is gone (or another prior).
    tok2 = tmp_path / "t2.tokens"
    assert run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tok2).exit_code == 0
    line = _one_error_line(run_cli("codec", "decode", "--tokens", tok2, "-m", old, "-o", tmp_path / "e.pod5"))
    assert "no prior" in line
    from genotool_codec.entropy import Prior, load_prior, save_prior

    p = load_prior(tiny_model / "model")
    save_prior(old / "model", Prior(p.unigram + 1, p.cross, p.alpha), {"levels": []})
    line = _one_error_line(run_cli("codec", "decode", "--tokens", tok2, "-m", old, "-o", tmp_path / "e.pod5"))
    assert "another prior" in line and not (tmp_path / "e.pod5").exists()


@pytest.mark.parametrize("k", ["0", "13"])
def test_round_bits_outside_1_to_12(tiny_model, sim, tmp_path, k):
    line = _one_error_line(run_cli("codec", "validate", "-m", tiny_model, "--pod5", sim / "pod5",
                                   "-o", tmp_path / "v", "--round-bits", f"3,{k}"))
    assert "between 1 and 12" in line and not (tmp_path / "v").exists()


def test_baselines_bounds_and_sizes():
    from genotool_codec.baselines import bit_round, predictive_quantise

    rng = np.random.default_rng(1)
    x = (np.repeat(rng.normal(0, 80, 300), 9) + rng.normal(0, 6, 2700) + 400).astype(np.int16)
    bits = {}
    for k in (1, 3, 5):
        (rec,), b = bit_round([x], k)
        assert np.abs(rec.astype(int) - x).max() <= 2 ** (k - 1)     # bin centre: half a bin away at most
        bits[k] = b
    assert bits[1] > bits[3] > bits[5]
    for e in (2, 8):
        (rec,), b = predictive_quantise([x], e)
        assert np.abs(rec.astype(int) - x).max() <= e                  # the error bound holds everywhere
        bits[f"e{e}"] = b
    assert bits["e2"] > bits["e8"] and bits["e8"] < 16 * len(x)


def test_prior_verb_fits_an_old_model_folder(tiny_model, dataset, sim, tmp_path):
    old = tmp_path / "old_model"
    shutil.copytree(tiny_model / "model", old / "model")
    (old / "model" / "prior.npz").unlink()
    r = run_cli("codec", "prior", "-m", old, "-d", dataset)
    assert r.exit_code == 0, r.stderr
    assert (old / "model" / "prior.npz").is_file() and json.loads(r.stdout)["tokens"] > 0
    line = _one_error_line(run_cli("codec", "prior", "-m", old, "-d", dataset))   # exists: needs --force
    assert "--force" in line
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", old, "-o", tmp_path / "t.tokens")
    assert r.exit_code == 0 and json.loads(r.stdout)["coding"] == "ans" and "warning" not in r.stderr
