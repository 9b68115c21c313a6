"""Progress bars (rich, on stderr when it is a terminal) for the gene finder's long steps."""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def bar(label: str, total: float | None):
    """``with bar("training", n) as advance: ... advance(k)``; nothing is drawn off a terminal."""
    if not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True) as p:
        task = p.add_task(label, total=total)
        yield lambda n=1: p.update(task, advance=n)
