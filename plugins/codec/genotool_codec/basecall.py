"""Basecaller adapters (scrappie from Debian, Dorado when given) and read identity.

Basecallers run as subprocesses: scrappie is known to segfault on some signals (a
piecewise-constant one did), and a crash must become a failed read, not a failed command.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from genotool.errors import UserError

from genotool_codec import pod5_io

_CIGAR = re.compile(r"(\d+)([=XIDM])")


def identity(query: str, target: str, *, infix: bool = True) -> float | None:
    """Matches / alignment columns of ``query`` against ``target`` (edlib; infix: target may overhang)."""
    import edlib

    if not query or not target:
        return None
    res = edlib.align(query, target, mode="HW" if infix else "NW", task="path")
    cols = matches = 0
    for n, op in _CIGAR.findall(res["cigar"] or ""):
        n = int(n)
        cols += n
        if op == "=":
            matches += n
    return matches / cols if cols else None


def parse_fasta_text(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            out[name] = []
        elif name is not None:
            out[name].append(line.strip())
    return {k: "".join(v) for k, v in out.items()}


def find_scrappie(binary: str | None = None) -> str:
    exe = binary or shutil.which("scrappie") or ("/usr/bin/scrappie" if Path("/usr/bin/scrappie").exists() else None)
    if not exe:
        raise UserError("scrappie not found on PATH (apt-get install scrappie) and no --dorado/--dorado-model given")
    return exe


def scrappie_call(reads: list[tuple[str, np.ndarray, float, float, int]], *, model: str,
                  binary: str | None = None, threads: int = 1, timeout: float = 600) -> dict[str, dict]:
    """Basecall [(read_id, int16 adc (n,), offset, scale, rate)] -> {read_id: {"seq" or "error"}}.

    All reads go to one scrappie process; if it crashes, each read is retried alone so the crash
    is pinned on the read(s) that cause it.
    """
    exe = find_scrappie(binary)
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="genotool_scrappie_") as tmp:
        d = Path(tmp)
        pod5_io.write_fast5(d / "in", reads)

        def run(files: list[Path]) -> tuple[int, str, str]:
            cmd = [exe, "raw", "--model", model, "--format", "FASTA", "--threads", str(threads),
                   *[str(f) for f in files]]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
                return p.returncode, p.stdout, p.stderr
            except subprocess.TimeoutExpired:
                return -9, "", "timeout"

        files = [d / "in" / f"{r[0]}.fast5" for r in reads]
        rc, stdout, stderr = run(files)
        calls = parse_fasta_text(stdout) if rc == 0 else {}
        if rc != 0:
            for f, r in zip(files, reads):
                rc1, so1, se1 = run([f])
                got = parse_fasta_text(so1) if rc1 == 0 else {}
                if rc1 != 0:
                    out[r[0]] = {"error": f"scrappie exit {rc1}" + (" (crash)" if rc1 < 0 else "")
                                 + (f": {se1.strip().splitlines()[-1][:200]}" if se1.strip() else "")}
                else:
                    calls.update(got)
    for rid, *_ in reads:
        if rid in out:
            continue
        seq = _match_call(calls, rid)
        out[rid] = {"seq": seq} if seq else {"error": "no call produced"}
    return out


def _match_call(calls: dict[str, str], rid: str) -> str | None:
    if rid in calls:
        return calls[rid]
    for k, v in calls.items():  # scrappie names a call after the file (path/read_id.fast5)
        if rid in k:
            return v
    return None


def dorado_call(pod5_path: Path, *, binary: str, model: str, device: str = "cpu",
                timeout: float = 3600) -> dict[str, dict]:
    """Basecall a POD5 with ``dorado basecaller MODEL POD5 --emit-fastq`` -> {read_id: {"seq"}}."""
    exe = shutil.which(binary) or binary
    if not Path(exe).exists():
        raise UserError(f"--dorado: binary not found: {binary}")
    cmd = [exe, "basecaller", model, str(pod5_path), "--emit-fastq", "--device", device]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}
    if p.returncode != 0:
        raise UserError(f"--dorado: basecaller failed (exit {p.returncode}): "
                        f"{(p.stderr.strip().splitlines() or [''])[-1][:200]}")
    out: dict[str, dict] = {}
    lines = p.stdout.splitlines()
    for i in range(0, len(lines) - 3, 4):
        if lines[i].startswith("@"):
            out[lines[i][1:].split()[0]] = {"seq": lines[i + 1].strip()}
    return out
