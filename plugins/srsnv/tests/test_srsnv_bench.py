"""bench prints exactly one JSON object with the promised measurements."""

import json


def test_bench_json(sim_data, genotool_cli, tmp_path):
    out = tmp_path / "bench.json"
    res = genotool_cli("srsnv", "bench", "-d", str(sim_data), "--train-steps", "2", "--batch-size", "32",
                       "--device", "cpu", "--precision", "bf16-mixed", "--threads", "1", "-o", str(out))
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)
    assert d == json.loads(out.read_text())
    # the run options reach the plan the training and prediction ran under
    assert (d["plan"]["precision"], d["plan"]["batch_size"], d["plan"]["cpu_threads"]) == ("bf16-mixed", 32, 1)
    assert d["training"]["precision"] == "bf16-mixed" and d["training"]["batch_size"] == 32
    assert d["plugin"] == "srsnv"
    pre = d["preprocess"]
    assert pre["workers_1"]["rows_per_second"] > 0 and pre["workers_2"]["rows"] == pre["workers_1"]["rows"]
    assert d["cache_hit"]["hit"] is True and d["cache_hit"]["fraction_of_cold"] < 1
    assert d["training"]["samples_per_second"] > 0 and d["prediction"]["model_rows_per_second"] > 0
    assert d["peak_rss_mb"] > 0


def test_bench_refuses_an_existing_output_before_any_work(sim_data, genotool_cli, tmp_path):
    out = tmp_path / "bench.json"
    out.write_text("{}\n")
    res = genotool_cli("srsnv", "bench", "-d", str(sim_data), "-o", str(out))
    assert res.exit_code == 2 and "--force" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stdout == "" and out.read_text() == "{}\n"
