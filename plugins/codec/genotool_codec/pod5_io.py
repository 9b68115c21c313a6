"""POD5 discovery, reading (signal and metadata in one pass), writing and FAST5 export (for scrappie).

pod5 pitfalls handled here: the Writer refuses to overwrite (we write to a temporary name and
rename), read ids must be ``uuid.UUID``, and signals must be int16 (a float32 array is silently
truncated and an int32 one silently wraps), so :func:`to_int16` clips and rounds.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genotool.errors import UserError

POD5_MAGIC = b"\x8bPOD\r\n\x1a\n"


def warn(msg: str) -> None:
    print(f"genotool: warning: {msg}", file=sys.stderr, flush=True)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Round and clip any numeric array to int16 (the only dtype pod5 stores faithfully)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64)), -32768, 32767).astype(np.int16)


def is_pod5(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == POD5_MAGIC
    except OSError:
        return False


def discover(inputs: list[Path] | list[str]) -> list[Path]:
    """POD5 files named directly or found (recursively, e.g. several flow-cell sub-folders) in folders."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*.pod5") if f.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"POD5 input not found: {p}")
    seen, uniq = set(), []
    for f in out:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(f)
    if not uniq:
        raise UserError(f"no .pod5 files found in: {', '.join(str(i) for i in inputs)}")
    return uniq


def check_pod5(path: Path) -> str | None:
    """None if ``path`` opens as POD5 and its reads can be listed, else a one-line reason."""
    if not is_pod5(path):
        return "not a POD5 file (bad signature)"
    try:
        import pod5

        with pod5.Reader(path) as r:
            n = 0
            for rec in r.reads():
                _ = rec.run_info.sample_rate
                n += 1
                if n >= 1:
                    break
        return None
    except Exception as exc:  # noqa: BLE001 - any pod5/arrow failure means a corrupt file
        return f"corrupt or truncated POD5 ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"


@dataclass
class RawRead:
    """One read: int16 ADC ``signal`` (n,), calibration, run facts and the pod5 record's metadata."""

    read_id: str
    signal: np.ndarray
    offset: float
    scale: float
    sample_rate: int
    flow_cell: str = ""
    kit: str = ""
    source: str = ""

    def pa(self) -> np.ndarray:
        """(n,) float32 current in pA = (adc + offset) * scale."""
        return ((self.signal.astype(np.float32) + np.float32(self.offset)) * np.float32(self.scale))


def iter_reads(path: Path, *, strict: bool = True, metadata: bool = False):
    """Yield RawRead for every read of a POD5 file; a corrupt file raises UserError naming it.

    ``metadata``: yield ``(RawRead, ReadMetadata)`` instead, from the same pass over the file."""
    import pod5

    if not is_pod5(path):
        raise UserError(f"{path}: not a POD5 file")
    try:
        with pod5.Reader(path) as r:
            for rec in r.reads():
                ri = rec.run_info
                raw = RawRead(read_id=str(rec.read_id), signal=np.asarray(rec.signal, dtype=np.int16),
                              offset=float(rec.calibration.offset), scale=float(rec.calibration.scale),
                              sample_rate=int(ri.sample_rate), flow_cell=ri.flow_cell_product_code,
                              kit=ri.sequencing_kit, source=str(path))
                yield (raw, ReadMetadata.of(rec.to_read())) if metadata else raw
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{path}: corrupt or truncated POD5 ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:120]})") from exc


def plain(v):
    """A pod5 value as plain JSON data (UUIDs and datetimes as strings, enums by name, NaN None)."""
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if dataclasses.is_dataclass(v):
        return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if hasattr(v, "name") and hasattr(v, "value") and not isinstance(v, (int, float, str)):  # enums
        return v.name
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


@dataclass
class ReadMetadata:
    """A pod5.Read's fields except the signal (plain data), and its run info (plain data)."""

    fields: dict
    run_info: dict

    @classmethod
    def of(cls, read) -> "ReadMetadata":
        return cls({f.name: plain(getattr(read, f.name)) for f in dataclasses.fields(read)
                    if f.name not in ("signal", "run_info")}, plain(read.run_info))


def index_run_infos(metas: list[ReadMetadata]) -> tuple[list[dict], list[dict]]:
    """(run infos, per-read metadata) as a token file stores them: each distinct run info once (by
    acquisition id, in order of first use) and each read's fields with ``run_info`` its index."""
    run_infos, index, reads = [], {}, []
    for m in metas:
        key = m.run_info["acquisition_id"]
        if key not in index:
            index[key] = len(run_infos)
            run_infos.append(m.run_info)
        reads.append({**m.fields, "run_info": index[key]})
    return run_infos, reads


@dataclass
class Pod5Input:
    """Every read of the input POD5 files, read once: signal (``reads``) and metadata (``metadata``,
    aligned with ``reads``)."""

    files: list[Path]
    reads: list[RawRead]
    metadata: list[ReadMetadata] = field(default_factory=list)

    def head(self, n: int | None) -> "Pod5Input":
        """The first ``n`` reads (all when ``n`` is None or 0)."""
        return Pod5Input(self.files, self.reads[:n], self.metadata[:n]) if n else self

    @property
    def sample_rate(self) -> int:
        return self.reads[0].sample_rate


