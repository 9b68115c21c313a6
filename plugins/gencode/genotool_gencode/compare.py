"""`gencode compare`: the three heads on the same encoder, data, seed and budget; test-set table."""

from __future__ import annotations

import time
from pathlib import Path

from genotool.log import log as log_line
from genotool_gencode.config import ModelConfig, TrainSettings, default_batch_size

TABLE_COLUMNS = ("segment_f1", "duration_kl", "position_macro_f1", "boundary_f1_tol0", "boundary_f1_tol2",
                 "boundary_f1_tol10", "pred_segments", "true_segments", "nucleotide_sensitivity",
                 "nucleotide_specificity", "exon_sensitivity", "exon_specificity", "exon_f1", "gene_sensitivity",
                 "gene_specificity", "train_seconds")


# measured training time relative to the linear chain (default compare, 2-core VM)
RELATIVE_COST = {"pytorch-crf": 1.1, "linear": 1.0, "semicrf": 2.2}


def run_compare(*, data_dir: Path, output: Path, names: list[str], model_config: ModelConfig,
                settings: TrainSettings, max_test_chunks: int | None = None, json_path: Path | None = None,
                device=None, precision=None, threads=None, force: bool = False, parallel: bool = False,
                augustus: bool = False, log=log_line) -> dict:
    """Train each head in ``names`` from the same ``model_config`` and ``settings``; evaluate on
    the test split (with ``augustus``: AUGUSTUS too, augustus.py); write ``compare.json`` (and
    ``json_path``) and print the table."""
    from genotool.outputs import run_output, write_json
    from genotool.probe import apply_torch, make_plan

    model_config.check(tuple(names))
    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=settings.batch_size,
                     cpu_threads=threads)
    settings = default_batch_size(plan, settings, 16)
    apply_torch(plan)
    params = {"models": names, **model_config.to_json(), **settings.to_json(), "max_test_chunks": max_test_chunks,
              "parallel": parallel, "augustus": augustus}
    params.pop("head")
    t_all = time.perf_counter()
    rows = []
    with run_output(output, command="gencode compare", parameters=params, inputs=[data_dir], force=force) as run:
        run.plan = plan.to_dict()
        common = dict(data_dir=data_dir, model_config=model_config, settings=settings,
                      max_test_chunks=max_test_chunks)
        if parallel and len(names) > 1:
            # one process per model, each with `threads` (default 1) intra-op threads: on a small CPU
            # three single-threaded trainings share the cores far better than one after the other
            import concurrent.futures as cf

            from genotool.parallel import core_sets, pool_kwargs

            # the semi-CRF takes about twice as long as either linear head: with fewer cores than
            # models it gets a core of its own (wall time only; each process has its own threads)
            cpus = core_sets([RELATIVE_COST.get(n, 1.0) for n in names])
            log(f"training {', '.join(names)} in {len(names)} parallel processes")
            with cf.ProcessPoolExecutor(len(names), **pool_kwargs("spawn")) as ex:
                futs = [ex.submit(_train_and_eval, name=n, sub=run.path / n, device=device,
                                  precision=precision, threads=threads or 1, prefix=f"[{n}] ", cpus=c, **common)
                        for n, c in zip(names, cpus)]
                rows = [f.result() for f in futs]
        else:
            for name in names:
                log(f"=== {name} ===")
                rows.append(_train_and_eval(name=name, sub=run.path / name, plan=plan, log=log, **common))
        if augustus:
            from genotool_gencode.augustus import augustus_row

            rows.append(augustus_row(data_dir, run.path / "augustus", max_test_chunks, TABLE_COLUMNS, log))
        for row in rows:
            if "missing" in row:
                continue
            log(f"{row['model']}: segment F1 {row['segment_f1']:.4f}, duration KL {row['duration_kl']:.4f}, "
                f"position macro-F1 {row['position_macro_f1']:.4f}")
        result = {"data_dir": str(data_dir), "encoder": model_config.encoder, "budget": params,
                  "test_chunks": next((r["test_chunks"] for r in rows if "test_chunks" in r), 0), "rows": rows,
                  "wall_seconds": round(time.perf_counter() - t_all, 1)}
        write_json(run.path / "compare.json", result)
        run.runtime.update({"wall_seconds_total": result["wall_seconds"]})
    if json_path is not None:
        write_json(json_path, result)
    print_table(rows, log)
    return result


def print_table(rows, log) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gencode compare (test split)")
    cols = ["model", "K", *TABLE_COLUMNS]
    for c in cols:
        table.add_column(c, justify="right" if c != "model" else "left")
    for r in rows:
        table.add_row(*[f"{r[c]:.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols])
    Console(stderr=True, width=320).print(table)   # wide enough for every column when not a TTY


def _train_and_eval(*, name, sub, data_dir, model_config: ModelConfig, settings: TrainSettings,
                    max_test_chunks=None, plan=None, log=None, device=None, precision=None, threads=None,
                    prefix="", cpus=None) -> dict:
    """Train one head and evaluate it on the test split (in this process or a spawned one,
    pinned to ``cpus`` if given)."""
    from genotool.outputs import write_json
    from genotool.parallel import pin_to
    from genotool_gencode.train import ChunkDataset, evaluate, load_model, run_training

    pin_to(cpus)

    if plan is None:
        from genotool.probe import apply_torch, make_plan

        plan = make_plan(backend="torch", device=device, precision=precision, batch_size=settings.batch_size,
                         cpu_threads=threads)
        apply_torch(plan)
    if log is None:
        def log(msg):
            log_line(prefix + str(msg))
    cfg = model_config.for_head(name)
    sub.mkdir(exist_ok=True)
    res = run_training(data_dir=data_dir, out_dir=sub, model_config=cfg, settings=settings, plan=plan, log=log,
                       progress_label=prefix)
    model, _ = load_model(sub, plan.device)
    test_ds = ChunkDataset(data_dir / "test.jsonl", max_test_chunks, states=model.strand_states)
    t0 = time.perf_counter()
    metrics, nll, _ = evaluate(model, test_ds, plan, settings.batch_size)
    summary = metrics.summary()
    row = {"model": name, "K": cfg.K,
           **{k: summary[k] for k in TABLE_COLUMNS if k in summary},
           "test_nll_per_bp": nll, "train_seconds": res["train_seconds"],
           "eval_seconds": round(time.perf_counter() - t0, 2), "epochs_run": res["epochs_run"],
           "test_chunks": len(test_ds), "duration_kl_per_label": summary["duration_kl_per_label"]}
    write_json(sub / "test_metrics.json", {**summary, "per_class": metrics.per_class()})
    return row
