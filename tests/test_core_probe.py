"""Probe and plan: precision/TF32 rules, overrides, machines without GPU or JAX."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from core_support import run_genotool
from genotool.errors import UserError
from genotool.probe import make_plan, probe, ram_bound_batch_size

CPU_ONLY = {"cpu": {"cores": 2, "ram_gb": 24, "ram_available_gb": 20},
            "torch": {"installed": True, "cuda_available": False, "mps_available": False, "gpus": []},
            "jax": {"installed": False}}


def gpu_hw(name, cc, mem=40.0):
    major, minor = cc
    return {**CPU_ONLY, "torch": {"installed": True, "cuda_available": True, "mps_available": False,
                                  "gpus": [{"index": 0, "name": name, "compute_capability": f"{major}.{minor}",
                                            "memory_gb": mem, "bf16_native": cc >= (8, 0), "tf32": cc >= (8, 0)}]}}


def test_cpu_plan_is_fp32():
    plan = make_plan(hw=CPU_ONLY)
    assert (plan.device, plan.precision, plan.tf32, plan.grad_scaler) == ("cpu", "fp32", False, False)
    assert "RAM" in plan.batch_size_strategy


def test_cpu_precision_can_be_asked_for():
    assert make_plan(hw=CPU_ONLY, precision="bf16-mixed").precision == "bf16-mixed"


@pytest.mark.parametrize("name,cc,precision,tf32,scaler", [
    ("NVIDIA A100", (8, 0), "bf16-mixed", True, False),
    ("NVIDIA H100", (9, 0), "bf16-mixed", True, False),
    ("Tesla V100", (7, 0), "fp16-mixed", False, True),   # bf16 only emulated: fp16 + scaler
    ("Tesla T4", (7, 5), "fp16-mixed", False, True),
])
def test_gpu_precision_rules(name, cc, precision, tf32, scaler):
    plan = make_plan(hw=gpu_hw(name, cc))
    assert plan.device == "cuda"
    assert (plan.precision, plan.tf32, plan.grad_scaler) == (precision, tf32, scaler)
    assert "measured" in plan.batch_size_strategy


def test_user_overrides_win():
    plan = make_plan(hw=gpu_hw("NVIDIA A100", (8, 0)), device="cpu", batch_size=64)
    assert plan.device == "cpu" and plan.precision == "fp32"
    assert (plan.batch_size, plan.batch_size_source) == (64, "user")
    plan = make_plan(hw=gpu_hw("NVIDIA A100", (8, 0)), precision="fp16-mixed")
    assert plan.grad_scaler


@pytest.mark.parametrize("kwargs,match", [
    ({"device": "tpu"}, "--device"), ({"precision": "fp8"}, "--precision"),
    ({"batch_size": 0}, "--batch-size"), ({"device": "cuda"}, "no CUDA"),
])
def test_bad_overrides_are_user_errors(kwargs, match):
    with pytest.raises(UserError, match=match):
        make_plan(hw=CPU_ONLY, **kwargs)


def test_jax_plan():
    hw = {**CPU_ONLY, "jax": {"installed": True, "backend": "gpu", "devices": ["gpu:0"]}}
    plan = make_plan(backend="jax", hw=hw)
    assert plan.device == "gpu" and plan.tf32 and plan.precision == "bf16-mixed"
    assert make_plan(backend="jax", hw={**CPU_ONLY, "jax": {"installed": True, "backend": "cpu"}}).precision == "fp32"


def test_probe_on_this_machine():
    hw = probe()
    assert hw["cpu"]["cores"] >= 1 and hw["cpu"]["ram_gb"] > 0
    if hw["torch"].get("installed"):
        assert "cuda_available" in hw["torch"]


def test_probe_cli_json_and_table():
    res = run_genotool("probe", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert {"cpu", "torch", "jax", "plan"} <= set(out)
    table = run_genotool("probe")
    assert table.returncode == 0 and "plan" in table.stdout and "CPU cores" in table.stdout


def test_probe_without_torch_or_jax(tmp_path):
    """A machine with neither framework: the probe still answers and plans fp32 on CPU."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(textwrap.dedent("""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "jax", "jaxlib"):
                    raise ModuleNotFoundError(name)
                return None
        sys.meta_path.insert(0, Block())
    """))
    code = ("import json, importlib.util as u\n"
            "u.find_spec = (lambda f: (lambda n, *a: None if n.split('.')[0] in ('torch','jax') else f(n, *a)))(u.find_spec)\n"
            "from genotool.probe import probe, make_plan\n"
            "hw = probe(); print(json.dumps({'hw': hw, 'plan': make_plan(hw=hw).to_dict()}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path)}, timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["hw"]["torch"] == {"installed": False} and out["hw"]["jax"] == {"installed": False}
    assert out["plan"]["device"] == "cpu" and out["plan"]["precision"] == "fp32"


def test_ram_bound_batch_size():
    assert ram_bound_batch_size(bytes_per_sample=1, default=256) == 256
    assert ram_bound_batch_size(bytes_per_sample=10**15, default=256) == 1


def test_cpu_threads_follow_load(monkeypatch):
    import genotool.probe as probe_mod

    monkeypatch.setattr(probe_mod.os, "getloadavg", lambda: (5.0, 5.0, 5.0))
    assert probe_mod.choose_cpu_threads(cores=2)[0] == 1
    monkeypatch.setattr(probe_mod.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert probe_mod.choose_cpu_threads(cores=2)[0] == 2
    assert probe_mod.choose_cpu_threads(3, cores=2)[0] == 3
    plan = make_plan(hw=CPU_ONLY, cpu_threads=1)
    assert plan.cpu_threads == 1 and any("threads" in r for r in plan.reasons)


def test_every_override_has_its_reason():
    from genotool.probe import make_plan

    hw = {"cpu": {"cores": 2}, "torch": {"cuda_available": True, "gpus": [
        {"name": "A100", "compute_capability": "8.0", "bf16_native": True, "tf32": True}]}}
    plan = make_plan(device="cuda", precision="fp16-mixed", batch_size=32, tf32=False, hw=hw)
    assert {"--device cuda given", "--precision fp16-mixed given", "--batch-size 32 given",
            "--no-tf32 given"} <= set(plan.reasons)
    assert (plan.precision, plan.tf32, plan.grad_scaler) == ("fp16-mixed", False, True)
    auto = make_plan(device="cuda", precision="auto", hw=hw)   # auto: the probe's choice
    assert auto.precision == "bf16-mixed" and auto.tf32 and not auto.grad_scaler
    auto.override("precision", "fp16-mixed", "the verb's default")
    assert auto.grad_scaler and auto.reasons[-1] == "precision fp16-mixed: the verb's default"
    auto.override("batch_size", 64, "fits in RAM", source="ram-bound")
    assert (auto.batch_size, auto.batch_size_source) == (64, "ram-bound")
    with pytest.raises(AttributeError):
        auto.override("reasons", [], "no")


def test_run_options_plan_applies_the_verbs_defaults():
    from genotool.options import RunOptions

    plan = RunOptions(device="cpu", threads=1).plan(48, default_precision="bf16-mixed")
    assert (plan.precision, plan.batch_size, plan.batch_size_source) == ("bf16-mixed", 48, "default")
    assert any(r.startswith("precision bf16-mixed: the verb's default") for r in plan.reasons)
    assert plan.applied["torch_threads"] == 1
    # --precision auto: the probe's choice (fp32 on the CPU) over the verb's default
    assert RunOptions(device="cpu", precision="auto", threads=1).plan(default_precision="bf16-mixed").precision == "fp32"
    assert RunOptions(device="cpu", batch_size=8, threads=1).plan(48).batch_size_source == "user"
