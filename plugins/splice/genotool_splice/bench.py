"""``splice bench``: one JSON with base scoring nt/s per flank (one model; the 5-seed ensemble at
400 nt), the genome-wide meta-layer's nt/s over the 400 nt base (and the time ratio base + meta
over base), feature extraction rows/s, candidate-row meta-layer training samples/s and
prediction rows/s.

Without ``--base-weights`` the SpliceAI nets are randomly initialised: speed does not depend on
the weights' values, only on the architecture (recorded as ``weights: random``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.options import RunOptions


@dataclass
class BenchConfig(RunOptions):
    output: Path | None = None
    base_weights: Path | None = None
    flanks: str = "80,400,10000"
    bases: int = 200_000
    rows: int = 4096
    repeats: int = 3
    seed: int = 0
    force: bool = False


def _nets(flank: int, n: int, weights: Path | None):
    from genotool_splice.base import load_openspliceai
    from genotool_splice.spliceai_net import SpliceAINet

    if weights:
        return load_openspliceai(weights, flank, n), "openspliceai"
    return [SpliceAINet(flank).eval() for _ in range(n)], "random"


def _plain_forward(nets, codes: np.ndarray, block: int, batch_size: int) -> None:
    """The reference point of issue 16: ``SpliceAINet.forward`` (nn.Conv1d, BatchNorm as modules) on
    5 kb blocks plus flank, one-hot (N, 4, W) contiguous, softmax, batches of ``batch_size``."""
    import torch

    from genotool_splice.base import ONE_HOT

    flank = nets[0].context
    for n in nets:
        n.cpu_channels_last = False          # the nn.Conv1d modules themselves, as before any speed-up
    nblocks = -(-len(codes) // block)
    padded = np.full(nblocks * block + flank, 4, dtype=np.uint8)
    padded[flank // 2:flank // 2 + len(codes)] = codes
    win = np.lib.stride_tricks.sliding_window_view(padded, block + flank)[::block]
    with torch.inference_mode():
        for i in range(0, nblocks, batch_size):
            x = torch.from_numpy(ONE_HOT[win[i:i + batch_size]]).permute(0, 2, 1).contiguous()
            (sum(torch.softmax(n(x), dim=1) for n in nets) / len(nets)).permute(0, 2, 1).numpy()


def _median_rate(fns: dict, units: float, reps: int) -> dict:
    """Median units/s of each function over ``reps`` rounds, the functions interleaved per round
    (so a shared machine's load changes hit them alike); one warm-up call each first."""
    for fn in fns.values():
        fn()
    times: dict = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: round(units / float(np.median(v)), 1) for k, v in times.items()}


def _rate(fn, units: float, min_seconds: float = 1.0) -> float:
    fn()                                        # warm-up (allocator, oneDNN primitives)
    t0, n = time.perf_counter(), 0
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return units * n / dt


def _genome_meta_rate(sc, codes: np.ndarray, plan, reps: int) -> dict:
    """nt/s of the genome-wide meta-layer (lightweight preset, random weights) on the 400 nt base's
    probabilities of ``codes``, interleaved with the base scoring itself: time(base + meta) /
    time(base) is the cost of genome-wide rescoring (issue 25's floor: <= 2)."""
    from genotool_splice.genome_meta import GenomeMetaNet
    from genotool_splice.meta_model import PRESETS
    from genotool_splice.scoring import DenseMetaHead

    p = PRESETS["lightweight"]
    head = DenseMetaHead(GenomeMetaNet(kernels=p["kernels"], filters=p["filters"], hidden=p["genome_hidden"]), plan)
    probs = sc.score(codes)
    rates = _median_rate({"base_nt_per_s": lambda: sc.score(codes), "meta_nt_per_s": lambda: head(codes, probs)},
                         len(codes), reps)
    rates["base_plus_meta_over_base"] = round(1 + rates["base_nt_per_s"] / rates["meta_nt_per_s"], 3)
    return rates


