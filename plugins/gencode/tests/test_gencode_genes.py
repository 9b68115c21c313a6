"""The gene finder: sensors, the gene-structure Viterbi (against brute-force enumeration), valid gene
models, streaming windows, GTF/GFF3 round trips, gene-model scoring and weight learning."""

import io

import numpy as np
import pytest

from genotool_gencode.genes.annotation import CodingGene, gene_problems
from genotool_gencode.genes.dna import STOPS, decode, encode, revcomp
from genotool_gencode.genes.lattice import Lattice, parse_features, parse_score
from genotool_gencode.genes.sensors import SIGNALS, LengthModel, MarkovModel, Sensors, motif_anchors


@pytest.fixture(scope="module")
def sim():
    from genotool_gencode.simulate import simulated_sequence

    train = simulated_sequence(240_000, seed=3)
    test = simulated_sequence(120_000, seed=4)
    sensors = Sensors().fit([train])
    return train, test, sensors


def test_markov_and_length_models_are_distributions():
    rng = np.random.default_rng(0)
    m = MarkovModel(2, 3)
    m.add(rng.integers(0, 4, 5000).astype(np.uint8))
    m.finish()
    p = np.exp(m.logp.reshape(3, -1, 4)).sum(-1)
    assert np.allclose(p, 1.0)
    lm = LengthModel.fit(rng.lognormal(5, 0.6, 400).astype(int) + 3, max_len=300, min_len=3)
    n = np.arange(0, 20_000)
    total = np.exp(lm.score(n)).sum()
    assert total == pytest.approx(1.0, abs=0.01)
    assert lm.score(2) == -np.inf and np.isfinite(lm.score(301))
    g = LengthModel.geometric(150, 1000, 3)
    assert np.exp(g.score(n)).sum() == pytest.approx(1.0, abs=1e-6)


def test_scores_of_a_sequence_and_its_reverse_complement_mirror(sim):
    """Minus-strand channels of a sequence are the plus-strand channels of its reverse complement."""
    (codes, _), _, sensors = sim
    codes = codes[:5003]
    L = len(codes)
    a, b = sensors.score(codes), sensors.score(revcomp(codes))
    for f in range(3):
        # frame f on the sequence <-> frame (L - f) % 3 on the reverse complement, read backwards
        g = (L - f) % 3
        da = np.diff(a["coding"][1, f])
        db = np.diff(b["coding"][0, g])[::-1]
        assert np.allclose(da, db)
    assert np.allclose(np.diff(a["intron"][1]), np.diff(b["intron"][0])[::-1])
    for name in ("donor", "acceptor", "start", "stop"):
        x, y = a[name][1], b[name][0][::-1]
        assert np.array_equal(np.isfinite(x), np.isfinite(y)) and np.allclose(x[np.isfinite(x)], y[np.isfinite(y)])


# ---------------------------------------------------------------------------------------------
# the Viterbi against brute-force enumeration of every parse

MOTIFS = ["ATG", "GT", "AG", "TAA", "TAG", "TGA", "CT", "AC", "CAT", "TTA", "CTA", "TCA", "GC", "A", "C", "G", "T"]


def _random_lattice(seed, L=70):
    rng = np.random.default_rng(seed)
    seq = ""
    while len(seq) < L:
        seq += MOTIFS[rng.integers(len(MOTIFS))]
    codes = encode(seq[:L])
    ch = {"coding": np.concatenate([np.zeros((2, 3, 1)), np.cumsum(rng.normal(0.3, 1, (2, 3, L)), -1)], -1),
          "intron": np.concatenate([np.zeros((2, 1)), np.cumsum(rng.normal(0, 1, (2, L)), -1)], -1)}
    rc = revcomp(codes)
    for name, spec in SIGNALS.items():
        arr = np.full((2, L + 1), -np.inf)
        for sg, c in ((0, codes), (1, rc)):
            anc = motif_anchors(c, spec)
            arr[sg, anc if sg == 0 else L - anc] = rng.normal(1.0, 1.0, len(anc))
        ch[name] = arr
    lens = {"exon_len": [LengthModel(np.r_[-np.inf, -np.inf, -np.inf, rng.normal(-3, 1, 9)], -4.0, -0.05)
                         for _ in range(4)],
            "intron_len": LengthModel(np.r_[[-np.inf] * 4, rng.normal(-2, 1, 5)], -3.0, -0.1)}
    grammar = {"intergenic_stay": -0.01, "gene_start": -2.0, "single": -1.0, "initial": -0.5, "internal": -0.3,
               "terminal": -0.7}
    w = {"coding": 1.0, "intron": 0.5, "donor": 1.0, "acceptor": 1.2, "start": 0.8, "stop": 1.0,
         "gene_bias": 0.5, "internal_bias": 0.2}
    lat = Lattice.combine(codes, ch, w, lens, grammar, min_intron=4, min_exon=3)
    return lat, codes, ch, lens, grammar, w


