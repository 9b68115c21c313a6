"""Tensor records: layout against the reference, cache behaviour, workers, storage modes."""

import json

import numpy as np
import pysam
import pytest

from genotool_srsnv import cache
from genotool_srsnv import pipeline as pp
from genotool_srsnv.tensors import POS_CHANNELS

COMP = {ord(a): ord(b) for a, b in zip("ACGTN-", "TGCAN-")}


def _records(cfg):
    res = pp.preprocess(cfg)
    return res, cache.load_records(res.path, res.index)


def test_records_match_reference_and_rows(sim_data, make_cfg, tmp_path):
    res, rec = _records(make_cfg(sim_data, tmp_path / "c"))
    assert not res.hit
    pos, rows = rec["pos"], rec["rows"]
    assert pos.shape[1:] == (len(POS_CHANNELS), 300) and pos.dtype == np.uint8
    assert len(rows) == len(pos) == res.index["rows"] > 100
    fa = pysam.FastaFile(str(sim_data / "reference.fa"))
    rng = np.random.default_rng(0)
    n_ctx = 0
    for i in rng.choice(len(pos), size=40, replace=False):
        p, r = pos[i], rows.iloc[i]
        f = np.flatnonzero(p[5])
        assert len(f) == 1 and p[7, f[0]] == 1            # focus inside the window, on a valid column
        rev = rec["num"][i, 0] == 1
        alt, ref = ord(r.ALT), ord(r.REF)
        if rev:
            alt, ref = COMP[alt], COMP[ref]
        assert p[0, f[0]] == alt                          # the read shows the ALT base
        assert p[1, f[0]] == ref                          # leakage guard: REF (X_ALT for positives)
        # reference row equals the FASTA next to the focus, up to the first gap or clip column
        contig = fa.fetch(r.CHROM)
        step = 1 if rev else -1                            # sequencing direction flips the order
        checked = 0
        for k in range(1, 8):
            c = f[0] - k
            if c < 0 or p[7, c] == 0 or p[6, c] or p[0, c] == 45 or p[1, c] == 45:
                break
            want = ord(contig[r.POS - 1 + k * step])
            assert p[1, c] == (COMP[want] if rev else want)
            checked += 1
        n_ctx += checked > 0
    assert n_ctx > 20
    # valid mask is a prefix (records start at column 0 unless cut around the focus)
    v = pos[:, 7].astype(int)
    assert (np.diff(v, axis=1) <= 0).all()


def test_cache_hit_skips_all_bam_and_parquet_work(sim_data, make_cfg, tmp_path, monkeypatch):
    cfg = make_cfg(sim_data, tmp_path / "c")
    cold = pp.preprocess(cfg)

    def boom(*a, **k):
        raise AssertionError("BAM/parquet touched on a cache hit")

    monkeypatch.setattr(pp, "run_shards", boom)
    monkeypatch.setattr(pp.fm, "read_featuremap", boom)
    hot = pp.preprocess(cfg)
    assert hot.hit and hot.path == cold.path
    assert hot.seconds < 0.05 * cold.seconds
    tel = cold.index["telemetry"]
    assert tel["rows"] > 0 and tel["workers"][0]["rows_per_second"] > 0


def test_key_changes_with_inputs_and_spec(sim_data, make_cfg, tmp_path):
    a, _ = cache.cache_key(make_cfg(sim_data, tmp_path))
    b, _ = cache.cache_key(make_cfg(sim_data, tmp_path, length=200))
    c, _ = cache.cache_key(make_cfg(sim_data, tmp_path, batch_rows=128))
    cfg = make_cfg(sim_data, tmp_path)
    cfg.manifest_params = dict(cfg.manifest_params, seed=5)
    d, _ = cache.cache_key(cfg)
    assert len({a, b, c, d}) == 4


def test_two_workers_and_shards_mode_give_identical_records(sim_data, make_cfg, tmp_path):
    _, one = _records(make_cfg(sim_data, tmp_path / "a"))
    _, two = _records(make_cfg(sim_data, tmp_path / "b", workers=2, storage_mode="shards"))
    o1, o2 = np.argsort(one["row_id"]), np.argsort(two["row_id"])
    assert np.array_equal(one["pos"][o1], two["pos"][o2])
    assert np.array_equal(one["cat"][o1], two["cat"][o2])
    idx = json.loads((tmp_path / "b" / next(p.name for p in (tmp_path / "b").iterdir()) / "index.json").read_text())
    assert idx["storage_mode"] == "shards" and len(idx["files"]) > 1
    assert len(idx["telemetry"]["workers"]) >= 1


