"""Classical gene-finding sensors, learned by counting in the training genes.

* :class:`MarkovModel`: a k-th order Markov chain over bases, optionally periodic (coding
  sequence: one chain per codon position, the 3-periodic model of GeneMark, GENSCAN and AUGUSTUS).
* :class:`SiteModel`: a weight array model (position-specific Markov chain of order 2) of the
  bases around a signal (donor, acceptor, start codon, stop codon), scored as the log-likelihood
  ratio of true sites against every other occurrence of the signal's core motif ("decoys").
* :class:`LengthModel`: a kernel-smoothed length histogram up to a maximum, geometric beyond
  (how GHMM gene finders model exon and intron lengths).
* :class:`Sensors`: all of them for one species, fitted by :meth:`Sensors.fit` from sequences
  and their coding genes, and :meth:`Sensors.score` turning a sequence into the per-base and
  per-boundary score arrays the decoder reads (:mod:`.lattice`).

Every score is a log-odds against the background (intergenic) model, so an intergenic base scores
0 and a window with no gene scores ~0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genotool_gencode.genes.dna import N, STOPS, revcomp

NEG = -np.inf


def kmer_ids(codes: np.ndarray, k: int) -> np.ndarray:
    """(L,) codes -> (L,) int64: the index (base 4) of the k-mer ending at each position
    (bases i-k+1..i), -1 where the k-mer holds an N or starts before the sequence."""
    L = len(codes)
    out = np.full(L, -1, dtype=np.int64)
    if L < k:
        return out
    idx = np.zeros(L - k + 1, dtype=np.int64)
    ok = np.ones(L - k + 1, dtype=bool)
    for t in range(k):
        c = codes[t:L - k + 1 + t]
        idx = idx * 4 + np.minimum(c, 3)
        ok &= c < N
    out[k - 1:] = np.where(ok, idx, -1)
    return out


class MarkovModel:
    """k-th order Markov chain with ``periods`` phase-specific tables (1: homogeneous)."""

    def __init__(self, order: int, periods: int = 1):
        self.order, self.periods = order, periods
        self.counts = np.zeros((periods, 4 ** (order + 1)), dtype=np.float64)
        self.logp: np.ndarray | None = None

    def add(self, codes: np.ndarray, phase0: int = 0) -> None:
        """Count one sequence; base t has phase (phase0 + t) % periods."""
        ids = kmer_ids(codes, self.order + 1)
        ph = (phase0 + np.arange(len(codes))) % self.periods
        ok = ids >= 0
        np.add.at(self.counts, (ph[ok], ids[ok]), 1.0)

    def finish(self, pseudo: float = 1.0) -> "MarkovModel":
        c = (self.counts + pseudo).reshape(self.periods, -1, 4)
        self.logp = np.log(c / c.sum(-1, keepdims=True)).reshape(self.periods, -1)
        return self

    def base_scores(self, codes: np.ndarray) -> np.ndarray:
        """(periods, L) log P(base i | its k predecessors, phase); 0 where undefined (N, start)."""
        ids = kmer_ids(codes, self.order + 1)
        ok = ids >= 0
        out = np.zeros((self.periods, len(codes)))
        out[:, ok] = self.logp[:, ids[ok]]
        return out

    def state(self) -> dict:
        return {"order": self.order, "periods": self.periods, "counts": self.counts}

    @classmethod
    def from_state(cls, st: dict) -> "MarkovModel":
        m = cls(int(st["order"]), int(st["periods"]))
        m.counts = np.asarray(st["counts"], dtype=np.float64)
        return m.finish()


# Signals: the core motif, where the anchor (a boundary of the decoder) sits relative to it, and the
# window scored around the anchor [anchor - left, anchor + right).
@dataclass(frozen=True)
class SignalSpec:
    name: str
    motifs: tuple[str, ...]
    motif_offset: int        # the core motif starts at anchor + motif_offset
    left: int
    right: int


SIGNALS = {
    # donor: anchor = first intron base (G of GT); 3 exon bases, GT, 6 intron bases
    "donor": SignalSpec("donor", ("GT", "GC"), 0, 4, 8),
    # acceptor: anchor = first exon base after AG; polypyrimidine tract and branch region upstream
    "acceptor": SignalSpec("acceptor", ("AG",), -2, 30, 4),
    # start: anchor = the A of ATG; Kozak context upstream
    "start": SignalSpec("start", ("ATG",), 0, 15, 6),
    # stop: anchor = the boundary after the stop codon
    "stop": SignalSpec("stop", STOPS, -3, 9, 6),
}


def motif_anchors(codes: np.ndarray, spec: SignalSpec) -> np.ndarray:
    """Sorted anchors (boundaries 0..L) where ``spec``'s core motif occurs in ``codes``."""
    from genotool_gencode.genes.dna import motif_hits

    hits = np.flatnonzero(motif_hits(codes, spec.motifs)) - spec.motif_offset
    return hits[(hits >= 0) & (hits <= len(codes))]


