"""Hardware probe and the execution plan derived from it.

``probe()`` reports what the machine has (CPU, RAM, torch CUDA/MPS, JAX devices) without
failing when torch or JAX are absent. ``make_plan()`` turns it into decisions every command
applies and records: device, precision, TF32, and how the batch size is chosen.

Precision rules: bf16-mixed where bf16 is native (CUDA compute capability >= 8.0; emulated
bf16 on V100/T4 does not count and cuDNN has no bf16 convolutions there), fp16-mixed with a
grad scaler on older CUDA GPUs, fp32 on CPU unless asked.

Every decision carries its reason in ``Plan.reasons``: the probe's own, each user override
(``--device``, ``--precision``, ``--tf32``, ``--batch-size``, ``--threads``) and each change a
verb makes afterwards through :meth:`Plan.override` (a verb's default batch size or precision, a
RAM cap, a measured batch size). ``metadata.json`` records ``plan.to_dict()``: the same fields
for every plugin.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass, field

from genotool.errors import UserError

PRECISIONS = ("fp32", "bf16-mixed", "fp16-mixed")
#: ``--precision auto`` asks for the probe's choice explicitly (over a verb's own default).
AUTO = "auto"
DEVICES = ("auto", "cpu", "cuda", "mps")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def memory_bytes() -> tuple[int, int]:
    """(total, available) RAM in bytes."""
    try:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.total), int(vm.available)
    except ImportError:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return pages, pages


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def probe_torch() -> dict:
    if not _installed("torch"):
        return {"installed": False}
    import torch

    info: dict = {"installed": True, "version": torch.__version__, "cuda_available": False,
                  "mps_available": False, "gpus": []}
    info["cuda_available"] = bool(torch.cuda.is_available())
    mps = getattr(torch.backends, "mps", None)
    info["mps_available"] = bool(mps and mps.is_available())
    info["tf32_api"] = ("fp32_precision" if hasattr(torch.backends.cuda.matmul, "fp32_precision")
                        else "allow_tf32")
    if info["cuda_available"]:
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            cc = (props.major, props.minor)
            info["gpus"].append({
                "index": i, "name": props.name, "compute_capability": f"{cc[0]}.{cc[1]}",
                "memory_gb": round(props.total_memory / 2**30, 2),
                # including_emulation=False: V100/T4 report bf16 "supported" via emulation.
                "bf16_native": bool(cc >= (8, 0)),
                "tf32": bool(cc >= (8, 0)),
            })
        try:
            info["bf16_native_api"] = bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # older torch has no including_emulation argument
            pass
    return info


def probe_jax() -> dict:
    if not _installed("jax"):
        return {"installed": False}
    try:
        import jax

        devices = jax.devices()
        return {"installed": True, "version": jax.__version__, "backend": jax.default_backend(),
                "devices": [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in devices],
                "device_count": len(devices)}
    except Exception as exc:  # noqa: BLE001 - a broken JAX install is reported, not fatal
        return {"installed": True, "error": f"{type(exc).__name__}: {exc}"}


def probe(include_jax: bool = True, include_torch: bool = True) -> dict:
    total, avail = memory_bytes()
    out = {"cpu": {"cores": cpu_count(), "ram_gb": round(total / 2**30, 2),
                   "ram_available_gb": round(avail / 2**30, 2)}}
    out["torch"] = probe_torch() if include_torch else {"skipped": True}
    out["jax"] = probe_jax() if include_jax else {"skipped": True}
    return out


@dataclass
class Plan:
    """Decisions applied before a command runs; recorded in its metadata."""

    backend: str = "torch"
    device: str = "cpu"
    precision: str = "fp32"
    tf32: bool = False
    grad_scaler: bool = False
    batch_size: int | None = None
    batch_size_source: str = "default"   # user | measured | cached | ram-bound | default
    batch_size_strategy: str = ""
    num_workers: int = 0
    cpu_threads: int = 0                 # torch intra-op threads on CPU (0: leave torch's default)
    reasons: list[str] = field(default_factory=list)
    applied: dict = field(default_factory=dict)   # what the backend was set to (threads, TF32, JAX)

    def to_dict(self) -> dict:
        return asdict(self)

    def override(self, name: str, value, reason: str, *, source: str | None = None) -> "Plan":
        """Change one decision after the probe, with the reason recorded (``source``: the new
        ``batch_size_source`` when ``name`` is ``batch_size``)."""
        if not hasattr(self, name) or name in ("reasons", "applied"):
            raise AttributeError(f"a plan has no decision {name!r}")
        setattr(self, name, value)
        if name == "batch_size" and source is not None:
            self.batch_size_source = source
        if name == "precision":
            self.grad_scaler = value == "fp16-mixed"
        self.reasons.append(f"{name} {value}: {reason}")
        return self


def choose_cpu_threads(requested: int | None = None, cores: int | None = None) -> tuple[int, str]:
    """Intra-op CPU threads: all cores, but 1 when the machine is already oversubscribed.

    OpenMP threads spin-wait for each other; when the 1-minute load average already reaches the
    core count they fight other processes for the cores, and a 2-thread training step measured
    10-18x slower than a 1-thread one on a shared 2-core machine.
    """
    cores = cores or cpu_count()
    if requested:
        return requested, "requested"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load >= cores:
        return 1, f"load average {load:.1f} on {cores} cores: oversubscribed, 1 thread"
    return cores, f"load average {load:.1f} on {cores} cores: one thread per core"


def make_plan(*, backend: str = "torch", device: str | None = None, precision: str | None = None,
              batch_size: int | None = None, tf32: bool | None = None, hw: dict | None = None,
              cpu_threads: int | None = None) -> Plan:
    """Choose device, precision, TF32 and the batch-size strategy; user overrides win (each one
    recorded in ``reasons``). ``precision="auto"`` is the probe's choice, as ``None`` is."""
    asked = {"--device": device, "--precision": precision, "--tf32": tf32, "--batch-size": batch_size,
             "--threads": cpu_threads}
    device = (device or "auto").lower()
    if device not in DEVICES and not device.startswith("cuda:"):
        raise UserError(f"--device must be one of {', '.join(DEVICES)} or cuda:N, not '{device}'")
    if precision == AUTO:
        precision = None
    if precision is not None and precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {AUTO}, {', '.join(PRECISIONS)}, not '{precision}'")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, not {batch_size}")
    hw = hw or probe(include_jax=(backend == "jax"), include_torch=(backend == "torch"))
    plan = Plan(backend=backend, num_workers=max(0, min(hw["cpu"]["cores"] - 1, 8)))
    plan.reasons.extend(_given(flag, value) for flag, value in asked.items() if value is not None)
    if backend == "jax":
        jx = hw.get("jax", {})
        plan.device = jx.get("backend", "cpu") if device == "auto" else device.split(":")[0]
        gpu = plan.device in ("gpu", "cuda")
        plan.precision = precision or ("bf16-mixed" if gpu else "fp32")
        plan.tf32 = gpu if tf32 is None else tf32
        plan.reasons.append(f"jax backend {plan.device}: matmul precision "
                            f"{'tensorfloat32' if plan.tf32 else 'float32'}")
        plan.cpu_threads = int(cpu_threads or 0)   # applied by genotool.jaxrt.limit_threads
    else:
        th = hw.get("torch", {})
        gpus = th.get("gpus", [])
        if device == "auto":
            device = "cuda" if th.get("cuda_available") else ("mps" if th.get("mps_available") else "cpu")
        if device.startswith("cuda") and not th.get("cuda_available"):
            raise UserError("--device cuda was asked for but torch sees no CUDA GPU on this machine")
        plan.device = device
        if device.startswith("cuda"):
            idx = int(device.split(":")[1]) if ":" in device else 0
            gpu = gpus[idx] if idx < len(gpus) else {}
            native = gpu.get("bf16_native", False)
            plan.precision = precision or ("bf16-mixed" if native else "fp16-mixed")
            plan.tf32 = gpu.get("tf32", False) if tf32 is None else tf32
            plan.reasons.append(f"{gpu.get('name', 'GPU')} cc {gpu.get('compute_capability', '?')}: "
                                f"{'native bf16' if native else 'no native bf16 -> fp16 + grad scaler'}")
        else:
            plan.precision = precision or "fp32"
            plan.tf32 = False
            plan.reasons.append(f"{device}: fp32 unless --precision is given")
            plan.cpu_threads, why = choose_cpu_threads(cpu_threads, hw["cpu"]["cores"])
            plan.reasons.append(f"CPU intra-op threads {plan.cpu_threads}: {why}")
    plan.grad_scaler = plan.precision == "fp16-mixed"
    if batch_size is not None:
        plan.batch_size, plan.batch_size_source = batch_size, "user"
        plan.batch_size_strategy = "--batch-size given"
    elif plan.device.startswith("cuda") or plan.device == "gpu":
        plan.batch_size_strategy = ("measured: OOM-safe doubling search then 0.9x margin, "
                                    "cached per device/model/precision")
    else:
        plan.batch_size_strategy = "plugin default, capped so a batch fits in 25% of available RAM"
    return plan


