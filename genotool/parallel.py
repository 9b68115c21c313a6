"""Worker pools: process start method, and workers that do not outlive their parent.

``fork`` starts workers fastest and is Linux's default, but forking a process in which JAX
already runs its thread pool can deadlock the child (JAX warns about exactly this). That
happens when one process hosts several plugins, e.g. a test session or a notebook. Then
workers start from a clean ``forkserver`` instead.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def start_method() -> str | None:
    """'fork' or 'forkserver' on Linux; None elsewhere (keep the platform default, spawn)."""
    if not sys.platform.startswith("linux"):
        return None
    return "forkserver" if "jax" in sys.modules else "fork"


def exit_with_parent(main_pid: int, poll_seconds: float = 1.0) -> None:
    """Pool-worker initializer: exit when the main process (or this worker's parent) is gone.

    A SIGTERM to the main process alone (``kill PID``, a scheduler's time limit) would leave
    ProcessPoolExecutor workers running their task to the end, orphaned and holding CPU and
    memory. A daemon thread notices and ends the worker. Both are watched because a forkserver
    worker's parent is the forkserver, which outlives the main process."""
    parent = os.getppid()

    def main_alive() -> bool:
        try:
            os.kill(main_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def watch():
        while os.getppid() == parent and main_alive():
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def pool_kwargs(method: str | None) -> dict:
    """ProcessPoolExecutor keyword arguments: the start method and the exit-with-parent initializer."""
    import multiprocessing as mp

    return {"mp_context": mp.get_context(method), "initializer": exit_with_parent, "initargs": (os.getpid(),)}


def core_sets(costs: list[float], cores: list[int] | None = None) -> list[set[int] | None]:
    """CPU sets for parallel jobs of unequal cost on fewer cores than jobs: the costliest jobs get
    a core each, the rest share the cores left (longest-processing-time first). On a 2-core
    machine, three jobs of which one takes twice as long finish when that one does, instead of
    it sharing both cores with the others for their whole run. None per job where no pinning is
    needed or possible (enough cores, or a platform without ``os.sched_setaffinity``)."""
    if cores is None:
        if not hasattr(os, "sched_getaffinity"):
            return [None] * len(costs)
        cores = sorted(os.sched_getaffinity(0))
    if len(costs) <= len(cores) or len(cores) < 2:
        return [None] * len(costs)
    order = sorted(range(len(costs)), key=lambda i: -costs[i])
    own = len(cores) - 1                     # jobs with a core of their own; one core left to share
    out: list[set[int] | None] = [None] * len(costs)
    for rank, i in enumerate(order):
        out[i] = {cores[rank]} if rank < own else set(cores[own:])
    return out


def pin_to(cpus: set[int] | None) -> None:
    """Restrict this process to ``cpus`` (no-op for None or where unsupported)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