def windows(codes: np.ndarray, anchors: np.ndarray, left: int, right: int) -> np.ndarray:
    """(n, left + right) codes of the windows [a - left, a + right); outside the sequence: N."""
    pad = np.full(left + right, N, dtype=np.uint8)
    padded = np.concatenate([pad, codes, pad])
    idx = anchors[:, None] + np.arange(-left, right)[None, :] + left + right
    return padded[idx]


class SiteModel:
    """Order-2 weight array model of a signal's window, true sites vs decoys."""

    ORDER = 2
    CTX = 5 ** ORDER        # context symbols 0..4 (4: N or before the window)

    def __init__(self, spec: SignalSpec):
        self.spec = spec
        W = spec.left + spec.right
        self.counts = np.zeros((2, W, self.CTX, 4))     # [true, decoy]
        self.table: np.ndarray | None = None

    def _ctx(self, win: np.ndarray) -> np.ndarray:
        n, W = win.shape
        prev = np.concatenate([np.full((n, self.ORDER), N, dtype=np.int64), win.astype(np.int64)], axis=1)
        ctx = np.zeros((n, W), dtype=np.int64)
        for j in range(self.ORDER):
            ctx = ctx * 5 + prev[:, j:j + W]
        return ctx

    def add(self, win: np.ndarray, decoy: bool) -> None:
        if not len(win):
            return
        ctx = self._ctx(win)
        pos = np.broadcast_to(np.arange(win.shape[1]), win.shape)
        ok = win < N
        np.add.at(self.counts[int(decoy)], (pos[ok], ctx[ok], win[ok].astype(np.int64)), 1.0)

    def finish(self, pseudo: float = 0.5) -> "SiteModel":
        c = self.counts + pseudo
        logp = np.log(c / c.sum(-1, keepdims=True))
        self.table = logp[0] - logp[1]          # (W, CTX, 4) log-likelihood ratio per position
        return self

    def score(self, win: np.ndarray) -> np.ndarray:
        """(n, W) windows -> (n,) log P(window | site) - log P(window | decoy)."""
        if not len(win):
            return np.zeros(0)
        ctx = self._ctx(win)
        pos = np.broadcast_to(np.arange(win.shape[1]), win.shape)
        ok = win < N
        v = np.where(ok, self.table[pos, ctx, np.minimum(win, 3)], 0.0)
        return v.sum(1)

    def state(self) -> dict:
        return {"counts": self.counts}


