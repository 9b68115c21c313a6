"""Normalisation, windowing, the threaded POD5 reader, the dataset index and batch prefetching.

Normalisation is per read: x = (pA - median) / (1.4826 * MAD), robust to spikes; the stats are
kept so a decoded read returns to pA and then to the read's own ADC calibration.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError

from genotool_codec import pod5_io

WINDOWS_NAME = "windows.npy"
INDEX_NAME = "index.json"


def normalise(pa: np.ndarray) -> tuple[np.ndarray, float, float]:
    """pA (n,) -> (normalised float32 (n,), median, scale) with scale = 1.4826 * MAD (>= 1e-3)."""
    med = float(np.median(pa))
    scale = float(1.4826 * np.median(np.abs(pa - med)))
    scale = max(scale, 1e-3)
    return ((pa - med) / scale).astype(np.float32), med, scale


def windows_of(x: np.ndarray, window: int) -> np.ndarray:
    """Full non-overlapping windows (n // window, window) of x (the tail is dropped for training)."""
    n = len(x) // window
    return x[: n * window].reshape(n, window)


def pad_to(x: np.ndarray, multiple: int) -> np.ndarray:
    """Pad (n,) at the end with zeros (the normalised median) to a multiple of ``multiple``."""
    n = (-len(x)) % multiple
    return np.pad(x, (0, n)) if n else x


@dataclass
class ScanResult:
    files: list[Path] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    sample_rate: int | None = None


def scan_files(paths: list[Path], sample_rate: int | None = None) -> ScanResult:
    """Check every POD5: corrupt ones and those at another sample rate are skipped with a warning
    that names them. The expected rate is ``sample_rate`` or that of the first good file."""
    import pod5

    res = ScanResult(sample_rate=sample_rate)
    for f in pod5_io.discover(paths):
        why = pod5_io.check_pod5(f)
        if why:
            pod5_io.warn(f"skipping {f}: {why}")
            res.skipped.append({"file": str(f), "reason": why})
            continue
        with pod5.Reader(f) as r:
            rates = {int(ri.sample_rate) for ri in (rec.run_info for rec in r.reads())}
        if res.sample_rate is None and len(rates) == 1:
            res.sample_rate = rates.pop() if rates else None
            res.files.append(f)
            continue
        if rates != {res.sample_rate}:
            why = f"sample rate {sorted(rates)} Hz differs from {res.sample_rate} Hz"
            pod5_io.warn(f"skipping {f}: {why}")
            res.skipped.append({"file": str(f), "reason": why})
            continue
        res.files.append(f)
    return res


class Pod5Stream:
    """A thread that reads POD5 files in order and queues (RawRead, normalised (n,), med, scale).

    ``for item in Pod5Stream(files): ...``; a read error in the thread is re-raised in the consumer.
    """

    _END = object()

    def __init__(self, files: list[Path], queue_size: int = 64, skip_bad: bool = False):
        self.files = list(files)
        self.skip_bad = skip_bad      # a file failing mid-way: warn, keep its earlier reads, go on
        self.skipped: list[dict] = []
        self.q: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            for f in self.files:
                try:
                    for rd in pod5_io.iter_reads(f):
                        x, med, scale = normalise(rd.pa())
                        self.q.put((rd, x, med, scale))
                except UserError as exc:
                    if not self.skip_bad:
                        raise
                    pod5_io.warn(f"skipping the rest of {f}: {exc}")
                    self.skipped.append({"file": str(f), "reason": str(exc)})
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            self.error = exc
        finally:
            self.q.put(self._END)

    def __iter__(self):
        while True:
            item = self.q.get()
            if item is self._END:
                if self.error is not None:
                    raise self.error
                return
            yield item


def build_dataset(paths: list[Path], out_dir: Path, *, window: int = 10000, sample_rate: int | None = None,
                  progress=None) -> dict:
    """Write ``windows.npy`` (n_windows, window) float16 and ``index.json`` (files, reads, stats)."""
    scan = scan_files(paths, sample_rate)
    if not scan.files:
        raise UserError(f"no usable POD5 file in {', '.join(str(p) for p in paths)} "
                        f"(all {len(scan.skipped)} skipped: see warnings)")
    chunks, reads = [], []
    short = 0
    sums = np.zeros(3)
    lengths = []
    stream = Pod5Stream(scan.files, skip_bad=True)
    for rd, x, med, scale in stream:
        w = windows_of(x, window)
        lengths.append(len(x))
        if len(w) == 0:
            short += 1
            continue
        chunks.append(w.astype(np.float16))
        sums += [w.size, float(w.sum()), float((w.astype(np.float64) ** 2).sum())]
        reads.append({"read_id": rd.read_id, "file": rd.source, "n_samples": len(x), "n_windows": len(w),
                      "median_pa": med, "scale_pa": scale})
        if progress:
            progress(len(lengths))
    if short:
        pod5_io.warn(f"{short} read(s) shorter than the window ({window} samples) were skipped")
    if not chunks:
        raise UserError(f"no read is at least one window long ({window} samples; longest read "
                        f"{max(lengths, default=0)} samples): use a smaller --window")
    scan.skipped.extend(stream.skipped)
    arr = np.concatenate(chunks)
    np.save(out_dir / WINDOWS_NAME, arr)
    n, s, s2 = sums
    mean = s / n
    stats = {"n_files": len(scan.files), "n_files_skipped": len(scan.skipped), "skipped_files": scan.skipped,
             "n_reads": len(lengths), "n_reads_used": len(reads), "n_reads_short": short,
             "n_windows": int(arr.shape[0]), "window": window, "sample_rate": scan.sample_rate,
             "total_samples": int(sum(lengths)), "window_samples": int(arr.size),
             "read_length_median": float(np.median(lengths)), "norm_mean": mean,
             "norm_std": float(np.sqrt(max(s2 / n - mean ** 2, 0.0)))}
    index = {"format": "genotool-codec.dataset/1", "files": [str(f) for f in scan.files], "reads": reads,
             "stats": stats}
    (out_dir / INDEX_NAME).write_text(json.dumps(index, indent=1) + "\n")
    return stats


def load_dataset(path: Path) -> tuple[np.ndarray, dict]:
    """(windows memmap (n, window) float16, index dict) of a preprocess output folder."""
    p = Path(path)
    if not (p / INDEX_NAME).is_file() or not (p / WINDOWS_NAME).is_file():
        raise UserError(f"--data: {p} is not a `genotool codec preprocess` output (no {INDEX_NAME})")
    index = json.loads((p / INDEX_NAME).read_text())
    return np.load(p / WINDOWS_NAME, mmap_mode="r"), index


class BatchSource:
    """Deterministic batches: batch ``step`` depends only on (seed, step), which makes resuming exact.

    ``get(step)`` -> (batch_size, crop) float32 random crops of random windows.
    """

    def __init__(self, windows: np.ndarray, batch_size: int, crop: int, seed: int):
        self.w, self.bs, self.seed = windows, batch_size, seed
        self.crop = crop or windows.shape[1]
        if self.crop > windows.shape[1]:
            raise UserError(f"train.crop {self.crop} is longer than the dataset window {windows.shape[1]}")

    def get(self, step: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, step])
        rows = rng.integers(0, self.w.shape[0], self.bs)
        starts = rng.integers(0, self.w.shape[1] - self.crop + 1, self.bs)
        return np.stack([np.asarray(self.w[r, s:s + self.crop], dtype=np.float32) for r, s in zip(rows, starts)])


class Prefetcher:
    """Host prefetch (a thread fills a queue of numpy batches) + device prefetch (the next
    ``device_size`` batches are already transferred with ``put``, e.g. a sharded device_put)."""

    def __init__(self, source, start: int, stop: int, put, host_size: int = 4, device_size: int = 2):
        self.q: queue.Queue = queue.Queue(maxsize=max(1, host_size))
        self.put = put
        self.device_size = max(1, device_size)
        self.stop_flag = False
        self.error = None

        def run():
            try:
                for s in range(start, stop):
                    if self.stop_flag:
                        return
                    self.q.put((s, source(s)))
            except BaseException as exc:  # noqa: BLE001
                self.error = exc
                self.q.put(None)

        self.t = threading.Thread(target=run, daemon=True)
        self.t.start()
        self.remaining = stop - start

    def __iter__(self):
        from collections import deque

        dq: deque = deque()
        while self.remaining > 0 or dq:
            while self.remaining > 0 and len(dq) < self.device_size:
                item = self.q.get()
                if item is None:
                    raise self.error
                self.remaining -= 1
                dq.append((item[0], self.put(item[1])))
            yield dq.popleft()

    def close(self):
        self.stop_flag = True
