"""bench prints exactly one JSON object with the promised measurements."""

import json


def test_bench_json(sim_data, genotool_cli, tmp_path):
    out = tmp_path / "bench.json"
    res = genotool_cli("srsnv", "bench", "--data", str(sim_data), "--train-steps", "2", "--batch-size", "32",
                       "-o", str(out))
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)
    assert d == json.loads(out.read_text())
    assert d["plugin"] == "srsnv"
    pre = d["preprocess"]
    assert pre["workers_1"]["rows_per_second"] > 0 and pre["workers_2"]["rows"] == pre["workers_1"]["rows"]
    assert d["cache_hit"]["hit"] is True and d["cache_hit"]["fraction_of_cold"] < 1
    assert d["training"]["samples_per_second"] > 0 and d["prediction"]["model_rows_per_second"] > 0
    assert d["peak_rss_mb"] > 0
