"""``genotool snp``: simulate, preprocess, train, predict, importance, validate, compare, sweep, bench.

Light module (``genotool --help`` imports it): every verb parses its options into one config
object and hands it to the library module, which imports numpy/torch/cyvcf2 itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from genotool.options import (Architecture, BatchSize, Data, Device, Force, Json, Model, NumWorkers,
                              OptionalOutput, Output, Precision, Scheduler, Seed, Threads, count_option)

app = typer.Typer(name="snp", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Phased genotypes: CNN, CNN-Transformer and LD-graph GNN vs PCA, association and SuSiE.")

Vcf = Annotated[Path, typer.Option("--vcf", help="VCF or BCF (plain or bgzipped) with GT.")]
Samples = Annotated[Path, typer.Option("--samples", help="Sample table (TSV): sample, population, phenotype, ...")]
Task = Annotated[str, typer.Option("--task", help="population (classes) or phenotype (binary or quantitative).")]
Label = Annotated[Optional[str], typer.Option("--label", help="Sample-table column of the labels "
                                              "(default: the task's name).")]
Truth = Annotated[Optional[Path], typer.Option("--truth", help="simulate's truth.json: score causal-SNP recovery.")]


def _arch(architecture: str) -> str:
    from genotool.options import check_choice
    from genotool_snp.models import ARCHITECTURES

    return check_choice(architecture, ARCHITECTURES, "--architecture")


def _counts(text: str | None, option: str) -> list[int] | None:
    """'30,60,90' -> [30, 60, 90] (None stays None)."""
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        from genotool.errors import UserError

        raise UserError(f"{option}: expected comma-separated integers, not '{text}'") from None


@app.command()
def simulate(
    output: Output,
    demography: Annotated[str, typer.Option("--demography", help="american-admixture (stdpopsim HomSap "
                                            "AmericanAdmixture_4B18: AFR, EUR, ASIA, ADMIX), out-of-africa "
                                            "(OutOfAfrica_3G09: YRI, CEU, CHB), island, or split (populations "
                                            "from one ancestor --split-time generations ago).")] = "american-admixture",
    num_samples: Annotated[int, count_option("samples", "Diploid samples per population.")] = 150,
    num_populations: Annotated[int, count_option("populations", "Populations of the island or split model.")] = 4,
    cohort_sizes: Annotated[Optional[str], typer.Option("--cohort-sizes", help="Comma-separated diploids per "
                                                        "population (unequal cohorts; overrides --num-samples; island "
                                                        "and split: also the number of populations).")] = None,
    split_time: Annotated[float, typer.Option("--split-time", help="Split model: generations since the "
                                              "populations split.")] = 400.0,
    migration_rate: Annotated[Optional[float], typer.Option("--migration-rate", help="Island or split model: "
                                                            "symmetric migration rate per generation (default "
                                                            "island 1e-4, split 0).")] = None,
    length: Annotated[int, typer.Option("--length", help="Sequence length in bp.")] = 10_000_000,
    hotspots_per_mb: Annotated[float, typer.Option("--hotspots-per-mb", help="Recombination hotspots (2 kb) per Mb.")] = 10.0,
    num_causal: Annotated[int, count_option("causal", "Causal SNPs of the phenotype (MAF >= 0.05).")] = 3,
    h2: Annotated[float, typer.Option("--h2", help="Heritability of the phenotype.")] = 0.2,
    case_fraction: Annotated[Optional[float], typer.Option("--case-fraction", help="Binary phenotype: this top "
                                                          "fraction of the liability are cases (default: quantitative).")] = None,
    contig: Annotated[str, typer.Option("--contig", help="Contig name in the VCF.")] = "1",
    mutation_rate: Annotated[float, typer.Option("--mutation-rate", help="Mutations per bp per generation "
                                                 "(the AmericanAdmixture model's 2.36e-8; lower gives fewer "
                                                 "sites on the same length).")] = 2.36e-8,
    seed: Seed = 0, force: Force = False,
):
    """msprime simulation -> genotypes.vcf.gz (+ .tbi), samples.tsv, truth.json."""
    from genotool.log import log
    from genotool.outputs import run_output
    from genotool_snp.simulate import SimulateConfig, simulate as run

    cfg = SimulateConfig(output, demography, num_samples, num_populations, length, hotspots_per_mb, num_causal, h2,
                         case_fraction, contig, seed, mutation_rate, split_time=split_time,
                         migration_rate=migration_rate, cohort_sizes=_counts(cohort_sizes, "--cohort-sizes"))
    cfg.check()
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.__dict__.items()}
    with run_output(output, command="snp simulate", parameters=params, force=force) as r:
        s = run(cfg, r.path, progress=lambda m: log(f"simulate: {m}"))
        r.runtime.update(s)
    log(f"wrote {output}: {s['samples']} samples, {s['sites']} sites, {s['hotspots']} hotspots, {s['causal']} causal")


@app.command()
def preprocess(
    vcf: Vcf, samples: Samples, output: Output,
    label: Annotated[str, typer.Option("--label", help="Column the split is stratified by (numeric: quintiles).")] = "population",
    maf: Annotated[float, typer.Option("--maf", help="Minimum minor allele frequency.")] = 0.05,
    phased: Annotated[bool, typer.Option("--phased", help="Require phased genotypes (else dosage with a warning).")] = False,
    chunk_sites: Annotated[int, typer.Option("--chunk-sites", help="VCF records per streamed chunk.")] = 4096,
    block_maf: Annotated[float, typer.Option("--block-maf", help="Haploblocks: minimum MAF (PLINK's 0.05).")] = 0.05,
    block_max_kb: Annotated[float, typer.Option("--block-max-kb", help="Haploblocks: maximum span (PLINK's 200 kb).")] = 200.0,
    ld_r2: Annotated[float, typer.Option("--ld-r2", help="LD graph: minimum r^2 of an edge.")] = 0.5,
    ld_window_kb: Annotated[float, typer.Option("--ld-window-kb", help="LD graph: maximum edge span.")] = 100.0,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Validation fraction per label.")] = 0.2,
    test_fraction: Annotated[float, typer.Option("--test-fraction", help="Test fraction per label.")] = 0.2,
    threads: Threads = None, seed: Seed = 0, force: Force = False,
):
    """VCF + sample table -> int8 tensors, SNP list, haploblocks, LD graph, split manifest."""
    from genotool.log import log
    from genotool.outputs import run_output
    from genotool_snp.preprocess import PreprocessConfig, run_preprocess

    cfg = PreprocessConfig(vcf, samples, output, label, maf, phased, chunk_sites, block_maf, block_max_kb,
                           ld_r2=ld_r2, ld_window_kb=ld_window_kb, val_fraction=val_fraction,
                           test_fraction=test_fraction, seed=seed, force=force, threads=threads)
    cfg.check()
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.__dict__.items()}
    with run_output(output, command="snp preprocess", parameters=params, inputs=[str(vcf), str(samples)],
                    force=force) as run:
        info = run_preprocess(cfg, run)
        run.runtime.update(info)
    log(f"wrote {output}: {info['samples']} samples x {info['snps']} SNPs ({info['channels']} channels), "
        f"{info['blocks']} haploblocks, {info['ld_edges']} LD edges in {info['seconds']:.1f} s")


@app.command()
def train(
    ctx: typer.Context, data: Data, output: Output,
    architecture: Architecture = "cnn",
    task: Task = "population", label: Label = None,
    phenotype_type: Annotated[str, typer.Option("--phenotype-type", help="auto, binary or quantitative.")] = "auto",
    preset: Annotated[str, typer.Option("--preset", help="small-cpu, medium-gpu, large-multi-gpu, "
                                        "memory-constrained, fast-prototype or production.")] = "small-cpu",
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="Override a preset value: key=value "
                                                      "(repeatable).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Maximum epochs (default: the preset's).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Learning rate (default: the preset's).")] = None,
    scheduler: Scheduler = "cosine",
    patience: Annotated[Optional[int], typer.Option("--patience", help="Early-stopping patience in epochs.")] = None,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Wall-clock budget.")] = None,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, threads: Threads = None,
    num_workers: NumWorkers = None, seed: Seed = 0, force: Force = False,
):
    """Train a model (shared engine: AMP, resume, early stopping, DDP under torchrun)."""
    from click.core import ParameterSource

    from genotool.log import log
    from genotool_snp.train import TrainOptions, parse_overrides, run_train

    # --scheduler given on the command line wins; otherwise the preset's schedule applies
    if ctx.get_parameter_source("scheduler") == ParameterSource.DEFAULT:
        scheduler = None

    opts = TrainOptions(data=data, output=output, architecture=_arch(architecture), task=task, label=label,
                        phenotype_type=phenotype_type, preset=preset, overrides=parse_overrides(set_),
                        epochs=epochs, lr=lr, scheduler=scheduler, patience=patience, batch_size=batch_size,
                        max_minutes=max_minutes, device=device, precision=precision, threads=threads,
                        num_workers=num_workers or 0, seed=seed, force=force)
    s = run_train(opts)
    last = s["last"]
    extra = ", ".join(f"{k} {last[k]:.4f}" for k in ("val_loss", "val_accuracy", "val_r2") if k in last)
    log(f"trained {s['architecture']} for {s['epochs_run']} epochs ({extra}); wrote {output}")


@app.command()
def predict(
    vcf: Vcf, model: Model, output: Output,
    max_missing_fraction: Annotated[float, typer.Option("--max-missing-fraction", help="Refuse when more of the "
                                                        "model's sites than this are missing from the VCF.")] = 0.1,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, threads: Threads = None,
    force: Force = False,
):
    """Per-sample class probabilities or scores (predictions.tsv and .parquet)."""
    from genotool_snp.predict import PredictOptions, run_predict

    run_predict(PredictOptions(vcf=vcf, model=model, output=output, max_missing_fraction=max_missing_fraction,
                               batch_size=batch_size, device=device, precision=precision, threads=threads,
                               force=force))


@app.command()
def importance(
    model: Model, data: Data, output: Output,
    also_model: Annotated[Optional[List[Path]], typer.Option("--also-model", help="Further trained models "
                                                             "(other seeds): the ensemble averages them.")] = None,
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated: attention, integrated-gradients, "
                                         "smoothgrad, saliency, gradient-x-input.")
                       ] = "integrated-gradients,smoothgrad,saliency,attention",
    truth: Truth = None,
    k: Annotated[int, typer.Option("--k", help="Top-k SNPs scored for causal recall and precision.")] = 10,
    split: Annotated[str, typer.Option("--split", help="Samples attributed: train, val or test.")] = "test",
    max_samples: Annotated[int, typer.Option("--max-samples", help="At most this many samples are attributed.")] = 64,
    clump: Annotated[bool, typer.Option("--clump/--no-clump", help="With --truth: score each ranking after the "
                                        "marginal test's LD clumping (r2 0.5, 250 kb); raw numbers are "
                                        "reported either way.")] = True,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """Per-SNP importance (captum IG / SmoothGrad / saliency, attention), ensembled; causal recall at k."""
    from genotool_snp.importance import ImportanceOptions, run_importance

    run_importance(ImportanceOptions(model=model, data=data, output=output, extra_models=list(also_model or []),
                                     methods=[m.strip() for m in methods.split(",") if m.strip()], truth=truth,
                                     k=k, split=split, max_samples=max_samples, clump=clump,
                                     batch_size=batch_size,
                                     device=device, precision=precision,
                                     threads=threads, seed=seed, force=force))


@app.command()
def validate(
    model: Model, data: Data, output: Output, truth: Truth = None,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """Test-split metrics beside PCA + logistic / nearest centroid (or linear) baselines; HTML report."""
    from genotool_snp.validate import ValidateOptions, run_validate

    run_validate(ValidateOptions(model=model, data=data, output=output, truth=truth, batch_size=batch_size,
                                 device=device, precision=precision, threads=threads, seed=seed, force=force))


@app.command()
def compare(
    data: Data, output: Output,
    architectures: Annotated[str, typer.Option("--architectures", help="Comma-separated architectures.")] = "cnn,cnn-transformer,gnn",
    task: Task = "population", label: Label = None,
    preset: Annotated[str, typer.Option("--preset", help="Preset for every architecture.")] = "small-cpu",
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="Preset override key=value (repeatable).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Maximum epochs per architecture (the "
                                                  "cosine schedule's length).")] = 12,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Wall-clock budget for EACH "
                                                         "architecture (default: cnn 7, cnn-transformer 6, gnn "
                                                         "4 minutes: <= 20 min in all on 2 CPU cores; "
                                                         "with --cv split over the folds).")] = None,
    cv: Annotated[Optional[int], typer.Option("--cv", help="Stratified K-fold cross-validation (K >= 3) "
                                              "instead of the data's split: mean and spread per method.")] = None,
    json_out: Json = None,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """Train each architecture on one split and budget; one table with the baselines (+ JSON)."""
    from genotool_snp.compare import CompareOptions, run_compare
    from genotool_snp.train import parse_overrides

    archs = [_arch(a.strip()) for a in architectures.split(",") if a.strip()]
    run_compare(CompareOptions(data=data, output=output, architectures=archs, task=task, label=label, preset=preset,
                               overrides=parse_overrides(set_), epochs=epochs, max_minutes=max_minutes,
                               cv=cv, json=json_out, batch_size=batch_size, device=device, precision=precision,
                               threads=threads, seed=seed, force=force))


@app.command()
def sweep(
    output: Output,
    scenarios: Annotated[Optional[Path], typer.Option("--scenarios", help="Scenario table (JSON, like the "
                                                      "built-in presets/scenarios.json; default: the built-in "
                                                      "14 cohorts).")] = None,
    only: Annotated[Optional[str], typer.Option("--only", help="Comma-separated scenario names to run.")] = None,
    architectures: Annotated[str, typer.Option("--architectures", help="Comma-separated architectures (the "
                                               "first is held to the floors).")] = "cnn",
    cv: Annotated[int, typer.Option("--cv", help="Stratified folds per scenario.")] = 5,
    preset: Annotated[str, typer.Option("--preset", help="Preset for every architecture.")] = "small-cpu",
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="Preset override key=value (repeatable).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Maximum epochs (default: compare's).")] = None,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Training budget per architecture "
                                                         "and scenario (split over the folds).")] = None,
    length: Annotated[Optional[int], typer.Option("--length", help="Override every scenario's length (bp).")] = None,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """Scenario sweep: simulate, preprocess and compare --cv per cohort; the floors against PCA."""
    from genotool_snp.sweep import SweepOptions, run_sweep
    from genotool_snp.train import parse_overrides

    run_sweep(SweepOptions(output=output, scenarios=scenarios,
                           only=[s.strip() for s in (only or "").split(",") if s.strip()],
                           architectures=[_arch(a.strip()) for a in architectures.split(",") if a.strip()], cv=cv,
                           preset=preset, overrides=parse_overrides(set_), epochs=epochs, max_minutes=max_minutes,
                           length=length, batch_size=batch_size, device=device, precision=precision,
                           threads=threads, seed=seed, force=force))


@app.command()
def bench(
    output: OptionalOutput = None,
    snps: Annotated[str, typer.Option("--snps", help="Comma-separated SNP counts.")] = "1000,10000,50000",
    architectures: Annotated[str, typer.Option("--architectures", help="Comma-separated architectures.")] = "cnn,cnn-transformer,gnn",
    steps: Annotated[int, typer.Option("--steps", help="Timed training steps per configuration.")] = 3,
    vcf: Annotated[Optional[Path], typer.Option("--vcf", help="Also time preprocess (and plink2/plink1.9 where "
                                                "installed) on this VCF.gz; needs --samples.")] = None,
    samples: Annotated[Optional[Path], typer.Option("--samples", help="Sample table for --vcf.")] = None,
    batch_size: BatchSize = None, device: Device = None, precision: Precision = None, threads: Threads = None,
    seed: Seed = 0, force: Force = False,
):
    """One JSON: train/predict samples/s and peak memory per architecture and SNP count (+ preprocess vs plink)."""
    from genotool_snp.bench import BenchOptions, run_bench

    run_bench(BenchOptions(output=output, snps=[int(s) for s in snps.split(",") if s.strip()],
                           architectures=[_arch(a.strip()) for a in architectures.split(",") if a.strip()],
                           steps=steps, vcf=vcf, samples=samples, batch_size=batch_size, device=device,
                           precision=precision, threads=threads, seed=seed, force=force))