class LengthModel:
    """log P(length): a kernel-smoothed histogram for 1..max_len, a geometric tail beyond.

    ``score(n)`` = ``table[n]`` for n <= max_len, else ``tail_a + tail_b * n``."""

    def __init__(self, table: np.ndarray, tail_a: float, tail_b: float):
        self.table, self.tail_a, self.tail_b = np.asarray(table, dtype=np.float64), float(tail_a), float(tail_b)

    @property
    def max_len(self) -> int:
        return len(self.table) - 1

    @classmethod
    def fit(cls, lengths, max_len: int, min_len: int = 1, rel_width: float = 0.08,
            min_width: float = 1.0) -> "LengthModel":
        """From observed lengths: each spread by a Gaussian (width ``rel_width`` of the length,
        at least ``min_width``), the mass beyond ``max_len`` kept for the geometric tail."""
        x = np.asarray(lengths, dtype=np.float64)
        x = x[x >= min_len]
        if not len(x):
            raise ValueError("no lengths to fit")
        grid = np.arange(max_len + 1, dtype=np.float64)
        dens = np.zeros(max_len + 1)
        inside = x[x <= max_len]
        vals, cnt = np.unique(inside, return_counts=True)
        for v, c in zip(vals, cnt):
            w = max(min_width, rel_width * v)
            lo, hi = int(max(0, v - 5 * w)), int(min(max_len, v + 5 * w)) + 1
            g = np.exp(-0.5 * ((grid[lo:hi] - v) / w) ** 2)
            dens[lo:hi] += c * g / g.sum()
        dens[:min_len] = 0.0
        p_in = len(inside) / len(x)
        dens = dens / max(dens.sum(), 1e-300) * p_in
        floor = 1e-3 / len(x)      # an unseen length is unlikely, not impossible
        table = np.log(np.maximum(dens, floor * (grid >= min_len)) + 1e-300)
        table[:min_len] = NEG
        beyond = x[x > max_len]
        mean_excess = float((beyond - max_len).mean()) if len(beyond) >= 5 else max(float(x.mean()), 1.0)
        r = 1.0 - 1.0 / max(mean_excess, 1.0 + 1e-9)
        p_out = max(len(beyond) / len(x), 1e-3 / len(x))
        # P(n) = p_out (1 - r) r^(n - max_len - 1) for n > max_len
        tail_b = np.log(r)
        tail_a = np.log(p_out) + np.log(1 - r) - (max_len + 1) * tail_b
        return cls(table, tail_a, tail_b)

    @classmethod
    def geometric(cls, mean: float, max_len: int, min_len: int = 1) -> "LengthModel":
        """A geometric length (what a linear chain can express), starting at ``min_len``."""
        r = 1.0 - 1.0 / max(mean - min_len + 1, 1.0 + 1e-9)
        n = np.arange(max_len + 1, dtype=np.float64)
        table = np.log(1 - r) + (n - min_len) * np.log(r)
        table[:min_len] = NEG
        return cls(table, np.log(1 - r) - min_len * np.log(r), np.log(r))

    def score(self, n):
        n = np.asarray(n)
        inside = np.minimum(n, self.max_len)
        return np.where(n <= self.max_len, self.table[inside], self.tail_a + self.tail_b * n)

    def state(self) -> dict:
        return {"table": self.table, "tail": np.array([self.tail_a, self.tail_b])}

    @classmethod
    def from_state(cls, st: dict) -> "LengthModel":
        return cls(st["table"], *np.asarray(st["tail"], dtype=np.float64))


EXON_TYPES = ("single", "initial", "internal", "terminal")


def exon_types(n: int) -> list[int]:
    """Type index (EXON_TYPES) of each exon of an n-exon gene, in transcript order."""
    if n == 1:
        return [0]
    return [1] + [2] * (n - 2) + [3]


@dataclass
class SensorSettings:
    coding_order: int = 5
    intron_order: int = 4
    intergenic_order: int = 4
    max_exon_table: int = 5000       # explicit exon length histogram up to here, geometric beyond
    max_intron_table: int = 800      # explicit intron lengths up to here (the decoder looks back this far)
    min_intron: int = 20
    min_exon: int = 3


