"""Every use of a private API of Ray Tune or Optuna that bench makes for issue 16, in one place.

Each entry names the release it was written against (Ray 2.60, Optuna 5.1) and what happens
when that internal is gone: these only make the search more truthful, so they fall back to the
library's own behaviour with a warning rather than stop a run.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch


def optuna_state(result: dict[str, Any] | None, error: bool = False) -> TrialState:
    """What a trial's last report says it was: failed, stopped part-way (pruned), or complete."""
    if error or not result or result.get("error"):
        return TrialState.FAIL
    accuracy = result.get("val_accuracy")
    if accuracy is None or not math.isfinite(float(accuracy)):
        return TrialState.FAIL
    if float(result.get("progress", 1.0)) < 1.0:
        return TrialState.PRUNED
    return TrialState.COMPLETE


class TruthfulOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch, except that a trial stopped before its plan ended (by ASHA or the time
    budget) is told to Optuna as PRUNED, not COMPLETE with a half-trained score: Optuna's TPE
    then ranks it by its last intermediate value and step, as it does for its own pruners.

    Private: ``OptunaSearch._ot_trials``, ``_ot_study``, ``_completed_trials`` (Ray 2.60). Without
    them, Ray's own telling is used (a pruned trial's partial score counts as final).
    """

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        state = optuna_state(result, error)
        internals = all(hasattr(self, name) for name in ("_ot_trials", "_ot_study", "_completed_trials"))
        if state == TrialState.COMPLETE or not internals:
            if not internals:
                warnings.warn("this Ray release's OptunaSearch lacks the internals bench uses to tell "
                              "Optuna about pruned trials; they count as completed", RuntimeWarning, stacklevel=2)
            super().on_trial_complete(trial_id, result, error)
            return
        if trial_id in self._completed_trials:
            return
        self._ot_study.tell(self._ot_trials[trial_id], state=state)
        self._completed_trials.add(trial_id)


def creation_index(trial: Any) -> int | None:
    """The order in which Tune created a trial (1, 2, ...), from its experiment tag, which Ray's
    SearchGenerator starts with its counter (Ray 2.60). None when the tag has another shape:
    callers then number trials in the order they start."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else None


class BatchedDecisions:
    """ASHA decisions that do not depend on which concurrent trial reported first.

    Trials run in batches (Ray's ``ConcurrencyLimiter(batch=True)`` holds the searcher to them);
    a trial's stop-or-continue is decided against the rung scores of finished batches only, and a
    batch's scores enter the rungs in trial order once the whole batch has ended. Ray's own
    bracket decides (a copy of it, so the decision records nothing).

    Private: ``AsyncHyperBandScheduler._trial_info`` (trial id -> ``_Bracket``), ``_Bracket.on_result``,
    ``_time_attr``, ``_metric``, ``_metric_op``, ``_max_t`` and ``_stop_last_trials`` (Ray 2.60).
    Without them :meth:`available` is False and the run says that its pruning is not reproducible.
    """

    NAMES = ("_trial_info", "_time_attr", "_metric", "_metric_op", "_max_t", "_stop_last_trials")

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.batch: list[str] = []
        self.open: set[str] = set()
        self.pending: dict[str, list[tuple[float, float]]] = {}
        self.brackets: dict[str, Any] = {}

    @classmethod
    def available(cls, scheduler: Any) -> bool:
        return all(hasattr(scheduler, name) for name in cls.NAMES)

    def added(self, trial_id: str) -> None:
        if not self.open:  # the previous batch ended: a new one starts
            self.batch = []
        self.batch.append(trial_id)
        self.open.add(trial_id)
        self.brackets[trial_id] = self.scheduler._trial_info[trial_id]

    def decide(self, trial: Any, result: dict[str, Any]) -> str | None:
        """Ray's decision for this report against finished batches; None if the report has no score."""
        import copy

        from ray.tune.schedulers import TrialScheduler

        s = self.scheduler
        if s._time_attr not in result or s._metric not in result:
            return None
        t, score = result[s._time_attr], s._metric_op * result[s._metric]
        self.pending.setdefault(trial.trial_id, []).append((t, score))
        if t >= s._max_t and s._stop_last_trials:
            return TrialScheduler.STOP
        return copy.deepcopy(self.brackets[trial.trial_id]).on_result(trial, t, score)

    def ended(self, trial_id: str) -> None:
        """A trial ended (completed, stopped, failed or removed); a finished batch enters the rungs."""
        self.open.discard(trial_id)
        if self.open:
            return
        for tid in self.batch:
            bracket = self.brackets.pop(tid, None)
            for t, score in self.pending.pop(tid, []):
                if bracket is not None:
                    bracket.on_result(_TrialId(tid), t, score)
            self.scheduler._trial_info.pop(tid, None)


class _TrialId:
    """What ``_Bracket.on_result`` reads of a trial."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id
