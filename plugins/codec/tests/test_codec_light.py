"""Cheap checks: plugin registration, light imports, pure-numpy helpers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def test_help_imports_no_jax():
    code = ("import sys\nfrom genotool.plugins import get_host\nh = get_host()\n"
            "assert h.records['codec'].status == 'ok', h.records['codec']\n"
            "import genotool_codec.cli\n"
            "bad = [m for m in ('jax', 'flax', 'optax', 'orbax', 'pod5', 'h5py') if m in sys.modules]\n"
            "assert not bad, bad\nprint('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr


def test_plugin_has_required_verbs():
    from genotool.plugins import get_host

    rec = get_host().records["codec"]
    assert rec.status == "ok", rec.reason
    for verb in ("simulate", "preprocess", "train", "predict", "encode", "decode", "validate",
                 "dorado-validate", "bench"):
        assert verb in rec.commands
    assert rec.backend == "jax"


def test_pack_unpack_roundtrip():
    from genotool_codec.tokens import pack_codes, unpack_codes

    rng = np.random.default_rng(0)
    for bits in (1, 4, 10, 12):
        c = rng.integers(0, 2 ** bits, (37, 3))
        p = pack_codes(c, bits)
        assert len(p) == -(-c.size * bits // 8)
        assert np.array_equal(unpack_codes(p, c.size, bits).reshape(c.shape), c)


def test_to_int16_clips_and_rounds():
    from genotool_codec.pod5_io import to_int16

    out = to_int16(np.array([99000.0, -99000.0, 1.6, -1.6]))
    assert out.dtype == np.int16
    assert out.tolist() == [32767, -32768, 2, -2]


def test_normalise_is_robust():
    from genotool_codec.data import normalise

    rng = np.random.default_rng(1)
    x = rng.normal(80, 10, 10000).astype(np.float32)
    x[:50] = 5000  # spikes must not move median/MAD much
    y, med, scale = normalise(x)
    assert abs(med - 80) < 1 and abs(scale - 10) < 1
    assert abs(np.median(y)) < 0.05


def test_kmer_index_and_chemistries():
    from genotool_codec.pore_model import chemistry, load

    pm = load("r9.4.1")
    assert pm.k == 6 and len(pm.level) == 4 ** 6
    idx = pm.kmer_index("AAAAAAC")
    assert idx.tolist() == [0, 1]
    assert chemistry("r10.4.1")["sample_rate"] == 5000 and chemistry("r9.4.1")["sample_rate"] == 4000
    assert load("r10.4.1").k == 9


def test_identity():
    from genotool_codec.basecall import identity

    assert identity("ACGTACGT", "TTACGTACGTTT") == 1.0
    assert 0.8 < identity("ACGTACGA", "ACGTACGT", infix=False) < 1.0
    assert identity("", "ACGT") is None


def test_config_overrides_and_errors():
    from genotool.errors import UserError

    from genotool_codec.config import bits_per_sample, load_config

    cfg = load_config(overrides=["train.steps=7", "model.n_codebooks=4"])
    assert cfg["train"]["steps"] == 7 and cfg["model"]["n_codebooks"] == 4
    assert bits_per_sample(cfg["model"]) == pytest.approx(4 * 10 / 80)
    assert bits_per_sample(load_config()["model"]) <= 2.0
    with pytest.raises(UserError, match="unknown key"):
        load_config(overrides=["train.nope=1"])
    with pytest.raises(UserError, match="multiple of the hop"):
        load_config(overrides=["data.window=1001"])


def test_active_codebooks_fixes_the_trained_rate():
    """Quantizer dropout draws 1..N levels per step; train.active_codebooks=K always trains K."""
    from types import SimpleNamespace

    from genotool.errors import UserError

    from genotool_codec.config import load_config
    from genotool_codec.trainer import Trainer

    cfg = load_config(overrides=["model.n_codebooks=3", "train.quantizer_dropout=0.5"])
    drawn = {Trainer.n_active(SimpleNamespace(cfg=cfg), s) for s in range(200)}
    assert drawn == {1, 2, 3}
    fixed = load_config(overrides=["model.n_codebooks=3", "train.active_codebooks=2"])
    assert {Trainer.n_active(SimpleNamespace(cfg=fixed), s) for s in range(200)} == {2}
    with pytest.raises(UserError, match="active_codebooks"):
        load_config(overrides=["model.n_codebooks=3", "train.active_codebooks=4"])
