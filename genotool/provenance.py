"""What made an output: software versions, command, parameters, inputs, host.

Modelled on msprime/tskit provenance records: every output directory gets a ``metadata.json``
with ``schema_version``, ``software``, ``command``, ``parameters``, ``inputs``, ``environment``,
the probe's ``plan`` and ``runtime`` metrics.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

SCHEMA_VERSION = "genotool.metadata/1"
_TRACKED = ("genotool", "torch", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy",
            "pandas", "pyarrow", "pysam", "pod5", "xgboost", "xgboost-cpu", "scikit-learn")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of installed packages that matter for reproducing a run (absent ones skipped)."""
    out = {"python": platform.python_version()}
    for name in (*_TRACKED, *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def input_record(path: str | os.PathLike) -> dict:
    """Path, size and mtime of an input (files and folders; folders are summed)."""
    p = Path(path)
    rec: dict = {"path": str(p.resolve()) if p.exists() else str(p)}
    if p.is_file():
        st = p.stat()
        rec.update(size=st.st_size, mtime=st.st_mtime, kind="file")
    elif p.is_dir():
        files = [f for f in p.rglob("*") if f.is_file()]
        rec.update(size=sum(f.stat().st_size for f in files), n_files=len(files),
                   mtime=max((f.stat().st_mtime for f in files), default=p.stat().st_mtime), kind="dir")
    else:
        rec["missing"] = True
    return rec


def environment() -> dict:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "user": os.environ.get("USER", ""),
    }


def build_metadata(*, command: str, parameters: dict, inputs: list, plan: dict | None = None,
                   runtime: dict | None = None, started: str | None = None,
                   extra_packages: tuple[str, ...] = (), **extra) -> dict:
    meta = {
        "schema_version": SCHEMA_VERSION,
        "software": {"name": "genotool", "versions": package_versions(extra_packages)},
        "command": command,
        "parameters": jsonable(parameters),
        "inputs": [input_record(p) for p in inputs],
        "plan": plan or {},
        "runtime": runtime or {},
        "environment": environment(),
        "started": started or now_iso(),
        "finished": now_iso(),
    }
    meta.update(jsonable(extra))
    return meta


def jsonable(obj):
    """Make parameters JSON-safe (Paths, tuples, sets, numpy scalars, dataclasses)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        try:
            return obj.item()
        except (TypeError, ValueError):
            pass
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
