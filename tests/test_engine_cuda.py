"""GPU-only engine checks (skipped without CUDA): mixed precision on the GPU, peak memory, real OOM search."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine_scripts"))
from engine_tiny import IndexedRegression, RegressionTask, make_model  # noqa: E402

from genotool.engine import TrainConfig, Trainer, find_batch_size  # noqa: E402
from genotool.probe import make_plan  # noqa: E402


def test_fit_on_gpu_with_probe_precision(tmp_path):
    plan = make_plan(backend="torch", device="cuda")
    cfg = TrainConfig(max_epochs=2, batch_size=16, progress=False, pin_memory=True, num_workers=1,
                      clip_grad_norm=1.0)
    model = make_model()
    result = Trainer(cfg, plan=plan, out_dir=tmp_path).fit(model, RegressionTask(), IndexedRegression(64),
                                                           IndexedRegression(16, seed=2))
    assert next(model.parameters()).device.type == "cuda"
    assert result.runtime["device"].startswith("cuda")
    assert all(r["peak_memory_mb"] > 0 and r["train_loss"] == r["train_loss"] for r in result.history)
    saved = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert "cuda" in saved["rng"][0]
    assert (saved["scaler"] is not None) == (plan.precision == "fp16-mixed")


def test_find_batch_size_with_real_oom(tmp_path, monkeypatch):
    monkeypatch.setenv("GENOTOOL_CACHE_DIR", str(tmp_path))
    plan = make_plan(backend="torch", device="cuda")
    free, _ = torch.cuda.mem_get_info()
    per_sample = free // 1000  # a "sample" costs 1/1000 of free memory: OOM somewhere near 1000

    def step(n: int) -> None:
        x = torch.empty(n * per_sample, dtype=torch.uint8, device="cuda")
        x.fill_(1)
        del x

    size = find_batch_size(step, plan=plan, cache_key="fake-alloc", start=64, max_size=4096)
    assert 400 <= size <= 1000 and plan.batch_size_source == "measured"
    cache = json.loads((tmp_path / "batch_size.json").read_text())
    (key,) = cache
    assert key.endswith("|fake-alloc|" + plan.precision) and torch.cuda.get_device_name(0) in key
