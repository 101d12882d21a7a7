"""A Ray Tune callback on the driver that turns trial events into table rows.

Every intermediate report becomes a ``history`` row; every ended trial a ``trials`` row with
its status, hyperparameters, last validation scores, placement, and error text. Rows go to
the run's journal the moment they exist. Statuses say who ended a trial: ``completed`` (it
reached its plan), ``pruned`` (the scheduler stopped it), ``cut`` (the time budget ended it,
with or without a score) and ``failed`` (the model raised).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ray import tune

from bench import interrupt
from bench.compat import creation_index
from bench.journal import Journal
from bench.samplers import SearcherClock

SCORE_KEYS = (
    "val_accuracy",
    "val_balanced_accuracy",
    "val_precision_macro",
    "val_recall_macro",
    "val_f1_macro",
    "val_log_loss",
    "val_predict_seconds",
    "val_accuracy_se",
    "val_fold_accuracies",
    "fit_seconds",
    "stage_fit_seconds",
    "fidelity",
    "progress",
    "max_threads",
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def error_text(trial: Any) -> str:
    """The last meaningful line of a trial's exception (its type and message)."""
    text = ""
    local = getattr(trial, "error_file", None)  # written before the callback runs
    if local and Path(local).is_file():
        text = Path(local).read_text(errors="replace")
    if not text.strip():
        text = str(trial.get_error() or "unknown error")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith(("File ", "Traceback", "^", "~"))]
    return (causes[-1] if causes else text)[:2000]


class TrialRecorder(tune.Callback):
    """Collects rows for one family search. ``base`` is merged into every row."""

    def __init__(
        self,
        base: dict[str, Any],
        max_fidelity: Callable[[dict[str, Any]], int],
        journal: Journal,
        first_number: int = 0,
        best: float = math.nan,
        on_change: Callable[[int, float], None] | None = None,
        is_default: Callable[[dict[str, Any]], bool] | None = None,
        scheduler: Any = None,
        clock: SearcherClock | None = None,
    ) -> None:
        self.base = base
        self.clock = clock  # the searcher's own seconds, handed to each row
        self.max_fidelity = max_fidelity
        self.journal = journal
        self.on_change = on_change
        self.is_default = is_default
        self.scheduler = scheduler  # knows which trials it stopped (pruned), as against the budget (cut)
        self.first_number = first_number
        self.finished = 0
        self._numbers: dict[str, int] = {}
        self._started: dict[str, tuple[str, float]] = {}
        self._last: dict[str, dict[str, Any]] = {}
        self._finished: set[str] = set()
        self.best = best

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment state; the live display stays behind.
        return {k: v for k, v in self.__dict__.items() if k != "on_change"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, on_change=None)

    def _number(self, trial: Any) -> int:
        """Trials are numbered in the order the searcher proposed them, whatever order they start in."""
        if trial.trial_id not in self._numbers:
            index = creation_index(trial)
            self._numbers[trial.trial_id] = self.first_number + (index - 1 if index else len(self._numbers))
        return self._numbers[trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._number(trial)
        self._started[trial.trial_id] = (_now(), time.monotonic())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._last[trial.trial_id] = result
        self.journal.append(
            "history",
            {
                **self.base,
                "trial_id": trial.trial_id,
                "trial_number": self._number(trial),
                "step": int(result.get("training_iteration", 0)),
                "time_total_s": float(result.get("time_total_s", math.nan)),
                "pid": result.get("pid"),  # the worker process: a retried trial shows a new one
                "timestamp": _now(),
                **{k: result.get(k) for k in SCORE_KEYS},
            },
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = self._last.get(trial.trial_id, {})
        if not result:  # stopped before its first report: only the time budget does that
            return self._finish(trial, "cut", "the time budget ended before its first report")
        if result.get("error"):  # the trial caught its own exception and reported it
            return self._finish(trial, "failed", str(result["error"]))
        reached = float(result.get("fidelity", 0))
        if reached >= self.max_fidelity(dict(trial.config)):
            return self._finish(trial, "completed", None)
        pruned = trial.trial_id in getattr(self.scheduler, "stopped", ())
        self._finish(trial, "pruned" if pruned else "cut", None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, "failed", error_text(trial))

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Trials the time budget cut off: ``cut``, with the score they reached if they reported one."""
        for trial in trials:
            if trial.trial_id in self._finished or trial.trial_id not in self._started:
                continue
            result = self._last.get(trial.trial_id, {})
            if result.get("error"):
                self._finish(trial, "failed", str(result["error"]))
            elif result and float(result.get("fidelity", 0)) >= self.max_fidelity(dict(trial.config)):
                self._finish(trial, "completed", None)  # its last report was its full fit
            else:
                self._finish(trial, "cut", None if result else "the time budget ended before its first report")

    def _finish(self, trial: Any, status: str, error: str | None) -> None:
        if interrupt.requested.is_set():
            return  # stopped by Ctrl-C, not finished: a resume runs it again
        result = self._last.get(trial.trial_id, {})
        started_at, started = self._started.get(trial.trial_id, (None, time.monotonic()))
        row = {
            **self.base,
            "trial_id": trial.trial_id,
            "trial_number": self._number(trial),
            "status": status,
            "is_default": bool(self.is_default and self.is_default(dict(trial.config))),
            **{f"params_{k}": v for k, v in trial.config.items()},
            **{k: result.get(k) for k in SCORE_KEYS},
            "steps": int(result.get("training_iteration", 0)),
            "node_ip": result.get("node_ip"),
            "node_id": result.get("node_id"),
            "device": result.get("device"),
            "started_at": started_at,
            "finished_at": _now(),
            "wall_seconds": time.monotonic() - started,
            "retries": int(getattr(trial, "num_failures", 0)),  # restarts after a lost worker or node
            "sampler_seconds": self.clock.take() if self.clock else None,
            "error": error,
        }
        if status == "failed":
            row.update({k: None for k in SCORE_KEYS if k.startswith("val_")})
        self.journal.append("trial", row)
        self._finished.add(trial.trial_id)
        drop_checkpoints(trial)
        self.finished += 1
        accuracy = row.get("val_accuracy")
        if accuracy is not None and not (accuracy <= self.best):
            self.best = float(accuracy)
        if self.on_change:
            self.on_change(self.first_number + self.finished, self.best)


def drop_checkpoints(trial: Any) -> None:
    """Delete a finished trial's checkpoints: they exist to retry it, and a PyTorch state is tens
    of megabytes per trial. Best effort, on whatever file system the storage is (local, NFS, cloud)."""
    from bench import compat

    if (where := compat.trial_storage(trial)) is None:
        return
    filesystem, folder = where
    try:
        from pyarrow import fs

        for info in filesystem.get_file_info(fs.FileSelector(folder, allow_not_found=True)):
            if info.type == fs.FileType.Directory and info.base_name.startswith("checkpoint_"):
                filesystem.delete_dir(info.path)
    except Exception:  # noqa: BLE001 - a leftover checkpoint costs disk, never results
        pass
