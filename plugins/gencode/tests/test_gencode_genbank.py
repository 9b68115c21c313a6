"""GenBank input (AUGUSTUS training-set style), single-split preprocessing, gene-finder accuracy
levels and the AUGUSTUS row of `compare`."""

import json
import shutil

import numpy as np
import pytest

from genotool.genome.gtf import iter_chromosomes, pick_one_per_gene
from genotool_gencode.genelevel import GeneLevelMetrics, exons_and_genes
from genotool_gencode.labels import FIRST_EXON, FIRST_INTRON, INTERNAL_EXON, LAST_EXON, START_CODON, STOP_CODON

FLANK = 300


def _records(sim, genome):
    """Simulated coding genes as AUGUSTUS-style records: the gene with FLANK bp each side, CDS
    without the stop codon (Biopython writes the GenBank text); plus one record without CDS."""
    from Bio.Seq import Seq
    from Bio.SeqFeature import CompoundLocation, SeqFeature, SimpleLocation
    from Bio.SeqRecord import SeqRecord

    out, truth = [], {}
    for chrom, txs in iter_chromosomes(sim / "annotation.gtf"):
        for t in pick_one_per_gene(txs):
            if not t.cds or len(t.stop_codons) != 1:
                continue
            lo, hi = max(0, t.start - FLANK), min(len(genome[chrom]), t.end + FLANK)
            strand = 1 if t.strand == "+" else -1
            parts = [SimpleLocation(s - lo, e - lo, strand=strand) for s, e in sorted(t.cds)]
            if strand == -1:
                parts.reverse()
            loc = parts[0] if len(parts) == 1 else CompoundLocation(parts)
            name = f"{chrom}_{lo}-{hi}"
            rec = SeqRecord(Seq(genome[chrom][lo:hi]), id=name, name=name,
                            annotations={"molecule_type": "DNA"})
            # AUGUSTUS reads a record's extent from its 'source' feature
            rec.features = [SeqFeature(SimpleLocation(0, hi - lo), type="source"),
                            SeqFeature(loc, type="CDS", qualifiers={"gene": [t.gene_id]})]
            out.append(rec)
            truth[name] = (t, lo)
    empty = SeqRecord(Seq(genome["chr1"][:800]), id="no_cds", name="no_cds", annotations={"molecule_type": "DNA"})
    return out, empty, truth


@pytest.fixture(scope="module")
def gb(tiny_sim, tiny_genome, tmp_path_factory):
    from Bio import SeqIO

    recs, empty, truth = _records(tiny_sim, tiny_genome)
    d = tmp_path_factory.mktemp("gb")
    SeqIO.write([*recs[:-3], empty], d / "train.gb", "genbank")
    SeqIO.write(recs[-3:], d / "test.gb", "genbank")
    return d, truth


def test_genbank_records_become_labelled_chunks(genotool_cli, gb, tmp_path):
    d, truth = gb
    out = tmp_path / "data"
    res = genotool_cli("gencode", "preprocess", "--genbank", str(d / "train.gb"), "--test-genbank",
                       str(d / "test.gb"), "-o", str(out), "--chunk-size", "20000", "--val-fraction", "0.25")
    assert res.exit_code == 0, res.stderr
    rt = json.loads((out / "metadata.json").read_text())["runtime"]
    assert rt["records_without_cds"] == 1 and rt["stop_codons_canonical"] == rt["genes"] == len(truth)
    assert rt["genes_plus"] and rt["genes_minus"]
    assert rt["splits"]["val"]["records"] >= 1 and rt["splits"]["test"]["records"] == 3
    assert (out / "genbank" / "train.gb").is_file() and (out / "genbank" / "test.gb").is_file()
    seen = 0
    for split in ("train", "val", "test"):
        for line in open(out / f"{split}.jsonl"):
            c = json.loads(line)
            if c["chrom"] == "no_cds":
                assert set(c["labels"]) == {0}
                continue
            t, lo = truth[c["chrom"]]
            lab = np.array(c["labels"])
            (ss, se), = t.stop_codons
            assert np.all(lab[ss - lo:se - lo] == STOP_CODON)         # the 3 bases after the CDS
            codon = [(s - lo, e - lo) for s, e in t.start_codons]
            assert all(np.all(lab[s:e] == START_CODON) for s, e in codon)
            coding = np.isin(lab, (FIRST_EXON, INTERNAL_EXON, LAST_EXON, START_CODON))
            want = np.zeros(len(lab), bool)
            for s, e in t.cds:
                want[s - lo:e - lo] = True
            assert np.array_equal(coding, want)
            minus = np.zeros(len(lab), bool)
            for a, b in c["minus"]:
                minus[a:b] = True
            assert np.all(minus[lab > 0]) == (t.strand == "-") and not minus[lab == 0].any()
            if len(t.cds) > 1:
                assert FIRST_INTRON in set(c["labels"])
            seen += 1
    assert seen == len(truth)


