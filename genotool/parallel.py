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