def _all_genes(lat, codes):
    """Every gene model the grammar allows on ``codes`` (brute force)."""
    L = len(codes)
    out = []
    for sg, strand in ((0, "+"), (1, "-")):
        lefts_gene = [s for s in range(L + 1) if np.isfinite(lat.gene_left[sg, s])]
        rights_gene = {e for e in range(L + 1) if np.isfinite(lat.gene_right[sg, e])}
        rights_intron = {d for d in range(L + 1) if np.isfinite(lat.site_right[sg, d])}
        lefts_intron = {a for a in range(L + 1) if np.isfinite(lat.site_left[sg, a])}

        def chains(s, exons):
            for e in range(s + 3, L + 1):
                ex = exons + [(s, e)]
                if e in rights_gene:
                    yield ex
                if e in rights_intron:
                    for a in range(e + lat.min_intron, L - 2):
                        if a in lefts_intron:
                            yield from chains(a, ex)

        for s in lefts_gene:
            for ex in chains(s, []):
                g = CodingGene("t", "g", "c", strand, ex)
                seq = decode(g.spliced(codes))
                if len(seq) % 3 or not seq.startswith("ATG") or seq[-3:] not in STOPS:
                    continue
                if any(seq[i:i + 3] in STOPS for i in range(0, len(seq) - 3, 3)):
                    continue
                out.append((strand, ex))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_viterbi_is_the_best_parse_by_enumeration(seed):
    lat, codes, ch, lens, grammar, w = _random_lattice(seed)
    best, genes = lat.viterbi()
    L = len(codes)
    # the decoder's own parse scores what it claims
    assert parse_score(parse_features(genes, ch, lens, L), w, grammar) == pytest.approx(best, abs=1e-6)
    for st, ex in genes:
        assert not gene_problems(CodingGene("t", "g", "c", st, ex), codes, 4, 3)
    # best set of non-overlapping genes by weighted interval scheduling over every allowed gene
    empty = parse_score(parse_features([], ch, lens, L), w, grammar)
    cand = [(ex[0][0], ex[-1][1], parse_score(parse_features([(st, ex)], ch, lens, L), w, grammar) - empty)
            for st, ex in _all_genes(lat, codes)]
    cand.sort(key=lambda c: c[1])
    opt = [0.0] * (len(cand) + 1)
    ends = [c[1] for c in cand]
    import bisect

    for i, (s, e, v) in enumerate(cand):
        j = bisect.bisect_right(ends, s, 0, i)
        opt[i + 1] = max(opt[i], opt[j] + v)
    assert empty + opt[-1] == pytest.approx(best, abs=1e-6), (len(cand), genes)


def test_a_stop_codon_split_by_an_intron_is_never_decoded():
    """Exon 1 ends ...T|GT (phase 1), exon 2 would start AG|AA...: T + AA = TAA. Only the other
    acceptor, whose next bases make a sense codon, may continue the gene."""
    # ATG GCC T | GTAAGT...intron...CAG | AA ... (stop in frame) vs ... AG | GC ...
    seq = "CCATGGCCTGTAAGTTTTTTTTTTTTCAGAAGCCGCCGCCTAA" + "C" * 20
    codes = encode(seq)
    L = len(codes)
    s = Sensors()
    ch = {"coding": np.zeros((2, 3, L + 1)), "intron": np.zeros((2, L + 1))}
    rc = revcomp(codes)
    for name, spec in SIGNALS.items():
        arr = np.full((2, L + 1), -np.inf)
        for sg, c in ((0, codes), (1, rc)):
            anc = motif_anchors(c, spec)
            arr[sg, anc if sg == 0 else L - anc] = 5.0 if sg == 0 else -50.0
        ch[name] = arr
    lens = {"exon_len": [LengthModel.geometric(20, 100, 3)] * 4, "intron_len": LengthModel.geometric(15, 50, 4)}
    grammar = {"intergenic_stay": 0.0, "gene_start": 0.0, "single": -30.0, "initial": 0.0, "internal": 0.0,
               "terminal": 0.0}
    lat = Lattice.combine(codes, ch, {"donor": 1, "acceptor": 1, "start": 1, "stop": 1}, lens, grammar,
                          min_intron=4, min_exon=3)
    _, genes = lat.viterbi()
    del s
    for st, ex in genes:
        g = CodingGene("t", "g", "c", st, ex)
        assert not gene_problems(g, codes, 4, 3)


def test_decoded_genes_are_valid_models_and_find_simulated_genes(sim):
    from genotool_gencode.genes.finder import GeneFinder, default_weights
    from genotool_gencode.genes.scoring import score_genes

    _, (codes, genes), sensors = sim
    finder = GeneFinder(sensors, default_weights("sensors"))
    pred = finder.decode(codes)
    assert pred
    for st, ex in pred:
        assert not gene_problems(CodingGene("t", "g", "c", st, ex), codes), (st, ex)
    r = score_genes(genes, [CodingGene(f"p{i}", f"p{i}", "sim", st, ex) for i, (st, ex) in enumerate(pred)])
    assert r["exon_f1"] > 0.6 and r["gene_f1"] > 0.3, r
    # the linear chain over the same states (geometric lengths) also yields valid models only
    lin = GeneFinder(sensors, default_weights("sensors"), durations="geometric")
    for st, ex in lin.decode(codes):
        assert not gene_problems(CodingGene("t", "g", "c", st, ex), codes)


