"""A killed `splice train` resumes from its last checkpoint and ends with the weights of an
uninterrupted run (the core engine's pattern: SIGKILL after an epoch, rerun the same command)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch


def _cmd(data, out):
    return [sys.executable, "-m", "genotool", "splice", "train", "-d", str(data), "-o", str(out), "--epochs", "2",
            "--threads", "1", "--architecture", "score-only", "--seed", "5"]


def test_killed_training_resumes_to_same_weights(pipeline, tmp_path):
    data = pipeline["data"]
    full = tmp_path / "full"
    subprocess.run(_cmd(data, full), check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(data, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hist = killed.with_name("killed.partial") / "history.json"
    t0 = time.time()
    while time.time() - t0 < 120:
        if hist.is_file() and len(json.loads(hist.read_text() or "[]")) >= 1:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not killed.exists(), "run finished before it could be killed"
    r = subprocess.run(_cmd(data, killed), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "resuming from" in r.stderr
    a = torch.load(full / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(killed / "model.pt", weights_only=False)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
