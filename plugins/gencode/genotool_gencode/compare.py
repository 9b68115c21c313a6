"""`gencode compare`: models on the same data, split and budget, every one scored on the test split's
gene models by the same code (nucleotide / exon / gene level, genes/scoring.py).

Rows (``--models``, comma-separated):

* ``pytorch-crf``, ``linear``, ``semicrf``: an encoder + CRF head over 21 strand-aware label states
  (per-base labels; trained in parallel processes with the same encoder, data, seed and budget);
  their labelling is read as gene models, and the label metrics (segment F1, duration KL, ...) of
  the test chunks are kept too;
* ``gene-semicrf-sensors``, ``gene-semicrf-encoder``, ``gene-semicrf-both``: gene finders over
  gene-structure states with explicit exon/intron lengths, reading the counted sensors, the neural
  encoder, or both; ``gene-linear-<features>``: the same states as a linear chain (geometric
  lengths). They share one cross-fitting (fold sensors and encoders, genes/fit.py); only the CRF
  weights are learned per row;
* ``--augustus``: AUGUSTUS trained by etraining on the same training genes; ``--augustus-species
  NAME``: a shipped AUGUSTUS species. Each row records its prediction time on the test split, so
  one run compares speed on the same machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from genotool.errors import UserError
from genotool.log import log as log_line
from genotool.options import RunOptions
from genotool_gencode.config import ModelConfig, TrainSettings

LABEL_MODELS = ("pytorch-crf", "linear", "semicrf")
GENE_FEATURES = ("sensors", "encoder", "both")
GENE_MODELS = tuple(f"gene-{h}-{f}" for h in ("semicrf", "linear") for f in GENE_FEATURES)
DEFAULT_MODELS = "linear,semicrf,gene-semicrf-sensors,gene-semicrf-encoder,gene-semicrf-both,gene-linear-both"

LEVEL_COLUMNS = tuple(f"{lv}_{m}" for lv in ("nucleotide", "exon", "gene")
                      for m in ("sensitivity", "specificity", "f1"))
LABEL_COLUMNS = ("segment_f1", "duration_kl", "position_macro_f1", "boundary_f1_tol0")
TABLE_COLUMNS = (*LEVEL_COLUMNS, "genes_pred", "train_seconds", "predict_seconds")

# measured training time relative to the linear chain (label models, 2-core VM)
RELATIVE_COST = {"pytorch-crf": 1.1, "linear": 1.0, "semicrf": 2.2}


@dataclass(kw_only=True)
class CompareConfig(RunOptions):
    data: Path
    output: Path
    models: list[str] = field(default_factory=lambda: DEFAULT_MODELS.split(","))
    model: ModelConfig = field(default_factory=ModelConfig)          # label models' encoder + head options
    settings: TrainSettings = field(default_factory=TrainSettings)   # label models' budget
    max_test_chunks: int | None = None
    encoder_steps: int | None = None                                  # gene models' encoder budget
    gene_epochs: int = 4                                              # gene models' weight-learning passes
    augustus: bool = False
    augustus_species: str | None = None
    parallel: bool = True
    json: Path | None = None
    force: bool = False

    def check(self) -> "CompareConfig":
        from genotool.errors import require_dir

        require_dir(self.data, "--data")
        if not self.models and not (self.augustus or self.augustus_species):
            raise UserError("--models: no model given (and no --augustus row)")
        for m in self.models:
            if m not in LABEL_MODELS + GENE_MODELS:
                raise UserError(f"--models: unknown model '{m}' (choose from {', '.join(LABEL_MODELS + GENE_MODELS)})")
        label = [m for m in self.models if m in LABEL_MODELS]
        self.model.check(tuple(label) or None)
        self.settings.check()
        if self.encoder_steps is not None and self.encoder_steps < 1:
            raise UserError(f"--encoder-steps must be >= 1, not {self.encoder_steps}")
        if self.gene_epochs < 1:
            raise UserError(f"--gene-epochs must be >= 1, not {self.gene_epochs}")
        return self


def run_compare(cfg: CompareConfig, log=log_line) -> dict:
    """Train and score every row (module docstring); write ``compare.json`` (and ``--json``), print the table."""
    from genotool.outputs import run_output, write_json

    cfg.check()
    plan = cfg.plan(default_batch_size=16)
    settings = replace(cfg.settings, batch_size=int(plan.batch_size))
    label = [m for m in cfg.models if m in LABEL_MODELS]
    gene = [m for m in cfg.models if m in GENE_MODELS]
    params = {"models": cfg.models, **cfg.model.to_json(), **settings.to_json(),
              "max_test_chunks": cfg.max_test_chunks, "encoder_steps": cfg.encoder_steps,
              "gene_epochs": cfg.gene_epochs, "parallel": cfg.parallel, "augustus": cfg.augustus,
              "augustus_species": cfg.augustus_species}
    params.pop("head")
    if gene:      # the gene rows' data, checked whole before any training starts
        from genotool_gencode.genes.pieces import load_split

        load_split(cfg.data, "train")
        load_split(cfg.data, "test")
    t_all = time.perf_counter()
    rows = []
    with run_output(cfg.output, command="gencode compare", parameters=params, inputs=[cfg.data],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        if label:
            rows += label_rows(cfg, label, settings, run.path, plan, log)
        if gene:
            rows += gene_rows(cfg, gene, run.path, log)
        if cfg.augustus or cfg.augustus_species:
            from genotool_gencode.augustus import augustus_row

            if cfg.augustus:
                rows.append(augustus_row(cfg.data, run.path / "augustus", log))
            if cfg.augustus_species:
                rows.append(augustus_row(cfg.data, run.path / f"augustus-{cfg.augustus_species}", log,
                                         species=cfg.augustus_species))
        result = {"data_dir": str(cfg.data), "budget": params, "rows": rows,
                  "wall_seconds": round(time.perf_counter() - t_all, 1)}
        write_json(run.path / "compare.json", result)
        run.runtime.update({"wall_seconds_total": result["wall_seconds"]})
    if cfg.json is not None:
        write_json(cfg.json, result)
    print_table(rows)
    return result


def print_table(rows) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gencode compare (test split: gene models)")
    cols = ["model", *TABLE_COLUMNS]
    for c in cols:
        table.add_column(c.replace("_", " "), justify="right" if c != "model" else "left")
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if c == "model":
                cells.append(str(v) + (f" (missing: {r['missing']})" if "missing" in r else ""))
            elif isinstance(v, float):
                cells.append(f"{v:.0f}" if c.endswith("seconds") else f"{v:.4f}")
            else:
                cells.append("" if v is None else str(v))
        table.add_row(*cells)
    Console(stderr=True, width=320).print(table)


# ---------------------------------------------------------------------------------------------
# label-state rows

def label_rows(cfg: CompareConfig, names, settings, out: Path, plan, log) -> list[dict]:
    common = dict(data_dir=cfg.data, model_config=cfg.model, settings=settings, max_test_chunks=cfg.max_test_chunks)
    if cfg.parallel and len(names) > 1:
        # one process per model, each with `threads` (default 1) intra-op threads: on a small CPU
        # single-threaded trainings share the cores far better than one after the other
        import concurrent.futures as cf

        from genotool.parallel import core_sets, pool_kwargs

        cpus = core_sets([RELATIVE_COST.get(n, 1.0) for n in names])
        log(f"training {', '.join(names)} in {len(names)} parallel processes")
        with cf.ProcessPoolExecutor(len(names), **pool_kwargs("spawn")) as ex:
            # each process builds its own plan from the same options (a plan holds applied torch state)
            options = RunOptions(device=cfg.device, precision=cfg.precision, tf32=cfg.tf32,
                                 batch_size=settings.batch_size, threads=cfg.threads or 1)
            futs = [ex.submit(_train_and_eval, name=n, sub=out / n, options=options, prefix=f"[{n}] ", cpus=c,
                              **common)
                    for n, c in zip(names, cpus)]
            return [f.result() for f in futs]
    rows = []
    for name in names:
        log(f"=== {name} ===")
        rows.append(_train_and_eval(name=name, sub=out / name, plan=plan, log=log, **common))
    return rows


def _train_and_eval(*, name, sub, data_dir, model_config: ModelConfig, settings: TrainSettings,
                    max_test_chunks=None, plan=None, log=None, options=None, prefix="", cpus=None) -> dict:
    """Train one label model, then score it on the test chunks (label metrics) and on the test
    split's gene models (in this process or a spawned one, pinned to ``cpus`` if given)."""
    from genotool.outputs import write_json
    from genotool.parallel import pin_to

    from genotool_gencode.dataset import ChunkDataset
    from genotool_gencode.evaluation import evaluate, evaluate_labels
    from genotool_gencode.genes.gff import write_gtf
    from genotool_gencode.genes.pieces import has_pieces, load_split
    from genotool_gencode.loading import load_model
    from genotool_gencode.train import run_training

    pin_to(cpus)
    if plan is None:
        plan = options.plan()
    if log is None:
        def log(msg):
            log_line(prefix + str(msg))
    cfg = model_config.for_head(name)
    sub.mkdir(exist_ok=True)
    res = run_training(data_dir=data_dir, out_dir=sub, model_config=cfg, settings=settings, plan=plan, log=log,
                       progress_label=prefix)
    model, _ = load_model(sub, plan.device)
    test_ds = ChunkDataset(data_dir / "test.jsonl", max_test_chunks, states=model.strand_states)
    metrics, nll, _ = evaluate(model, test_ds, plan, settings.batch_size)
    summary = metrics.summary()
    row = {"model": name, "K": cfg.K, "states": "strand", **{k: summary[k] for k in LABEL_COLUMNS if k in summary},
           "test_nll_per_bp": nll, "train_seconds": res["train_seconds"], "epochs_run": res["epochs_run"],
           "test_chunks": len(test_ds)}
    write_json(sub / "test_metrics.json", {**summary, "per_class": metrics.per_class()})
    if has_pieces(data_dir, "test"):
        levels, pred = evaluate_labels(model, load_split(data_dir, "test"), plan)
        row.update(levels)
        row["predict_seconds"] = levels["seconds"]
        with open(sub / "test_predictions.gtf", "w") as fh:
            write_gtf(fh, pred)
    return row


