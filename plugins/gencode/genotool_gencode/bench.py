"""`gencode bench`: one JSON object on stdout.

* ``ours``: the semi-CRF head training uses (the canonical chain with boundary scores, geometric
  tails and censored edges, ``--head semicrf --states strand``): loss forward+backward and Viterbi;
* ``flash_semicrf``: flash-semicrf 0.2.0's loss and Viterbi on the same emissions, in the same
  process, and the agreement of the two log partitions (flash-semicrf's model is the semi-CRF summed
  over all segmentations, so the check uses ours of that model, ``log_z``);
* ``gene_decoder``: the gene finder's throughput (sensor scoring, Viterbi over gene models, neural
  encoder channels) on a simulated genome, in bases per second;
* ``encoders``: BiLSTM / Mamba encoder throughput.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from genotool.bench import emit, log
from genotool.options import RunOptions


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every 5 ms (CPU), or the CUDA
    allocator's peak above the level at entry."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        import psutil

        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self.stop = False

        def sample():
            while not self.stop:
                self.peak = max(self.peak, self.proc.memory_info().rss)
                time.sleep(0.005)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.mb = round((torch.cuda.max_memory_allocated() - self.base) / 2**20, 1)
            return
        self.stop = True
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.mb = round((self.peak - self.base) / 2**20, 1)


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_inputs(B, T, K, C, seed, device):
    """Centred random emissions (B, T, C), transition (C, C), duration (K, C), gold labels with
    runs of random length 1..2K (so some exceed K)."""
    g = torch.Generator().manual_seed(seed)
    em = torch.randn(B, T, C, generator=g)
    em = em - em.mean(1, keepdim=True)   # flash-semicrf centres over time: make both see the same scores
    tr = torch.randn(C, C, generator=g) * 0.5
    du = torch.randn(K, C, generator=g) * 0.5
    labels = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        t = 0
        while t < T:
            d = int(torch.randint(1, 2 * K + 1, (1,), generator=g))
            labels[b, t:t + d] = int(torch.randint(0, C, (1,), generator=g))
            t += d
    lengths = torch.full((B,), T, dtype=torch.long)
    return em.to(device), tr.to(device), du.to(device), labels.to(device), lengths.to(device)


def bench_ours(em, tr, du, labels, lengths, device):
    """The training head's recursions: canonical chain, boundary scores (zero here: their cost is
    the same), geometric tails, censored edges."""
    from genotool_gencode.crf.recursion import canonical_nll, canonical_viterbi, semicrf_log_partition

    out = {"model": "canonical chain, boundary scores, geometric tails, censored edges (the training head)"}
    B, T, C = em.shape
    e = em.clone().requires_grad_()
    t_ = tr.clone().requires_grad_()
    d_ = du.clone().requires_grad_()
    st = torch.zeros(B, T, C, device=em.device, requires_grad=True)
    en = torch.zeros(B, T, C, device=em.device, requires_grad=True)
    with PeakRSS(device) as mem:
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        loss = canonical_nll(e, t_, d_, labels, lengths, st, en, True, True).mean()
        _sync(device)
        t1 = time.perf_counter()
        loss.backward()
        _sync(device)
        t2, c2 = time.perf_counter(), time.process_time()
    out.update(loss=float(loss.detach()), loss_forward_s=round(t1 - t0, 3), loss_backward_s=round(t2 - t1, 3),
               loss_forward_backward_s=round(t2 - t0, 3), loss_forward_backward_cpu_s=round(c2 - c0, 3),
               loss_peak_mem_mb=mem.mb)
    with torch.no_grad():
        # flash-semicrf's model (all segmentations, no boundary scores): for the agreement check
        out["log_z"] = semicrf_log_partition(em.double(), tr.double(), du.double(), lengths).tolist()
    with PeakRSS(device) as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            _, segs = canonical_viterbi(em, tr, du, lengths, st.detach(), en.detach(), True, True)
        _sync(device)
        out["viterbi_s"] = round(time.perf_counter() - t0, 3)
        out["viterbi_cpu_s"] = round(time.process_time() - c0, 3)
    out["viterbi_peak_mem_mb"] = mem.mb
    out["viterbi_segments"] = [len(s) for s in segs]
    return out


def bench_gene_decoder(length: int, seed: int, log) -> dict:
    """The gene finder on a simulated genome of ``length`` bp: sensors fitted on its genes, then
    sensor scoring, Viterbi over gene models and (untrained) encoder channels, timed separately."""
    import numpy as np

    from genotool_gencode.genes.encoder import GeneEncoder
    from genotool_gencode.genes.finder import GeneFinder, default_weights
    from genotool_gencode.genes.lattice import Lattice
    from genotool_gencode.genes.sensors import Sensors
    from genotool_gencode.simulate import simulated_sequence

    codes, genes = simulated_sequence(length, seed)
    sensors = Sensors().fit([(codes, genes)])
    finder = GeneFinder(sensors, default_weights("sensors"))
    out = {"bases": int(length), "simulated_genes": len(genes)}
    with PeakRSS("cpu") as mem:
        t0 = time.perf_counter()
        ch = sensors.score(codes)
        t1 = time.perf_counter()
        lat = Lattice.combine(codes, ch, finder.weights, finder.lengths, finder.grammar)
        lat.viterbi()        # compiles the numba kernels on a first run (cached on disk)
        t2 = time.perf_counter()
        _, found = lat.viterbi()
        t3 = time.perf_counter()
    out.update(sensor_seconds=round(t1 - t0, 3), viterbi_seconds=round(t3 - t2, 3),
               sensor_bases_per_second=round(length / (t1 - t0)), viterbi_bases_per_second=round(length / (t3 - t2)),
               predicted_genes=len(found), peak_mem_mb=mem.mb)
    enc = GeneEncoder()
    n = min(length, 200_000)
    t0 = time.perf_counter()
    enc.channels(np.ascontiguousarray(codes[:n]))
    out["encoder_bases_per_second"] = round(n / (time.perf_counter() - t0))
    log(f"gene decoder: sensors {out['sensor_bases_per_second']:,} bp/s, Viterbi {out['viterbi_bases_per_second']:,} "
        f"bp/s, encoder {out['encoder_bases_per_second']:,} bp/s")
    return out


def bench_flash(em, tr, du, labels, lengths, K, device, use_triton):
    from flash_semicrf import SemiMarkovCRFHead

    C = em.shape[-1]
    head = SemiMarkovCRFHead(C, K).to(device)
    with torch.no_grad():
        head.transition.copy_(tr)
        head.duration_dist.duration_bias.copy_(du)
    out = {"backend": "streaming", "use_triton": use_triton}
    e = em.clone().requires_grad_()
    with PeakRSS(device) as mem:
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        loss = head.compute_loss(e, lengths, labels, use_triton=use_triton, backend="streaming")
        _sync(device)
        t1 = time.perf_counter()
        log(f"flash-semicrf loss forward {t1 - t0:.1f} s; backward running ...")
        loss.backward()
        _sync(device)
        t2, c2 = time.perf_counter(), time.process_time()
    out.update(loss=float(loss.detach()), loss_forward_s=round(t1 - t0, 3), loss_backward_s=round(t2 - t1, 3),
               loss_forward_backward_s=round(t2 - t0, 3), loss_forward_backward_cpu_s=round(c2 - c0, 3),
               loss_peak_mem_mb=mem.mb)
    log(f"flash-semicrf backward {t2 - t1:.1f} s; partition + Viterbi running ...")
    with torch.no_grad():
        out["log_z"] = head(em.double(), lengths, use_triton=use_triton, backend="streaming")["partition"].tolist()
    with PeakRSS(device) as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            res = head.decode_with_traceback(em, lengths, max_traceback_length=em.shape[1])
        _sync(device)
        out["viterbi_s"] = round(time.perf_counter() - t0, 3)
        out["viterbi_cpu_s"] = round(time.process_time() - c0, 3)
    out["viterbi_peak_mem_mb"] = mem.mb
    out["viterbi_segments"] = [len(s) for s in getattr(res, "segments", [])]
    return out


def bench_encoders(T, device, hidden=64, layers=2, B=4, plan=None):
    from genotool.engine import autocast_context

    from genotool_gencode.encoders import build_encoder

    out = {}
    x = torch.randint(0, 4, (B, T), device=device)
    for name in ("bilstm", "mamba"):
        enc = build_encoder(name, hidden_dim=hidden, num_layers=layers, device_type=device.split(":")[0]).to(device)
        with autocast_context(plan, device):
            enc(x[:, :64]).float().sum().backward()   # warm-up
        _sync(device)
        t0 = time.perf_counter()
        with autocast_context(plan, device):
            enc(x).float().sum().backward()
        _sync(device)
        dt = time.perf_counter() - t0
        out[name] = {"B": B, "T": T, "hidden_dim": hidden, "num_layers": layers,
                     "forward_backward_s": round(dt, 3), "bases_per_second": round(B * T / dt, 1),
                     "implementation": getattr(enc, "backend", "torch.nn.LSTM")}
    return out


@dataclass(kw_only=True)
class BenchConfig(RunOptions):
    T: int = 10_000
    K: int = 500
    C: int = 11
    skip_reference: bool = False
    skip_encoder: bool = False
    encoder_length: int = 2000
    gene_length: int = 1_000_000
    output: Path | None = None
    seed: int = 0
    force: bool = False

    def check(self) -> "BenchConfig":
        from genotool.errors import UserError

        for name, v in (("--length", self.T), ("--max-duration", self.K), ("--classes", self.C)):
            if v < 1:
                raise UserError(f"{name} must be >= 1, not {v}")
        if self.gene_length < 0 or 0 < self.gene_length < 20_000:
            raise UserError(f"--gene-length must be 0 (skip) or >= 20000, not {self.gene_length}")
        return self


def run_bench(cfg: BenchConfig, log=log):
    """CPU threads, device and precision are the plan's (probe + apply_torch)."""
    from genotool.outputs import refuse_existing

    cfg.check()
    refuse_existing(cfg.output, cfg.force)
    plan = cfg.plan()
    B, T, K, C, seed, output = plan.batch_size or 4, cfg.T, cfg.K, cfg.C, cfg.seed, cfg.output
    skip_reference, skip_encoder, encoder_length, gene_length = (cfg.skip_reference, cfg.skip_encoder,
                                                                 cfg.encoder_length, cfg.gene_length)
    device = plan.device
    em, tr, du, labels, lengths = make_inputs(B, T, K, C, seed, device)
    result = {"B": B, "T": T, "K": K, "C": C, "device": device, "torch_threads": torch.get_num_threads(),
              "load_average_start": _loadavg()}
    log(f"ours (the training head): semi-CRF loss forward+backward and Viterbi at B={B}, T={T}, K={K}, C={C} ...")
    ours = bench_ours(em, tr, du, labels, lengths, device)
    result["ours"] = ours
    log(f"ours: loss fwd {ours['loss_forward_s']} s, bwd {ours['loss_backward_s']} s, Viterbi {ours['viterbi_s']} s")
    if not skip_reference:
        try:
            import flash_semicrf  # noqa: F401
        except ImportError:
            result["flash_semicrf"] = {"skipped": "flash-semicrf not installed (pip install 'genotool-gencode[reference]')"}
        else:
            use_triton = device.startswith("cuda")
            log("flash-semicrf 0.2.0 (streaming backend"
                f"{', Triton' if use_triton else ', no Triton'}) on the same inputs; this can take many minutes on CPU")
            ref = bench_flash(em, tr, du, labels, lengths, K, device, use_triton)
            result["flash_semicrf"] = ref
            lz_o = torch.tensor(ours["log_z"], dtype=torch.float64)
            lz_f = torch.tensor(ref["log_z"], dtype=torch.float64)
            result["log_z_max_rel_diff"] = float(((lz_o - lz_f).abs() / lz_f.abs().clamp_min(1e-12)).max())
            result["speedup"] = {
                "loss_forward_backward": round(ref["loss_forward_backward_s"] / max(ours["loss_forward_backward_s"], 1e-9), 2),
                "loss_forward": round(ref["loss_forward_s"] / max(ours["loss_forward_s"], 1e-9), 2),
                "loss_backward": round(ref["loss_backward_s"] / max(ours["loss_backward_s"], 1e-9), 2),
                "viterbi": round(ref["viterbi_s"] / max(ours["viterbi_s"], 1e-9), 2),
                "loss_forward_backward_cpu_time": round(ref["loss_forward_backward_cpu_s"]
                                                        / max(ours["loss_forward_backward_cpu_s"], 1e-9), 2),
                "viterbi_cpu_time": round(ref["viterbi_cpu_s"] / max(ours["viterbi_cpu_s"], 1e-9), 2)}
            result["note"] = ("flash-semicrf's loss differs from ours by design: its gold score is not the "
                              "partition's parameterisation; the log partitions must agree")
    if not skip_encoder:
        log(f"encoder throughput at T={encoder_length} ...")
        result["encoders"] = bench_encoders(encoder_length, device, plan=plan)
    if gene_length:
        log(f"gene finder on a simulated {gene_length:,} bp genome ...")
        result["gene_decoder"] = bench_gene_decoder(gene_length, seed, log)
    result["plan"] = plan.to_dict()
    result["load_average_end"] = _loadavg()
    return emit(result, output, plugin="gencode")


def _loadavg():
    try:
        import os

        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
