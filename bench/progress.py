"""Live progress in the terminal: trials done / total, best so far, elapsed, per search."""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class RunProgress:
    """One progress line per family search; updated from Ray Tune callbacks on the driver."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials"),
            TextColumn("best val {task.fields[best]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def add(self, label: str, total: int | None) -> TaskID:
        return self._progress.add_task(label, total=total, best="-")

    def update(self, task: TaskID, done: int, best: float) -> None:
        self._progress.update(task, completed=done, best="-" if math.isnan(best) else f"{best:.4f}")

    def finish(self, task: TaskID, done: int) -> None:
        self._progress.update(task, completed=done, total=done)
