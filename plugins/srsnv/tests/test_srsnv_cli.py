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
                "--tf32", "--autotune-batch-size", "--batch-size", "--device", "--precision",
                "--threads", "--seed", "--force"):
        assert opt in text, opt
    # the design note's --loader-num-workers / --cpu-threads / --use-amp / --use-tf32 are hidden
    # aliases of the core's names
    for old in ("--loader-num-workers", "--cpu-threads", "--use-amp", "--use-tf32"):
        assert old not in text, old
    # 44 options read as a few panels
    for panel in ("Inputs", "Output", "Split", "Preprocessing", "Model", "Training", "Data loading",
                  "Hardware and precision"):
        assert panel in text, panel


def test_old_spellings_still_parse(genotool_cli, tmp_path):
    # --n-reads -> --num-reads: a bad value reaches the library check under its new name
    res = genotool_cli("srsnv", "simulate", "-o", str(tmp_path / "s"), "--n-reads", "10")
    assert res.exit_code == 2 and "--num-reads must be >= 200" in res.stderr
    assert "--n-reads is now spelled --num-reads" in res.stderr
    assert not (tmp_path / "s").exists()


def test_use_amp_and_use_tf32_are_hidden_aliases(genotool_cli, monkeypatch, tmp_path):
    """Old scripts keep working: --use-amp is --precision auto (the probe's mixed precision), --use-tf32
    is --tf32, each with a one-line note; without them training stays fp32 (the verb's default)."""
    import genotool_srsnv.train as train
    from genotool.options import RunOptions

    seen = []
    monkeypatch.setattr(train, "run_train", lambda opts: seen.append(opts))
    d = tmp_path / "d"
    args = ["srsnv", "train", *(f"--{k}" if i % 2 == 0 else str(d / k) for k in
                                ("positive-bam", "negative-bam", "positive-parquet", "negative-parquet",
                                 "training-regions") for i in (0, 1)), "-o", str(tmp_path / "m")]
    res = genotool_cli(*args, "--use-amp", "--use-tf32")
    assert res.exit_code == 0, res.stderr
    assert (seen[-1].precision, seen[-1].tf32) == ("auto", True)
    assert "note: --use-amp is now spelled --precision auto" in res.stderr
    assert "note: --use-tf32 is now spelled --tf32" in res.stderr
    res = genotool_cli(*args)
    assert res.exit_code == 0 and (seen[-1].precision, seen[-1].tf32) == (None, None)
    # the plan: fp32 unless --precision says otherwise, and the reason is recorded
    plan = train.train_plan(RunOptions(device="cpu", threads=1))
    assert plan.precision == "fp32" and "--device cpu given" in plan.reasons
    assert train.train_plan(RunOptions(device="cpu", precision="bf16-mixed", threads=1)).precision == "bf16-mixed"
