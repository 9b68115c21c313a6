"""Two-process data-parallel training on CPU (gloo) launched by torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parent / "engine_scripts" / "train_tiny.py"


def test_torchrun_two_ranks_gloo(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch built without distributed support")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    n = 64  # divisible by 2 ranks x batch 8: no padding, so the shards are exactly disjoint
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           str(SCRIPT), "--out", str(tmp_path / "out"), "--epochs", "2", "--samples", str(n),
           "--dump", str(tmp_path / "final.pt"), "--spy-dir", str(tmp_path / "spy"),
           "--second-fit", str(tmp_path / "fold2")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    spies = [json.loads((tmp_path / "spy" / f"rank{r}.json").read_text()) for r in (0, 1)]
    infos = [json.loads((tmp_path / f"final.pt.rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["world_size"] for i in infos] == [2, 2]

    # Each epoch: the ranks' shards are disjoint and together cover the dataset once.
    per_epoch = n // 2
    for epoch in range(2):
        shard = [set(s["seen"][epoch * per_epoch:(epoch + 1) * per_epoch]) for s in spies]
        assert len(shard[0]) == len(shard[1]) == per_epoch
        assert not shard[0] & shard[1]
        assert shard[0] | shard[1] == set(range(n))

    # DDP keeps replicas in sync: identical final weights on both ranks.
    p0 = torch.load(tmp_path / "final.pt.rank0")
    p1 = torch.load(tmp_path / "final.pt.rank1")
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k
    # Reduced metrics are the same on every rank.
    assert [r["train_loss"] for r in infos[0]["history"]] == [r["train_loss"] for r in infos[1]["history"]]
    assert [r["val_loss"] for r in infos[0]["history"]] == [r["val_loss"] for r in infos[1]["history"]]

    # A second fit in the same processes (next fold) reuses the process group.
    assert [r["train_loss"] for r in infos[0]["second_history"]] == \
        [r["train_loss"] for r in infos[1]["second_history"]]
    assert (tmp_path / "fold2" / "checkpoints" / "last.pt").exists()

    # Only rank 0 writes checkpoints and history.
    assert spies[1]["writes"] == []
    assert "checkpoint:last.pt" in spies[0]["writes"] and "history" in spies[0]["writes"]
    out = tmp_path / "out"
    assert (out / "checkpoints" / "last.pt").exists() and (out / "history.csv").exists()
    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    assert len(saved["rng"]) == 2  # each rank's RNG streams, for an exact resume
