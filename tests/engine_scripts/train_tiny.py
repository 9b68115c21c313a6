"""Train the tiny regression model with the shared engine (run by the engine tests).

    python train_tiny.py --out DIR --epochs 4 --dump final.pt [--kill-after-epoch 2]
    python -m torch.distributed.run --nproc_per_node=2 --standalone train_tiny.py --out DIR \
        --dump final.pt --spy-dir SPY

``--kill-after-epoch K`` SIGKILLs this process from an ``on_epoch_end`` callback right after
epoch K's checkpoint is written (a real kill: no cleanup, no finally blocks). ``--second-fit DIR``
trains another model afterwards in the same process (as a plugin does per fold). ``--spy-dir``
records, per rank, the sample indices trained on, the final parameters and which rank called
the engine's file writers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import genotool.engine.trainer as trainer_mod  # noqa: E402
from engine_tiny import IndexedRegression, RegressionTask, make_model  # noqa: E402
from genotool.engine import TrainConfig, Trainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--kill-after-epoch", type=int, default=None)
    ap.add_argument("--spy-dir", default=None)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--samples", type=int, default=96)
    ap.add_argument("--second-fit", default=None,
                    help="then train a second model into this folder in the same process (folds)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))

    writes: list[str] = []
    if args.spy_dir:
        # Spy on the trainer's file writers (test-side wrapping, not a production hook).
        real_save, real_hist = trainer_mod.ckpt.save_atomic, trainer_mod.write_history

        def save_spy(payload, path):
            writes.append(f"checkpoint:{Path(path).name}")
            return real_save(payload, path)

        def hist_spy(out_dir, history):
            writes.append("history")
            return real_hist(out_dir, history)

        trainer_mod.ckpt.save_atomic = save_spy
        trainer_mod.write_history = hist_spy

    cfg = TrainConfig(max_epochs=args.epochs, lr=3e-2, weight_decay=1e-2, optimizer="adamw",
                      scheduler="onecycle", grad_accum_steps=2, clip_grad_norm=1.0, batch_size=8,
                      monitor="val_loss", monitor_mode="min", patience=None, seed=7,
                      num_workers=args.workers, persistent_workers=True, progress_label="[tiny] ")
    model = make_model(seed=1)
    task = RegressionTask()
    trainer = Trainer(cfg, plan=None, out_dir=args.out)

    if args.kill_after_epoch is not None:
        def kill(trainer, epoch, row):
            if epoch == args.kill_after_epoch:
                os.kill(os.getpid(), signal.SIGKILL)
        trainer.add_callback(kill)

    result = trainer.fit(model, task, IndexedRegression(args.samples), IndexedRegression(32, seed=5))
    info = {"resumed_from_epoch": result.resumed_from_epoch, "epochs_run": result.epochs_run,
            "global_step": result.global_step, "history": result.history,
            "world_size": trainer.dist.world_size, "rank": rank}
    if args.second_fit:
        second = Trainer(TrainConfig(max_epochs=1, batch_size=8, seed=8, progress=False), out_dir=args.second_fit)
        res2 = second.fit(make_model(seed=2), RegressionTask(), IndexedRegression(args.samples),
                          IndexedRegression(32, seed=5))
        info["second_history"] = res2.history
    suffix = f".rank{rank}" if trainer.dist.world_size > 1 else ""
    torch.save(model.state_dict(), args.dump + suffix)
    Path(args.dump + suffix + ".json").write_text(json.dumps(info))
    if args.spy_dir:
        spy = Path(args.spy_dir)
        spy.mkdir(parents=True, exist_ok=True)
        (spy / f"rank{rank}.json").write_text(json.dumps({"seen": task.seen, "writes": writes}))


if __name__ == "__main__":
    main()
