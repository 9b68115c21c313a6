"""`gencode compare`: the three heads on the same encoder, data, seed and budget; test-set table."""

from __future__ import annotations

import time
from pathlib import Path

TABLE_COLUMNS = ("segment_f1", "duration_kl", "position_macro_f1", "boundary_f1_tol0", "boundary_f1_tol2",
                 "boundary_f1_tol10", "pred_segments", "true_segments", "train_seconds")


# measured training time relative to the linear chain (default compare, 2-core VM)
RELATIVE_COST = {"pytorch-crf": 1.1, "linear": 1.0, "semicrf": 2.2}


def run_compare(*, data_dir: Path, output: Path, names: list[str], encoder: str, max_duration: int,
                hidden_dim: int, num_layers: int, epochs: int, batch_size: int, lr: float, weight_decay: float,
                crf_reg: float, emission_clamp: float, log_every: int, d_state: int, d_conv: int, expand: int,
                max_train_chunks, max_val_chunks, max_test_chunks, max_steps_per_epoch, output_json,
                device, precision, seed: int, force: bool, log, crop_length=None, threads=None,
                chain: str = "canonical", states: str = "strand", structure_init: str = "counts",
                durations: str = "smooth", linear_warmup_epochs: int = 0, boundary_scores: bool = True,
                censor_edges: bool = True, long_runs: str = "tail", orf_scores: bool = True,
                scheduler: str = "cosine",
                parallel: bool = False) -> dict:
    from genotool.outputs import run_output, write_json
    from genotool.probe import apply_torch, make_plan

    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=batch_size,
                     cpu_threads=threads)
    apply_torch(plan)
    params = {"models": names, "encoder": encoder, "max_duration": max_duration, "hidden_dim": hidden_dim,
              "num_layers": num_layers, "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "weight_decay": weight_decay, "crf_reg": crf_reg, "emission_clamp": emission_clamp, "seed": seed,
              "max_train_chunks": max_train_chunks, "max_val_chunks": max_val_chunks,
              "max_test_chunks": max_test_chunks, "max_steps_per_epoch": max_steps_per_epoch,
              "crop_length": crop_length, "chain": chain, "states": states, "structure_init": structure_init,
              "durations": durations, "linear_warmup_epochs": linear_warmup_epochs,
              "boundary_scores": boundary_scores, "censor_edges": censor_edges,
              "long_runs": long_runs, "orf_scores": orf_scores, "scheduler": scheduler,
              "parallel": parallel}
    t_all = time.perf_counter()
    rows = []
    with run_output(output, command="gencode compare", parameters=params, inputs=[data_dir], force=force) as run:
        run.plan = plan.to_dict()
        common = dict(data_dir=data_dir, encoder=encoder, max_duration=max_duration, hidden_dim=hidden_dim,
                      num_layers=num_layers, emission_clamp=emission_clamp, d_state=d_state, d_conv=d_conv,
                      expand=expand, chain=chain, states=states, structure_init=structure_init, durations=durations,
                      linear_warmup_epochs=linear_warmup_epochs, boundary_scores=boundary_scores,
                      censor_edges=censor_edges, long_runs=long_runs, orf_scores=orf_scores, epochs=epochs,
                      batch_size=batch_size,
                      lr=lr, weight_decay=weight_decay, crf_reg=crf_reg, log_every=log_every, seed=seed,
                      max_train_chunks=max_train_chunks, max_val_chunks=max_val_chunks,
                      max_test_chunks=max_test_chunks, max_steps_per_epoch=max_steps_per_epoch,
                      crop_length=crop_length, scheduler=scheduler)
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
        for row in rows:
            log(f"{row['model']}: segment F1 {row['segment_f1']:.4f}, duration KL {row['duration_kl']:.4f}, "
                f"position macro-F1 {row['position_macro_f1']:.4f}")
        result = {"data_dir": str(data_dir), "encoder": encoder, "budget": params,
                  "test_chunks": rows[0]["test_chunks"] if rows else 0, "rows": rows,
                  "wall_seconds": round(time.perf_counter() - t_all, 1)}
        write_json(run.path / "compare.json", result)
        run.runtime.update({"wall_seconds_total": result["wall_seconds"]})
    if output_json is not None:
        write_json(output_json, result)
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
    Console(stderr=True, width=200).print(table)   # wide enough for every column when not a TTY


def _train_and_eval(*, name, sub, data_dir, encoder, max_duration, hidden_dim, num_layers, emission_clamp, d_state,
                    d_conv, expand, chain, states, structure_init, durations, linear_warmup_epochs, boundary_scores,
                    censor_edges, long_runs, orf_scores,
                    epochs, batch_size, lr, weight_decay, crf_reg, log_every, seed, max_train_chunks, max_val_chunks,
                    max_test_chunks, max_steps_per_epoch, crop_length, scheduler="cosine", plan=None, log=None,
                    device=None, precision=None, threads=None, prefix="", cpus=None) -> dict:
    """Train one head and evaluate it on the test split (in this process or a spawned one,
    pinned to ``cpus`` if given)."""
    import sys

    from genotool.outputs import write_json
    from genotool.parallel import pin_to
    from genotool_gencode.models import make_model_config
    from genotool_gencode.train import ChunkDataset, evaluate, load_model, run_training

    pin_to(cpus)

    if plan is None:
        from genotool.probe import apply_torch, make_plan

        plan = make_plan(backend="torch", device=device, precision=precision, batch_size=batch_size,
                         cpu_threads=threads)
        apply_torch(plan)
    if log is None:
        def log(msg):
            print(prefix + str(msg), file=sys.stderr, flush=True)
    cfg = make_model_config(model=name, encoder=encoder, max_duration=max_duration, hidden_dim=hidden_dim,
                            num_layers=num_layers, emission_clamp=emission_clamp, no_triton=True, d_state=d_state,
                            d_conv=d_conv, expand=expand, chain=chain, states=states,
                            structure_init=structure_init, durations=durations,
                            linear_warmup_epochs=linear_warmup_epochs, boundary_scores=boundary_scores,
                            censor_edges=censor_edges, long_runs=long_runs, orf_scores=orf_scores)
    sub.mkdir(exist_ok=True)
    res = run_training(data_dir=data_dir, out_dir=sub, model_config=cfg, plan=plan, epochs=epochs,
                       batch_size=batch_size, lr=lr, weight_decay=weight_decay, crf_reg=crf_reg,
                       log_every=log_every, seed=seed, max_train_chunks=max_train_chunks,
                       max_val_chunks=max_val_chunks, max_steps_per_epoch=max_steps_per_epoch,
                       crop_length=crop_length, scheduler=scheduler, log=log, progress_label=prefix)
    model, _ = load_model(sub, plan.device)
    test_ds = ChunkDataset(data_dir / "test.jsonl", max_test_chunks, states=model.strand_states)
    t0 = time.perf_counter()
    metrics, nll, _ = evaluate(model, test_ds, plan.device, batch_size)
    summary = metrics.summary()
    row = {"model": name, "K": 1 if name != "semicrf" else max_duration,
           **{k: summary[k] for k in TABLE_COLUMNS if k in summary},
           "test_nll_per_bp": nll, "train_seconds": res["train_seconds"],
           "eval_seconds": round(time.perf_counter() - t0, 2), "epochs_run": res["epochs_run"],
           "test_chunks": len(test_ds), "duration_kl_per_label": summary["duration_kl_per_label"]}
    write_json(sub / "test_metrics.json", {**summary, "per_class": metrics.per_class()})
    return row
