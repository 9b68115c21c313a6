"""Batch-size search logic with a fake step that runs out of memory above a threshold."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from genotool.engine.batchsize import find_batch_size, search_batch_size  # noqa: E402
from genotool.probe import Plan  # noqa: E402


class FakeStep:
    """Raises torch.OutOfMemoryError for batch sizes above ``limit``; records every call."""

    def __init__(self, limit: int, error=None):
        self.limit = limit
        self.calls: list[int] = []
        self.error = error or (lambda n: torch.OutOfMemoryError(f"CUDA out of memory at {n}"))

    def __call__(self, n: int) -> None:
        self.calls.append(n)
        if n > self.limit:
            raise self.error(n)


@pytest.mark.parametrize("limit", [1, 2, 3, 100, 257, 5000])
def test_search_finds_largest_fit_within_tolerance(limit):
    step = FakeStep(limit)
    if limit < 2:
        with pytest.raises(RuntimeError, match="does not fit"):
            search_batch_size(step, start=2)
        return
    largest, trials = search_batch_size(step, start=2, max_size=8192)
    assert largest <= limit                        # never reports a size that failed
    assert largest >= limit * 15 / 16 - 1          # bisection gets within ~6%
    assert [t["batch_size"] for t in trials] == step.calls
    assert all(t["fits"] == (t["batch_size"] <= limit) for t in trials)
    first_fail = next(i for i, t in enumerate(trials) if not t["fits"])
    assert step.calls[:first_fail + 1] == [2 * 2**k for k in range(first_fail + 1)]  # doubling


def test_search_stops_at_max_size_without_oom():
    step = FakeStep(10**9)
    largest, trials = search_batch_size(step, start=3, max_size=100)
    assert largest == 100 and step.calls == [3, 6, 12, 24, 48, 96, 100]


def test_cublas_alloc_failure_counts_as_oom_other_errors_propagate():
    step = FakeStep(40, error=lambda n: RuntimeError("CUBLAS_STATUS_ALLOC_FAILED when calling x"))
    assert search_batch_size(step, start=2)[0] <= 40
    bad = FakeStep(40, error=lambda n: ValueError("shape mismatch"))
    with pytest.raises(ValueError):
        search_batch_size(bad, start=2)


def test_find_batch_size_caches_per_device_key_precision(tmp_path, monkeypatch):
    monkeypatch.setenv("GENOTOOL_CACHE_DIR", str(tmp_path))
    plan = Plan(device="cpu", precision="fp32")
    step = FakeStep(300)
    size = find_batch_size(step, plan=plan, cache_key="tiny-mlp", start=2, max_size=4096,
                           measure_on_cpu=True)
    assert size == int(search_batch_size(FakeStep(300), start=2, max_size=4096)[0] * 0.9)
    assert plan.batch_size == size and plan.batch_size_source == "measured"
    cache = json.loads((tmp_path / "batch_size.json").read_text())
    assert cache["cpu|tiny-mlp|fp32"]["batch_size"] == size

    def never(n):
        raise AssertionError("a cached size must not be measured again")

    plan2 = Plan(device="cpu", precision="fp32")
    assert find_batch_size(never, plan=plan2, cache_key="tiny-mlp", start=2, max_size=4096,
                           measure_on_cpu=True) == size
    assert plan2.batch_size_source == "cached"
    # A different precision or model is a different entry: measured again.
    other = FakeStep(50)
    find_batch_size(other, plan=Plan(device="cpu", precision="bf16-mixed"), cache_key="tiny-mlp",
                    start=2, max_size=4096, measure_on_cpu=True)
    assert other.calls
    assert set(json.loads((tmp_path / "batch_size.json").read_text())) == {
        "cpu|tiny-mlp|fp32", "cpu|tiny-mlp|bf16-mixed"}


def test_cpu_does_not_search_and_user_value_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("GENOTOOL_CACHE_DIR", str(tmp_path))

    def never(n):
        raise AssertionError("CPU sizes are not measured")

    plan = Plan(device="cpu")
    assert find_batch_size(never, plan=plan, cache_key="k", default=128) == 128
    assert plan.batch_size_source == "default"
    # A sample so large that 25% of RAM holds only a few: RAM-bound.
    huge = 1 << 40
    small = find_batch_size(never, plan=plan, cache_key="k", default=128, bytes_per_sample=huge)
    assert 1 <= small < 128 and plan.batch_size_source == "ram-bound"
    user = Plan(device="cuda", batch_size=77, batch_size_source="user")
    assert find_batch_size(never, plan=user, cache_key="k") == 77
    assert not (tmp_path / "batch_size.json").exists()