def _gb_text(gb_dir):
    return (gb_dir / "test.gb").read_text().split("//\n")[0] + "//\n"


@pytest.mark.parametrize("case, expect", [
    ("no_origin", "no ORIGIN sequence"),
    ("outside", "outside the record"),
    ("overlap", "overlap"),
    ("mixed", "not both"),
    # issue 27 D13: a file cut inside its last record's sequence, a LOCUS length that disagrees
    ("cut", "is cut"),
    ("locus_length", "the LOCUS line says"),
    # D14: characters that are no base inside the sequence
    ("junk", "not a DNA base"),
    # D15: a CDS part on another record; a location Biopython cannot read (was an AttributeError)
    ("remote", "lies on another record"),
    ("bad_location", "cannot be read"),
])
def test_bad_genbank_input(genotool_cli, gb, tiny_sim, tmp_path, case, expect):
    import re

    text = _gb_text(gb[0])
    length = int(re.search(r"LOCUS\s+\S+\s+(\d+) bp", text).group(1))
    cds = re.search(r"(?ms)^     CDS {13}.*?(?=^ +/gene)", text)     # the location, wrapped or not
    if case == "no_origin":
        text = text[:text.index("ORIGIN")] + "//\n"
    elif case == "outside":
        text = text.replace(cds.group(0), f"     CDS             join(10..20,30..{length + 50})\n")
    elif case == "overlap":
        text = text.replace(cds.group(0), "     CDS             join(10..200,150..300)\n")
    elif case == "cut":
        # two records; the second loses its tail (and its '//') well after its CDS
        second = text.replace(text.split()[1], "rec2", 1)
        text = text + second[:second.rindex("//") - 200]
    elif case == "locus_length":
        text = re.sub(r"(LOCUS\s+\S+\s+)\d+( bp)", lambda m: f"{m.group(1)}{length + 7}{m.group(2)}", text, count=1)
    elif case == "junk":
        head, tail = text.split("ORIGIN", 1)
        line = tail.splitlines()[1]
        text = head + "ORIGIN" + tail.replace(line, line[:12] + "@#" + line[14:], 1)
    elif case == "remote":
        text = text.replace(cds.group(0), "     CDS             join(AB000001.1:1..100,200..300)\n")
    elif case == "bad_location":
        text = text.replace(cds.group(0), "     CDS             join(10..20,3x0..400)\n")
    f = tmp_path / "bad.gb"
    f.write_text(text)
    out = tmp_path / "o"
    extra = ("--gtf", str(tiny_sim / "annotation.gtf")) if case == "mixed" else ()
    res = genotool_cli("gencode", "preprocess", "--genbank", str(f), "--test-genbank", str(f) + ".t", "-o",
                       str(out), *extra) if case == "mixed" else \
        genotool_cli("gencode", "preprocess", "--genbank", str(f), "--split", "test", "-o", str(out))
    assert res.exit_code == 2
    lines = [x for x in res.stderr.splitlines() if x.startswith("genotool: error:")]
    assert len(lines) == 1 and expect in lines[0], res.stderr
    assert not out.exists() and not out.with_name("o.partial").exists()


