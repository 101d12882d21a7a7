"""Early stopping compares like with like, spares what it should, and is told truthfully.

Ray's own ASHA bracket is fed the report schedules the PyTorch families produce; Optuna's study
is checked for the state a stopped trial gets.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from bench.families import create_family
from bench.families.base import PROGRESS_RUNGS
from bench.families.torch_estimator import mid_epoch_steps
from bench.scheduling import ConfigMatcher, make_scheduler
from bench.trial import plan_progress


def report_progress(rows: int, batch: int, epochs: int) -> list[float]:
    """The ``progress`` of every report a PyTorch trial makes, as ``_fit_and_score`` computes it."""
    per_epoch = len([s for s in range(0, rows, batch) if min(batch, rows - s) > 1])
    steps = sorted(mid_epoch_steps(per_epoch, epochs, PROGRESS_RUNGS) | {per_epoch * e for e in range(1, epochs + 1)})
    return [plan_progress(step / per_epoch, epochs) for step in steps]


def feed(scheduler, plans: dict[str, list[float]]) -> None:
    """Every trial reports its progress as its score, in an interleaved order."""
    trials = {tid: SimpleNamespace(trial_id=tid, config={"x": tid}) for tid in plans}
    for trial in trials.values():
        scheduler.on_trial_add(None, trial)
    longest = max(len(p) for p in plans.values())
    for i in range(longest):
        for tid, progress in plans.items():
            if i < len(progress):
                scheduler.on_trial_result(None, trials[tid], {"progress": progress[i], "val_accuracy": progress[i],
                                                              "training_iteration": i + 1})


#: Plans of the shipped torch spaces on digits' CV folds (1,150 rows) and on MNIST-sized data.
PLANS = {f"{rows}-{batch}-{epochs}": (rows, batch, epochs)
         for rows in (1150, 1437, 8000, 48000) for batch in (64, 128, 256) for epochs in (3, 5, 6, 10, 20, 30)}


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_every_rung_of_rays_bracket_compares_equal_fractions_of_the_plans(family: str) -> None:
    scheduler = make_scheduler("asha", create_family(family))
    scheduler.protected = lambda config: True  # record every report, stop nothing: we read the rungs
    feed(scheduler, {name: report_progress(*plan) for name, plan in PLANS.items()})
    rungs = {milestone: recorded for milestone, recorded in scheduler._brackets[0]._rungs}
    for milestone in PROGRESS_RUNGS:
        recorded = rungs[min(rungs, key=lambda m: abs(m - milestone))]
        assert len(recorded) == len(PLANS)
        for name, value in recorded.items():
            rows, batch, epochs = PLANS[name]
            step = 1 / (epochs * math.ceil(rows / batch))
            assert milestone - 1e-12 <= value <= milestone + step + 1e-9, (name, milestone, value)


def test_epoch_reports_alone_would_not_compare_equal_fractions() -> None:
    """The check above can fail: with one report per epoch, a 4-epoch plan fills the 1/27 rung with a score at 1/4 of its plan or later."""
    scheduler = make_scheduler("asha", create_family("mlp"))
    scheduler.protected = lambda config: True
    feed(scheduler, {"short": [e / 4 for e in range(1, 5)], "long": [e / 30 for e in range(1, 31)]})
    first = dict(scheduler._brackets[0]._rungs)[min(m for m, _ in scheduler._brackets[0]._rungs)]
    assert first["short"] >= 0.25  # Ray files 1/4 at 1/9, and a later epoch fills 1/27


def test_the_default_and_cheap_trials_are_never_pruned() -> None:
    scheduler = make_scheduler("asha", create_family("lightgbm"), protected=ConfigMatcher({"n_rounds": 100}))
    trials = [SimpleNamespace(trial_id=str(i), config={"n_rounds": 500 if i else 100}) for i in range(6)]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    decisions = {}
    # strong trials first, then the default and a weak slow one; then a weak cheap one
    for trial, score, seconds in [(trials[1], 0.9, 5), (trials[2], 0.91, 5), (trials[3], 0.92, 5),
                                  (trials[0], 0.1, 5), (trials[4], 0.1, 5), (trials[5], 0.1, 0.05)]:
        decisions[trial.trial_id] = scheduler.on_trial_result(None, trial, {
            "training_iteration": 1, "val_accuracy": score, "progress": 0.1, "stage_fit_seconds": seconds})
    assert decisions["4"] == "STOP" and "4" in scheduler.stopped  # Ray's rule, unchanged
    assert decisions["0"] == "CONTINUE"  # the default
    assert decisions["5"] == "CONTINUE"  # 0.05 s at a tenth of the plan: a 0.5 s fit
    assert scheduler.stopped == {"4"}


#: Two interleavings the reproducible mode allows with two trials at a time and a lag of 2:
#: trial n is added only once trials 0 .. n - 2 have ended. ("add", t), ("report", t), ("end", t).
INTERLEAVINGS = (
    [("add", "a"), ("add", "b"), ("report", "a"), ("report", "b"), ("end", "a"), ("add", "c"),
     ("report", "c"), ("end", "b"), ("add", "d"), ("report", "d"), ("end", "c"), ("end", "d")],
    [("add", "a"), ("add", "b"), ("report", "b"), ("end", "b"), ("report", "a"), ("end", "a"),
     ("add", "c"), ("add", "d"), ("report", "d"), ("report", "c"), ("end", "d"), ("end", "c")],
)


def decide_all(scheduler, steps, scores: dict[str, float], seconds: float = 9.0) -> dict[str, str]:
    trials = {tid: SimpleNamespace(trial_id=tid, config={"x": tid}) for tid in scores}
    decisions = {}
    for step, tid in steps:
        if step == "add":
            scheduler.on_trial_add(None, trials[tid])
        elif step == "report":
            result = {"training_iteration": 1, "val_accuracy": scores[tid], "progress": 0.1, "stage_fit_seconds": seconds}
            decisions[tid] = scheduler.on_trial_result(None, trials[tid], result)
        else:
            scheduler.on_trial_complete(None, trials[tid], {})
    return decisions


def test_lagged_decisions_do_not_depend_on_report_order() -> None:
    scores = {"a": 0.9, "b": 0.5, "c": 0.8, "d": 0.95}
    first, second = (decide_all(make_scheduler("asha", create_family("lightgbm"), lag=2), steps, scores)
                     for steps in INTERLEAVINGS)
    assert first == second
    assert first["a"] == first["b"] == "CONTINUE"  # nothing two trials back: no cutoff yet
    # judged against a alone (cutoff 0.9), though in the second order d reported first and put b
    # into the rungs (with b, the cutoff would be 0.77 and c would go on)
    assert first["c"] == "STOP"
    assert first["d"] == "CONTINUE"  # against a and b, whatever c did
    # Ray's own ASHA judges b by whichever trial reported first
    plain = [decide_all(make_scheduler("asha", create_family("lightgbm")), steps, scores) for steps in INTERLEAVINGS]
    assert plain[0]["b"] == "STOP" and plain[1]["b"] == "CONTINUE"


def test_reproducible_decisions_do_not_depend_on_how_long_a_stage_took() -> None:
    """The rule sparing cheap trials reads wall-clock seconds, which differ from run to run: the
    reproducible mode decides on scores alone."""
    scores = {"a": 0.9, "b": 0.95, "c": 0.5, "d": 0.97}

    def decisions(seconds: float, lag: int | None) -> dict[str, str]:
        return decide_all(make_scheduler("asha", create_family("lightgbm"), lag=lag), INTERLEAVINGS[0], scores, seconds)

    assert decisions(0.05, lag=2) == decisions(5.0, lag=2)
    assert decisions(5.0, lag=2)["c"] == "STOP"
    assert decisions(0.05, lag=None)["c"] == "CONTINUE"  # the default mode spares a 0.5 s fit


def test_optuna_is_told_a_stopped_trial_was_pruned(tmp_path) -> None:
    import optuna

    from bench.compat import TruthfulOptunaSearch, optuna_state
    from bench.space import parse_space

    assert optuna_state({"val_accuracy": 0.9, "progress": 0.3}) == optuna.trial.TrialState.PRUNED
    assert optuna_state({"val_accuracy": 0.9, "progress": 1.0}) == optuna.trial.TrialState.COMPLETE
    assert optuna_state({"val_accuracy": math.nan, "error": "ValueError"}) == optuna.trial.TrialState.FAIL
    space = parse_space("params:\n  C: {type: float, low: 0.1, high: 10.0}\ndefault: {C: 1.0}\n", "svm")
    searcher = TruthfulOptunaSearch(space=space, metric="val_accuracy", mode="max")
    searcher.suggest("half")
    searcher.on_trial_result("half", {"val_accuracy": 0.8, "training_iteration": 1, "progress": 0.3})
    searcher.on_trial_complete("half", {"val_accuracy": 0.8, "training_iteration": 1, "progress": 0.3})
    searcher.suggest("whole")
    searcher.on_trial_complete("whole", {"val_accuracy": 0.7, "training_iteration": 1, "progress": 1.0})
    states = [t.state for t in searcher._ot_study.get_trials()]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]


def test_no_trial_is_stopped_before_its_first_epoch() -> None:
    scheduler = make_scheduler("asha", create_family("cnn"))
    trials = [SimpleNamespace(trial_id=str(i), config={"x": i}) for i in range(5)]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    report = {"progress": 1 / 27, "stage_fit_seconds": 5.0}
    for trial, score in zip(trials[:4], (0.9, 0.91, 0.92, 0.93)):
        scheduler.on_trial_result(None, trial, {**report, "val_accuracy": score, "fidelity": 0.2})
    assert scheduler.on_trial_result(None, trials[4], {**report, "val_accuracy": 0.1, "fidelity": 0.2}) == "CONTINUE"
    late = SimpleNamespace(trial_id="late", config={"x": "late"})  # a 30-epoch plan: 1/27 is past its first epoch
    scheduler.on_trial_add(None, late)
    assert scheduler.on_trial_result(None, late, {**report, "val_accuracy": 0.1, "fidelity": 1.1}) == "STOP"