# ---------------------------------------------------------------------------------------------
# gene-state rows

def gene_rows(cfg: CompareConfig, names, out: Path, log) -> list[dict]:
    """One cross-fitting for all gene rows; per row its CRF weights, then the test split."""
    from genotool.outputs import write_json

    from genotool_gencode.evaluation import evaluate_finder
    from genotool_gencode.genes.encoder import EncoderSettings
    from genotool_gencode.genes.finder import GeneFinder
    from genotool_gencode.genes.fit import EnsembleEncoder, FitSettings, fit_folds, learn
    from genotool_gencode.genes.gff import write_gtf
    from genotool_gencode.genes.pieces import load_split, training_genes
    from genotool_gencode.genes.saved import save_finder
    from genotool_gencode.genes.sensors import Sensors

    s = FitSettings(epochs=cfg.gene_epochs, seed=cfg.settings.seed,
                    encoder=EncoderSettings(**({"trunk_steps": cfg.encoder_steps} if cfg.encoder_steps else {})))
    pieces, _ = training_genes(load_split(cfg.data, "train"), s.sensors.min_intron, s.sensors.min_exon)
    test = load_split(cfg.data, "test")
    with_encoder = any(not n.endswith("-sensors") for n in names)
    t0 = time.perf_counter()
    fm = fit_folds(pieces, s, log, with_encoder=with_encoder)
    items = fm.items
    sensors = Sensors(s.sensors).fit(pieces)
    shared_seconds = time.perf_counter() - t0
    log(f"gene rows: cross-fitting done in {shared_seconds:.0f} s ({len(items)} held-out windows, "
        f"{sum(len(g) for _, g in pieces)} training genes)")
    encoder = EnsembleEncoder(fm.encoders) if with_encoder else None
    # the test split's channels, computed once for every row (each row's prediction time below is
    # this time plus its own decoding)
    t2 = time.perf_counter()
    test_channels = [sensors.score(p.codes) for p in test]
    sensor_seconds = time.perf_counter() - t2
    encoder_seconds = 0.0
    if encoder is not None:
        t2 = time.perf_counter()
        for ch, p in zip(test_channels, test):
            ch.update(encoder.channels(p.codes))
        encoder_seconds = time.perf_counter() - t2
    log(f"gene rows: test channels in {sensor_seconds:.0f} s (sensors) + {encoder_seconds:.0f} s (encoder)")
    rows = []
    for name in names:
        _, head, features = name.split("-")
        t1 = time.perf_counter()
        weights, history = learn(items, features, "explicit" if head == "semicrf" else "geometric", sensors, s,
                                 lambda m, name=name: log(f"[{name}] {m}"))
        finder = GeneFinder(sensors, weights, kind=features, durations="explicit" if head == "semicrf" else "geometric",
                            encoder=encoder if features != "sensors" else None)
        train_seconds = time.perf_counter() - t1 + shared_seconds
        sub = out / name
        sub.mkdir(exist_ok=True)
        save_finder(finder, sub, head)
        metrics, pred = evaluate_finder(finder, test, channels=test_channels)
        predict_seconds = metrics["seconds"] + sensor_seconds + (encoder_seconds if features != "sensors" else 0.0)
        with open(sub / "test_predictions.gtf", "w") as fh:
            write_gtf(fh, pred)
        write_json(sub / "test_metrics.json", {**metrics, "weights": weights, "weight_history": history})
        row = {"model": name, "K": "genes", "states": "gene", **metrics, "train_seconds": round(train_seconds, 1),
               "predict_seconds": round(predict_seconds, 1), "decode_seconds": metrics["seconds"],
               "weights": weights}
        log(f"{name}: exon F1 {metrics['exon_f1']:.4f}, gene F1 {metrics['gene_f1']:.4f} "
            f"({predict_seconds:.0f} s to predict {metrics['bases']:,} bp)")
        rows.append(row)
    return rows
