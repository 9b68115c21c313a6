"""The gene finder end to end through the CLI on a tiny simulated genome (region splits, train,
predict as GTF/GFF3, validate, compare rows), bad input (one error line, exit 2, nothing left),
and the valid-ORF check on real Arabidopsis predictions (skipped without /work/data)."""

import json
from pathlib import Path

import pytest

from gencode_helpers import err_line as _err_line, no_output as _no_output
from genotool_gencode.genes.annotation import gene_problems
from genotool_gencode.genes.dna import encode
from genotool_gencode.genes.gff import read_gene_models

REGIONS = ("--train-regions", "chr1,chr2", "--val-regions", "chr3:1-20000", "--test-regions", "chr3:20001-40000")


def _pre(cli, out, gtf, fa, *regions):
    return cli("gencode", "preprocess", "--gtf", str(gtf), "--fasta", str(fa), "-o", str(out), "--chunk-size", "2000",
               "--overlap", "100", *(regions or REGIONS))


@pytest.fixture(scope="module")
def gene_data(tiny_sim, tmp_path_factory):
    from genotool.testing import invoke

    out = tmp_path_factory.mktemp("genes") / "data"
    res = invoke(["gencode", "preprocess", "--gtf", str(tiny_sim / "annotation.gtf"), "--fasta",
                  str(tiny_sim / "genome.fa"), "-o", str(out), "--chunk-size", "2000", "--overlap", "100", *REGIONS])
    assert res.exit_code == 0, res.stderr
    return out


@pytest.fixture(scope="module")
def sensors_model(gene_data, tmp_path_factory):
    from genotool.testing import invoke

    m = tmp_path_factory.mktemp("genes") / "m"
    res = invoke(["gencode", "train", "--data", str(gene_data), "-o", str(m), "--features", "sensors", "--epochs", "1"])
    assert res.exit_code == 0, res.stderr
    return m


def test_region_splits_write_each_splits_sequence_and_transcripts(gene_data, tiny_genome):
    index = json.loads((gene_data / "pieces.json").read_text())
    assert [(e["split"], e["name"]) for e in index] == [("train", "chr1"), ("train", "chr2"),
                                                        ("val", "chr3:1-20000"), ("test", "chr3:20001-40000")]
    test = index[-1]
    fa = (gene_data / "test.fa").read_text().split("\n", 1)[1].replace("\n", "")
    assert fa == tiny_genome["chr3"][20000:40000]
    genes = read_gene_models(gene_data / "test_genes.gtf")
    assert genes and all(g.contig == "chr3" and 20000 <= g.start and g.end <= 40000 for g in genes)
    codes = encode(tiny_genome["chr3"])
    assert all(not gene_problems(g, codes) for g in genes)      # simulated genes are valid models
    meta = json.loads((gene_data / "metadata.json").read_text())
    assert meta["parameters"]["splits"]["test"] == ["chr3:20001-40000"]
    assert test["transcripts"] == len(genes)