def test_single_split_gtf_and_validate_on_it(genotool_cli, tiny_sim, tiny_data, tmp_path):
    """--split test: every contig to one split (evaluation-only data); a trained model validates
    on it and reports the gene-finder levels."""
    one = tmp_path / "one"
    res = genotool_cli("gencode", "preprocess", "--gtf", str(tiny_sim / "annotation.gtf"), "--fasta",
                       str(tiny_sim / "genome.fa"), "-o", str(one), "--split", "test", "--chunk-size", "2000",
                       "--overlap", "100")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in one.glob("*.jsonl")) == ["test.jsonl"]
    m = tmp_path / "m"
    res = genotool_cli("gencode", "train", "--data", str(tiny_data), "-o", str(m), "--states", "strand",
                       "--head", "linear", "--hidden-dim", "8", "--num-layers", "1", "--epochs", "1", "--max-steps-per-epoch", "1",
                       "--crop-length", "200", "--batch-size", "2", "--max-val-chunks", "1", "--threads", "1")
    assert res.exit_code == 0, res.stderr
    v = tmp_path / "v"
    res = genotool_cli("gencode", "validate", "--data", str(one), "--model", str(m), "-o", str(v),
                       "--max-chunks", "3", "--threads", "1")
    assert res.exit_code == 0, res.stderr
    met = json.loads((v / "metrics.json").read_text())
    for k in ("nucleotide_sensitivity", "exon_specificity", "gene_sensitivity", "genes_true"):
        assert k in met


def test_gene_levels_count_exact_exons_and_whole_genes():
    #            gene 1: two exons          gene 2: one exon
    true = np.array([0, 9, 1, 1, 4, 4, 3, 10, 0, 0, 1, 1, 1, 10, 0])
    pred = np.array([0, 9, 1, 1, 4, 4, 4, 3, 10, 0, 1, 1, 1, 10, 0])   # gene 1's last exon 1 bp late
    assert exons_and_genes(true) == ([(1, 4), (6, 7), (10, 13)], [((1, 4), (6, 7)), ((10, 13),)])
    m = GeneLevelMetrics()
    m.update(true, pred)
    s = m.summary()
    assert s["nucleotide_sensitivity"] == pytest.approx(6 / 7) == s["nucleotide_specificity"]
    assert (s["exons_true"], s["exons_pred"], s["exons_correct"]) == (3, 3, 2)
    assert (s["genes_true"], s["genes_pred"], s["genes_correct"]) == (2, 2, 1)
    m.update(true, np.zeros_like(true))      # nothing predicted: sensitivity drops, specificity stays
    s = m.summary()
    assert s["gene_sensitivity"] == 0.25 and s["gene_specificity"] == 0.5


def test_augustus_output_parsing(tmp_path):
    from genotool_gencode.augustus import parse_own_evaluation
    from genotool_gencode.genes.gff import read_gene_models

    text = ("nucleotide level |       0.975 |        0.89 |\n"
            "exon level |    511 |    472 |  396 | ------------------ | ------------------ |       0.839 |"
            "       0.775 |\n"
            "gene level |   118 |   100 |   53 |   65 |   47 |        0.53 |       0.449 |\n")
    assert parse_own_evaluation(text) == {"nucleotide": {"sensitivity": 0.975, "specificity": 0.89},
                                          "exon": {"sensitivity": 0.839, "specificity": 0.775},
                                          "gene": {"sensitivity": 0.53, "specificity": 0.449}}
    gff = tmp_path / "a.gff"
    gff.write_text(
        "r1\tdatabase\tCDS\t2\t4\t.\t+\t0\ttranscript_id \"x\"; gene_id \"x\";\n"       # echoed annotation
        "r1\tAUGUSTUS\tstart_codon\t11\t13\t.\t+\t0\ttranscript_id \"g1.t1\"; gene_id \"g1\";\n"
        "r1\tAUGUSTUS\tCDS\t11\t20\t.\t+\t0\ttranscript_id \"g1.t1\"; gene_id \"g1\";\n"
        "r1\tAUGUSTUS\tCDS\t31\t40\t.\t+\t2\ttranscript_id \"g1.t1\"; gene_id \"g1\";\n"
        "r1\tAUGUSTUS\tstop_codon\t41\t43\t.\t+\t0\ttranscript_id \"g1.t1\"; gene_id \"g1\";\n"
        "r1\tAUGUSTUS\tCDS\t61\t70\t.\t-\t0\ttranscript_id \"g2.t1\"; gene_id \"g2\";\n")   # partial: no codons
    genes = sorted(read_gene_models(gff, source="AUGUSTUS"), key=lambda g: g.start)
    # the stop codon joins the 3' CDS part: coding exons as annotations count them
    assert [(g.transcript_id, g.strand, g.exons) for g in genes] == [("g1.t1", "+", [(10, 20), (30, 43)]),
                                                                   ("g2.t1", "-", [(60, 70)])]


