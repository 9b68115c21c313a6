"""Encode-time code search (greedy / beam / signal): same decoder, better codes, compatible files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from genotool.testing import run_cli  # the genotool_cli fixture's call, with its plan check





def _latent_and_codes(tiny_model, sim):
    import jax.numpy as jnp

    from genotool_codec.model_io import load_model
    from genotool_codec.data import normalise, pad_to
    from genotool_codec.pod5_io import read_inputs

    model, meta = load_model(tiny_model)
    reads = read_inputs([sim / "pod5"]).reads
    w = meta["config"]["data"]["window"]
    x = np.concatenate([pad_to(normalise(r.pa())[0], w).reshape(-1, w) for r in reads[:3]]).astype(np.float32)
    return model, x, model.encoder(jnp.asarray(x)[..., None])


def _latent_error(q, z, codes):
    """Squared latent error per token: z (B, N, D), codes (B, N, n) -> (B, N)."""
    import jax.numpy as jnp

    return np.asarray(jnp.sum((z - q.decode(codes)) ** 2, -1))


def test_beam_contains_greedy_and_never_loses_to_it(tiny_model, sim):
    model, _, z = _latent_and_codes(tiny_model, sim)
    q = model.quantizer
    greedy = q.encode(z)
    assert np.array_equal(np.asarray(q.candidates(z, beam=1)[:, :, 0]), np.asarray(greedy))
    cands = q.candidates(z, beam=5)
    assert cands.shape == (*greedy.shape[:2], 5, q.n)
    # Path 0 is the best of the candidates. With 2 levels the greedy path's error is among the
    # beam x beam extensions searched at level 1, so the beam can only improve on it.
    errs = np.stack([_latent_error(q, z, cands[:, :, b]) for b in range(5)], -1)
    assert np.all(errs[..., 0] <= errs.min(-1) + 1e-5)
    assert np.all(_latent_error(q, z, q.encode(z, beam=5)) <= _latent_error(q, z, greedy) + 1e-5)
    assert np.mean(_latent_error(q, z, q.encode(z, beam=5))) < np.mean(_latent_error(q, z, greedy))
    # Fewer levels: the first n only.
    assert q.encode(z, 1, beam=3).shape[-1] == 1


def test_signal_search_lowers_the_decoded_error(tiny_model, sim):
    from genotool_codec.model_io import load_model
    from genotool_codec.runner import CodecRunner
    from genotool_codec.search import Search

    model, meta = load_model(tiny_model)
    _, x, _ = _latent_and_codes(tiny_model, sim)
    err = {}
    for method in ("greedy", "beam", "signal"):
        r = CodecRunner(model, meta["config"], batch=4, search=Search(method, 4))
        codes = r.encode_windows(x)
        assert codes.shape == (len(x), x.shape[1] // r.hop, 2) and codes.dtype == np.int32
        err[method] = float(np.mean((r.decode_windows(codes) - x) ** 2))
    assert err["signal"] < err["beam"] and err["signal"] < err["greedy"]


def test_rate_weight_trades_error_for_bits(tiny_model, sim):
    """--rate-weight: each candidate also pays its bits under the prior, so a heavy weight picks
    cheaper codes (fewer bits, more error) than the pure signal search."""
    from genotool_codec.model_io import load_model
    from genotool_codec.entropy import load_prior
    from genotool_codec.runner import CodecRunner
    from genotool_codec.search import code_bits
    from genotool_codec.search import Search

    model, meta = load_model(tiny_model)
    prior = load_prior(tiny_model / "model")
    tables = prior.bit_tables(2)
    for a in range(prior.k):   # the tables are the coder's probabilities, as code lengths
        p = prior.conditional_p(1, a) if prior.alpha[1] > 0 else prior.unigram_p(1)
        assert np.allclose(tables[1][a], -np.log2(p), atol=1e-4)
    _, x, _ = _latent_and_codes(tiny_model, sim)
    got = {}
    for w in (0.0, 10.0):
        r = CodecRunner(model, meta["config"], batch=4, search=Search("signal", 4, w), prior=prior)
        codes = r.encode_windows(x)
        got[w] = (float(np.mean(np.asarray(code_bits(tables, codes)))),
                  float(np.mean((r.decode_windows(codes) - x) ** 2)))
    assert got[10.0][0] < got[0.0][0] and got[10.0][1] > got[0.0][1]


def test_search_option_on_encode_and_validate(tiny_model, sim, tmp_path):
    from genotool_codec import tokens
    from genotool_codec.entropy import load_prior

    tok = tmp_path / "s.tokens"
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tok, "--search", "signal",
                "--beam", "3")
    assert r.exit_code == 0, r.stderr
    want = {"method": "signal", "beam": 3, "rate_weight": 0.02}
    assert json.loads(r.stdout)["search"] == want
    prior = load_prior(tiny_model / "model")
    assert tokens.read_tokens(tok, lambda h: prior)["header"]["search"] == want
    # Decoding does not depend on the search: a signal-search file decodes like any other.
    assert run_cli("codec", "decode", "--tokens", tok, "-m", tiny_model, "-o", tmp_path / "s.pod5").exit_code == 0
    r = run_cli("codec", "validate", "-m", tiny_model, "--pod5", sim / "pod5", "-o", tmp_path / "v",
                "--codebooks", "2", "--search", "greedy,signal", "--no-baselines")
    assert r.exit_code == 0, r.stderr
    rd = json.loads((tmp_path / "v" / "validation.json").read_text())["rate_distortion"]
    assert [(x["n_codebooks"], x["search"]["method"]) for x in rd] == [(2, "greedy"), (2, "signal")]
    assert rd[1]["rmse_pa"] < rd[0]["rmse_pa"]


@pytest.mark.parametrize("args, word", [(["--search", "exhaustive"], "--search"), (["--beam", "0"], "--beam"),
                                        (["--rate-weight", "-1"], "--rate-weight")])
def test_bad_search_options(tiny_model, sim, tmp_path, args, word):
    r = run_cli("codec", "encode", "--pod5", sim / "pod5", "-m", tiny_model, "-o", tmp_path / "t.tokens", *args)
    assert r.exit_code == 2 and word in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "t.tokens").exists()