def test_ram_budget_shrinks_shards_and_dry_run_plans_only(sim_data, make_cfg, tmp_path):
    cfg = make_cfg(sim_data, tmp_path / "c", batch_rows=100000, max_ram_gb=0.01)
    res = pp.preprocess(cfg, dry_run=True)
    plan = res.plan
    assert plan["effective_batch_rows"] < 100000 and "reduced" in plan["batch_rows_reason"]
    assert plan["shards"] >= 2 and plan["cache"] == "miss"
    assert not (tmp_path / "c").exists()


def test_corrupt_cache_is_detected_and_rebuilt(sim_data, make_cfg, tmp_path, capfd):
    cfg = make_cfg(sim_data, tmp_path / "c")
    res, rec = _records(cfg)
    f = res.path / res.index["files"][0]["name"]
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF                         # one flipped byte mid-file
    f.write_bytes(bytes(data))
    res2, rec2 = pp.open_or_rebuild(cfg)
    assert "corrupt" in capfd.readouterr().err
    assert np.array_equal(rec["pos"], rec2["pos"])
    # a truncated file is caught by the quick check alone
    f.write_bytes(f.read_bytes()[:1000])
    res3 = pp.preprocess(cfg)
    assert not res3.hit


def test_bam_without_ultima_tags_gives_zero_channels_with_warning(data_copy, make_cfg, tmp_path, capfd):
    for name in ("positive.bam", "negative.bam"):
        src = data_copy / name
        out = data_copy / ("plain_" + name)
        with pysam.AlignmentFile(str(src)) as fi, pysam.AlignmentFile(str(out), "wb", template=fi) as fo:
            for r in fi:
                for t in ("tp", "t0", "rq", "tm", "st", "et"):
                    r.set_tag(t, None)
                fo.write(r)
        pysam.index(str(out))
        out.replace(src)
        (data_copy / ("plain_" + name + ".bai")).replace(data_copy / (name + ".bai"))
    res, rec = _records(make_cfg(data_copy, tmp_path / "c"))
    assert "no Ultima" in capfd.readouterr().err
    assert rec["pos"][:, 3].max() == 0 and rec["pos"][:, 4].max() == 0
    assert (rec["cat"] == "").all() and rec["num"][:, 2].max() == 0
    assert rec["pos"][:, 2].max() > 0                     # base qualities are still there
    # and the model runs on such records (unknown tm/st/et -> index 0)
    import torch

    from genotool_srsnv.model import RecordBatcher, build_model, encode_records, known_vocab

    enc = encode_records(rec["pos"], rec["num"], rec["cat"], known_vocab())
    batch = RecordBatcher(enc, np.arange(len(rec["pos"]))).__getitems__(list(range(16)))
    out = build_model(known_vocab(), 8, (1, 2), window=32).eval()(batch)
    assert out.shape == (16,) and torch.isfinite(out).all()


def test_vocab_scan_matches_known_on_simulated_data(sim_data, make_cfg, tmp_path):
    from genotool_srsnv.model import encode_records, known_vocab, scan_vocab

    _, rec = _records(make_cfg(sim_data, tmp_path / "c"))
    scan, known = scan_vocab(rec["pos"], rec["cat"]), known_vocab()
    assert set(scan["base"]) <= set(known["base"]) and set(scan["t0"]) <= set(known["t0"])
    assert set(scan["tm"]) <= set(known["tm"])
    enc = encode_records(rec["pos"], rec["num"], rec["cat"], scan)
    assert enc["idx"].max() <= max(len(scan["base"]), len(scan["t0"]))
    assert (enc["ccat"] > 0).all()


def test_cli_preprocess_hit_then_force_rebuilds(sim_data, args_for, genotool_cli, tmp_path):
    import json

    args = ["srsnv", "preprocess", *args_for(sim_data), "-o", str(tmp_path / "cache"), "--preprocess-num-workers", "1"]
    first = genotool_cli(*args)
    assert first.exit_code == 0, first.stderr
    again = genotool_cli(*args)
    forced = genotool_cli(*args, "--force")
    assert json.loads(first.stdout)["cache_hit"] is False and json.loads(again.stdout)["cache_hit"] is True
    rebuilt = json.loads(forced.stdout)
    assert forced.exit_code == 0 and rebuilt["cache_hit"] is False
    assert rebuilt["cache"] == json.loads(first.stdout)["cache"] and rebuilt["rows"] == json.loads(first.stdout)["rows"]
