"""``hello bench``: training-step and inference throughput on random one-hot sequences (one JSON)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from genotool.engine import autocast_context, resolve_device, seed_everything
from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions
from genotool_hello.train import choose_batch_size, step_fn


@dataclass
class BenchOptions(RunOptions):
    """One ``hello bench`` command line."""

    output: Path | None = None
    length: int = 200
    steps: int = 20
    force: bool = False


def run_bench(opts: BenchOptions) -> dict:
    """Time training steps and inference on random sequences; print (and return) one JSON object."""
    from genotool.bench import emit
    from genotool.outputs import refuse_existing

    if opts.steps < 1 or opts.length < 9:
        raise UserError("--steps must be >= 1 and --length >= 9")
    refuse_existing(opts.output, opts.force)
    plan = opts.plan()
    log(f"hello bench: {plan.device}, {plan.precision}")
    result = measure(plan, length=opts.length, steps=opts.steps)
    result["plan"] = plan.to_dict()
    return emit(result, opts.output, plugin="hello")


def measure(plan, *, length: int, steps: int) -> dict:
    seed_everything(0)
    device = resolve_device(plan)
    model, train_step = step_fn(plan, 32, 9, length)
    # GPU: measured once per device/model/precision and cached; CPU: RAM-capped default.
    bs = choose_batch_size(plan, 32, 9, length, default=256)
    result = {"device": str(device), "precision": plan.precision, "batch_size": bs,
              "batch_size_source": plan.batch_size_source, "length": length, "steps": steps}
    train_step(bs)  # warm-up (allocator, cuDNN autotuning) is not timed
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(bs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_s = time.perf_counter() - t0
    model.eval()
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (bs, length), device=device), 4)
    x = x.transpose(1, 2).float()
    with torch.no_grad(), autocast_context(plan, device):
        model(x)
        t0 = time.perf_counter()
        for _ in range(steps):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
    infer_s = time.perf_counter() - t0
    result.update(train_seconds=round(train_s, 4),
                  train_samples_per_second=round(bs * steps / train_s, 1),
                  inference_seconds=round(infer_s, 4),
                  inference_samples_per_second=round(bs * steps / infer_s, 1),
                  parameters=sum(p.numel() for p in model.parameters()))
    return result
