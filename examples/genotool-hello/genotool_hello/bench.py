"""``hello bench``: training-step and inference throughput on random one-hot sequences."""

from __future__ import annotations

import time

import torch

from genotool.engine import autocast_context, resolve_device, seed_everything
from genotool_hello.train import choose_batch_size, step_fn


def run_bench(plan, *, length: int, steps: int) -> dict:
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
