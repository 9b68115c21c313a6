"""Plugin registration and import hygiene."""

import json
import subprocess
import sys


def test_help_imports_no_heavy_modules():
    code = ("import sys\n"
            "from genotool import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "try:\n    cli.main(['srsnv', '--help'])\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('torch', 'pysam', 'pandas', 'pyarrow', 'xgboost', 'sklearn') if m in sys.modules]\n"
            "print('HEAVY', bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "srsnv" in out


def test_plugin_is_listed_with_all_verbs(genotool_cli):
    res = genotool_cli("plugins", "--json")
    assert res.exit_code == 0
    rec = next(r for r in json.loads(res.stdout) if r["name"] == "srsnv")
    assert rec["status"] == "ok", rec
    assert {"simulate", "preprocess", "train", "predict", "validate", "bench"} <= set(rec["commands"])
    assert rec["backend"] == "torch"


def test_train_help_keeps_design_note_option_names(genotool_cli):
    res = genotool_cli("srsnv", "train", "--help", env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    text = res.stdout
    for opt in ("--positive-bam", "--negative-bam", "--positive-parquet", "--negative-parquet", "--training-regions",
                "--output", "--split-manifest-in", "--split-manifest-out", "--single-model-split", "--val-fraction",
                "--split-hash-key", "--preprocess-cache-dir", "--preprocess-num-workers", "--preprocess-max-ram-gb",
                "--preprocess-batch-rows", "--preprocess-storage-mode", "--preprocess-dry-run",
                "--encoder-vocab-source", "--num-workers", "--loader-prefetch-factor", "--loader-pin-memory",
                "--use-amp", "--use-tf32", "--autotune-batch-size", "--batch-size", "--device", "--precision",
                "--threads", "--seed", "--force"):
        assert opt in text, opt
    # the design note's --loader-num-workers / --cpu-threads are hidden aliases of the core's names
    assert "--loader-num-workers" not in text and "--cpu-threads" not in text


def test_old_spellings_still_parse(genotool_cli, tmp_path):
    # --n-reads -> --num-reads: a bad value reaches the library check under its new name
    res = genotool_cli("srsnv", "simulate", "-o", str(tmp_path / "s"), "--n-reads", "10")
    assert res.exit_code == 2 and "--num-reads must be >= 200" in res.stderr
    assert "--n-reads is now spelled --num-reads" in res.stderr
    assert not (tmp_path / "s").exists()
