"""The scenario sweep: split / Out-of-Africa cohorts, simulate -> preprocess -> compare --cv per
scenario, the floors against PCA, and a killed sweep resuming with the scenarios it finished."""

import json

import pytest

from genotool.testing import invoke

TINY_SET = ["--set", "embed_dim=4", "--set", "channels=4,8"]
SCENARIOS = {"defaults": {"length": 150_000, "seed": 2},
             "scenarios": [{"name": "recent", "demography": "split", "split_time": 200, "cohort_sizes": [9, 12]},
                           {"name": "old-mig", "demography": "split", "split_time": 2000, "cohort_sizes": [9, 9, 9],
                            "migration_rate": 1e-4}]}


def test_split_demography_and_unequal_cohorts(tmp_path):
    r = invoke(["snp", "simulate", "-o", str(tmp_path / "s"), "--demography", "split", "--split-time", "300",
                "--cohort-sizes", "5,7", "--migration-rate", "1e-4", "--length", "100000", "--seed", "4"])
    assert r.exit_code == 0, r.stderr
    truth = json.loads((tmp_path / "s" / "truth.json").read_text())
    assert truth["populations"] == {"pop0": 5, "pop1": 7}
    pops = [ln.split("\t")[1] for ln in (tmp_path / "s" / "samples.tsv").read_text().splitlines()[1:]]
    assert pops.count("pop0") == 5 and pops.count("pop1") == 7
    r = invoke(["snp", "simulate", "-o", str(tmp_path / "bad"), "--demography", "out-of-africa",
                "--cohort-sizes", "5,7"])
    assert r.exit_code == 2 and "--cohort-sizes: 2 sizes given, the out-of-africa model samples 3" in r.stderr
    assert not (tmp_path / "bad").exists()


def test_builtin_scenarios_cover_the_issue():
    from genotool_snp.simulate import SimulateConfig
    from genotool_snp.sweep import load_scenarios

    table = load_scenarios(None, [], None)
    assert len(table) >= 12
    splits = [s["split_time"] for s in table if s["demography"] == "split"]
    assert min(splits) == 100 and max(splits) == 2000
    sizes = [n for s in table for n in s["cohort_sizes"]]
    assert min(sizes) == 30 and max(sizes) == 150
    assert {len(s["cohort_sizes"]) for s in table} == {2, 3, 4, 5, 6}
    assert any(s.get("migration_rate") for s in table) and any(not s.get("migration_rate") for s in table)
    assert any(len(set(s["cohort_sizes"])) > 1 for s in table) and any(s["demography"] == "out-of-africa" for s in table)
    for s in table:                           # every scenario is a valid simulation
        SimulateConfig("x", **{k: v for k, v in s.items() if k != "name"}).check()


def test_sweep_two_tiny_scenarios_and_resume(tmp_path, monkeypatch):
    import genotool_snp.compare as compare

    (tmp_path / "sc.json").write_text(json.dumps(SCENARIOS))
    args = ["snp", "sweep", "-o", str(tmp_path / "sw"), "--scenarios", str(tmp_path / "sc.json"), "--cv", "3",
            "--epochs", "1", "--threads", "1", *TINY_SET]
    real, calls = compare.run_compare, []

    def killed_after_first(opts):            # the run dies in the second scenario's compare
        calls.append(opts.data)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(opts)

    monkeypatch.setattr(compare, "run_compare", killed_after_first)
    with pytest.raises(RuntimeError):
        from genotool_snp.sweep import SweepOptions, run_sweep

        run_sweep(SweepOptions(output=tmp_path / "sw", scenarios=tmp_path / "sc.json", cv=3, epochs=1, threads=1,
                               overrides={"embed_dim": "4", "channels": "4,8"}))
    first = tmp_path / "sw.partial" / "recent" / "compare" / "table.json"
    assert first.is_file() and not (tmp_path / "sw").exists()
    stamp = first.stat().st_mtime_ns
    monkeypatch.setattr(compare, "run_compare", real)
    r = invoke(args)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "sw" / "recent" / "compare" / "table.json").stat().st_mtime_ns == stamp   # kept, not redone
    summary = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert [s["scenario"] for s in summary["scenarios"]] == ["recent", "old-mig"]
    for s in summary["scenarios"]:
        assert 0 <= s["model"] <= 1 and 0 <= s["pca_nc"] <= 1
        assert abs(s["gap"] - (s["model"] - s["pca_nc"])) < 1e-12
        assert s["more_than_one_spread_below"] == (s["model"] < s["pca_nc"] - s["model_sd"])
    f = summary["floors"]
    assert f["mean_floor_met"] == (f["model_mean"] >= f["pca_nc_mean"] - 0.01)
    assert summary["scenarios"][0]["hard"] and not summary["scenarios"][1]["hard"]
    assert "mean accuracy" in r.stdout and (tmp_path / "sw" / "report.html").is_file()