def test_train_predict_validate_gene_finder(genotool_cli, gene_data, sensors_model, tiny_sim, tmp_path):
    m = sensors_model
    cfg = json.loads((m / "model_config.json").read_text())
    assert cfg["states"] == "gene" and cfg["features"] == "sensors" and cfg["durations"] == "explicit"
    assert (m / "val_metrics.json").is_file()
    p = tmp_path / "p"
    res = genotool_cli("gencode", "predict", "--fasta", str(tiny_sim / "genome.fa"), "--model", str(m), "-o", str(p),
                       "--region", "chr3", "--chunk-size", "40000", "--overlap", "4000")
    assert res.exit_code == 0, res.stderr
    genes = read_gene_models(p / "predictions.gtf")
    assert genes and read_gene_models(p / "predictions.gff3")
    assert sorted(g.exons for g in genes) == sorted(g.exons for g in read_gene_models(p / "predictions.gff3"))
    codes = encode((tiny_sim / "genome.fa").read_text().split(">chr3\n")[1].split(">")[0].replace("\n", ""))
    for g in genes:
        assert not gene_problems(g, codes), g          # every predicted gene a valid ORF
    # smaller streaming windows give the same gene models
    p2 = tmp_path / "p2"
    res = genotool_cli("gencode", "predict", "--fasta", str(tiny_sim / "genome.fa"), "--model", str(m), "-o", str(p2),
                       "--region", "chr3", "--chunk-size", "25000", "--overlap", "10000")
    assert res.exit_code == 0, res.stderr
    assert sorted(g.exons for g in read_gene_models(p2 / "predictions.gtf")) == sorted(g.exons for g in genes)
    gff3 = (p / "predictions.gff3").read_text()
    assert gff3.startswith("##gff-version 3") and "\tmRNA\t" in gff3 and "\tstop_codon\t" in gff3
    v = tmp_path / "v"
    res = genotool_cli("gencode", "validate", "--data", str(gene_data), "--model", str(m), "-o", str(v))
    assert res.exit_code == 0, res.stderr
    met = json.loads((v / "metrics.json").read_text())
    assert 0 < met["exon_f1"] <= 1 and "gene_f1" in met and "<img" in (v / "report.html").read_text()


def test_gene_finder_with_encoder_trains_saves_and_reloads(genotool_cli, gene_data, tiny_sim, tmp_path):
    m = tmp_path / "m"
    res = genotool_cli("gencode", "train", "--data", str(gene_data), "-o", str(m), "--features", "both",
                       "--encoder-steps", "2", "--epochs", "1", "--head", "linear")
    assert res.exit_code == 0, res.stderr
    cfg = json.loads((m / "model_config.json").read_text())
    assert cfg["features"] == "both" and cfg["durations"] == "geometric" and cfg["encoder"]["ensemble"] == 2
    assert any(k.startswith("enc_") and v != 0 for k, v in cfg["weights"].items())
    p = tmp_path / "p"
    res = genotool_cli("gencode", "predict", "--fasta", str(tiny_sim / "genome.fa"), "--model", str(m), "-o", str(p),
                       "--region", "chr3:1-30000", "--chunk-size", "30000")
    assert res.exit_code == 0, res.stderr
    codes = encode((tiny_sim / "genome.fa").read_text().split(">chr3\n")[1].split(">")[0].replace("\n", ""))
    for g in read_gene_models(p / "predictions.gtf"):
        assert not gene_problems(g, codes)


def test_compare_gene_rows(genotool_cli, gene_data, tmp_path):
    js = tmp_path / "c.json"
    res = genotool_cli("gencode", "compare", "--data", str(gene_data), "-o", str(tmp_path / "c"), "--models",
                       "gene-semicrf-sensors,gene-linear-sensors", "--gene-epochs", "1", "--json", str(js))
    assert res.exit_code == 0, res.stderr
    rows = json.loads(js.read_text())["rows"]
    assert [r["model"] for r in rows] == ["gene-semicrf-sensors", "gene-linear-sensors"]
    for r in rows:
        assert 0 <= r["exon_f1"] <= 1 and r["predict_seconds"] >= 0 and r["genes_true"] > 0
        assert (tmp_path / "c" / r["model"] / "test_predictions.gtf").is_file()


# ---------------------------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("regions, expect", [
    (("--test-regions", "chr3:30001-90000", "--val-regions", "chr2"), "--test-regions: region chr3:30001-90000 lies "
                                                                        "outside"),
    (("--val-regions", "chr3:1-25000", "--test-regions", "chr3:20001-40000"), "overlap"),
    (("--test-regions", "chrQ:1-100", "--val-regions", "chr2"), "not in"),
])
def test_bad_regions(genotool_cli, tiny_sim, tmp_path, regions, expect):
    out = tmp_path / "o"
    res = _pre(genotool_cli, out, tiny_sim / "annotation.gtf", tiny_sim / "genome.fa", *regions)
    assert res.exit_code == 2 and expect in _err_line(res), res.stderr
    assert _no_output(out)


