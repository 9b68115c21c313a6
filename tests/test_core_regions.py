"""genotool.genome.regions: the one parser of --train/--val/--test-regions (gencode, splice)."""

from __future__ import annotations

import pytest

from genotool.errors import UserError
from genotool.genome.regions import Region, RegionSplits, parse_region, parse_regions

LENGTHS = {"NC_003070.9": 30_427_671, "chr2": 1_000}


def test_samtools_coordinates_become_half_open():
    assert parse_region("NC_003070.9:1-16000000", "--x") == Region("NC_003070.9", 0, 16_000_000)
    assert parse_region(" chr2 ", "--x") == Region("chr2")
    assert parse_region("chr1:1_000-2_000", "--x") == Region("chr1", 999, 2000)
    assert str(Region("chr1", 999, 2000)) == "chr1:1000-2000" and str(Region("chr1")) == "chr1"
    # a name holding ':' with no range after it is a whole contig
    assert parse_region("HLA-A*01:01:01:01", "--x") == Region("HLA-A*01:01:01:01")
    assert parse_regions("a,b:1-5,, ", "--x") == [Region("a"), Region("b", 0, 5)]
    assert parse_regions(None, "--x") == []


@pytest.mark.parametrize("text,msg", [("chr1:0-100", "1-based"), ("chr1:200-100", "before START"),
                                      ("chr1:5-", "not CONTIG:START-END"), (":1-5", "not CONTIG:START-END")])
def test_bad_region_text(text, msg):
    with pytest.raises(UserError, match=msg) as e:
        parse_region(text, "--test-regions")
    assert str(e.value).startswith("--test-regions:")


def test_the_issue_split_on_one_chromosome():
    s = RegionSplits.parse("NC_003070.9:1-16000000", "NC_003070.9:16000001-18000000",
                           "NC_003070.9:20000001-22000000")
    s.check(LENGTHS, "chr1.fa")
    assert s.split_of("NC_003070.9", 100, 5000) == "train"
    assert s.split_of("NC_003070.9", 15_999_000, 16_000_000) == "train"
    assert s.split_of("NC_003070.9", 15_999_000, 16_000_001) is None      # crosses the edge
    assert s.split_of("NC_003070.9", 16_500_000, 16_600_000) == "val"
    assert s.split_of("NC_003070.9", 19_000_000, 19_001_000) is None      # in no split
    assert s.split_of("NC_003070.9", 20_000_000, 20_001_000) == "test"
    assert s.split_of("chr2", 0, 10) is None
    assert s.describe()["test"] == ["NC_003070.9:20000001-22000000"]


def test_train_defaults_to_everything_not_held_out():
    s = RegionSplits.parse(val="NC_003070.9:16000001-18000000", test="NC_003070.9:20000001-22000000,chr2")
    s.check(LENGTHS, "x.fa")
    assert s.split_of("NC_003070.9", 19_000_000, 19_001_000) == "train"
    assert s.split_of("NC_003070.9", 17_999_990, 18_000_010) is None      # touches val
    assert s.split_of("chr2", 0, 10) == "test"
    assert s.split_of("1", 0, 10) == "train"                               # contigs outside every list
    got = [(r.contig, r.start, r.end) for r in s.intervals("train", LENGTHS)]
    assert got == [("NC_003070.9", 0, 16_000_000), ("NC_003070.9", 18_000_000, 20_000_000),
                   ("NC_003070.9", 22_000_000, 30_427_671)]
    assert [(r.start, r.end) for r in s.intervals("val", LENGTHS)] == [(16_000_000, 18_000_000)]
    assert [(r.contig, r.end) for r in s.intervals("test", LENGTHS)][1] == ("chr2", 1_000)
    assert s.describe()["train"] == ["everything else"]


def test_chr_prefix_is_ignored_when_matching():
    s = RegionSplits.parse(test="1:1-100")
    s.check({"chr1": 500}, "x.fa")
    assert s.split_of("chr1", 0, 100) == "test" and s.split_of("chr1", 0, 101) is None


@pytest.mark.parametrize("kw,msg", [
    (dict(val="chr2:1-600", test="chr2:500-1000"), "--val-regions and --test-regions: regions chr2:1-600 and"),
    (dict(test="chr2:1-600,chr2"), "--test-regions: regions"),
    (dict(train="chr2", test="chr2:5-6"), "--train-regions and --test-regions"),
])
def test_overlapping_splits_are_refused(kw, msg):
    with pytest.raises(UserError, match=msg):
        RegionSplits.parse(**kw)


@pytest.mark.parametrize("test,msg", [("chr3", "contig 'chr3' is not in x.fa"),
                                      ("chr2:900-1001", "lies outside contig 'chr2' \\(1,000 bp in x.fa\\)"),
                                      ("chr2:1001-1001", "lies outside")])
def test_regions_are_checked_against_the_contigs(test, msg):
    s = RegionSplits.parse(test=test)
    with pytest.raises(UserError, match=msg):
        s.check(LENGTHS, "x.fa")
