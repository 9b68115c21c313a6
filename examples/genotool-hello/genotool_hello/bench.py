"""``hello bench``: training-step and inference throughput on random one-hot sequences."""

from __future__ import annotations

import time

import torch

from genotool.engine import (autocast_context, find_batch_size, move_to_device, resolve_device,
                             seed_everything)
from genotool_hello.model import MotifCNN


def _batch(n: int, length: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (n, length)), 4).transpose(1, 2).float()
    return move_to_device((x, torch.randint(0, 2, (n,)).float()), device)


def run_bench(plan, *, length: int, steps: int) -> dict:
    seed_everything(0)
    device = resolve_device(plan)
    model = MotifCNN().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=plan.precision == "fp16-mixed")

    def train_step(n: int) -> None:
        x, y = _batch(n, length, device)
        with autocast_context(plan, device):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    # GPU: measured once per device/model/precision and cached; CPU: the default below.
    bs = find_batch_size(train_step, plan=plan, cache_key=f"hello-cnn32-k9-L{length}", default=256,
                         bytes_per_sample=4 * length * 32 * 4 * 3, max_size=16384)
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
    x, _ = _batch(bs, length, device)
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
