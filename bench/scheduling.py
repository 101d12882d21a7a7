"""Early stopping: Ray Tune's ASHA with bench's rules on top, and the Ctrl-C stopper.

Schedule-bound families (a learning-rate schedule spans the planned epochs) are compared at
fixed fractions of their own plans, :data:`~bench.families.base.PROGRESS_RUNGS`, and report at
exactly those fractions, so Ray's bracket (which records a trial at the highest unfilled rung at
or below its progress) compares like with like. Other families are compared at equal report
counts. Three kinds of report never stop a trial: the library-default configuration's (the
search's reference point needs a full score), one of a trial whose full fit is projected to take
under :data:`SPARE_BELOW_SECONDS` (stopping it saves nothing worth a half-trained verdict), and
one made before a trial's first full epoch. Their scores still enter the rungs. The reproducible
mode drops the rule on projected seconds: a wall-clock reading differs from run to run (a
LightGBM trial projected at 0.9 s on a quiet machine takes 1.2 s beside other work), and a
decision taken on it would make the same seed prune different trials.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.stopper import Stopper

from bench import interrupt
from bench.compat import HOLD, OrderedDecisions, continue_held_trial, count_stopped
from bench.errors import BenchInputError
from bench.families.base import PROGRESS_RUNGS

SCHEDULERS = ("auto", "asha", "none")
#: A trial whose full fit is projected below this many seconds is never pruned.
SPARE_BELOW_SECONDS = 1.0
REDUCTION_FACTOR = 3


class ConfigMatcher:
    """Whether a trial's configuration is a given one (the library default); a class, not a
    lambda, so Tune can pickle it with the scheduler."""

    def __init__(self, config: dict[str, Any] | None) -> None:
        self.config = dict(config or {})

    def __call__(self, other: dict[str, Any]) -> bool:
        return bool(self.config) and same_config(self.config, other)


def same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal keys and values, floats compared with a relative tolerance of 1e-9."""
    if set(a) != set(b):
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, float) or isinstance(other, float):
            if isinstance(value, bool) or isinstance(other, bool) or not isinstance(other, (int, float)):
                return False
            if not math.isclose(float(value), float(other), rel_tol=1e-9, abs_tol=0.0):
                return False
        elif value != other:
            return False
    return True


def projected_full_fit_seconds(result: dict[str, Any]) -> float:
    """What one fit of the configuration at its full plan would take, from a report so far."""
    seconds, progress = result.get("stage_fit_seconds"), result.get("progress")
    if seconds is None or not progress or progress <= 0:
        return math.inf
    return float(seconds) / min(float(progress), 1.0)


