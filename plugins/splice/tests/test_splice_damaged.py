"""Damaged input (issue 27, D9-D12): refused whole before anything is scored, one line, exit 2,
nothing left behind; the base-score cache keyed by content."""

from __future__ import annotations

import gzip
import shutil

import pyarrow.parquet as pq
import pytest

from genotool.testing import invoke


@pytest.fixture
def no_scoring(monkeypatch):
    """Fail the test if the base model scores anything (checks must come first)."""
    from genotool_splice.base import BaseScorer

    def boom(self, codes):
        raise AssertionError("the base model scored sequence before the inputs were checked")

    monkeypatch.setattr(BaseScorer, "score", boom)


def _preprocess(fasta, gtf, base, out, *extra):
    return invoke(["splice", "preprocess", "--fasta", str(fasta), "--annotation", str(gtf), "--base-model", "own",
                   "--base-weights", str(base), "-o", str(out), "--threads", "1", *map(str, extra)])


def _refused(r, match, out):
    assert r.exit_code == 2, (r.exit_code, r.stderr[-1500:])
    last = r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr and match in last, last
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    return last


def _gtf_lines(sim):
    return (sim / "annotation.gtf").read_text().splitlines(keepends=True)


def _multi_exon_transcript(lines, chrom="chr2"):
    """Indices of the exon lines of the first transcript on ``chrom`` with >= 3 exons."""
    by_tx = {}
    for i, line in enumerate(lines):
        f = line.split("\t")
        if len(f) == 9 and f[0] == chrom and f[2] == "exon":
            by_tx.setdefault(f[8].split('transcript_id "')[1].split('"')[0], []).append(i)
    return next((t, idx) for t, idx in by_tx.items() if len(idx) >= 3)


def test_d9_inner_exon_past_the_contig_end(sim, pipeline, tmp_path, no_scoring):
    lines = _gtf_lines(sim)
    tid, idx = _multi_exon_transcript(lines)
    f = lines[idx[0]].split("\t")
    f[4] = str(int(f[4]) + 1_000_000)                    # the first exon, not the transcript's last
    lines[idx[0]] = "\t".join(f)
    gtf = tmp_path / "d9.gtf"
    gtf.write_text("".join(lines))
    out = tmp_path / "pre"
    last = _refused(_preprocess(sim / "genome.fa", gtf, pipeline["base"], out), f"transcript {tid}", out)
    assert "ends beyond chr2's length" in last


def test_d10_overlapping_exons_name_the_transcript(sim, pipeline, tmp_path, no_scoring):
    lines = _gtf_lines(sim)
    tid, idx = _multi_exon_transcript(lines)
    a, b = lines[idx[0]].split("\t"), lines[idx[1]].split("\t")
    first, second = sorted([a, b], key=lambda f: int(f[3]))
    first[4] = str(int(second[3]) + 5)                   # the upstream exon runs into the next one
    lines[idx[0]], lines[idx[1]] = "\t".join(first), "\t".join(second)
    gtf = tmp_path / "d10.gtf"
    gtf.write_text("".join(lines))
    out = tmp_path / "pre"
    last = _refused(_preprocess(sim / "genome.fa", gtf, pipeline["base"], out), f"transcript {tid}", out)
    assert "overlap" in last


def _stale_fasta(sim, tmp_path):
    """A FASTA indexed, then edited (a line shortened in the 2nd contig) with its old .fai left beside it."""
    import pysam

    fa = tmp_path / "stale.fa"
    shutil.copy(sim / "genome.fa", fa)
    pysam.FastaFile(str(fa)).close()                     # writes stale.fa.fai
    lines = fa.read_text().splitlines(keepends=True)
    second = [i for i, x in enumerate(lines) if x.startswith(">")][1]
    lines[second + 3] = lines[second + 3][10:]           # 10 bases fewer: every later offset shifts
    fa.write_text("".join(lines))
    return fa


def test_d11_stale_index_is_refused_before_scoring(sim, pipeline, tmp_path, no_scoring):
    fa = _stale_fasta(sim, tmp_path)
    out = tmp_path / "pre"
    r = _preprocess(fa, sim / "annotation.gtf", pipeline["base"], out)
    last = _refused(r, ".fai", out)
    assert "\n" not in last and "\r" not in last


class _FakeFasta:
    def __init__(self, seq):
        self.seq = seq

    def get_reference_length(self, name):
        return 7

    def fetch(self, name, start, end):
        return self.seq[start:end]


def test_d11_line_breaks_mean_a_stale_index_and_warnings_are_one_line(capsys):
    from genotool.errors import UserError
    from genotool_splice.seqio import fetch_codes

    with pytest.raises(UserError, match=r"x\.fa: c: line breaks .*x\.fa\.fai does not match"):
        fetch_codes(_FakeFasta("ACG\nTAC"), "x.fa", "c")
    with pytest.raises(UserError, match=r"5 bases read where 7 were expected"):
        fetch_codes(_FakeFasta("ACGTA"), "x.fa", "c")
    codes = fetch_codes(_FakeFasta("AC\x01GT\x02A"), "x.fa", "c")
    assert list(codes) == [0, 1, 4, 2, 3, 4, 0]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 character(s) other than A, C, G, T, N (e.g. '\\x01')" in err


