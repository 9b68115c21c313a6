"""``snp bench``: one JSON object with training and prediction samples/s and peak memory per
architecture and SNP count (synthetic genotypes, a chain LD graph), fp32 vs bf16 vs fp16 on a
GPU; with ``--vcf``: preprocess time beside Debian's plink2 ``--make-pgen`` and plink1.9
``--blocks`` where installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.bench import emit, log, peak_rss_mb
from genotool.options import RunOptions


@dataclass
class BenchOptions(RunOptions):
    output: Path | None = None
    snps: list = field(default_factory=lambda: [1000, 10000, 50000])
    architectures: list = field(default_factory=lambda: ["cnn", "cnn-transformer", "gnn"])
    steps: int = 3
    vcf: Path | None = None
    samples: Path | None = None
    seed: int = 0
    force: bool = False


def model_bench(arch: str, n_snps: int, batch: int, steps: int, device, precision: str, hp: dict) -> dict:
    import torch

    from genotool.engine import autocast_context
    from genotool.probe import Plan
    from genotool_snp.models import build

    cfg = {"architecture": arch, "n_snps": n_snps, "in_channels": 2, "n_out": 4,
           **{k: hp[k] for k in ("embed_dim", "channels", "layers", "heads", "window", "dropout")},
           "grad_checkpoint": False, "n_edges": 2 * (n_snps - 1)}
    model = build(cfg).to(device)
    if arch == "gnn":
        i = np.arange(n_snps - 1)
        model.set_graph(i, i + 1, np.ones(n_snps - 1, np.float32))
    plan = Plan(device=str(device), precision=precision)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16-mixed")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (batch, 2, n_snps), generator=g, dtype=torch.int8).to(device)
    y = torch.randint(0, 4, (batch,), generator=g).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step():
        with autocast_context(plan, device):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    model.train()
    step()                                               # warm-up (allocations, kernels)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    train_sps = steps * batch / (time.perf_counter() - t)
    model.eval()
    with torch.no_grad(), autocast_context(plan, device):
        model(x)
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            model(x)
        sync()
    pred_sps = steps * batch / (time.perf_counter() - t)
    row = {"architecture": arch, "snps": n_snps, "batch_size": batch, "precision": precision,
           "train_samples_per_second": round(train_sps, 2), "predict_samples_per_second": round(pred_sps, 2),
           "parameters": sum(p.numel() for p in model.parameters())}
    if device.type == "cuda":
        row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    else:
        row["peak_rss_mb_so_far"] = peak_rss_mb()    # process peak: monotone over the rows
    return row


def preprocess_bench(vcf: Path, samples: Path, threads: int | None) -> dict:
    from genotool.outputs import run_output
    from genotool_snp.preprocess import PreprocessConfig, run_preprocess

    out: dict = {"vcf": str(vcf)}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with run_output(Path(tmp) / "pre", command="snp bench preprocess") as run:
            info = run_preprocess(PreprocessConfig(vcf, samples, Path(tmp) / "pre", threads=threads), run)
        out["genotool_seconds"] = round(time.perf_counter() - t, 3)
        out["genotool"] = {k: info[k] for k in ("samples", "snps", "blocks", "ld_edges", "read_seconds",
                                                "blocks_seconds", "graph_seconds")}
        tools = {"plink2_make_pgen": ["plink2", "--vcf", str(vcf), "--make-pgen", "--double-id",
                                      "--out", f"{tmp}/p2", "--threads", "1"],
                 "plink19_blocks": ["plink1.9", "--vcf", str(vcf), "--blocks", "no-pheno-req", "--double-id",
                                    "--maf", "0.05", "--out", f"{tmp}/p1", "--threads", "1"]}
        for name, cmd in tools.items():
            if shutil.which(cmd[0]) is None:
                out[name] = {"ran": False, "why": f"{cmd[0]} not installed (make system-deps)"}
                continue
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            sec = time.perf_counter() - t
            out[name] = {"ran": r.returncode == 0, "seconds": round(sec, 3),
                         "genotool_over_tool": round(out["genotool_seconds"] / sec, 2) if sec > 0 else None}
            if name == "plink19_blocks" and r.returncode == 0 and Path(f"{tmp}/p1.blocks.det").is_file():
                out[name]["blocks"] = len(Path(f"{tmp}/p1.blocks.det").read_text().splitlines()) - 1
            if r.returncode != 0:
                out[name]["why"] = (r.stderr or r.stdout).strip().splitlines()[-1:]
    return out


def run_bench(opts: BenchOptions) -> dict:
    import torch

    from genotool.errors import UserError
    from genotool_snp.train import presets

    if opts.output is not None and Path(opts.output).exists() and not opts.force:
        raise UserError(f"output already exists: {opts.output} (use --force to replace it)")
    if opts.vcf is not None and opts.samples is None:
        raise UserError("--vcf needs --samples (the sample table)")
    if any(n < 2 for n in opts.snps):
        raise UserError("--snps: every count must be >= 2")
    plan = opts.plan()
    device = torch.device("cuda" if plan.device.startswith("cuda") else plan.device)
    gpu = device.type == "cuda"
    hp = presets()["medium-gpu" if gpu else "small-cpu"]
    batch = plan.batch_size or (32 if gpu else 8)
    precisions = ([opts.precision] if opts.precision else ["fp32", "bf16-mixed", "fp16-mixed"]) if gpu \
        else [plan.precision]
    torch.manual_seed(opts.seed)
    rows = []
    for arch in opts.architectures:
        for n in opts.snps:
            for prec in precisions:
                log(f"bench: {arch} {n} SNPs {prec}")
                rows.append(model_bench(arch, n, batch, opts.steps, device, prec, hp))
    result = {"plan": plan.to_dict(), "preset": "medium-gpu" if gpu else "small-cpu", "models": rows}
    if gpu and len(precisions) > 1:
        ratio = {}
        for r in rows:
            if r["precision"] != "fp32":
                base = next(b for b in rows if b["architecture"] == r["architecture"] and b["snps"] == r["snps"]
                            and b["precision"] == "fp32")
                ratio[f"{r['architecture']}/{r['snps']}/{r['precision']}"] = round(
                    r["train_samples_per_second"] / base["train_samples_per_second"], 2)
        result["train_speedup_vs_fp32"] = ratio
    if opts.vcf is not None:
        result["preprocess"] = preprocess_bench(opts.vcf, opts.samples, opts.threads)
    return emit(result, opts.output, plugin="snp")
