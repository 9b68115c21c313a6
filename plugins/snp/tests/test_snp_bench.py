import json

from genotool.testing import invoke


def test_bench_json(sim, tmp_path):
    out = tmp_path / "bench.json"
    r = invoke(["snp", "bench", "--snps", "64", "--steps", "1", "--threads", "1", "-o", str(out),
                "--vcf", str(sim / "genotypes.vcf.gz"), "--samples", str(sim / "samples.tsv")])
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert json.loads(out.read_text())["models"] == res["models"]
    assert {m["architecture"] for m in res["models"]} == {"cnn", "cnn-transformer", "gnn"}
    assert all(m["train_samples_per_second"] > 0 and m["predict_samples_per_second"] > 0 for m in res["models"])
    assert res["preprocess"]["genotool"]["samples"] == 48 and "peak_rss_mb" in res
    for tool in ("plink2_make_pgen", "plink19_blocks"):
        assert "ran" in res["preprocess"][tool]
    r = invoke(["snp", "bench", "--snps", "64", "--steps", "1", "-o", str(out)])
    assert r.exit_code == 2 and "--force" in r.stderr