class Sensors:
    """Content, signal and length models of one species (see the module docstring)."""

    def __init__(self, settings: SensorSettings | None = None):
        self.settings = s = settings or SensorSettings()
        self.coding = MarkovModel(s.coding_order, 3)
        self.intron = MarkovModel(s.intron_order, 1)
        self.intergenic = MarkovModel(s.intergenic_order, 1)
        self.sites = {name: SiteModel(spec) for name, spec in SIGNALS.items()}
        self.exon_len: list[LengthModel] = []
        self.intron_len: LengthModel | None = None
        self.stats: dict = {}

    # ------------------------------------------------------------------ fitting
    def fit(self, pieces, log=None) -> "Sensors":
        """``pieces``: iterable of (codes (L,) uint8, genes: list[CodingGene] in the piece's
        coordinates, all valid gene models). Counts every model; returns self."""
        s = self.settings
        ex_len = [[] for _ in EXON_TYPES]
        in_len, ig_len = [], []
        n_genes = n_single = n_exons = n_introns = 0
        true_anchor_count = dict.fromkeys(self.sites, 0)
        for codes, genes in pieces:
            L = len(codes)
            rc = revcomp(codes)
            covered = np.zeros(L + 1, dtype=np.int32)
            for g in genes:
                covered[g.start] += 1
                covered[g.end] -= 1
                n_genes += 1
                n_single += len(g.exons) == 1
                n_exons += len(g.exons)
                n_introns += len(g.exons) - 1
                for t, (a, b) in zip(exon_types(len(g.exons)), g.exons if g.strand == "+" else g.exons[::-1]):
                    ex_len[t].append(b - a)
                in_len += [b - a for a, b in g.introns()]
            # content models, in each gene's orientation
            for g in genes:
                sp = g.spliced(codes)
                self.coding.add(sp[:-3], 0)
                for a, b in g.introns():
                    seg = codes[a:b]
                    self.intron.add(revcomp(seg) if g.strand == "-" else seg)
            inter = np.cumsum(covered[:-1]) == 0
            for a, b in _runs(inter):
                ig_len.append(b - a)
                self.intergenic.add(codes[a:b])
                self.intergenic.add(rc[L - b:L - a])
            # signals: plus genes on the sequence, minus genes as plus genes on its reverse complement
            for strand_codes, strand_genes in ((codes, [g for g in genes if g.strand == "+"]),
                                               (rc, [g.on_reverse(L) for g in genes if g.strand == "-"])):
                true = {k: set() for k in self.sites}
                for g in strand_genes:
                    true["start"].add(g.exons[0][0])
                    true["stop"].add(g.exons[-1][1])
                    for a, b in g.introns():
                        true["donor"].add(a)
                        true["acceptor"].add(b)
                for name, model in self.sites.items():
                    spec = model.spec
                    anchors = np.array(sorted(true[name]), dtype=np.int64)
                    model.add(windows(strand_codes, anchors, spec.left, spec.right), decoy=False)
                    true_anchor_count[name] += len(anchors)
                    allm = motif_anchors(strand_codes, spec)
                    decoys = allm[~np.isin(allm, anchors)]
                    for i in range(0, len(decoys), 200_000):
                        model.add(windows(strand_codes, decoys[i:i + 200_000], spec.left, spec.right), decoy=True)
        if n_genes == 0:
            raise ValueError("no training genes")
        self.coding.finish()
        self.intron.finish()
        self.intergenic.finish()
        for m in self.sites.values():
            m.finish()
        self.exon_len = []
        for t, lens in enumerate(ex_len):
            if t == 0 and not lens:      # no single-exon gene in training: a broad guess
                lens = [sum(map(len, ex_len)) and 900]
            if not lens:
                lens = [150]
            self.exon_len.append(LengthModel.fit(lens, s.max_exon_table, min_len=s.min_exon if t == 2 else 3))
        self.intron_len = LengthModel.fit(in_len or [100], s.max_intron_table, min_len=s.min_intron)
        n_multi = n_genes - n_single
        ig_mean = float(np.mean(ig_len)) if ig_len else 2000.0
        self.stats = {"genes": n_genes, "single": n_single, "exons": n_exons, "introns": n_introns,
                      "exon_means": [float(np.mean(x)) if x else 300.0 for x in ex_len],
                      "intron_mean": float(np.mean(in_len)) if in_len else 170.0,
                      "intergenic_mean": ig_mean, "sites": true_anchor_count,
                      "p_single": (n_single + 1) / (n_genes + 2),
                      # after an intron: another internal exon, or the terminal one
                      "p_terminal": (n_multi + 1) / (n_introns + 2)}
        return self

    # ------------------------------------------------------------------ scoring
    def transitions(self) -> dict[str, float]:
        """Log probabilities of the gene grammar's choices (per gene, per exon, per base)."""
        st = self.stats
        p_gene = 1.0 / max(st["intergenic_mean"], 2.0)
        return {"intergenic_stay": float(np.log1p(-p_gene)), "gene_start": float(np.log(p_gene)),
                "single": float(np.log(st["p_single"])), "initial": float(np.log1p(-st["p_single"])),
                "internal": float(np.log1p(-st["p_terminal"])), "terminal": float(np.log(st["p_terminal"]))}

    def score(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        """Score arrays of one sequence for the decoder (σ = 0 plus strand, 1 minus strand):

        * ``coding`` (2, 3, L+1): cumulative coding log-odds of the bases before each boundary,
          read in frame f (codons begin at positions = f mod 3) on strand σ;
        * ``intron`` (2, L+1): cumulative intron log-odds;
        * ``donor``, ``acceptor``, ``start``, ``stop`` (2, L+1): the signal's log-odds at each
          boundary where its core motif sits (-inf elsewhere). Plus strand: donor at the first
          intron base, acceptor after the AG, start before the ATG, stop after the stop codon;
          minus strand: the same signals read on the reverse strand, at the boundary the decoder
          uses (the minus donor at an intron's right end, its acceptor at the left end, its
          start codon's end on the right, its stop codon's start on the left).
        """
        L = len(codes)
        rc = revcomp(codes)
        out = {}
        cod = np.zeros((2, 3, L + 1))
        intr = np.zeros((2, L + 1))
        pos = np.arange(L)
        for sigma, strand_codes in ((0, codes), (1, rc)):
            bg = self.intergenic.base_scores(strand_codes)[0]
            c = self.coding.base_scores(strand_codes) - bg
            i = self.intron.base_scores(strand_codes)[0] - bg
            for g in range(3):
                per_base = c[(pos - g) % 3, pos]
                if sigma == 0:
                    cod[0, g, 1:] = np.cumsum(per_base)
                else:
                    # reverse strand frame g <-> plus-strand frame f with (L - f) % 3 == g
                    f = (L - g) % 3
                    cod[1, f, 1:] = np.cumsum(per_base[::-1])
            intr[sigma, 1:] = np.cumsum(i if sigma == 0 else i[::-1])
        out["coding"], out["intron"] = cod, intr
        for name, model in self.sites.items():
            arr = np.full((2, L + 1), NEG)
            spec = model.spec
            for sigma, strand_codes in ((0, codes), (1, rc)):
                anchors = motif_anchors(strand_codes, spec)
                sc = model.score(windows(strand_codes, anchors, spec.left, spec.right))
                arr[sigma, anchors if sigma == 0 else L - anchors] = sc
            out[name] = arr
        return out

    # ------------------------------------------------------------------ saving
    def state(self) -> dict:
        return {"settings": self.settings.__dict__, "coding": self.coding.state(), "intron": self.intron.state(),
                "intergenic": self.intergenic.state(),
                "sites": {k: m.state() for k, m in self.sites.items()},
                "exon_len": [m.state() for m in self.exon_len], "intron_len": self.intron_len.state(),
                "stats": self.stats}

    @classmethod
    def from_state(cls, st: dict) -> "Sensors":
        s = cls(SensorSettings(**st["settings"]))
        s.coding = MarkovModel.from_state(st["coding"])
        s.intron = MarkovModel.from_state(st["intron"])
        s.intergenic = MarkovModel.from_state(st["intergenic"])
        for k, m in s.sites.items():
            m.counts = np.asarray(st["sites"][k]["counts"], dtype=np.float64)
            m.finish()
        s.exon_len = [LengthModel.from_state(x) for x in st["exon_len"]]
        s.intron_len = LengthModel.from_state(st["intron_len"])
        s.stats = st["stats"]
        return s


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.flatnonzero(np.diff(m))
    return [(int(a), int(b)) for a, b in d.reshape(-1, 2)]
