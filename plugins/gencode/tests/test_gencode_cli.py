"""CLI: light imports, every verb end to end at tiny sizes, and bad input -> one error line,
exit 2, no partial output."""

import gzip
import json
import subprocess
import sys

import pytest

from gencode_helpers import err_line as _err_line, no_output as _no_output


def test_help_imports_no_torch():
    code = ("import sys\nfrom genotool.cli import main\n"
            "for argv in (['--help'], ['gencode', '--help'], ['gencode', 'train', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "bad = [m for m in ('torch', 'pysam', 'flash_semicrf', 'mambapy') if m in sys.modules]\n"
            "assert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "gencode" in res.stdout and "--max-duration" in res.stdout


def _pre(cli, gtf, fa, out, *extra):
    return cli("gencode", "preprocess", "--gtf", str(gtf), "--fasta", str(fa), "-o", str(out),
               "--chunk-size", "2000", "--overlap", "100", "--train-chroms", "chr1", "--val-chroms", "chr2",
               "--test-chroms", "chr3", *extra)


def _corrupt(tiny_sim, tmp_path, lineno, fn):
    lines = (tiny_sim / "annotation.gtf").read_text().splitlines(keepends=True)
    lines[lineno - 1] = fn(lines[lineno - 1])
    p = tmp_path / "bad.gtf"
    p.write_text("".join(lines))
    return p


def test_bad_column_count_reports_line(genotool_cli, tiny_sim, tmp_path):
    gtf = _corrupt(tiny_sim, tmp_path, 6, lambda l: "\t".join(l.split("\t")[:8]) + "\n")
    out = tmp_path / "o"
    res = _pre(genotool_cli, gtf, tiny_sim / "genome.fa", out)
    assert res.exit_code == 2
    assert "line 6" in _err_line(res) and "9 tab-separated columns" in res.stderr
    assert _no_output(out)


def test_bad_coordinates_report_line(genotool_cli, tiny_sim, tmp_path):
    def swap(line):
        c = line.split("\t")
        c[3], c[4] = c[4], str(int(c[4]) - 50)
        return "\t".join(c)
    gtf = _corrupt(tiny_sim, tmp_path, 9, swap)
    out = tmp_path / "o"
    res = _pre(genotool_cli, gtf, tiny_sim / "genome.fa", out)
    assert res.exit_code == 2 and "line 9" in _err_line(res) and "coordinates" in res.stderr
    assert _no_output(out)


def test_transcript_on_missing_contig(genotool_cli, tiny_sim, tmp_path):
    text = (tiny_sim / "annotation.gtf").read_text().replace("chr2\t", "chrZ\t")
    gtf = tmp_path / "z.gtf"
    gtf.write_text(text)
    out = tmp_path / "o"
    res = _pre(genotool_cli, gtf, tiny_sim / "genome.fa", out)
    assert res.exit_code == 2 and "chrZ" in _err_line(res) and "not in" in res.stderr
    assert _no_output(out)


def test_unindexable_fasta(genotool_cli, tiny_sim, tmp_path):
    fa = tmp_path / "plain.fa.gz"
    with gzip.open(fa, "wb") as fh:
        fh.write((tiny_sim / "genome.fa").read_bytes())
    out = tmp_path / "o"
    res = _pre(genotool_cli, tiny_sim / "annotation.gtf", fa, out)
    assert res.exit_code == 2 and "index" in _err_line(res)
    assert _no_output(out)


def test_empty_split(genotool_cli, tiny_sim, tmp_path):
    fa = tmp_path / "g.fa"
    fa.write_text((tiny_sim / "genome.fa").read_text() + ">chr4\n" + "ACGT" * 2000 + "\n")
    out = tmp_path / "o"
    res = genotool_cli("gencode", "preprocess", "--gtf", str(tiny_sim / "annotation.gtf"), "--fasta", str(fa),
                       "-o", str(out), "--chunk-size", "2000", "--overlap", "100", "--train-chroms", "chr1",
                       "--val-chroms", "chr2", "--test-chroms", "chr4")
    assert res.exit_code == 2 and "test split is empty" in _err_line(res)
    assert _no_output(out)
    res = genotool_cli("gencode", "preprocess", "--gtf", str(tiny_sim / "annotation.gtf"), "--fasta", str(fa),
                       "-o", str(out), "--val-chroms", "chrNope", "--train-chroms", "chr1", "--test-chroms", "chr3")
    assert res.exit_code == 2 and "chrNope" in _err_line(res)
    assert _no_output(out)


def test_chunk_size_below_overlap(genotool_cli, tiny_sim, tmp_path):
    out = tmp_path / "o"
    res = genotool_cli("gencode", "preprocess", "--gtf", str(tiny_sim / "annotation.gtf"), "--fasta",
                       str(tiny_sim / "genome.fa"), "-o", str(out), "--chunk-size", "400", "--overlap", "500")
    assert res.exit_code == 2 and "--overlap" in _err_line(res)
    assert _no_output(out)


def test_overlapping_genes_on_both_strands_are_merged_with_warning(genotool_cli, tiny_sim, tmp_path):
    # a copy of the first gene on the other strand, shifted by 40 bp: overlapping, opposite strands
    lines = (tiny_sim / "annotation.gtf").read_text().splitlines(keepends=True)
    first = [l for l in lines if not l.startswith("#") and '"chr1.g2"' in l]
    extra = []
    for l in first:
        c = l.split("\t")
        c[3], c[4] = str(int(c[3]) + 40), str(int(c[4]) + 40)
        c[6] = "-" if c[6] == "+" else "+"
        c[7] = "."       # the copy's CDS phases would disagree with its coordinates on the other strand
        c[8] = c[8].replace("chr1.g2", "chr1.gX").replace("chr1.t2", "chr1.tX")
        extra.append("\t".join(c))
    i = lines.index(first[-1]) + 1
    gtf = tmp_path / "ov.gtf"
    gtf.write_text("".join(lines[:i] + extra + lines[i:]))
    out = tmp_path / "o"
    res = _pre(genotool_cli, gtf, tiny_sim / "genome.fa", out)
    assert res.exit_code == 0, res.stderr
    assert "overlapping gene pairs" in res.stderr and "opposite strands" in res.stderr
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["runtime"]["opposite_strand_overlaps"] >= 1


TRAIN = ("--hidden-dim", "8", "--num-layers", "1", "--epochs", "1", "--max-steps-per-epoch", "2",
         "--crop-length", "300", "--batch-size", "2", "--max-val-chunks", "2", "--threads", "1")
STRAND = ("--states", "strand")


def test_train_validate_predict_semicrf(genotool_cli, tiny_sim, tiny_data, tmp_path):
    m = tmp_path / "m"
    res = genotool_cli("gencode", "train", "--data", str(tiny_data), "-o", str(m), *STRAND, "--head", "semicrf",
                       "--max-duration", "2", *TRAIN[:4], "--epochs", "2", *TRAIN[6:])
    assert res.exit_code == 0, res.stderr
    assert "smaller than the minimum length of start_codon" in res.stderr   # K=2 < 3-bp codons: warned
    assert "Memory estimate" in res.stderr and "Encoder output stats" in res.stderr
    assert (m / "model.pt").exists() and (m / "checkpoints" / "best.pt").exists()
    cfg = json.loads((m / "model_config.json").read_text())
    assert cfg["boundary_scores"] is True and cfg["censor_edges"] is True and cfg["orf_scores"] is True  # defaults
    v = tmp_path / "v"
    res = genotool_cli("gencode", "validate", "--data", str(tiny_data), "--model", str(m), "-o", str(v),
                       "--max-chunks", "2", "--threads", "1")
    assert res.exit_code == 0, res.stderr
    met = json.loads((v / "metrics.json").read_text())
    for k in ("position_macro_f1", "boundary_f1_tol0", "boundary_f1_tol10", "segment_f1", "duration_kl"):
        assert k in met
    assert "<img" in (v / "report.html").read_text()
    # --precision is honoured (the predict loop autocasts) and recorded; --batch-size default in the plan
    vb = tmp_path / "vb"
    res = genotool_cli("gencode", "validate", "--data", str(tiny_data), "--model", str(m), "-o", str(vb),
                       "--max-chunks", "2", "--threads", "1", "--precision", "bf16-mixed")
    assert res.exit_code == 0, res.stderr
    plan = json.loads((vb / "metadata.json").read_text())["plan"]
    assert plan["precision"] == "bf16-mixed" and plan["batch_size"] == 4
    assert json.loads((vb / "metrics.json").read_text())["nll_per_bp"] != met["nll_per_bp"]
    # a model folder from before genotool.engine.model_io (bare state_dict, config with "model")
    # loads through the legacy hook and scores the same; --model-dir is the hidden old spelling
    import torch

    old = tmp_path / "old"
    old.mkdir()
    torch.save(torch.load(m / "model.pt", weights_only=False)["state_dict"], old / "model.pt")
    cfg_old = {("model" if k == "head" else k): v for k, v in cfg.items()}
    (old / "model_config.json").write_text(json.dumps({**cfg_old, "device_type": "cpu"}))
    res = genotool_cli("gencode", "validate", "--data-dir", str(tiny_data), "--model-dir", str(old), "-o",
                       str(tmp_path / "v_old"), "--max-chunks", "2", "--threads", "1")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "v_old" / "metrics.json").read_text())["segment_f1"] == met["segment_f1"]
    p = tmp_path / "p"
    res = genotool_cli("gencode", "predict", "--fasta", str(tiny_sim / "genome.fa"), "--model", str(m),
                       "-o", str(p), "--region", "chr3:1001-4000", "--chunk-size", "1000", "--overlap", "100",
                       "--threads", "1")
    assert res.exit_code == 0, res.stderr
    bed = [l.split("\t") for l in (p / "predictions.bed").read_text().splitlines()[1:]]
    assert all(1000 <= int(r[1]) < int(r[2]) <= 4000 for r in bed)
    gtf = (p / "predictions.gtf").read_text().splitlines()
    assert len(gtf) == len(bed)


