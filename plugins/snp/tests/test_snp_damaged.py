"""Damaged inputs of issue 27 (D1-D7): each is refused with one line naming the file, exit 2,
nothing left behind, in ``preprocess`` and (where it applies) ``predict``; split multi-allelic
records are matched by (chrom, pos, ref, alt) in both."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from genotool.testing import invoke

TINY_SET = ["--set", "embed_dim=4", "--set", "channels=4,8", "--set", "window=8", "--set", "layers=2"]


def _lines(sim):
    lines = gzip.open(sim / "genotypes.vcf.gz", "rt").read().splitlines()
    return [ln for ln in lines if ln.startswith("#")], [ln for ln in lines if not ln.startswith("#")]


def _write(path, head, body):
    path.write_text("\n".join(head + body) + "\n")
    return path


def _pre(vcf, samples, out, *extra):
    return invoke(["snp", "preprocess", "--vcf", str(vcf), "--samples", str(samples), "-o", str(out),
                   "--threads", "1", *extra])


def _predict(vcf, model, out, *extra):
    return invoke(["snp", "predict", "--vcf", str(vcf), "-m", str(model), "-o", str(out), "--threads", "1", *extra])


def _refused(r, out, *words):
    """One ``genotool: error:`` line, last, naming ``words``; exit 2; no output, no .partial."""
    assert r.exit_code == 2, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("genotool: error: "), r.stderr
    for w in words:
        assert w in last, last
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()


def _edit_calls(body, rows, fn):
    """Apply ``fn(call) -> call`` to every sample call of the records at ``rows``."""
    out = list(body)
    for i in rows:
        f = out[i].split("\t")
        out[i] = "\t".join(f[:9] + [fn(c) for c in f[9:]])
    return out


@pytest.fixture(scope="module")
def model(pre, tmp_path_factory):
    out = tmp_path_factory.mktemp("snpmodel") / "m"
    r = invoke(["snp", "train", "-d", str(pre), "-o", str(out), "--epochs", "1", "--threads", "1", *TINY_SET])
    assert r.exit_code == 0, r.stderr
    return out


# D1 ------------------------------------------------------------------------------------------

def test_d1_gt_declared_but_absent_from_records(sim, model, tmp_path):
    head, body = _lines(sim)
    assert any(ln.startswith("##FORMAT=<ID=GT") for ln in head)
    head = head[:-1] + ['##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">'] + head[-1:]
    nogt = [ln.split("\t")[:8] + ["DP"] + ["7"] * (len(ln.split("\t")) - 9) for ln in body]
    vcf = _write(tmp_path / "dponly.vcf", head, ["\t".join(f) for f in nogt])
    _refused(_pre(vcf, sim / "samples.tsv", tmp_path / "out"), tmp_path / "out", "dponly.vcf", "GT")
    _refused(_predict(vcf, model, tmp_path / "p"), tmp_path / "p", "dponly.vcf", "GT")
    # one record without GT among good ones: named by position
    f = body[10].split("\t")
    body2 = body[:10] + ["\t".join(f[:8] + ["DP"] + ["7"] * (len(f) - 9))] + body[11:]
    vcf2 = _write(tmp_path / "onedp.vcf", head, body2)
    _refused(_pre(vcf2, sim / "samples.tsv", tmp_path / "out"), tmp_path / "out", "onedp.vcf", f"{f[0]}:{f[1]}", "GT")


# D2, D3 --------------------------------------------------------------------------------------

def test_d2_binary_or_gzipped_sample_table(sim, tmp_path):
    _refused(_pre(sim / "genotypes.vcf.gz", sim / "genotypes.vcf.gz", tmp_path / "out"), tmp_path / "out",
             "--samples", "genotypes.vcf.gz", "gzip")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    _refused(_pre(sim / "genotypes.vcf.gz", blob, tmp_path / "out"), tmp_path / "out", "--samples", "blob.bin")
    latin = tmp_path / "latin1.tsv"
    latin.write_bytes(b"sample\tpopulation\tphenotype\n" + "tsk_0\tAFR\t0.1\xe9\n".encode("latin-1"))
    _refused(_pre(sim / "genotypes.vcf.gz", latin, tmp_path / "out"), tmp_path / "out", "--samples", "latin1.tsv",
             ":2")


def test_d3_sample_table_with_a_header_only(sim, tmp_path):
    table = tmp_path / "head.tsv"
    table.write_text((sim / "samples.tsv").read_text().splitlines()[0] + "\n")
    _refused(_pre(sim / "genotypes.vcf.gz", table, tmp_path / "out"), tmp_path / "out", "--samples", "head.tsv",
             "no sample rows")


# D4 ------------------------------------------------------------------------------------------

def test_d4_allele_index_out_of_range(sim, model, tmp_path):
    head, body = _lines(sim)
    f = body[7].split("\t")
    body[7] = "\t".join(f[:9] + ["0|3"] + f[10:])
    vcf = _write(tmp_path / "idx.vcf", head, body)
    for r, out in ((_pre(vcf, sim / "samples.tsv", tmp_path / "out"), tmp_path / "out"),
                   (_predict(vcf, model, tmp_path / "p"), tmp_path / "p")):
        _refused(r, out, "idx.vcf", f"{f[0]}:{f[1]}", "allele 3", "1 ALT")


# D5 ------------------------------------------------------------------------------------------

def test_d5_unsorted_records_refused_by_preprocess_accepted_by_predict(sim, model, tmp_path):
    head, body = _lines(sim)
    swapped = body[:20] + [body[21], body[20]] + body[22:]
    vcf = _write(tmp_path / "unsorted.vcf", head, swapped)
    p21 = body[21].split("\t")[1]
    p20 = body[20].split("\t")[1]
    _refused(_pre(vcf, sim / "samples.tsv", tmp_path / "out"), tmp_path / "out", "unsorted.vcf",
             f"1:{p20} after 1:{p21}", "bcftools sort")
    # a contig that comes back after another is unsorted too
    other = [ln.replace("1\t", "2\t", 1) for ln in body[30:40]]
    head2 = head[:-1] + ["##contig=<ID=2>"] + head[-1:]
    vcf2 = _write(tmp_path / "contigs.vcf", head2, body[:30] + other + body[40:])
    _refused(_pre(vcf2, sim / "samples.tsv", tmp_path / "out"), tmp_path / "out", "contigs.vcf", "bcftools sort")
    # predict matches by site: order does not matter, the predictions are those of the sorted file
    assert _predict(vcf, model, tmp_path / "p").exit_code == 0
    assert _predict(sim / "genotypes.vcf.gz", model, tmp_path / "q").exit_code == 0
    a, b = ((tmp_path / d / "predictions.tsv").read_text() for d in ("p", "q"))
    assert a == b


# D6 ------------------------------------------------------------------------------------------

def _split_multiallelic(body):
    """Every 4th record gets a second biallelic record at its position (another ALT, the next
    record's genotypes), as ``bcftools norm -m-`` writes a tri-allelic site."""
    out, n = [], 0
    for i, ln in enumerate(body[:-1]):
        out.append(ln)
        if i % 4 == 0:
            f, g = ln.split("\t"), body[i + 1].split("\t")
            alt2 = next(b for b in "ACGT" if b not in (f[3], f[4]))
            out.append("\t".join(f[:4] + [alt2] + f[5:9] + g[9:]))
            n += 1
    return out + body[-1:], n


def test_d6_split_multiallelic_sites_match_by_alleles(sim, tmp_path):
    head, body = _lines(sim)
    split, n = _split_multiallelic(body)
    vcf = _write(tmp_path / "split.vcf", head, split)
    r = _pre(vcf, sim / "samples.tsv", tmp_path / "pre")
    assert r.exit_code == 0, r.stderr
    snps = (tmp_path / "pre" / "snps.tsv").read_text().splitlines()[1:]
    pos = [ln.split("\t")[2] for ln in snps]
    assert len(pos) - len(set(pos)) > 10        # both records of many split sites were kept
    r = invoke(["snp", "train", "-d", str(tmp_path / "pre"), "-o", str(tmp_path / "m"), "--epochs", "1",
                "--threads", "1", *TINY_SET])
    assert r.exit_code == 0, r.stderr
    r = _predict(vcf, tmp_path / "m", tmp_path / "p")
    assert r.exit_code == 0, r.stderr
    meta = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert meta["runtime"]["sites_missing"] == 0
    # an ALT the model never saw at a model position is "other alleles", not the model's site
    dup = next(ln.split("\t") for a, ln in zip(snps, snps[1:]) if a.split("\t")[2] == ln.split("\t")[2])
    r = next(i for i, ln in enumerate(split) if ln.split("\t")[1] == dup[2] and ln.split("\t")[4] == dup[4])
    f = split[r].split("\t")
    other = next(b for b in "ACGT" if b not in [ln.split("\t")[4] for ln in split[r - 1:r + 1]] + [f[3]])
    changed = split[:r] + ["\t".join(f[:4] + [other] + f[5:])] + split[r + 1:]
    vcf2 = _write(tmp_path / "other.vcf", head, changed)
    r = _predict(vcf2, tmp_path / "m", tmp_path / "p2", "--max-missing-fraction", "0.5")
    assert r.exit_code == 0, r.stderr
    assert "(1 with other alleles)" in r.stderr


def test_d6_exact_duplicate_records_are_refused(sim, model, tmp_path):
    head, body = _lines(sim)
    f = body[12].split("\t")
    vcf = _write(tmp_path / "dup.vcf", head, body[:13] + [body[12]] + body[13:])
    hint = "bcftools norm --rm-dup exact"
    _refused(_pre(vcf, sim / "samples.tsv", tmp_path / "out"), tmp_path / "out", "dup.vcf", f"{f[0]}:{f[1]}", hint)
    _refused(_predict(vcf, model, tmp_path / "p"), tmp_path / "p", "dup.vcf", f"{f[0]}:{f[1]}", hint)


# D7 ------------------------------------------------------------------------------------------

def test_d7_haploid_calls_inside_diploid_records(sim, model, tmp_path):
    head, body = _lines(sim)
    f = body[9].split("\t")
    body = _edit_calls(body, range(9, 60), lambda c: c.split("|")[0])   # every sample haploid here
    vcf = _write(tmp_path / "hap.vcf", head, body)
    calls = 51 * (len(f) - 9)
    for r, out in ((_pre(vcf, sim / "samples.tsv", tmp_path / "out"), tmp_path / "out"),
                   (_predict(vcf, model, tmp_path / "p"), tmp_path / "p")):
        _refused(r, out, "hap.vcf", f"{calls} haploid", f"{f[0]}:{f[1]}", "bcftools +fixploidy")


def test_d7_a_lone_dot_is_missing_not_haploid(sim, tmp_path):
    head, body = _lines(sim)
    k = max(range(50), key=lambda i: min(body[i].count("1|") + body[i].count("|1"), body[i].count("0|")))
    f = body[k].split("\t")
    body[k] = "\t".join(f[:9] + ["."] * 5 + f[14:])       # "." for "./." as many writers put it
    vcf = _write(tmp_path / "dot.vcf", head, body)
    r = _pre(vcf, sim / "samples.tsv", tmp_path / "out", "--maf", "0")
    assert r.exit_code == 0, r.stderr
    info = json.loads((tmp_path / "out" / "data.json").read_text())
    assert info["missing_calls"] == 5
    g = np.load(tmp_path / "out" / "genotypes.npy")
    assert (g == -1).any() and g.max() <= 1


def test_htslib_lines_do_not_precede_our_error(sim, tmp_path):
    """A file htslib cannot open: exactly one stderr line, ours (htslib's [E::...] lines are
    written to the process's stderr by C code, so this runs in a subprocess)."""
    import os
    import subprocess
    import sys

    junk = tmp_path / "junk.vcf.gz"
    junk.write_bytes(gzip.compress(os.urandom(3000)))
    res = subprocess.run([sys.executable, "-m", "genotool", "snp", "preprocess", "--vcf", str(junk), "--samples",
                          str(sim / "samples.tsv"), "-o", str(tmp_path / "out")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genotool: error: --vcf: ") and "junk.vcf.gz" in lines[0], lines
