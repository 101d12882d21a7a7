"""A Ray Tune callback on the driver that turns trial events into table rows.

Every intermediate report becomes a ``history`` row; every ended trial a ``trials`` row with
its status (completed, pruned, failed), hyperparameters, last validation scores, placement,
and error text. Rows are plain dicts so the runner can write them at any moment.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ray import tune

SCORE_KEYS = (
    "val_accuracy", "val_balanced_accuracy", "val_precision_macro", "val_recall_macro",
    "val_f1_macro", "val_log_loss", "val_predict_seconds", "fit_seconds", "fidelity",
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
        on_change: Callable[[int, float], None] | None = None,
    ) -> None:
        self.base = base
        self.max_fidelity = max_fidelity
        self.on_change = on_change
        self.trial_rows: list[dict[str, Any]] = []
        self.history_rows: list[dict[str, Any]] = []
        self._numbers: dict[str, int] = {}
        self._started: dict[str, tuple[str, float]] = {}
        self._last: dict[str, dict[str, Any]] = {}
        self.best = math.nan

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment state; the live display stays behind.
        return {k: v for k, v in self.__dict__.items() if k != "on_change"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, on_change=None)

    def _number(self, trial: Any) -> int:
        return self._numbers.setdefault(trial.trial_id, len(self._numbers))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._number(trial)
        self._started[trial.trial_id] = (_now(), time.monotonic())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._last[trial.trial_id] = result
        self.history_rows.append({
            **self.base,
            "trial_id": trial.trial_id,
            "trial_number": self._number(trial),
            "step": int(result.get("training_iteration", 0)),
            "time_total_s": float(result.get("time_total_s", math.nan)),
            "timestamp": _now(),
            **{k: result.get(k) for k in SCORE_KEYS},
        })

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = self._last.get(trial.trial_id, {})
        if not result:  # stopped before its first report (e.g. the time budget ran out)
            return self._finish(trial, "failed", "stopped before its first report")
        reached = int(result.get("fidelity", 0))
        status = "completed" if reached >= self.max_fidelity(dict(trial.config)) else "pruned"
        self._finish(trial, status, None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, "failed", error_text(trial))

    def _finish(self, trial: Any, status: str, error: str | None) -> None:
        result = self._last.get(trial.trial_id, {})
        started_at, started = self._started.get(trial.trial_id, (None, time.monotonic()))
        row = {
            **self.base,
            "trial_id": trial.trial_id,
            "trial_number": self._number(trial),
            "status": status,
            **{f"params_{k}": v for k, v in trial.config.items()},
            **{k: result.get(k) for k in SCORE_KEYS},
            "steps": int(result.get("training_iteration", 0)),
            "node_ip": result.get("node_ip"),
            "node_id": result.get("node_id"),
            "device": result.get("device"),
            "started_at": started_at,
            "finished_at": _now(),
            "wall_seconds": time.monotonic() - started,
            "error": error,
        }
        self.trial_rows.append(row)
        accuracy = result.get("val_accuracy")
        if status != "failed" and accuracy is not None and not (accuracy <= self.best):
            self.best = float(accuracy)
        if self.on_change:
            self.on_change(len(self.trial_rows), self.best)
