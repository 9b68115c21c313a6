"""Atomic outputs and run directories.

Files are written to a temporary name beside the target and renamed when complete. A run's
output directory is built in ``<output>.partial`` and renamed to ``<output>`` at the end, so a
reader never sees half an output. A killed run leaves ``<output>.partial`` behind; the next run
with the same output resumes from the checkpoints in it (the engine decides) or starts cleanly.
A staging folder carries a stamp (command, parameters, inputs' size and mtime): a later run
resumes it only when the stamp matches, so nothing left by another run, or by a run on inputs
that have changed since, is trusted.

An output that cannot be created or written (a read-only folder, /sys, a path below a regular
file, a full disk) is the user's to fix: :func:`check_writable` (run by the CLI on every
``--output``/``--json`` before the verb starts), :func:`atomic_file` and :func:`run_output`
turn it into one :class:`UserError` naming the option.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from genotool.errors import UserError
from genotool.log import log
from genotool.provenance import build_metadata, input_record, jsonable, now_iso

METADATA_NAME = "metadata.json"
STAMP_NAME = ".genotool-staging.json"   # inside <output>.partial only; removed before publishing
# Parameters that change how fast a run goes, not what it writes: a resumed run may change them
# (a longer --max-minutes is how a run is continued in pieces).
RESUME_IGNORES = frozenset({"force", "threads", "num_workers", "device", "max_minutes", "json", "json_out",
                            "quiet", "progress"})
# Errors of the place written to, never of the program: a full disk, a quota, no permission, a
# read-only file system (a missing or odd path inside our own staging folder would be a bug).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM})


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def check_writable(path: str | os.PathLike, option: str = "--output") -> None:
    """Raise a one-line UserError unless ``path`` can be created (its folder exists or can be made,
    and accepts new files). Creates nothing: a probe file in the nearest existing folder is
    written and removed (permission bits alone miss read-only mounts, /sys and root's rights)."""
    p = Path(path).absolute()
    anc = p.parent
    try:
        while not anc.exists() and anc != anc.parent:
            anc = anc.parent
        is_dir = anc.is_dir()
    except OSError as exc:                           # a folder on the way that may not be entered
        raise UserError(f"{option}: cannot create {p}: {exc.filename or anc}: {_reason(exc)}") from None
    if not is_dir:
        raise UserError(f"{option}: cannot create {p}: {anc} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".genotool-write-test-", dir=anc)
    except OSError as exc:
        raise UserError(f"{option}: cannot create {p}: {anc} is not writable ({_reason(exc)})") from None
    os.close(fd)
    os.unlink(probe)


def _write_error(exc: OSError, target: Path, verb: str = "write", option: str | None = "--output") -> UserError:
    """The one-line error for an OSError met while creating or writing ``target`` (named after
    ``option`` when the caller knows which option gave the path)."""
    opt = f"{option}: " if option else ""
    where = Path(exc.filename) if exc.filename else target
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        anc = where
        while anc != anc.parent and not anc.is_dir():
            if anc.exists():
                return UserError(f"{opt}cannot {verb} {target}: {anc} is a file, not a folder")
            anc = anc.parent
    at = "" if where == target else f"{where}: "
    return UserError(f"{opt}cannot {verb} {target}: {at}{_reason(exc)}")


def _inside(path, folder: Path) -> bool:
    try:
        return Path(path).absolute().is_relative_to(folder)
    except (TypeError, ValueError):
        return False


@contextmanager
def atomic_file(path: str | os.PathLike, *, force: bool = True):
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    if path.exists() and not force:
        raise UserError(f"output already exists: {path} (use --force to overwrite)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, path, "create", option=None) from None
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as exc:
            if _is_write_failure(exc, path.parent):
                raise _write_error(exc, path, option=None) from None
            raise
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
    try:
        if final.exists() and not force:
            raise UserError(f"output already exists: {final} (use --force to replace it)")
        if final.exists() and not final.is_dir():
            raise UserError(f"output exists and is not a folder: {final}")
    except OSError as exc:
        raise _write_error(exc, final, "create") from None
    staging = final.with_name(final.name + ".partial")
    if int(os.environ.get("RANK", "0")) != 0:
        # torchrun: ranks > 0 share rank 0's staging folder and never wipe or publish it (the
        # engine writes only from rank 0; plugins guard their own writes with trainer.is_main).
        staging.mkdir(parents=True, exist_ok=True)
        yield RunDir(final, staging, command, parameters or {}, inputs or [], resumed=False)
        _barrier_if_distributed()   # matches rank 0's barrier before it publishes
        return
    stamp = _stamp(command, parameters, inputs)
    try:
        resumed = _resumable(staging, stamp, resume)
        staging.mkdir(parents=True, exist_ok=True)
        (staging / STAMP_NAME).write_text(json.dumps(stamp, sort_keys=True, indent=1) + "\n")
    except OSError as exc:
        raise _write_error(exc, final, "create") from None
    run = RunDir(final, staging, command, parameters or {}, inputs or [], resumed)
    try:
        yield run
    except UserError:
        if not resumed:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    except OSError as exc:
        if not _is_write_failure(exc, staging):
            raise
        if not resumed:
            shutil.rmtree(staging, ignore_errors=True)
        raise _write_error(exc, Path(exc.filename) if exc.filename else final) from None
    try:
        (staging / STAMP_NAME).unlink(missing_ok=True)
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
    except OSError as exc:
        if not _is_write_failure(exc, final.parent):
            raise
        raise _write_error(exc, final) from None
    run.path = final


def _stamp(command: str, parameters: dict | None, inputs: list | None) -> dict:
    """What a staging folder was made from: command, parameters that shape the output, and each
    input's path, size and mtime (folders: file count, total size, newest mtime)."""
    params = {k: v for k, v in _stable(jsonable(dict(parameters or {}))).items() if k not in RESUME_IGNORES}
    return {"command": command, "parameters": params, "inputs": [input_record(p) for p in inputs or []]}


def _stable(obj):
    """Parameters as they compare between processes: no object addresses in reprs."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return re.sub(r" at 0x[0-9a-fA-F]+", "", obj) if isinstance(obj, str) else obj


def _resumable(staging: Path, stamp: dict, resume: bool) -> bool:
    """True when ``staging`` holds work of a run with this very stamp; anything else is removed
    (a staging folder without a stamp, or left by other parameters or inputs, is never trusted)."""
    if not staging.exists():
        return False
    if not staging.is_dir():
        raise UserError(f"--output: {staging} is a file where the staging folder goes; move it away")
    if not any(p.name != STAMP_NAME for p in staging.iterdir()):
        return False
    if resume:
        try:
            old = json.loads((staging / STAMP_NAME).read_text())
        except (OSError, ValueError):
            old = None
        if old == json.loads(json.dumps(stamp, sort_keys=True)):
            return True
        why = "an unknown run" if old is None else (
            "another command" if old.get("command") != stamp["command"] else
            "a run on inputs that changed since" if old.get("inputs") != stamp["inputs"] else
            "a run with other parameters")
        log(f"note: {staging} was left by {why}; starting afresh")
    shutil.rmtree(staging)
    return False


def _is_write_failure(exc: OSError, folder: Path) -> bool:
    """An OSError of the place written to (``folder``), not of the program."""
    if exc.errno not in WRITE_ERRNOS:
        return False
    if exc.filename is None:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return _inside(exc.filename, folder)