def _killed_run(monkeypatch, fasta, gtf, base, out, last_contig):
    """A preprocess run that dies (not a user error) right after scoring ``last_contig``: its
    ``<out>.partial`` keeps the staging stamp and the cached base scores, as a killed run's does."""
    from genotool_splice import preprocess

    real = preprocess._score_contig

    def score_then_die(scorer, ref, cache, contig, *args):
        result = real(scorer, ref, cache, contig, *args)
        if contig == last_contig:
            raise RuntimeError("killed")
        return result

    with monkeypatch.context() as m:
        m.setattr(preprocess, "_score_contig", score_then_die)
        with pytest.raises(RuntimeError, match="killed"):
            _preprocess(fasta, gtf, base, out)
    assert out.with_name(out.name + ".partial").is_dir() and not out.exists()


def test_d12_cache_is_keyed_by_content(sim, pipeline, tmp_path, monkeypatch):
    """A run killed with cached scores; the FASTA is then edited in place keeping its size and
    mtime (so the staging stamp still matches and the partial is trusted) and the run repeated:
    the cached scores must not be reused (they were keyed by contig name and length)."""
    import os

    fasta = tmp_path / "genome.fa"
    shutil.copy(sim / "genome.fa", fasta)
    resumed = tmp_path / "resumed"
    _killed_run(monkeypatch, fasta, sim / "annotation.gtf", pipeline["base"], resumed, "chr2")
    st = fasta.stat()
    comp = str.maketrans("ACGT", "TGCA")
    lines = fasta.read_text().splitlines(keepends=True)
    fasta.write_text("".join(x if x.startswith(">") else x[:-1].translate(comp) + "\n" for x in lines))
    os.utime(fasta, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fasta.stat().st_size == st.st_size
    r = _preprocess(fasta, sim / "annotation.gtf", pipeline["base"], resumed)
    assert r.exit_code == 0, r.stderr[-1500:]
    assert "starting afresh" not in r.stderr          # the staging folder was trusted: the key did the work
    assert "cached scores" not in r.stderr
    fresh = tmp_path / "fresh"
    assert _preprocess(fasta, sim / "annotation.gtf", pipeline["base"], fresh).exit_code == 0
    a = pq.read_table(fresh / "candidates.parquet").to_pandas()
    b = pq.read_table(resumed / "candidates.parquet").to_pandas()
    assert len(a) == len(b) and (a.drop(columns="sequence") == b.drop(columns="sequence")).all().all()


def test_cache_detects_a_damaged_file(sim, pipeline, tmp_path, monkeypatch):
    out_a = tmp_path / "a"
    assert _preprocess(sim / "genome.fa", sim / "annotation.gtf", pipeline["base"], out_a).exit_code == 0
    resumed = tmp_path / "b"
    _killed_run(monkeypatch, sim / "genome.fa", sim / "annotation.gtf", pipeline["base"], resumed, "chr2")
    cache = resumed.with_name("b.partial") / "base_scores"
    victim = sorted(cache.glob("chr1.*.plus.npy"))[0]
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0xFF                                    # one flipped byte
    victim.write_bytes(bytes(data))
    r = _preprocess(sim / "genome.fa", sim / "annotation.gtf", pipeline["base"], resumed)
    assert r.exit_code == 0
    assert "starting afresh" not in r.stderr
    logged = {x.split()[1]: x for x in r.stderr.splitlines() if x.startswith("preprocess: chr")}
    assert "(cached scores)" not in logged["chr1"]           # damaged: scored again
    assert "(cached scores)" in logged["chr2"]               # intact entries are reused
    a = pq.read_table(out_a / "candidates.parquet").to_pandas()
    b = pq.read_table(resumed / "candidates.parquet").to_pandas()
    assert (a.drop(columns="sequence") == b.drop(columns="sequence")).all().all()


def test_unsorted_gtf_is_refused_before_scoring(sim, pipeline, tmp_path, no_scoring):
    lines = _gtf_lines(sim)
    first = [x for x in lines if x.startswith("chr1\t")]
    gtf = tmp_path / "unsorted.gtf"
    gtf.write_text("".join(lines + first[:2]))         # chr1 again after chr12
    out = tmp_path / "pre"
    _refused(_preprocess(sim / "genome.fa", gtf, pipeline["base"], out), "sort the GTF", out)


def test_truncated_gzip_is_refused_before_scoring(sim, pipeline, tmp_path, no_scoring):
    raw = gzip.compress((sim / "annotation.gtf").read_bytes())
    gtf = tmp_path / "cut.gtf.gz"
    gtf.write_bytes(raw[: len(raw) * 2 // 3])
    out = tmp_path / "pre"
    _refused(_preprocess(sim / "genome.fa", gtf, pipeline["base"], out), "cut.gtf.gz: cannot read GTF", out)


def test_short_fasta_is_refused_before_scoring(sim, pipeline, tmp_path, no_scoring):
    lines = (sim / "genome.fa").read_text().splitlines(keepends=True)
    fa = tmp_path / "short.fa"
    fa.write_text("".join(lines[: len(lines) - 100]))   # the last contig loses its last 6 kb
    out = tmp_path / "pre"
    last = _refused(_preprocess(fa, sim / "annotation.gtf", pipeline["base"], out), "ends beyond", out)
    assert "short.fa" in last


def test_missing_contig_is_refused_before_scoring(sim, pipeline, tmp_path, no_scoring):
    gtf = tmp_path / "extra.gtf"
    gtf.write_text((sim / "annotation.gtf").read_text() +
                   'chrZ\tsim\texon\t100\t200\t.\t+\t.\tgene_id "gZ"; transcript_id "tZ";\n')
    out = tmp_path / "pre"
    _refused(_preprocess(sim / "genome.fa", gtf, pipeline["base"], out), "transcript tZ is on contig 'chrZ'", out)
