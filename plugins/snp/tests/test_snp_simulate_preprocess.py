import gzip
import json

import numpy as np

from genotool.testing import invoke


def test_simulate_outputs(sim):
    truth = json.loads((sim / "truth.json").read_text())
    assert truth["populations"] == {"AFR": 12, "EUR": 12, "ASIA": 12, "ADMIX": 12}
    assert len(truth["hotspots"]) == 3 and len(truth["causal"]) == 3
    lines = [ln for ln in gzip.open(sim / "genotypes.vcf.gz", "rt") if not ln.startswith("#")]
    pos = [int(ln.split("\t")[1]) for ln in lines]
    assert min(pos) >= 1 and pos == sorted(pos)
    assert all(len(ln.split("\t")[4]) == 1 for ln in lines)           # biallelic SNPs
    assert "|" in lines[0].split("\t")[9]                              # phased
    assert (sim / "genotypes.vcf.gz.tbi").is_file()
    rows = (sim / "samples.tsv").read_text().splitlines()
    assert rows[0] == "sample\tpopulation\tphenotype" and len(rows) == 49
    y = np.array([float(r.split("\t")[2]) for r in rows[1:]])
    assert abs(y.var() - 1) < 0.5                                      # standardised liability


def test_preprocess_outputs(pre, sim):
    g = np.load(pre / "genotypes.npy")
    info = json.loads((pre / "data.json").read_text())
    assert g.shape == (48, 2, info["snps"]) and g.dtype == np.int8 and set(np.unique(g)) <= {0, 1}
    assert info["phased"] and info["blocks"] > 0 and info["ld_edges"] > 0
    split = json.loads((pre / "split.json").read_text())
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (32, 8, 8)
    # stratified: every population in every split
    pops = {r.split("\t")[0]: r.split("\t")[1] for r in (pre / "samples.tsv").read_text().splitlines()[1:]}
    for k in ("train", "val", "test"):
        assert {pops[s] for s in split[k]} == {"AFR", "EUR", "ASIA", "ADMIX"}
    # haplotypes equal the VCF's for a sample
    import cyvcf2

    v = next(iter(cyvcf2.VCF(str(sim / "genotypes.vcf.gz"))))
    snps = (pre / "snps.tsv").read_text().splitlines()[1:]
    assert snps[0].split("\t")[1:3] == ["1", str(int(snps[0].split("\t")[2]))]
    edges = np.load(pre / "ld_graph.npz")
    assert (edges["src"] < edges["dst"]).all() and (edges["r2"] >= 0.5).all()


def test_gabriel_screen_matches_full_grid(pre):
    from genotool_snp import ld

    g = np.load(pre / "genotypes.npy")
    h = g.reshape(-1, g.shape[2])
    pos = np.array([int(r.split("\t")[2]) for r in (pre / "snps.tsv").read_text().splitlines()[1:]])
    band = ld.band_counts(h, pos, 200_000, 256)
    i, d = np.nonzero(band.valid)
    args = (band.n11[i, d], band.counts[i], band.counts[i + d + 1], band.n)
    fast = ld.classify(*ld.dprime_ci(*args))
    full = ld.classify(*ld.dprime_ci(*args, screen=False))
    assert (fast[0] == full[0]).all() and (fast[1] == full[1]).all()
    assert fast[0].sum() > 0 and fast[1].sum() > 0


def test_blocks_break_at_hotspots(pre, sim):
    """Simulated hotspots are ground truth: most of them fall between two blocks, not inside one."""
    truth = json.loads((sim / "truth.json").read_text())
    rows = [r.split("\t") for r in (pre / "blocks.tsv").read_text().splitlines()[1:]]
    spans = [(int(r[4]), int(r[5])) for r in rows]
    inside = sum(any(s < (h["start"] + h["end"]) / 2 < e for s, e in spans) for h in truth["hotspots"])
    assert inside <= len(truth["hotspots"]) // 2


def test_ld_r2_matches_numpy(pre):
    from genotool_snp import ld

    g = np.load(pre / "genotypes.npy")
    h = g.reshape(-1, g.shape[2])[:, :60].astype(float)
    pos = np.arange(60) * 10
    r2 = ld.r2_band(ld.band_counts(h.astype(np.int8), pos, 10**6, 5))
    c = np.corrcoef(h.T) ** 2
    for d in range(1, 6):
        np.testing.assert_allclose(np.nan_to_num(np.diag(c, d)), r2[: 60 - d, d - 1], atol=1e-4)


def test_reader_missing_unphased_and_sample_order(tmp_path):
    """The chunked reader: missing alleles -> -1 (counted), unphased calls counted, columns put in
    the requested sample order, multi-allelic / indel records skipped, chunks split at chunk_sites."""
    from genotool_snp.vcfio import ReadStats, read_chunks

    head = ["##fileformat=VCFv4.2", "##contig=<ID=1,length=1000>",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\tc"]
    recs = ["1\t10\t.\tA\tG\t.\t.\t.\tGT\t0|1\t1|1\t0|0",
            "1\t20\t.\tA\tG,T\t.\t.\t.\tGT\t0|1\t1|2\t0|0",
            "1\t30\t.\tC\tT\t.\t.\t.\tGT\t.|1\t0/1\t./.",
            "1\t40\t.\tAT\tA\t.\t.\t.\tGT\t0|1\t0|0\t0|0",
            "1\t50\t.\tG\tC\t.\t.\t.\tGT\t1|0\t0|1\t1|1"]
    vcf = tmp_path / "m.vcf"
    vcf.write_text("\n".join(head + recs) + "\n")
    stats = ReadStats()
    chunks = list(read_chunks(vcf, ["c", "a", "b"], chunk_sites=2, stats=stats))
    assert [len(c.pos) for c in chunks] == [2, 1]
    al = np.concatenate([c.alleles for c in chunks])
    assert al.tolist() == [[0, 0, 0, 1, 1, 1], [-1, -1, -1, 1, 0, 1], [1, 1, 1, 0, 0, 1]]
    assert (stats.records, stats.multiallelic, stats.non_snp, stats.kept) == (5, 1, 1, 3)
    assert stats.missing_calls == 2 and stats.unphased_calls == 1
