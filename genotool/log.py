"""The one stderr logger of genotool: human-readable progress and notes.

stdout is kept for results (``bench`` JSON, tables); everything a person reads while a verb
runs goes through :func:`log`, so plugins need no logger of their own.
"""

from __future__ import annotations

import sys


def log(msg: str) -> None:
    """Print one line to stderr, flushed (visible at once in pipelines and batch logs)."""
    print(msg, file=sys.stderr, flush=True)


def warn(msg: str) -> None:
    """A warning line: ``warning: <msg>``."""
    log(f"warning: {msg}")
