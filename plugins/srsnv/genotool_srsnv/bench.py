"""``srsnv bench``: one JSON with preprocess rows/s (1 and N workers), cache-hit time, training
samples/s, prediction rows/s and peak memory. Reproducible: a fixed simulated dataset (seed) and
fresh cache folders per measurement."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from dataclasses import dataclass

from genotool.bench import emit, peak_children_rss_mb
from genotool.log import log
from genotool.options import RunOptions


@dataclass
class BenchConfig(RunOptions):
    """One ``srsnv bench`` command line."""

    data: Path | None = None          # a `srsnv simulate` folder; None: simulate one
    output: Path | None = None        # also write the JSON here
    num_reads: int = 20000            # reads per BAM when simulating
    workers: int = 2                  # N of the N-worker preprocess run
    train_steps: int = 30
    seed: int = 0
    force: bool = False


def _cfg(d: Path, cache: Path, workers: int):
    from genotool_srsnv import splits
    from genotool_srsnv.pipeline import PreprocessConfig

    mp = splits.manifest_params(single_model=True, holdout=["chr21", "chr22"], val_fraction=0.1, hash_key="RN",
                                seed=0, n_folds=1)
    return PreprocessConfig(d / "positive.bam", d / "negative.bam", d / "positive.parquet", d / "negative.parquet",
                            d / "training_regions.interval_list", cache, mp, num_workers=workers,
                            batch_rows=4096, progress=False)


def run_bench(cfg: BenchConfig) -> dict:
    """Simulate (unless ``cfg.data``) -> cold preprocess with 1 and N workers -> cache hit ->
    training steps and prediction with the shared engine; print and return one JSON object."""
    from genotool.outputs import refuse_existing

    refuse_existing(cfg.output, cfg.force)
    tmp = Path(tempfile.mkdtemp(prefix="srsnv-bench-"))
    res: dict = {"workers": cfg.workers}
    try:
        data = Path(cfg.data) if cfg.data is not None else _simulate(cfg, tmp / "data", res)
        res["preprocess"] = _cold_preprocess(data, tmp, cfg.workers)
        rec = _cache_hit(data, tmp, cfg.workers, res)
        plan = _train_and_predict(cfg, rec, tmp, res)
        res["peak_children_rss_mb"] = peak_children_rss_mb()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["plan"] = plan.to_dict()
    return emit(res, cfg.output, plugin="srsnv")


def _simulate(cfg: BenchConfig, data: Path, res: dict) -> Path:
    """The fixed benchmark dataset (``--num-reads``, ``--seed``) in a temporary folder."""
    from genotool_srsnv.simulate import simulate_dataset

    data.mkdir()
    log(f"bench: simulating {cfg.num_reads} reads per BAM (seed {cfg.seed})")
    t = time.perf_counter()
    simulate_dataset(data, n_reads=cfg.num_reads, genome_size=max(200_000, cfg.num_reads * 30), seed=cfg.seed)
    res["simulate_seconds"] = round(time.perf_counter() - t, 2)
    res["dataset"] = {"simulated_reads_per_bam": cfg.num_reads, "seed": cfg.seed}
    return data


def _cold_preprocess(data: Path, tmp: Path, workers: int) -> dict:
    """Rows/s of a cold preprocess with 1 and with ``workers`` workers (fresh cache folders)."""
    from genotool_srsnv.pipeline import preprocess

    pre = {}
    for w in (1, workers):
        log(f"bench: cold preprocess with {w} worker(s)")
        r = preprocess(_cfg(data, tmp / f"cache{w}", w))
        tel = r.index["telemetry"]
        pre[f"workers_{w}"] = {"rows": tel["rows"], "total_seconds": round(r.seconds, 3),
                               "encode_seconds": tel["encode_seconds"],
                               "rows_per_second": tel["rows_per_second"],
                               "per_worker_rows_per_second": [x["rows_per_second"] for x in tel["workers"]],
                               "per_worker_rows_per_cpu_second": [x["rows_per_cpu_second"] for x in tel["workers"]],
                               "load_average_1min": tel.get("load_average_1min")}
    one, many = pre["workers_1"], pre[f"workers_{workers}"]
    pre["speedup"] = round(many["rows_per_second"] / max(one["rows_per_second"], 1e-9), 3)
    # what N workers would give with N free cores: N x the per-worker CPU throughput ratio
    cpu1 = sum(one["per_worker_rows_per_cpu_second"]) / len(one["per_worker_rows_per_cpu_second"])
    cpun = sum(many["per_worker_rows_per_cpu_second"]) / len(many["per_worker_rows_per_cpu_second"])
    pre["speedup_if_cores_free"] = round(workers * cpun / max(cpu1, 1e-9), 3)
    return pre


def _cache_hit(data: Path, tmp: Path, workers: int, res: dict) -> dict:
    """Time of a cache hit (and of loading the records with the full CRC check); the records."""
    from genotool_srsnv.cache import load_records
    from genotool_srsnv.pipeline import preprocess

    log("bench: cache hit")
    t = time.perf_counter()
    hit = preprocess(_cfg(data, tmp / f"cache{workers}", workers))
    hit_s = time.perf_counter() - t
    t = time.perf_counter()
    rec = load_records(hit.path, hit.index, verify=True)
    load_s = time.perf_counter() - t
    cold = res["preprocess"][f"workers_{workers}"]["total_seconds"]
    res["cache_hit"] = {"hit": hit.hit, "seconds": round(hit_s, 4),
                        "fraction_of_cold": round(hit_s / max(cold, 1e-9), 5),
                        "load_records_seconds_full_crc": round(load_s, 3)}
    return rec


def _train_and_predict(cfg: BenchConfig, rec: dict, tmp: Path, res: dict):
    """Training samples/s over ``--train-steps`` batches and prediction rows/s with the shared
    engine, under the plan of ``--device/--precision/--batch-size/--threads``; returns the plan."""
    import numpy as np

    from genotool.engine import Trainer, TrainConfig
    from genotool_srsnv.model import RecordBatcher, encode_records, known_vocab, passthrough
    from genotool_srsnv.train import Network, make_task, predict_probs, train_plan

    net = Network()
    plan = train_plan(cfg)
    vocab = known_vocab()
    enc = encode_records(rec["pos"], rec["num"], rec["cat"], vocab)
    label = rec["rows"]["label"].to_numpy().astype(np.float32)
    rows = np.arange(len(label))
    model = net.build(vocab)
    tcfg = TrainConfig(max_epochs=1, lr=1e-3, batch_size=int(plan.batch_size), max_steps_per_epoch=cfg.train_steps,
                       monitor=None, seed=cfg.seed, progress=False)
    log(f"bench: training {cfg.train_steps} batches of {plan.batch_size}")
    fit = Trainer(tcfg, plan=plan, out_dir=tmp / "train").fit(model, make_task(None),
                                                              RecordBatcher(enc, rows, label, window=net.window),
                                                              collate_fn=passthrough)
    h = fit.history[-1]
    res["training"] = {"device": plan.device, "precision": plan.precision, "batch_size": plan.batch_size,
                       "steps": cfg.train_steps, "samples_per_second": h.get("samples_per_second"),
                       "wait_seconds": h.get("wait_seconds"), "compute_seconds": h.get("compute_seconds"),
                       "model": model.config}
    log("bench: prediction")
    t = time.perf_counter()
    predict_probs(model, enc, rows, plan, max(1024, int(plan.batch_size)))
    dt = time.perf_counter() - t
    one = res["preprocess"]["workers_1"]["rows_per_second"]
    res["prediction"] = {"rows": int(len(rows)), "model_rows_per_second": round(len(rows) / dt, 1),
                         "end_to_end_rows_per_second_estimate": round(
                             1 / (1 / (len(rows) / dt) + 1 / max(one, 1e-9)), 1)}
    return plan
