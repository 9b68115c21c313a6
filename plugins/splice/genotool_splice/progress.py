"""A rich progress bar over base pairs scored (stderr; off when stderr is not a terminal)."""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def bp_progress(label: str, total_bp: int):
    """Yield ``advance(bp)``; the bar shows bp done of ``total_bp``, elapsed and remaining time."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} bp"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                  disable=not sys.stderr.isatty(), transient=True) as prog:
        task = prog.add_task(label, total=total_bp)
        yield lambda bp: prog.update(task, advance=bp)