def test_compare_and_mamba_train(genotool_cli, tiny_data, tmp_path):
    out = tmp_path / "c"
    js = tmp_path / "c.json"
    res = genotool_cli("gencode", "compare", "--data", str(tiny_data), "-o", str(out), "--max-duration", "8",
                       "--models", "pytorch-crf,linear,semicrf", "--max-test-chunks", "2", "--json", str(js),
                       *TRAIN[:-4])
    assert res.exit_code == 0, res.stderr
    rows = json.loads(js.read_text())["rows"]
    assert [r["model"] for r in rows] == ["pytorch-crf", "linear", "semicrf"]
    assert all(0.0 <= r["segment_f1"] <= 1.0 and r["duration_kl"] >= 0 for r in rows)
    # every row is also scored on the test split's gene models (the label runs read as genes)
    assert all(0.0 <= r["exon_f1"] <= 1.0 and "gene_f1" in r and r["predict_seconds"] >= 0 for r in rows)
    assert [json.loads((out / r / "model_config.json").read_text())["orf_scores"] for r in
            ("pytorch-crf", "linear", "semicrf")] == [False, False, True]
    m = tmp_path / "mamba"
    res = genotool_cli("gencode", "train", "--data", str(tiny_data), "-o", str(m), *STRAND, "--head", "linear",
                       "--encoder", "mamba", "--d-state", "4", "--no-boundary-scores", *TRAIN[:8],
                       "--crop-length", "64", "--batch-size", "1", "--max-val-chunks", "1")
    assert res.exit_code == 0, res.stderr
    cfg = json.loads((m / "model_config.json").read_text())
    assert cfg["encoder"] == "mamba" and cfg["boundary_scores"] is False and cfg["censor_edges"] is True


