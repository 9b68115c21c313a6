"""``snp simulate``: msprime coalescent -> phased bgzipped VCF, sample table and truth JSON.

Demographies: stdpopsim's HomSap ``AmericanAdmixture_4B18`` (AFR, EUR, ASIA and the admixed
ADMIX population; stdpopsim <= 0.2 named it ``AmericanAdmixture_4B11``) and ``OutOfAfrica_3G09``
(YRI, CEU, CHB), each taken as an ``msprime.Demography`` (no genetic-map download); a symmetric
island model; or ``split``: populations that split from one ancestor ``split_time`` generations
ago, with optional symmetric migration since (the scenario sweep's cohorts). Recombination is
an ``msprime.RateMap`` with synthetic 2 kb hotspots (their positions are the ground truth for the
block finder). Phenotype: standardised causal genotypes x N(0,1) effects scaled to h2, plus
N(0, 1 - h2) noise; binary by a liability threshold.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError

DEMOGRAPHIES = ("american-admixture", "out-of-africa", "island", "split")
STDPOPSIM_MODELS = {"american-admixture": ("AmericanAdmixture_4B18", "AmericanAdmixture_4B11"),
                    "out-of-africa": ("OutOfAfrica_3G09",)}
NE = 10_000               # island and split models: every population's size (and the ancestor's)
ISLAND_MIGRATION = 1e-4   # the island model's default symmetric migration rate
MEAN_RECOMB = 1.2e-8      # per bp per generation (HomSap genome mean ~1.2e-8)
MUTATION_RATE = 2.36e-8   # the AmericanAdmixture model's own rate
HOTSPOT_WIDTH = 2_000
HOTSPOT_SHARE = 0.7       # fraction of all crossovers that fall in hotspots


@dataclass
class SimulateConfig:
    output: Path
    demography: str = "american-admixture"
    num_samples: int = 150            # diploid samples per population
    num_populations: int = 4          # island model only (the admixture model has 4)
    length: int = 10_000_000          # bp
    hotspots_per_mb: float = 10.0
    num_causal: int = 3
    h2: float = 0.2
    case_fraction: float | None = None  # binary phenotype: top fraction of the liability are cases
    contig: str = "1"
    seed: int = 0
    mutation_rate: float = MUTATION_RATE   # per bp per generation (lower: fewer sites on the same length)
    split_time: float = 400.0         # split model: generations since the populations split
    migration_rate: float | None = None  # island / split: symmetric rate (default island 1e-4, split 0)
    cohort_sizes: list | None = None  # diploids per population, in the model's order (overrides num_samples)

    def __post_init__(self):
        if self.cohort_sizes is not None and self.demography in ("island", "split"):
            self.num_populations = len(self.cohort_sizes)     # one size per population sets their number

    def check(self) -> None:
        if not 0 < self.mutation_rate < 1e-5:
            raise UserError(f"--mutation-rate must be in (0, 1e-5), not {self.mutation_rate}")
        if self.demography not in DEMOGRAPHIES:
            raise UserError(f"--demography must be one of {', '.join(DEMOGRAPHIES)}, not '{self.demography}'")
        if self.num_samples < 2:
            raise UserError(f"--num-samples must be >= 2, not {self.num_samples}")
        if self.length < 10_000:
            raise UserError(f"--length must be >= 10000 bp, not {self.length}")
        if not 0 <= self.h2 <= 1:
            raise UserError(f"--h2 must be in [0, 1], not {self.h2}")
        if self.case_fraction is not None and not 0 < self.case_fraction < 1:
            raise UserError(f"--case-fraction must be in (0, 1), not {self.case_fraction}")
        if self.num_causal < 0:
            raise UserError(f"--num-causal must be >= 0, not {self.num_causal}")
        if self.num_populations < 1:
            raise UserError(f"--num-populations must be >= 1, not {self.num_populations}")
        if self.split_time <= 0:
            raise UserError(f"--split-time must be > 0 generations, not {self.split_time}")
        if self.migration_rate is not None and not 0 <= self.migration_rate < 1:
            raise UserError(f"--migration-rate must be in [0, 1), not {self.migration_rate}")
        if self.cohort_sizes is not None:
            if any(n < 2 for n in self.cohort_sizes):
                raise UserError(f"--cohort-sizes: every population needs >= 2 samples, not {self.cohort_sizes}")
            want = {"american-admixture": 4, "out-of-africa": 3}.get(self.demography, self.num_populations)
            if len(self.cohort_sizes) != want:
                raise UserError(f"--cohort-sizes: {len(self.cohort_sizes)} sizes given, the {self.demography} "
                                f"model samples {want} populations")

    def sizes(self, k: int) -> list[int]:
        """Diploid samples of each of the k sampled populations."""
        return list(self.cohort_sizes) if self.cohort_sizes is not None else [self.num_samples] * k


def demography(cfg: SimulateConfig):
    """(msprime.Demography, {population name: diploid sample count})."""
    import msprime

    if cfg.demography in STDPOPSIM_MODELS:
        import warnings

        import stdpopsim

        species = stdpopsim.get_species("HomSap")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in STDPOPSIM_MODELS[cfg.demography]:     # later names: older stdpopsim spellings
                try:
                    model = species.get_demographic_model(name)
                    break
                except ValueError:
                    continue
        # populations stdpopsim samples by default (ancestral ones carry no sampling time)
        names = [p.name for p in model.populations if getattr(p, "default_sampling_time", 0) is not None]
        return model.model, dict(zip(names, cfg.sizes(len(names))))
    k = cfg.num_populations
    if cfg.demography == "island":
        rate = ISLAND_MIGRATION if cfg.migration_rate is None else cfg.migration_rate
        demo = msprime.Demography.island_model([NE] * k, migration_rate=rate if k > 1 else 0.0)
        return demo, dict(zip((demo.populations[i].name for i in range(k)), cfg.sizes(k)))
    # split: k populations of size NE from one ancestor split_time generations ago; symmetric
    # migration between them since (msprime's population_split stops it before the split)
    demo = msprime.Demography()
    names = [f"pop{i}" for i in range(k)]
    for n in names:
        demo.add_population(name=n, initial_size=NE)
    demo.add_population(name="ANC", initial_size=NE)
    if k > 1 and cfg.migration_rate:
        demo.set_symmetric_migration_rate(names, cfg.migration_rate)
    demo.add_population_split(time=cfg.split_time, derived=names, ancestral="ANC")
    return demo, dict(zip(names, cfg.sizes(k)))


def hotspot_map(length: int, per_mb: float, rng: np.random.Generator):
    """RateMap with ``per_mb`` 2 kb hotspots per Mb carrying HOTSPOT_SHARE of the crossovers.

    Returns (msprime.RateMap, [(start, end), ...] 0-based half-open hotspot intervals)."""
    import msprime

    n = int(round(per_mb * length / 1e6))
    if n == 0:
        return msprime.RateMap.uniform(length, MEAN_RECOMB), []
    # evenly spread centres with jitter, so hotspots never overlap
    slot = length / n
    centres = (np.arange(n) + 0.5) * slot + rng.uniform(-0.3, 0.3, n) * slot
    starts = np.clip(np.round(centres - HOTSPOT_WIDTH / 2), 0, length - HOTSPOT_WIDTH).astype(int)
    total = MEAN_RECOMB * length
    bg = total * (1 - HOTSPOT_SHARE) / (length - n * HOTSPOT_WIDTH)
    hot = total * HOTSPOT_SHARE / (n * HOTSPOT_WIDTH)
    pos, rate = [0], []
    for s in starts:
        if s > pos[-1]:
            pos.append(int(s))
            rate.append(bg)
        pos.append(int(s) + HOTSPOT_WIDTH)
        rate.append(hot)
    if pos[-1] < length:
        pos.append(length)
        rate.append(bg)
    return msprime.RateMap(position=pos, rate=rate), [(int(s), int(s) + HOTSPOT_WIDTH) for s in starts]


def biallelic(ts):
    """Drop sites with more than one mutation (multi-allelic or recurrent): the VCF stays biallelic."""
    counts = np.bincount(ts.mutations_site, minlength=ts.num_sites)
    bad = np.flatnonzero(counts != 1)
    return ts.delete_sites(bad) if len(bad) else ts


def phenotype(dosage: np.ndarray, cfg: SimulateConfig, rng: np.random.Generator):
    """Phenotype from causal sites. dosage: (n_causal, n_samples) 0/1/2.

    Returns (y (n,), liability (n,), effects (n_causal,), realised genetic variance share)."""
    n = dosage.shape[1]
    if len(dosage) == 0:
        g = np.zeros(n)
        effects = np.zeros(0)
    else:
        z = (dosage - dosage.mean(1, keepdims=True)) / dosage.std(1, keepdims=True)
        effects = rng.standard_normal(len(dosage))
        g = effects @ z
        scale = np.sqrt(cfg.h2 / g.var()) if g.var() > 0 else 0.0
        g, effects = g * scale, effects * scale
    liability = g + rng.normal(0, np.sqrt(1 - cfg.h2), n)
    realised = float(g.var() / liability.var()) if liability.var() > 0 else 0.0
    if cfg.case_fraction is None:
        return liability, liability, effects, realised
    cut = np.quantile(liability, 1 - cfg.case_fraction)
    return (liability > cut).astype(float), liability, effects, realised


def simulate(cfg: SimulateConfig, out: Path, progress=lambda m: None) -> dict:
    """Write ``genotypes.vcf.gz`` (+ .tbi), ``samples.tsv`` and ``truth.json`` into ``out``."""
    import msprime
    import pysam

    cfg.check()
    rng = np.random.default_rng(cfg.seed)
    demo, samples = demography(cfg)
    rmap, hotspots = hotspot_map(cfg.length, cfg.hotspots_per_mb, rng)
    progress(f"ancestry: {sum(samples.values())} diploids, {cfg.length / 1e6:g} Mb, {len(hotspots)} hotspots")
    ts = msprime.sim_ancestry(samples=samples, demography=demo, sequence_length=cfg.length,
                              recombination_rate=rmap, random_seed=cfg.seed + 1)
    ts = msprime.sim_mutations(ts, rate=cfg.mutation_rate, random_seed=cfg.seed + 2)
    ts = biallelic(ts)
    if ts.num_sites == 0:
        raise UserError("--length: the simulation produced no segregating sites; use a longer sequence")
    pop_names = {p.id: p.metadata.get("name", f"pop_{p.id}") if isinstance(p.metadata, dict) else f"pop_{p.id}"
                 for p in ts.populations()}
    ind_pop = [pop_names[ts.node(ind.nodes[0]).population] for ind in ts.individuals()]
    names = [f"{p}_{i}" for i, p in enumerate(ind_pop)]
    progress(f"mutations: {ts.num_sites} biallelic sites")

    # Causal SNPs: common sites (MAF >= 0.05), at distinct positions.
    gm = ts.genotype_matrix().astype(np.int8)            # (sites, haplotypes), int32 -> int8
    dos = gm.reshape(ts.num_sites, -1, 2).sum(2)         # (sites, diploids); nodes of one individual are adjacent
    af = dos.mean(1) / 2
    common = np.flatnonzero((af >= 0.05) & (af <= 0.95))
    k = min(cfg.num_causal, len(common))
    causal = np.sort(rng.choice(common, size=k, replace=False)) if k else np.zeros(0, int)
    y, liability, effects, realised = phenotype(dos[causal].astype(float), cfg, rng)
    del gm

    out.mkdir(parents=True, exist_ok=True)
    vcf = out / "genotypes.vcf"
    positions = np.fix(ts.tables.sites.position).astype(np.int64) + 1    # POS >= 1
    with open(vcf, "w") as fh:
        ts.write_vcf(fh, contig_id=cfg.contig, individual_names=names,
                     position_transform=lambda x: np.fix(x).astype(int) + 1)
    pysam.tabix_compress(str(vcf), str(vcf) + ".gz", force=True)
    vcf.unlink()
    pysam.tabix_index(str(vcf) + ".gz", preset="vcf", force=True)
    with open(out / "samples.tsv", "w") as fh:
        fh.write("sample\tpopulation\tphenotype\n")
        for name, pop, v in zip(names, ind_pop, y):
            fh.write(f"{name}\t{pop}\t{v:.6g}\n")
    sites = ts.tables.sites
    truth = {
        "config": {k2: (str(v) if isinstance(v, Path) else v) for k2, v in asdict(cfg).items()},
        "contig": cfg.contig, "num_sites": int(ts.num_sites), "populations": samples,
        "hotspots": [{"start": s + 1, "end": e} for s, e in hotspots],   # 1-based inclusive, VCF coordinates
        "h2": cfg.h2, "realised_h2": realised,
        "causal": [{"pos": int(positions[c]), "ref": _allele(ts, sites, c, 0), "alt": _allele(ts, sites, c, 1),
                    "effect": float(e), "af": float(af[c])} for c, e in zip(causal, effects)],
        "phenotype": "binary" if cfg.case_fraction is not None else "quantitative",
        "case_fraction": cfg.case_fraction,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return {"samples": len(names), "sites": int(ts.num_sites), "hotspots": len(hotspots), "causal": k}


def _allele(ts, sites, idx: int, which: int) -> str:
    site = ts.site(int(idx))
    return site.ancestral_state if which == 0 else site.mutations[0].derived_state
