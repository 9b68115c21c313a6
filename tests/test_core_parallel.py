"""genotool.parallel: pool workers exit when their parent is killed; CPU sets for unequal jobs."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PARENT = textwrap.dedent("""
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from genotool.parallel import pool_kwargs

    def work(path):
        with open(path, "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(60)

    if __name__ == "__main__":
        with ProcessPoolExecutor(1, **pool_kwargs(sys.argv[2])) as ex:
            ex.submit(work, sys.argv[1]).result()
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); its state letter says it is gone
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="re-parenting check uses /proc (Linux)")
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_worker_exits_when_parent_is_terminated(tmp_path, method):
    script, marker = tmp_path / "parent.py", tmp_path / "worker.pid"
    server = None
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(marker), method])
    try:
        deadline = time.time() + 60
        while not (marker.exists() and marker.read_text()) and time.time() < deadline:
            time.sleep(0.1)
        worker = int(marker.read_text())
        assert _alive(worker)
        with open(f"/proc/{worker}/stat") as fh:
            server = int(fh.read().split(")")[-1].split()[1])   # forkserver: the worker's parent
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=30)
        deadline = time.time() + 15
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "pool worker outlived its terminated parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if method == "forkserver":
            # Python's forkserver outlives its main process (idle); not ours to keep
            try:
                os.kill(server, signal.SIGKILL)
            except (TypeError, ProcessLookupError):
                pass


def test_core_sets_give_the_costliest_jobs_their_own_cores():
    from genotool.parallel import core_sets

    # 3 jobs on 2 cores: the semi-CRF-like job alone on one core, the other two share the other
    assert core_sets([1.1, 1.0, 2.2], cores=[0, 1]) == [{1}, {1}, {0}]
    # 4 jobs on 3 cores: the two costliest get a core each, the two cheapest share the third
    assert core_sets([3.0, 1.0, 2.0, 0.5], cores=[4, 5, 6]) == [{4}, {6}, {5}, {6}]
    # enough cores, or only one: no pinning
    assert core_sets([1.0, 2.0], cores=[0, 1]) == [None, None]
    assert core_sets([1.0, 2.0, 3.0], cores=[0]) == [None, None, None]