def read_inputs(inputs: list[Path], expect_rate: int | None = None) -> Pod5Input:
    """Every read (signal and metadata) of every POD5 found in ``inputs``, each file read once. A
    non-POD5 or corrupt file, mixed sample rates, a rate other than ``expect_rate`` (the model's)
    or no reads at all -> UserError naming the file."""
    files = discover(inputs)
    reads, metas, rates = [], [], {}
    for f in files:
        for rd, meta in iter_reads(f, metadata=True):
            reads.append(rd)
            metas.append(meta)
            rates.setdefault(rd.sample_rate, str(f))
    if len(rates) > 1:
        raise UserError("mixed sample rates in the input: " + ", ".join(f"{r} Hz ({f})" for r, f in sorted(rates.items()))
                        + "; code each rate with its own model")
    if expect_rate and rates and next(iter(rates)) != int(expect_rate):
        r = next(iter(rates))
        raise UserError(f"{rates[r]}: sample rate {r} Hz but the model was trained on {expect_rate} Hz data")
    if not reads:
        raise UserError(f"no reads in {', '.join(str(f) for f in files)}")
    return Pod5Input(files, reads, metas)


def make_run_info(chem: dict, *, acquisition_id: str, flow_cell_id: str = "FAQ00000",
                  sample_id: str = "genotool_sim") -> "object":
    import pod5

    t = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)
    rate = int(chem["sample_rate"])
    return pod5.RunInfo(
        acquisition_id=acquisition_id, acquisition_start_time=t, adc_max=4095, adc_min=-4096,
        context_tags={"sample_frequency": str(rate), "experiment_type": "genomic_dna",
                      "sequencing_kit": chem["kit"].lower(), "package": "genotool-codec simulate"},
        experiment_name="genotool_simulation", flow_cell_id=flow_cell_id,
        flow_cell_product_code=chem["flow_cell"], protocol_name=f"sequencing/{chem['name']}_sim",
        protocol_run_id=acquisition_id, protocol_start_time=t, sample_id=sample_id, sample_rate=rate,
        sequencing_kit=chem["kit"], sequencer_position="MN00000", sequencer_position_type="MinION",
        software="genotool-codec", system_name="genotool", system_type="simulation",
        tracking_id={"flow_cell_product_code": chem["flow_cell"], "sample_frequency": str(rate),
                     "exp_script_name": f"sequencing/{chem['name']}_sim", "run_id": acquisition_id},
    )


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


class Pod5Out:
    """Write a POD5 atomically: to a temporary name beside ``path``, renamed on close.

    ``force`` False and ``path`` existing -> UserError before anything is written.
    """

    def __init__(self, path: Path, force: bool = False):
        import pod5

        from genotool.outputs import refuse_existing

        self.path = Path(path)
        refuse_existing(self.path, force)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = _tmp_for(self.path)
        if self.tmp.exists():
            self.tmp.unlink()
        self.writer = pod5.Writer(self.tmp, software_name="genotool-codec")
        self.n = 0

    def add(self, read) -> None:
        self.writer.add_read(read)
        self.n += 1

    def close(self, ok: bool = True) -> None:
        self.writer.close()
        if ok:
            os.replace(self.tmp, self.path)
        elif self.tmp.exists():
            self.tmp.unlink()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(ok=exc_type is None)
        return False


def copy_with_signal(src: Path, out: Path, signals: dict[str, np.ndarray], *, force: bool = False,
                     only: set[str] | None = None) -> int:
    """Write ``out`` with every read of ``src`` (or those in ``only``) keeping id, calibration,
    run_info and metadata; reads in ``signals`` get that int16 signal instead. Returns reads written."""
    import pod5

    n = 0
    with Pod5Out(out, force=force) as w, pod5.Reader(src) as r:
        for rec in r.reads():
            rid = str(rec.read_id)
            if only is not None and rid not in only:
                continue
            rd = rec.to_read()
            if rid in signals:
                rd.signal = to_int16(signals[rid])
            w.add(rd)
            n += 1
    return n


def write_fast5(path: Path, reads: list[tuple[str, np.ndarray, float, float, int]]) -> None:
    """Multi-read FAST5 is not read by scrappie; write one single-read FAST5 per call instead.

    ``reads``: [(read_id, int16 signal (n,), offset, scale, sample_rate)] -> files ``path/<id>.fast5``
    with /Raw/Reads/Read_<n>/Signal and UniqueGlobalKey/channel_id (digitisation, offset, range,
    sampling_rate) so that pA = (adc + offset) * range / digitisation = (adc + offset) * scale.
    """
    import h5py

    path.mkdir(parents=True, exist_ok=True)
    digitisation = 8192.0
    for i, (rid, sig, offset, scale, rate) in enumerate(reads):
        with h5py.File(path / f"{rid}.fast5", "w") as f:
            f.attrs["file_version"] = np.bytes_("2.0")
            ch = f.create_group("UniqueGlobalKey/channel_id")
            ch.attrs["channel_number"] = np.bytes_(str(i % 512 + 1))
            ch.attrs["digitisation"] = digitisation
            ch.attrs["offset"] = float(offset)
            ch.attrs["range"] = float(scale) * digitisation
            ch.attrs["sampling_rate"] = float(rate)
            g = f.create_group(f"Raw/Reads/Read_{i}")
            g.attrs["read_id"] = np.bytes_(rid)
            g.attrs["read_number"] = np.int32(i)
            g.attrs["start_time"] = np.uint64(0)
            g.attrs["duration"] = np.uint32(len(sig))
            g.create_dataset("Signal", data=np.asarray(sig, dtype=np.int16))


def new_uuid(rng: np.random.Generator) -> uuid.UUID:
    return uuid.UUID(bytes=rng.bytes(16), version=4)