def test_augustus_row_says_why_it_is_missing(genotool_cli, tiny_data, tmp_path, monkeypatch):
    """Without the binaries, or without a species of that name, the row says why it is missing."""
    from genotool_gencode import augustus

    assert augustus.why_missing(tiny_data, "no_such_species") is not None
    js = tmp_path / "c.json"
    res = genotool_cli("gencode", "compare", "--data", str(tiny_data), "-o", str(tmp_path / "c"), "--models", "",
                       "--augustus-species", "no_such_species", "--json", str(js))
    assert res.exit_code == 0, res.stderr
    (row,) = json.loads(js.read_text())["rows"]
    assert row["model"] == "augustus-no_such_species" and ("no species" in row["missing"]
                                                           or "not installed" in row["missing"])
    monkeypatch.setattr(augustus.shutil, "which", lambda name: None)
    assert "not installed" in augustus.why_missing(tiny_data)


@pytest.mark.skipif(shutil.which("augustus") is None or shutil.which("etraining") is None,
                    reason="augustus/etraining not installed")
def test_augustus_row_scored_by_our_code_matches_its_own_evaluation(genotool_cli, gb, tmp_path):
    d, _ = gb
    data = tmp_path / "data"
    res = genotool_cli("gencode", "preprocess", "--genbank", str(d / "train.gb"), "--test-genbank",
                       str(d / "test.gb"), "-o", str(data), "--chunk-size", "20000")
    assert res.exit_code == 0, res.stderr
    js = tmp_path / "c.json"
    res = genotool_cli("gencode", "compare", "--data", str(data), "-o", str(tmp_path / "c"), "--models", "",
                       "--augustus", "--json", str(js))
    assert res.exit_code == 0, res.stderr
    (row,) = json.loads(js.read_text())["rows"]
    own = row["augustus_own_evaluation"]
    assert set(own) == {"nucleotide", "exon", "gene"}
    for level in ("nucleotide", "exon", "gene"):
        for what in ("sensitivity", "specificity"):
            assert row[f"{level}_{what}"] == pytest.approx(own[level][what], abs=0.02), (level, what)
    assert (tmp_path / "c" / "augustus" / "augustus.gff").is_file()


@pytest.mark.parametrize("name", ["bilstm", "mamba"])
def test_encoders_read_a_padded_sequence_as_its_unpadded_self(name):
    """Records of unequal length share a batch: the reverse direction must start at each
    record's own end (it used to run over the padding first)."""
    import torch

    from genotool_gencode.encoders import build_encoder

    torch.manual_seed(0)
    enc = build_encoder(name, hidden_dim=8, num_layers=1, d_state=4).eval()
    x = torch.randint(0, 4, (2, 50))
    x[1, 20:] = 4
    with torch.no_grad():
        both = enc(x, torch.tensor([50, 20]))
        alone = enc(x[1:, :20], torch.tensor([20]))
        full = enc(x[:1], torch.tensor([50]))
    assert torch.allclose(both[1, :20], alone[0], atol=1e-5)
    assert torch.allclose(both[0], full[0], atol=1e-5)