def test_old_chromosome_options_are_whole_contig_regions(genotool_cli, tiny_sim, tmp_path):
    out = tmp_path / "o"
    res = genotool_cli("gencode", "preprocess", "--gtf", str(tiny_sim / "annotation.gtf"), "--fasta",
                       str(tiny_sim / "genome.fa"), "-o", str(out), "--chunk-size", "2000", "--overlap", "100",
                       "--train-chroms", "chr1", "--val-chroms", "chr2", "--test-chroms", "chr3")
    assert res.exit_code == 0, res.stderr
    assert json.loads((out / "metadata.json").read_text())["parameters"]["splits"]["test"] == ["chr3"]


def test_cds_phase_that_disagrees_with_coordinates(genotool_cli, tiny_sim, tmp_path):
    lines = (tiny_sim / "annotation.gtf").read_text().splitlines(keepends=True)
    # the second CDS line of a multi-exon transcript gets a phase its coordinates do not give
    cds = [i for i, l in enumerate(lines) if "\tCDS\t" in l]
    i = tid = None
    for a, b in zip(cds, cds[1:]):
        ta = lines[a].split('transcript_id "')[1].split('"')[0]
        tb = lines[b].split('transcript_id "')[1].split('"')[0]
        if ta == tb:
            i, tid = b, tb
            break
    c = lines[i].split("\t")
    c[7] = str((int(c[7]) + 1) % 3)
    lines[i] = "\t".join(c)
    gtf = tmp_path / "phase.gtf"
    gtf.write_text("".join(lines))
    out = tmp_path / "o"
    res = _pre(genotool_cli, out, gtf, tiny_sim / "genome.fa")
    err = _err_line(res)
    assert res.exit_code == 2 and f"line {i + 1}" in err and tid in err and "phase" in err
    assert _no_output(out)


def _copy_genome(tiny_sim, tmp_path, edit):
    seqs = {}
    name = None
    for line in (tiny_sim / "genome.fa").read_text().splitlines():
        if line.startswith(">"):
            name = line[1:]
            seqs[name] = []
        else:
            seqs[name].append(line)
    seqs = {k: list("".join(v)) for k, v in seqs.items()}
    edit(seqs)
    fa = tmp_path / "g.fa"
    fa.write_text("".join(f">{k}\n" + "".join(v) + "\n" for k, v in seqs.items()))
    return fa


