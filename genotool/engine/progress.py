"""Rich progress bar on stderr for the training loop (off when stderr is not a terminal)."""

from __future__ import annotations

import sys

from genotool.log import log


class NullProgress:
    def note(self, msg: str) -> None:
        pass

    def start_epoch(self, epoch: int, total: int | None) -> None:
        pass

    def advance(self, n: int = 1, loss: float | None = None) -> None:
        pass

    def end_epoch(self, row: dict) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress(NullProgress):
    """One bar per epoch with the running loss; a summary line per finished epoch."""

    def __init__(self, max_epochs: int, console=None, label: str = ""):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.console = console or Console(stderr=True)
        self.max_epochs = max_epochs
        self.progress = Progress(TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[of]}"),
                                 BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TimeRemainingColumn(), TextColumn("loss {task.fields[loss]}"),
                                 console=self.console, transient=True)
        self.progress.start()
        self.task = None
        self.label = label

    def note(self, msg: str) -> None:
        self.progress.console.print(self.label + msg, markup=False, highlight=False)

    def start_epoch(self, epoch: int, total: int | None) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task("train", total=total, epoch=epoch, of=self.max_epochs,
                                           loss="-")

    def advance(self, n: int = 1, loss: float | None = None) -> None:
        fields = {"loss": f"{loss:.4g}"} if loss is not None else {}
        self.progress.update(self.task, advance=n, **fields)

    def end_epoch(self, row: dict) -> None:
        # markup off: metric names are plugin-chosen text, not rich markup.
        self.note(f"epoch {row.get('epoch')}: {_summary(row)}")

    def close(self) -> None:
        self.progress.stop()


class LineProgress(NullProgress):
    """Not a terminal (logs, CI): one plain summary line per epoch on stderr."""

    def __init__(self, label: str = ""):
        self.label = label

    def note(self, msg: str) -> None:
        log(self.label + msg)

    def end_epoch(self, row: dict) -> None:
        self.note("epoch " + str(row.get("epoch")) + ": " + _summary(row))


def _summary(row: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in row.items() if k != "epoch")


def make_progress(enabled: bool, max_epochs: int, label: str = ""):
    """A rich bar on a terminal, summary lines otherwise, nothing when disabled; ``label``
    prefixes every line."""
    if not enabled:
        return NullProgress()
    if sys.stderr.isatty():
        return RichProgress(max_epochs, label=label)
    return LineProgress(label)