def run_bench(cfg: BenchConfig) -> dict:
    import torch

    from genotool.bench import emit
    from genotool.outputs import refuse_existing
    from genotool_splice.base import BaseScorer, BaseSpec
    from genotool_splice.features import score_features
    from genotool_splice.meta_model import PRESETS, build_meta

    refuse_existing(cfg.output, cfg.force)
    try:
        flanks = [int(x) for x in cfg.flanks.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--flanks must be integers separated by commas, not '{cfg.flanks}'") from None
    if cfg.bases < 10_000 or cfg.rows < 64:
        raise UserError("--bases must be >= 10000 and --rows >= 64")
    if cfg.repeats < 1:
        raise UserError(f"--repeats must be >= 1, not {cfg.repeats}")
    plan = cfg.plan()
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    codes = rng.integers(0, 4, cfg.bases).astype(np.uint8)
    bs = plan.batch_size or 32
    dtype = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}.get(plan.precision)
    out: dict = {"torch_threads": torch.get_num_threads(), "plan": plan.to_dict(), "batch_size": bs,
                 "repeats": cfg.repeats, "load_average_1min_start": round(os.getloadavg()[0], 2), "base_scoring": {}}
    for flank in flanks:
        nets, src = _nets(flank, 1, cfg.base_weights)
        sc = BaseScorer(nets, BaseSpec(weights=src, flank=flank), device=plan.device, batch_size=bs, dtype=dtype)
        fns = {"one_model_nt_per_s": lambda: sc.score(codes)}
        if flank == 400 and plan.device == "cpu" and dtype is None:
            # the plain nn.Module forward on the same blocks, interleaved: the speed-up is a ratio
            # measured under the same load, the absolute rate needs an idle machine
            fns["plain_forward_nt_per_s"] = lambda: _plain_forward(nets, codes, sc.block, bs)
        row = {"weights": src, "block": sc.block, **_median_rate(fns, cfg.bases, cfg.repeats)}
        if "plain_forward_nt_per_s" in row:
            row["speedup_vs_plain_forward"] = round(row["one_model_nt_per_s"] / row["plain_forward_nt_per_s"], 2)
        if flank == 400:
            nets5, _ = _nets(flank, 5, cfg.base_weights)
            sc5 = BaseScorer(nets5, BaseSpec(weights=src, flank=flank, seeds=5), device=plan.device, batch_size=bs,
                             dtype=dtype)
            row.update(_median_rate({"five_seed_nt_per_s": lambda: sc5.score(codes[: cfg.bases // 2])},
                                    cfg.bases // 2, cfg.repeats))
        out["base_scoring"][f"{flank}nt"] = row
        if flank == 400:
            out["genome_meta"] = _genome_meta_rate(sc, codes, plan, cfg.repeats)
    probs = rng.dirichlet([0.2, 0.2, 5.0], size=cfg.bases).astype(np.float32)
    idx = rng.integers(0, cfg.bases, cfg.rows)
    out["feature_rows_per_s"] = round(_rate(lambda: score_features(probs, idx), cfg.rows), 1)
    p = PRESETS["lightweight"]
    model = build_meta({"architecture": "meta", "kernels": p["kernels"], "filters": p["filters"],
                        "hidden": p["hidden"], "fusion": "concat"}).to(plan.device)
    w = torch.from_numpy(rng.integers(0, 4, (cfg.rows, 501)).astype(np.uint8)).to(plan.device)
    f = torch.randn(cfg.rows, 43, device=plan.device)
    y = torch.from_numpy(rng.integers(0, 3, cfg.rows)).to(plan.device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tb = 64

    def train_steps():
        for i in range(0, min(cfg.rows, 8 * tb), tb):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(w[i:i + tb], f[i:i + tb]), y[i:i + tb]).backward()
            opt.step()

    out["meta_train_samples_per_s"] = round(_rate(train_steps, min(cfg.rows, 8 * tb)), 1)
    model.eval()

    def infer():
        with torch.inference_mode():
            for i in range(0, cfg.rows, 512):
                model(w[i:i + 512], f[i:i + 512])

    out["meta_predict_rows_per_s"] = round(_rate(infer, cfg.rows), 1)
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    return emit(out, cfg.output, plugin="splice")