def _given(flag: str, value) -> str:
    """The reason line of a user override: ``--precision bf16-mixed given``, ``--no-tf32 given``."""
    if isinstance(value, bool):
        return f"{flag if value else '--no-' + flag[2:]} given"
    return f"{flag} {value} given"


def apply_torch(plan: Plan) -> None:
    """Apply the plan to torch: CPU threads, and TF32 with the torch >= 2.9 API where present
    (the allow_tf32 flags are deprecated)."""
    import torch

    if plan.device == "cpu" and plan.cpu_threads:
        torch.set_num_threads(plan.cpu_threads)
    plan.applied["torch_threads"] = torch.get_num_threads()
    if not plan.device.startswith("cuda"):
        return
    mode = "tf32" if plan.tf32 else "ieee"
    plan.applied["fp32_matmul"] = mode
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
    else:  # pragma: no cover - older torch
        torch.set_float32_matmul_precision("high" if plan.tf32 else "highest")
        torch.backends.cudnn.allow_tf32 = plan.tf32
    torch.backends.cudnn.benchmark = True


def ram_bound_batch_size(bytes_per_sample: int, default: int, fraction: float = 0.25) -> int:
    """Largest batch <= default whose activations fit in ``fraction`` of available RAM."""
    _, avail = memory_bytes()
    cap = max(1, int(avail * fraction // max(1, bytes_per_sample)))
    return max(1, min(default, cap))
