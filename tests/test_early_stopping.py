"""Early stopping compares like with like, spares what it should, and is told truthfully.

Ray's own ASHA bracket is fed the report schedules the PyTorch families produce; Optuna's study
is checked for the state a stopped trial gets.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
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


class Tune:
    """Plays Tune's part for a scheduler: trials run ``concurrency`` at a time, in trial order,
    and each reports its scores one by one until it is stopped or its plan ends. Which running
    trial reports next is drawn at random; a held trial (NOOP) reports again only once the
    scheduler lets it go on (``_schedule_trial_train``, as Tune's controller does)."""

    def __init__(self, scheduler, plans: dict[str, list[float]], concurrency: int, seed: int, seconds: float = 9.0) -> None:
        self.scheduler, self.plans, self.seconds = scheduler, plans, seconds
        # a LightGBM trial reports every 50 rounds: n_rounds says how many reports it plans
        self.trials = {tid: SimpleNamespace(trial_id=tid, config={"x": tid, "n_rounds": 50 * len(plan)})
                       for tid, plan in plans.items()}
        self.rng = np.random.default_rng(seed)
        self.concurrency = concurrency
        self.running: list[str] = []
        self.held: set[str] = set()
        #: Reports each trial made before it ended, and whether it was stopped early.
        self.reports = dict.fromkeys(plans, 0)
        self.stopped: set[str] = set()
        self.most_held = 0

    def stop_trial(self, trial) -> None:
        self.held.discard(trial.trial_id)
        self.stopped.add(trial.trial_id)
        self.end(trial.trial_id)

    def _schedule_trial_train(self, trial) -> None:
        self.held.remove(trial.trial_id)
        if self.reports[trial.trial_id] == len(self.plans[trial.trial_id]):  # held at its last report
            self.end(trial.trial_id)

    def end(self, tid: str) -> None:
        self.running.remove(tid)
        self.scheduler.on_trial_complete(self, self.trials[tid], {})

    def run(self) -> dict[str, int]:
        waiting = list(self.plans)
        while waiting or self.running:
            while waiting and len(self.running) < self.concurrency:
                self.running.append(waiting.pop(0))
                self.scheduler.on_trial_add(self, self.trials[self.running[-1]])
            free = [tid for tid in self.running if tid not in self.held]
            assert free, "every running trial is held: nothing could ever release them"
            tid = free[self.rng.integers(len(free))]
            self.reports[tid] += 1
            n = self.reports[tid]
            result = {"training_iteration": n, "val_accuracy": self.plans[tid][n - 1], "progress": n / 30,
                      "stage_fit_seconds": self.seconds}
            action = self.scheduler.on_trial_result(self, self.trials[tid], result)
            if action == "NOOP":
                self.held.add(tid)
                self.most_held = max(self.most_held, len(self.held))
            elif action == "STOP" or n == len(self.plans[tid]):
                if action == "STOP":
                    self.stopped.add(tid)
                self.end(tid)
        return self.reports


def learning_curves(trials: int, seed: int, steps: int = 12, shortest: int = 12) -> dict[str, list[float]]:
    """Rising scores of trials of different quality (each trial's curve crosses others'), planned
    for ``shortest`` to ``steps`` reports."""
    rng = np.random.default_rng(seed)
    return {f"t{i:02d}": list(rng.uniform(0.5, 0.9) + rng.uniform(0.0, 0.01, rng.integers(shortest, steps + 1)).cumsum()
                              * rng.uniform(0.5, 2.0))
            for i in range(trials)}


def lightgbm_asha(lag: int | None):
    return make_scheduler("asha", create_family("lightgbm"), decision_lag=lag)


@pytest.mark.parametrize(("curves_seed", "shortest"), [(0, 12), (1, 12), (2, 2), (3, 2)])
def test_ordered_decisions_do_not_depend_on_which_trial_reports_first(curves_seed: int, shortest: int) -> None:
    plans = learning_curves(14, curves_seed, shortest=shortest)
    one_at_a_time = Tune(lightgbm_asha(lag=1), plans, concurrency=1, seed=0)
    expected = one_at_a_time.run()
    assert 0 < len(one_at_a_time.stopped) < len(plans)  # a run that prunes some and keeps some
    assert Tune(lightgbm_asha(lag=None), plans, concurrency=1, seed=0).run() == expected  # Ray's own rule
    held_at_all = 0
    for concurrency in (2, 3):  # the reproducible mode's lag: the concurrency
        outcomes = []
        for order_seed in range(1, 7):
            tune = Tune(lightgbm_asha(lag=concurrency), plans, concurrency, order_seed)
            outcomes.append(tune.run())
            held_at_all += tune.most_held
        assert all(outcome == outcomes[0] for outcome in outcomes), concurrency
    assert held_at_all > 0  # some trial did wait at a rung for an earlier one
    # with a lag of one, trials side by side prune as one at a time does
    assert Tune(lightgbm_asha(lag=1), plans, concurrency=3, seed=4).run() == expected


def test_rays_own_asha_prunes_by_which_trial_reported_first() -> None:
    """The check above can fail: without the ordering, interleavings change what is pruned."""
    plans = learning_curves(14, 0)
    outcomes = {tuple(Tune(lightgbm_asha(lag=None), plans, 2, seed).run().values()) for seed in range(6)}
    assert len(outcomes) > 1


def test_a_trial_waits_at_a_rung_for_the_trial_a_lag_back() -> None:
    scheduler = lightgbm_asha(lag=2)
    tune = Tune(scheduler, {"a": [0.9] * 3, "b": [0.95] * 3, "c": [0.5] * 3}, concurrency=2, seed=0)
    a, b, c = (tune.trials[t] for t in "abc")
    for trial in (a, b):
        scheduler.on_trial_add(tune, trial)
    tune.running[:] = ["a", "b"]
    report = {"training_iteration": 1, "progress": 0.1, "stage_fit_seconds": 9.0}
    # b, beside a, is judged against no trial: it need not wait for a
    assert scheduler.on_trial_result(tune, b, {**report, "val_accuracy": 0.95}) == "CONTINUE"
    tune.end("b")
    scheduler.on_trial_add(tune, c)
    tune.running.append("c")
    assert scheduler.on_trial_result(tune, c, {**report, "val_accuracy": 0.5}) == "NOOP"  # a has not reached rung 1
    tune.held.add("c")
    assert scheduler.on_trial_result(tune, a, {**report, "val_accuracy": 0.9}) == "CONTINUE"
    assert "c" in tune.stopped and "c" in scheduler.stopped  # judged against a's 0.9 once a got there


@pytest.mark.parametrize(("rounds", "held"), [(100, False), (600, True)])
def test_a_trial_waits_only_for_earlier_trials_planned_to_reach_the_rung(rounds: int, held: bool) -> None:
    scheduler = lightgbm_asha(lag=1)
    tune = Tune(scheduler, {"a": [0.9] * (rounds // 50), "b": [0.5] * 12}, concurrency=2, seed=0)
    a, b = tune.trials["a"], tune.trials["b"]
    for trial in (a, b):
        scheduler.on_trial_add(tune, trial)
    tune.running[:] = ["a", "b"]
    for step in (1, 2):  # both pass rung 1; a, planned for 2 or 12 reports, is at its second
        for trial, score in ((a, 0.9), (b, 0.95)):
            result = {"training_iteration": step, "val_accuracy": score, "progress": step / 30, "stage_fit_seconds": 9.0}
            assert scheduler.on_trial_result(tune, trial, result) == "CONTINUE"
    result = {"training_iteration": 3, "val_accuracy": 0.95, "progress": 0.1, "stage_fit_seconds": 9.0}
    assert scheduler.on_trial_result(tune, b, result) == ("NOOP" if held else "CONTINUE")


def test_reproducible_decisions_do_not_depend_on_how_long_a_stage_took() -> None:
    """The rule sparing cheap trials reads wall-clock seconds, which differ from run to run: the
    reproducible mode decides on scores alone."""
    plans = learning_curves(10, 3)

    def outcome(seconds: float, ordered: bool) -> dict[str, int]:
        return Tune(lightgbm_asha(2 if ordered else None), plans, concurrency=2, seed=5, seconds=seconds).run()

    assert outcome(0.01, ordered=True) == outcome(5.0, ordered=True)
    assert outcome(5.0, ordered=True) != outcome(0.01, ordered=False)  # the default mode spares 0.3 s fits
    assert all(n == 12 for n in outcome(0.01, ordered=False).values())


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
    # Tune does not pass on the report that stopped a trial as a result: Optuna keeps it all the same
    searcher.suggest("stopped")
    searcher.on_trial_result("stopped", {"val_accuracy": 0.6, "training_iteration": 1, "progress": 0.1})
    searcher.on_trial_complete("stopped", {"val_accuracy": 0.4, "training_iteration": 3, "progress": 0.3})
    trials = searcher._ot_study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE,
                                         optuna.trial.TrialState.PRUNED]
    assert [t.value for t in trials] == [0.8, 0.7, 0.4]


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
