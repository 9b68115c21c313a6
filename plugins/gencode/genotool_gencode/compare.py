"""`gencode compare`: the three heads on the same encoder, data, seed and budget; test-set table."""

from __future__ import annotations

import json
import time
from pathlib import Path

TABLE_COLUMNS = ("segment_f1", "duration_kl", "position_macro_f1", "boundary_f1_tol0", "boundary_f1_tol2",
                 "boundary_f1_tol10", "pred_segments", "true_segments", "train_seconds")


def run_compare(*, data_dir: Path, output: Path, names: list[str], encoder: str, max_duration: int,
                hidden_dim: int, num_layers: int, epochs: int, batch_size: int, lr: float, weight_decay: float,
                crf_reg: float, emission_clamp: float, log_every: int, d_state: int, d_conv: int, expand: int,
                max_train_chunks, max_val_chunks, max_test_chunks, max_steps_per_epoch, output_json,
                device, precision, seed: int, force: bool, log, crop_length=None, threads=None,
                chain: str = "canonical") -> dict:
    from genotool.outputs import run_output, write_json
    from genotool.probe import apply_torch, make_plan

    from genotool_gencode.train import ChunkDataset, evaluate, run_training

    plan = make_plan(backend="torch", device=device, precision=precision, batch_size=batch_size,
                     cpu_threads=threads)
    apply_torch(plan)
    params = {"models": names, "encoder": encoder, "max_duration": max_duration, "hidden_dim": hidden_dim,
              "num_layers": num_layers, "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "weight_decay": weight_decay, "crf_reg": crf_reg, "emission_clamp": emission_clamp, "seed": seed,
              "max_train_chunks": max_train_chunks, "max_val_chunks": max_val_chunks,
              "max_test_chunks": max_test_chunks, "max_steps_per_epoch": max_steps_per_epoch,
              "crop_length": crop_length, "chain": chain}
    t_all = time.perf_counter()
    rows = []
    with run_output(output, command="gencode compare", parameters=params, inputs=[data_dir], force=force) as run:
        run.plan = plan.to_dict()
        test_ds = ChunkDataset(data_dir / "test.jsonl", max_test_chunks)
        for name in names:
            log(f"=== {name} ===")
            cfg = {"model": name, "encoder": encoder, "max_duration": max_duration, "hidden_dim": hidden_dim,
                   "num_layers": num_layers, "emission_clamp": emission_clamp, "backend": "streaming",
                   "no_triton": True, "d_state": d_state, "d_conv": d_conv, "expand": expand, "chain": chain}
            sub = run.path / name
            sub.mkdir(exist_ok=True)
            res = run_training(data_dir=data_dir, out_dir=sub, model_config=cfg, plan=plan, epochs=epochs,
                               batch_size=batch_size, lr=lr, weight_decay=weight_decay, crf_reg=crf_reg,
                               log_every=log_every, seed=seed, max_train_chunks=max_train_chunks,
                               max_val_chunks=max_val_chunks, max_steps_per_epoch=max_steps_per_epoch, crop_length=crop_length, log=log)
            from genotool_gencode.train import load_model

            model, _ = load_model(sub, plan.device)
            t0 = time.perf_counter()
            metrics, nll, _ = evaluate(model, test_ds, plan.device, batch_size)
            summary = metrics.summary()
            row = {"model": name, "K": 1 if name != "semicrf" else max_duration,
                   **{k: summary[k] for k in TABLE_COLUMNS if k in summary},
                   "test_nll_per_bp": nll, "train_seconds": res["train_seconds"],
                   "eval_seconds": round(time.perf_counter() - t0, 2), "epochs_run": res["epochs_run"],
                   "duration_kl_per_label": summary["duration_kl_per_label"]}
            rows.append(row)
            write_json(sub / "test_metrics.json", {**summary, "per_class": metrics.per_class()})
            log(f"{name}: segment F1 {row['segment_f1']:.4f}, duration KL {row['duration_kl']:.4f}, "
                f"position macro-F1 {row['position_macro_f1']:.4f}")
        result = {"data_dir": str(data_dir), "encoder": encoder, "budget": params, "test_chunks": len(test_ds),
                  "rows": rows, "wall_seconds": round(time.perf_counter() - t_all, 1)}
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
    _ = json
