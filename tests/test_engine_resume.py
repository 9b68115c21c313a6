"""Kill -9 after the epoch-2 checkpoint, rerun, and get bit-identical weights and history."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from genotool.engine.metrics import TIMING_KEYS  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "engine_scripts" / "train_tiny.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=ENV, timeout=180)


def _comparable(history: list[dict]) -> list[dict]:
    """History rows without wall-clock fields (those legitimately differ between runs)."""
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS and k != "val_seconds"}
            for row in history]


@pytest.mark.parametrize("workers", ["0", "1"])
def test_kill_and_resume_is_bit_identical(tmp_path, workers):
    """workers=1 uses persistent DataLoader workers: their seeding must not shift the order."""
    ref = _run("--out", str(tmp_path / "ref"), "--epochs", "4", "--dump", str(tmp_path / "ref.pt"),
               "--workers", workers)
    assert ref.returncode == 0, ref.stderr

    killed = _run("--out", str(tmp_path / "run"), "--epochs", "4", "--dump", str(tmp_path / "run.pt"),
                  "--kill-after-epoch", "2", "--workers", workers)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert not (tmp_path / "run.pt").exists()
    ckpt_dir = tmp_path / "run" / "checkpoints"
    assert (ckpt_dir / "last.pt").exists()
    assert not list(ckpt_dir.glob(".*tmp*")), "a temp checkpoint was left behind"
    saved = torch.load(ckpt_dir / "last.pt", weights_only=False)
    assert saved["epoch"] == 2 and len(saved["history"]) == 2

    resumed = _run("--out", str(tmp_path / "run"), "--epochs", "4", "--dump", str(tmp_path / "run.pt"),
                   "--workers", workers)
    assert resumed.returncode == 0, resumed.stderr
    assert "[tiny] resuming from" in resumed.stderr and "(epoch 2 of 4 done)" in resumed.stderr
    assert "[tiny] epoch 3: train_loss" in resumed.stderr
    info = json.loads((tmp_path / "run.pt.json").read_text())
    ref_info = json.loads((tmp_path / "ref.pt.json").read_text())
    assert info["resumed_from_epoch"] == 2 and info["epochs_run"] == 2
    assert info["global_step"] == ref_info["global_step"]

    a = torch.load(tmp_path / "ref.pt")
    b = torch.load(tmp_path / "run.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    assert _comparable(info["history"]) == _comparable(ref_info["history"])
    on_disk = json.loads((tmp_path / "run" / "history.json").read_text())
    assert _comparable(on_disk) == _comparable(ref_info["history"])

    if workers != "0":
        return
    # A third run finds a finished training: nothing to do, same answer.
    again = _run("--out", str(tmp_path / "run"), "--epochs", "4", "--dump", str(tmp_path / "again.pt"))
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again.pt.json").read_text())["epochs_run"] == 0
    c = torch.load(tmp_path / "again.pt")
    assert all(torch.equal(a[k], c[k]) for k in a)
