"""Each bad input: one clear line naming the file or option, exit 2, no partial output."""

import gzip
import json

import pytest

from genotool.testing import invoke


def _vcf_lines(sim):
    return gzip.open(sim / "genotypes.vcf.gz", "rt").read().splitlines()


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def _pre(vcf, samples, out, *extra):
    return invoke(["snp", "preprocess", "--vcf", str(vcf), "--samples", str(samples), "-o", str(out),
                   "--threads", "1", *extra])


def _one_line_error(r, *words):
    assert r.exit_code == 2, r.stderr
    err = [ln for ln in r.stderr.strip().splitlines() if "error" in ln]
    assert len(err) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in err[0], err[0]


def test_vcf_without_gt(sim, tmp_path):
    lines = [ln for ln in _vcf_lines(sim) if not ln.startswith("##FORMAT")]
    body = [ln if ln.startswith("##") else "\t".join(ln.split("\t")[:8]) for ln in lines]
    vcf = _write(tmp_path / "nogt.vcf", body)
    r = _pre(vcf, sim / "samples.tsv", tmp_path / "out")
    _one_line_error(r, "nogt.vcf", "GT")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_table_names_samples_absent_from_vcf(sim, tmp_path):
    rows = (sim / "samples.tsv").read_text().splitlines() + ["GHOST_1\tAFR\t0.1"]
    table = _write(tmp_path / "s.tsv", rows)
    r = _pre(sim / "genotypes.vcf.gz", table, tmp_path / "out")
    _one_line_error(r, "s.tsv", "1 samples are not in", "GHOST_1")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_vcf_samples_absent_from_table_are_dropped(sim, tmp_path):
    rows = (sim / "samples.tsv").read_text().splitlines()
    table = _write(tmp_path / "s.tsv", rows[:-2])
    r = _pre(sim / "genotypes.vcf.gz", table, tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert "2 VCF samples are not in" in r.stderr
    assert json.loads((tmp_path / "out" / "data.json").read_text())["samples"] == 46


def test_unphased_with_phased_required(sim, tmp_path):
    lines = [ln if ln.startswith("#") else ln.replace("|", "/") for ln in _vcf_lines(sim)]
    vcf = _write(tmp_path / "unphased.vcf", lines)
    r = _pre(vcf, sim / "samples.tsv", tmp_path / "out", "--phased")
    _one_line_error(r, "unphased.vcf", "unphased", "--phased")
    assert not (tmp_path / "out").exists()
    # without --phased: dosage with a warning
    r = _pre(vcf, sim / "samples.tsv", tmp_path / "dos")
    assert r.exit_code == 0 and "dosage" in r.stderr
    assert json.loads((tmp_path / "dos" / "data.json").read_text())["channels"] == 1


def test_multiallelic_and_indels_are_skipped_and_counted(sim, tmp_path):
    lines = _vcf_lines(sim)
    head = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    f = body[5].split("\t")
    multi = "\t".join(f[:4] + [f[4] + ",T" if f[4] != "T" else f[4] + ",G"] + f[5:])
    g = body[6].split("\t")
    indel = "\t".join(g[:3] + [g[3], g[4] + "AC"] + g[5:])
    vcf = _write(tmp_path / "mixed.vcf", head + body[:5] + [multi, indel] + body[7:])
    r = _pre(vcf, sim / "samples.tsv", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    info = json.loads((tmp_path / "out" / "data.json").read_text())
    assert info["multiallelic_skipped"] == 1 and info["non_snp_skipped"] == 1
    assert "skipped 1 multi-allelic and 1 non-SNP" in r.stderr
    # only such records: all filtered out -> error
    vcf2 = _write(tmp_path / "none.vcf", head + [multi, indel])
    r = _pre(vcf2, sim / "samples.tsv", tmp_path / "out2")
    _one_line_error(r, "none.vcf", "filtered out")
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out2.partial").exists()


def test_label_with_too_few_samples(sim, tmp_path):
    rows = (sim / "samples.tsv").read_text().splitlines()
    f = rows[1].split("\t")
    rows[1] = "\t".join([f[0], "RARE", f[2]])
    table = _write(tmp_path / "s.tsv", rows)
    r = _pre(sim / "genotypes.vcf.gz", table, tmp_path / "out")
    _one_line_error(r, "s.tsv", "RARE", "at least 3")
    assert not (tmp_path / "out").exists()


def test_truncated_vcf_gz(sim, tmp_path):
    data = (sim / "genotypes.vcf.gz").read_bytes()
    bad = tmp_path / "cut.vcf.gz"
    bad.write_bytes(data[: len(data) // 2])
    r = _pre(bad, sim / "samples.tsv", tmp_path / "out")
    _one_line_error(r, "cut.vcf.gz")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_non_numeric_phenotype(sim, tmp_path):
    rows = (sim / "samples.tsv").read_text().splitlines()
    f = rows[3].split("\t")
    rows[3] = "\t".join(f[:2] + ["tall"])
    table = _write(tmp_path / "s.tsv", rows)
    r = _pre(sim / "genotypes.vcf.gz", table, tmp_path / "pre")
    assert r.exit_code == 0, r.stderr
    r = invoke(["snp", "train", "-d", str(tmp_path / "pre"), "-o", str(tmp_path / "m"), "--task", "phenotype",
                "--phenotype-type", "quantitative", "--epochs", "1"])
    _one_line_error(r, "samples.tsv", "phenotype", "numeric", "tall")
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()


def test_bad_options(pre, tmp_path):
    r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / "m"), "--architecture", "rnn"])
    _one_line_error(r, "--architecture")
    r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / "m"), "--set", "nope=1"])
    _one_line_error(r, "--set nope")
    r = invoke(["snp", "train", "-d", str(pre), "-o", str(tmp_path / "m"), "--preset", "huge"])
    _one_line_error(r, "--preset")
    assert not (tmp_path / "m").exists()