class BenchASHA(ASHAScheduler):
    """Ray's ASHA, deciding as Ray does except that it spares the default and cheap trials.

    With ``decision_lag`` (the reproducible mode's, :func:`bench.reproducible.decision_lag`),
    trial ``n`` is judged at each rung against trials ``0 .. n - decision_lag`` only, waiting for
    them where needed (:class:`bench.compat.OrderedDecisions`), so the same seed prunes the same
    trials whichever trial reports first.
    """

    def __init__(
        self,
        *,
        protected: ConfigMatcher | None = None,
        decision_lag: int | None = None,
        planned: Callable[[dict[str, Any]], float] | None = None,
        **kwargs: Any,
    ) -> None:
        """``planned``: the last ``time_attr`` a configuration's full fit reports (else ``max_t``)."""
        super().__init__(**kwargs)
        self.protected = protected or ConfigMatcher(None)
        #: Trials this scheduler stopped: their rows are ``pruned``; other early ends are the budget's.
        self.stopped: set[str] = set()
        self.reproducible = decision_lag is not None
        self.ordered = OrderedDecisions(self, decision_lag, planned) if decision_lag is not None else None
        if self.ordered and not OrderedDecisions.available(self):
            warnings.warn(
                "this Ray release's ASHA lacks the internals bench's reproducible mode uses; "
                "which trials are pruned may depend on the order trials report",
                RuntimeWarning,
                stacklevel=2,
            )
            self.ordered = None

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)
        if self.ordered:
            self.ordered.added(trial)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        if not self.ordered:
            return super().on_trial_complete(tune_controller, trial, result)
        self.ended(tune_controller, trial)  # its reports entered the rungs as they came

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        if self.ordered:
            self.ended(tune_controller, trial)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        if not self.ordered:
            return super().on_trial_remove(tune_controller, trial)
        self.ended(tune_controller, trial)

    def ended(self, tune_controller: Any, trial: Any) -> None:
        assert self.ordered
        self.ordered.ended(trial.trial_id)
        self.release(tune_controller)  # a trial held for this one may go on

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if not self.ordered:
            return self.decided(trial, result, super().on_trial_result(tune_controller, trial, result))
        action = self.ordered.decide(trial, result)
        if action != HOLD:
            action = self.decided(trial, result, action or TrialScheduler.CONTINUE)
        self.release(tune_controller)  # this report may be what a held trial waited for
        return TrialScheduler.NOOP if action == HOLD else action

    def decided(self, trial: Any, result: dict[str, Any], action: str) -> str:
        """Ray's decision with bench's sparing rules applied and counted."""
        if action == TrialScheduler.STOP and self.ordered:
            count_stopped(self, +1)  # Ray's own on_trial_result counts its stops
        if action == TrialScheduler.STOP and result.get("progress", 0.0) < 1.0 and self.spares(trial.config, result):
            count_stopped(self, -1)  # spared after all
            return TrialScheduler.CONTINUE
        if action == TrialScheduler.STOP:
            self.stopped.add(trial.trial_id)
        return action

    def release(self, tune_controller: Any) -> None:
        """Take the decisions held trials waited for: stop them through Tune or let them go on."""
        assert self.ordered
        for trial, result, action in self.ordered.released():
            if self.decided(trial, result, action) == TrialScheduler.STOP:
                tune_controller.stop_trial(trial)
            else:
                continue_held_trial(tune_controller, trial)

    def spares(self, config: dict[str, Any], result: dict[str, Any]) -> bool:
        """The default, a cheap trial (not in the reproducible mode: see the module docstring), or
        one that has not yet done one epoch: on digits' CV folds the CNN's scores at 1/27 of a
        5-epoch plan (4 optimizer steps) were 0.15-0.22, chance being 0.10, so a rung below one
        pass over the data would prune on noise."""
        cheap = not self.reproducible and projected_full_fit_seconds(result) < SPARE_BELOW_SECONDS
        return self.protected(dict(config)) or cheap or float(result.get("fidelity", 1)) < 1


def scheduler_kind(name: str, family: Any) -> str:
    """ "asha" or "none": what ``name`` (``auto`` included) means for ``family``. ASHA only for
    families that report intermediate scores (Ray's ASHA is a FIFOScheduler subclass, so the
    kind is decided here, not read off the scheduler object)."""
    if name not in SCHEDULERS:
        raise BenchInputError(f"unknown scheduler {name!r}; valid schedulers: {', '.join(SCHEDULERS)}")
    return "none" if name == "none" or not family.has_fidelity or family.max_steps() < 2 else "asha"


def make_scheduler(name: str, family: Any, protected: ConfigMatcher | None = None, decision_lag: int | None = None) -> Any:
    """ASHA for families that report intermediate scores (unless ``none``), else FIFO;
    ``decision_lag`` for the reproducible mode."""
    if scheduler_kind(name, family) == "none":
        return FIFOScheduler()
    if family.schedule_bound:  # rungs at fixed fractions of each trial's own plan
        return BenchASHA(
            protected=protected,
            decision_lag=decision_lag,
            time_attr="progress",
            metric="val_accuracy",
            mode="max",
            max_t=1.0,
            grace_period=PROGRESS_RUNGS[0],
            reduction_factor=REDUCTION_FACTOR,
        )
    return BenchASHA(
        protected=protected,
        decision_lag=decision_lag,
        planned=family.planned_steps,
        time_attr="training_iteration",
        metric="val_accuracy",
        mode="max",
        max_t=family.max_steps(),
        grace_period=1,
        reduction_factor=REDUCTION_FACTOR,
    )


class StopOnInterrupt(Stopper):
    """A Tune stopper that ends the experiment once Ctrl-C or SIGTERM arrived (see bench.interrupt)."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return interrupt.requested.is_set()

    def stop_all(self) -> bool:
        return interrupt.requested.is_set()
