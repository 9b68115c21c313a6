"""Atomic outputs and run directories.

Files are written to a temporary name beside the target and renamed when complete. A run's
output directory is built in ``<output>.partial`` and renamed to ``<output>`` at the end, so a
reader never sees half an output. A killed run leaves ``<output>.partial`` behind; the next run
with the same output resumes from the checkpoints in it (the engine decides) or starts cleanly.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from genotool.errors import UserError
from genotool.provenance import build_metadata, now_iso

METADATA_NAME = "metadata.json"


@contextmanager
def atomic_file(path: str | os.PathLike, *, force: bool = True):
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    if path.exists() and not force:
        raise UserError(f"output already exists: {path} (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


def refuse_existing(path: str | os.PathLike | None, force: bool, option: str = "--output") -> None:
    """Fail before any work when ``path`` exists and ``--force`` was not given (one-file outputs,
    e.g. a bench's ``-o``; folders get the same check from :func:`run_output`)."""
    if path is not None and Path(path).exists() and not force:
        raise UserError(f"{option}: {path} already exists (use --force to replace it)")


def write_json(path: str | os.PathLike, obj, *, indent: int = 2) -> Path:
    """Write JSON atomically."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, default=str) + "\n")
    return path


class RunDir:
    """An output directory under construction (see :func:`run_output`)."""

    def __init__(self, final: Path, staging: Path, command: str, parameters: dict, inputs: list,
                 resumed: bool):
        self.final = final
        self.path = staging          # write everything here
        self.command = command
        self.parameters = dict(parameters)
        self.inputs = list(inputs)
        self.plan = {}               # the probe's Plan (or its to_dict()): metadata.json's "plan"
        self.runtime: dict = {}
        self.extra: dict = {}
        self.resumed = resumed       # True when a previous killed run left staging content
        self.started = now_iso()
        self._t0 = time.perf_counter()

    def add_inputs(self, *paths) -> None:
        self.inputs.extend(paths)

    def metadata(self) -> dict:
        runtime = {"wall_seconds": round(time.perf_counter() - self._t0, 3), **self.runtime}
        plan = self.plan.to_dict() if hasattr(self.plan, "to_dict") else self.plan
        return build_metadata(command=self.command, parameters=self.parameters, inputs=self.inputs,
                              plan=plan, runtime=runtime, started=self.started,
                              output=str(self.final), **self.extra)

    def write_metadata(self, name: str = METADATA_NAME) -> Path:
        return write_json(self.path / name, self.metadata())


def _barrier_if_distributed() -> None:
    """torch.distributed barrier when a process group is up (never imports torch itself)."""
    td = sys.modules.get("torch.distributed")
    if td is not None and td.is_available() and td.is_initialized():
        td.barrier()


@contextmanager
def run_output(output: str | os.PathLike, *, command: str, parameters: dict | None = None,
               inputs: list | None = None, force: bool = False, resume: bool = True):
    """Stage a run's output directory and publish it atomically with ``metadata.json``.

    * ``output`` exists and ``force`` is False -> UserError (nothing touched).
    * ``<output>.partial`` exists -> kept when ``resume`` (``RunDir.resumed`` is True, the
      engine finds its checkpoints there), wiped otherwise.
    * A UserError inside the block removes the staging folder if this run created it, so bad
      input leaves no partial output; any other failure (crash, kill) keeps it for resuming.
    """
    final = Path(output).absolute()
    if final.exists() and not force:
        raise UserError(f"output already exists: {final} (use --force to replace it)")
    if final.exists() and not final.is_dir():
        raise UserError(f"output exists and is not a folder: {final}")
    staging = final.with_name(final.name + ".partial")
    if int(os.environ.get("RANK", "0")) != 0:
        # torchrun: ranks > 0 share rank 0's staging folder and never wipe or publish it (the
        # engine writes only from rank 0; plugins guard their own writes with trainer.is_main).
        staging.mkdir(parents=True, exist_ok=True)
        yield RunDir(final, staging, command, parameters or {}, inputs or [], resumed=False)
        _barrier_if_distributed()   # matches rank 0's barrier before it publishes
        return
    resumed = staging.is_dir() and any(staging.iterdir())
    if resumed and not resume:
        shutil.rmtree(staging)
        resumed = False
    staging.mkdir(parents=True, exist_ok=True)
    run = RunDir(final, staging, command, parameters or {}, inputs or [], resumed)
    try:
        yield run
    except UserError:
        if not resumed:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    run.write_metadata()
    # Other ranks may still read the staging folder (e.g. load the best checkpoint): publish
    # only once every rank has left its block.
    _barrier_if_distributed()
    if final.exists():  # --force: swap the old one out only once the new one is complete
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, trash)
        os.replace(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, final)
    run.path = final
