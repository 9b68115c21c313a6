"""Bad input: one clear line naming the file/line or option, exit 2, no partial output."""

from __future__ import annotations



from genotool.testing import invoke


def fails(args, match, out=None):
    r = invoke(["splice", *map(str, args)])
    assert r.exit_code == 2, (r.exit_code, r.stderr[-1500:])
    last = r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr and match in last, last
    if out is not None:
        assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    return last


def test_weights_folder_errors(sim, tmp_path):
    out = tmp_path / "pre"
    args = ["preprocess", "--fasta", sim / "genome.fa", "--annotation", sim / "annotation.gtf", "-o", out]
    fails(args + ["--base-weights", tmp_path], "model_400nt_rs*.pt", out)
    import torch

    from genotool_splice.spliceai_net import SpliceAINet

    wd = tmp_path / "w"
    wd.mkdir()
    torch.save(SpliceAINet(80).state_dict(), wd / "model_400nt_rs10.pt")
    fails(args + ["--base-weights", wd], "missing key 'residual_units.5.batchnorm1.weight'", out)


def test_gtf_contig_absent_from_fasta(sim, pipeline, tmp_path):
    gtf = tmp_path / "bad.gtf"
    text = (sim / "annotation.gtf").read_text()
    extra = ('chrZ\tsim\texon\t100\t200\t.\t+\t.\tgene_id "gZ"; transcript_id "tZ";\n'
             'chrZ\tsim\texon\t400\t500\t.\t+\t.\tgene_id "gZ"; transcript_id "tZ";\n')
    gtf.write_text(text + extra)
    n = len(text.splitlines()) + 1
    out = tmp_path / "pre"
    fails(["preprocess", "--fasta", sim / "genome.fa", "--annotation", gtf, "--base-model", "own",
           "--base-weights", pipeline["base"], "-o", out, "--threads", 1],
          f"line {n}: transcript tZ is on contig 'chrZ'", out)


def test_window_even_or_too_small(sim, pipeline, tmp_path):
    out = tmp_path / "pre"
    base = ["preprocess", "--fasta", sim / "genome.fa", "--annotation", sim / "annotation.gtf", "--base-model",
            "own", "--base-weights", pipeline["base"], "-o", out, "--threads", 1]
    fails(base + ["--window", 500], "--window must be odd", out)
    fails(base + ["--window", 61], "--window 61 is below the base model's needs: its 80 nt flank asks >= 81", out)


def test_empty_test_split(sim, pipeline, tmp_path):
    out = tmp_path / "pre"
    args = ["preprocess", "--fasta", sim / "genome.fa", "--annotation", sim / "annotation.gtf", "--base-model", "own",
            "--base-weights", pipeline["base"], "-o", out, "--threads", 1]
    fails(args + ["--test-regions", "chr99"], "--test-regions: contig 'chr99' is not in", out)
    fails(args + ["--test-regions", "chr1:1-100"], "--test-regions: the test split is empty", out)
    fails(args + ["--test-regions", "chr1:1-50000"], "--test-regions: region chr1:1-50000 lies outside contig 'chr1'",
          out)
    fails(args + ["--test-regions", "chr1", "--val-regions", "chr1:5-10"], "regions chr1:5-10 and chr1 overlap", out)


def _vcf(path, rows):
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" +
                    "".join(f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\t.\n" for c, p, r, a in rows))
    return path


def test_variant_ref_mismatch_and_unknown_contig(sim, pipeline, tmp_path):
    import pysam

    ref = pysam.FastaFile(str(sim / "genome.fa")).fetch("chr2", 999, 1000)
    wrong = "A" if ref != "A" else "C"
    out = tmp_path / "var"
    vcf = _vcf(tmp_path / "a.vcf", [("chr2", 1000, ref, "T" if ref != "T" else "G"), ("chr2", 1000, wrong, "G")])
    fails(["variant", "--fasta", sim / "genome.fa", "-m", pipeline["meta"], "--variants", vcf, "-o", out],
          f"a.vcf: line 4: REF '{wrong}' does not match the FASTA ('{ref}') at chr2:1000", out)
    vcf = _vcf(tmp_path / "b.vcf", [("chrQ", 10, "A", "G")])
    fails(["variant", "--fasta", sim / "genome.fa", "-m", pipeline["meta"], "--variants", vcf, "-o", out],
          "b.vcf: line 3: contig 'chrQ' is not in", out)


def test_non_acgtn_characters_warn_and_read_as_n(sim, tmp_path, capsys):
    import pysam

    from genotool_splice.seqio import fetch_codes

    fa_path = tmp_path / "iupac.fa"
    lines = (sim / "genome.fa").read_text().splitlines()
    lines[1] = "RY" + lines[1][2:]
    fa_path.write_text("\n".join(lines) + "\n")
    codes = fetch_codes(pysam.FastaFile(str(fa_path)), fa_path, "chr1", 0, 10)
    assert codes[0] == 4 and codes[1] == 4 and (codes[2:] < 4).all()
    err = capsys.readouterr().err
    assert "chr1: 2 character(s) other than A, C, G, T, N (e.g. 'R') treated as N" in err


def test_train_option_errors(pipeline, tmp_path):
    out = tmp_path / "m"
    fails(["train", "-d", pipeline["data"], "-o", out, "--architecture", "gnn"], "--architecture must be one of", out)
    fails(["train", "-d", pipeline["data"], "-o", out, "--encoder", "hyenadna"], "--encoder: 'hyenadna' is not "
          "available offline", out)
    fails(["train", "-d", tmp_path, "-o", out], "is not a `splice preprocess` output", out)


def test_predict_min_score_range(pipeline, tmp_path):
    out = tmp_path / "pred"
    fails(["predict", "--fasta", pipeline["fasta"], "-m", pipeline["meta"], "-o", out, "--min-score", 0.7],
          "--min-score must be in [0, 0.5]", out)