def test_bench_json_with_reference(genotool_cli, tmp_path):
    pytest.importorskip("flash_semicrf")
    out = tmp_path / "b.json"
    res = genotool_cli("gencode", "bench", "-B", "2", "-T", "60", "-K", "6", "--encoder-length", "32",
                       "--gene-length", "0", "-o", str(out))
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data == json.loads(out.read_text()) or data["ours"] == json.loads(out.read_text())["ours"]
    assert data["log_z_max_rel_diff"] < 1e-6
    assert data["speedup"]["loss_forward_backward"] > 0 and "viterbi_s" in data["ours"]
    assert data["encoders"]["mamba"]["implementation"] == "mambapy"


def test_bad_model_options(genotool_cli, tiny_data, tmp_path):
    res = genotool_cli("gencode", "train", "--data", str(tiny_data), "-o", str(tmp_path / "x"), "--head", "hmm")
    assert res.exit_code == 2 and "--head" in _err_line(res)
    res = genotool_cli("gencode", "train", "--data", str(tmp_path / "nope"), "-o", str(tmp_path / "x"))
    assert res.exit_code == 2 and "--data" in _err_line(res)
    assert _no_output(tmp_path / "x")
    for opt, bad in (("--states", "codons"), ("--structure-init", "uniform"), ("--scheduler", "linear"),
                     ("--features", "all")):
        for states in ("gene", "strand"):
            res = genotool_cli("gencode", "train", "--data", str(tiny_data), "-o", str(tmp_path / "x"),
                               "--states", states, opt, bad)
            assert res.exit_code == 2 and opt in _err_line(res)
        if opt not in ("--features", "--states"):     # compare names its rows by --models
            res = genotool_cli("gencode", "compare", "--data", str(tiny_data), "-o", str(tmp_path / "x"), opt, bad,
                               "--models", "linear")
            assert res.exit_code == 2 and opt in _err_line(res), (opt, res.stderr)
    res = genotool_cli("gencode", "train", "--data", str(tiny_data), "-o", str(tmp_path / "x"), "--head",
                       "pytorch-crf")
    assert res.exit_code == 2 and "--states strand" in _err_line(res)
    res = genotool_cli("gencode", "compare", "--data", str(tiny_data), "-o", str(tmp_path / "x"), "--models",
                       "gene-semicrf-magic")
    assert res.exit_code == 2 and "--models" in _err_line(res)
    # retired options of older models (their folders still load) are refused by the parser
    for opt, val in (("--durations", "table"), ("--linear-warmup-epochs", "1"), ("--long-runs", "pieces"),
                     ("--chain", "all"), ("--backend", "exact"), ("--no-censor-edges", None)):
        res = genotool_cli("gencode", "train", "--data", str(tiny_data), "-o", str(tmp_path / "x"), opt,
                           *([val] if val else []))
        assert res.exit_code == 2 and "No such option" in res.stderr, (opt, res.stderr)
    assert _no_output(tmp_path / "x")