def test_transcript_with_an_in_frame_stop_is_kept_counted_and_warned_once(genotool_cli, tiny_sim, tmp_path):
    from genotool.genome.gtf import iter_chromosomes

    t = next(t for _, txs in iter_chromosomes(tiny_sim / "annotation.gtf") for t in txs
             if t.chrom in ("chr1", "chr2") and t.strand == "+" and t.cds)
    s, e = sorted(t.cds)[0]
    pos = s + 3 * ((e - s) // 6)                # a codon in the middle of the first coding part

    def edit(seqs):
        seqs[t.chrom][pos:pos + 3] = list("TAA")

    fa = _copy_genome(tiny_sim, tmp_path, edit)
    out = tmp_path / "o"
    res = _pre(genotool_cli, out, tiny_sim / "annotation.gtf", fa)
    assert res.exit_code == 0, res.stderr
    warn = [l for l in res.stderr.splitlines() if "not valid gene models" in l]
    assert len(warn) == 1 and "in frame stop 1" in warn[0]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["runtime"]["transcripts_with_problems"] == {"in_frame_stop": 1}
    assert t.transcript_id in (out / "train_genes.gtf").read_text()         # kept: it is the annotation


def test_fasta_with_iupac_codes_reads_them_as_n_and_warns_once(genotool_cli, tiny_sim, tmp_path):
    def edit(seqs):
        seqs["chr1"][100:104] = list("WRYK")
        seqs["chr3"][25000] = "S"

    fa = _copy_genome(tiny_sim, tmp_path, edit)
    out = tmp_path / "o"
    res = _pre(genotool_cli, out, tiny_sim / "annotation.gtf", fa)
    assert res.exit_code == 0, res.stderr
    warn = [l for l in res.stderr.splitlines() if "IUPAC" in l]
    assert len(warn) == 1 and "5 IUPAC ambiguity codes" in warn[0] and "read as N" in warn[0]
    assert json.loads((out / "metadata.json").read_text())["runtime"]["iupac_codes"] == {"K": 1, "R": 1, "S": 1,
                                                                                        "W": 1, "Y": 1}

    def junk(seqs):
        seqs["chr2"][500] = "@"

    d = tmp_path / "j"
    d.mkdir()
    fa = _copy_genome(tiny_sim, d, junk)
    res = _pre(genotool_cli, tmp_path / "o2", tiny_sim / "annotation.gtf", fa)
    assert res.exit_code == 2 and "'@'" in _err_line(res) and _no_output(tmp_path / "o2")


def test_predict_on_a_region_shorter_than_one_window(genotool_cli, sensors_model, tiny_sim, tmp_path):
    out = tmp_path / "p"
    res = genotool_cli("gencode", "predict", "--fasta", str(tiny_sim / "genome.fa"), "--model", str(sensors_model),
                       "-o", str(out), "--region", "chr3:1001-6000")
    err = _err_line(res)
    assert res.exit_code == 2 and "shorter than one window" in err and "--chunk-size" in err
    assert _no_output(out)
    res = genotool_cli("gencode", "predict", "--fasta", str(tiny_sim / "genome.fa"), "--model", str(sensors_model),
                       "-o", str(out), "--region", "chr3:35001-45000", "--chunk-size", "5000")
    assert res.exit_code == 2 and "outside" in _err_line(res) and _no_output(out)


# ---------------------------------------------------------------------------------------------
# real data: every complete gene predicted on Arabidopsis is a valid ORF

ATHA = Path("/work/data/atha")


@pytest.mark.slow
@pytest.mark.skipif(not (ATHA / "chr1.fa").is_file() or not (ATHA / "chr1.gtf.gz").is_file(),
                    reason="needs the Arabidopsis chromosome 1 in /work/data/atha")
def test_real_predictions_are_valid_orfs(genotool_cli, tmp_path):
    """Sensors fitted on 2 Mb of chromosome 1, genes predicted on the next 500 kb: every complete
    gene is a valid gene model, and at most 1% hold a stop codon split by an intron (none can)."""
    fa = tmp_path / "chr1.fa"
    fa.symlink_to(ATHA / "chr1.fa")
    data = tmp_path / "d"
    res = genotool_cli("gencode", "preprocess", "--gtf", str(ATHA / "chr1.gtf.gz"), "--fasta", str(fa), "-o",
                       str(data), "--train-regions", "NC_003070.9:3000001-5000000", "--val-regions",
                       "NC_003070.9:5000001-5200000", "--test-regions", "NC_003070.9:5200001-5700000")
    assert res.exit_code == 0, res.stderr
    m = tmp_path / "m"
    res = genotool_cli("gencode", "train", "--data", str(data), "-o", str(m), "--features", "sensors",
                       "--epochs", "1")
    assert res.exit_code == 0, res.stderr
    p = tmp_path / "p"
    res = genotool_cli("gencode", "predict", "--fasta", str(fa), "--model", str(m), "-o", str(p), "--region",
                       "NC_003070.9:5200001-5700000")
    assert res.exit_code == 0, res.stderr
    import pysam

    codes = encode(pysam.FastaFile(str(fa)).fetch("NC_003070.9"))
    genes = read_gene_models(p / "predictions.gtf")
    assert len(genes) > 50
    bad = [(g.transcript_id, gene_problems(g, codes)) for g in genes if gene_problems(g, codes)]
    assert not bad, bad[:3]