def test_streaming_windows_neither_cut_nor_duplicate_genes(sim):
    from genotool_gencode.genes.finder import GeneFinder, default_weights, predict_sequence

    _, (codes, _), sensors = sim
    finder = GeneFinder(sensors, default_weights("sensors"))
    whole = finder.decode(codes)
    streamed = predict_sequence(finder, codes, window=30_000, overlap=6_000)
    fetched = predict_sequence(finder, lambda a, b: codes[a:b], len(codes), window=30_000, overlap=6_000)
    assert streamed == fetched
    spans = [(ex[0][0], ex[-1][1]) for _, ex in streamed]
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))   # none twice
    for st, ex in streamed:
        assert not gene_problems(CodingGene("t", "g", "c", st, ex), codes)              # none cut
    # away from window joins the streamed parse is the whole-sequence one
    same = len(set(map(str, whole)) & set(map(str, streamed)))
    assert same >= 0.9 * len(whole)


def test_gtf_and_gff3_round_trip_with_phases_and_codons(sim):
    from genotool_gencode.genes.gff import phases, read_gene_models, write_gff3, write_gtf

    _, (codes, genes), _ = sim
    genes = genes[:8]
    for writer in (write_gtf, write_gff3):
        buf = io.StringIO()
        writer(buf, genes)
        path = io.StringIO(buf.getvalue())
        text = path.getvalue()
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "g.txt"
            p.write_text(text)
            back = {g.transcript_id: g for g in read_gene_models(p)}
        for g in genes:
            assert back[g.transcript_id].exons == g.exons and back[g.transcript_id].strand == g.strand
    for g in genes:
        # phases: the bases before each CDS part's first whole codon complete the previous codon
        parts = phases(g)
        tx = parts if g.strand == "+" else parts[::-1]
        done = 0
        for s, e, ph in tx:
            assert ph == (3 - done % 3) % 3
            done += e - s
    buf = io.StringIO()
    write_gtf(buf, genes)
    seq = decode(codes)
    for line in buf.getvalue().splitlines():
        c = line.split("\t")
        if c[2] in ("start_codon", "stop_codon") and int(c[4]) - int(c[3]) == 2:
            codon = seq[int(c[3]) - 1:int(c[4])]
            if c[6] == "-":
                codon = decode(revcomp(encode(codon)))
            assert (codon == "ATG") if c[2] == "start_codon" else (codon in STOPS)


def test_gene_model_scoring_counts_isoforms_and_exact_chains():
    from genotool_gencode.genes.scoring import score_genes

    t = [CodingGene("a.1", "a", "c", "+", [(10, 20), (30, 40)]), CodingGene("a.2", "a", "c", "+", [(10, 20), (50, 60)]),
         CodingGene("b.1", "b", "c", "-", [(100, 130)])]
    p = [CodingGene("g1", "g1", "c", "+", [(10, 20), (50, 60)]),          # = isoform a.2: gene right
         CodingGene("g2", "g2", "c", "+", [(100, 130)])]                  # right exon, wrong strand
    r = score_genes(t, p)
    assert (r["exons_true"], r["exons_pred"], r["exons_correct"]) == (4, 3, 2)
    assert r["gene_sensitivity"] == 0.5 and r["gene_specificity"] == 0.5
    assert r["nucleotide_sensitivity"] == pytest.approx(20 / 60) and r["nucleotide_specificity"] == pytest.approx(20 / 50)


def test_weight_learning_recovers_from_bad_weights(sim):
    from genotool_gencode.genes.finder import lengths_for
    from genotool_gencode.genes.learn import gold_windows, learn_weights, slice_channels
    from genotool_gencode.genes.scoring import score_genes

    (codes, genes), (tcodes, tgenes), sensors = sim
    ch = sensors.score(codes)
    items = [(codes[lo:hi], slice_channels(ch, lo, hi), gold) for lo, hi, gold in gold_windows(codes, genes, 30_000)]
    # splice signals scored backwards, coding content nearly ignored: almost nothing right
    bad = {"coding": 0.02, "intron": 1, "donor": -0.5, "acceptor": -0.5, "start": 1, "stop": 1}
    lengths = lengths_for(sensors, "explicit")
    w, hist = learn_weights(items, bad, ("coding", "donor", "acceptor", "gene_bias"), lengths,
                            sensors.transitions(), epochs=3)
    tch = sensors.score(tcodes)

    def f1(weights):
        _, pred = Lattice.combine(tcodes, tch, weights, lengths, sensors.transitions()).viterbi()
        return score_genes(tgenes, [CodingGene(f"p{i}", f"p{i}", "sim", s, e) for i, (s, e) in enumerate(pred)])["exon_f1"]

    assert f1(w) > f1(bad) + 0.1
    assert hist[-1]["exon_loss"] < hist[0]["exon_loss"] / 2
    assert w["donor"] > bad["donor"] and w["acceptor"] > bad["acceptor"] and w["coding"] > bad["coding"]