def test_label_states_model_folder_still_loads(genotool_cli, tiny_data, tmp_path):
    """A model over the 11 labels (the retired --states labels) with random structure init, as older
    versions wrote it, still validates; --structure-init random still trains a strand model."""
    import torch

    from genotool.engine import export_model
    from genotool_gencode.config import ModelConfig
    from genotool_gencode.models import SegmentationModel

    torch.manual_seed(0)
    cfg = ModelConfig(head="pytorch-crf", states="labels", structure_init="random", hidden_dim=8, num_layers=1,
                      boundary_scores=False, censor_edges=False, long_runs="pieces", orf_scores=False).for_head()
    old = tmp_path / "old"
    old.mkdir()
    export_model(SegmentationModel(cfg), old, plugin="gencode", config=cfg.to_json())
    res = genotool_cli("gencode", "validate", "--data", str(tiny_data), "--model", str(old), "-o",
                       str(tmp_path / "v"), "--max-chunks", "1", "--threads", "1")
    assert res.exit_code == 0, res.stderr
    m = tmp_path / "m"
    res = genotool_cli("gencode", "train", "--data", str(tiny_data), "-o", str(m), *STRAND, "--head", "pytorch-crf",
                       "--structure-init", "random", "--scheduler", "cosine", *TRAIN)
    assert res.exit_code == 0, res.stderr
    assert "initialised from training-label counts" not in res.stderr
    assert json.loads((m / "model_config.json").read_text())["structure_init"] == "random"
