"""The reproducible mode's searcher: proposals learn from the trials a fixed lag back, in trial
order, whichever concurrent trial finishes first.

A small event loop plays Tune's part: it asks for trials while the searcher gives them and ends
the running trial due first. Trial lengths are drawn per run, so finish orders differ.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import optuna
import pytest
from ray.tune.search import Searcher

from bench.compat import TruthfulOptunaSearch
from bench.reproducible import OrderedSearcher, proposal_lag
from bench.space import parse_space

SPACE = parse_space(
    "params:\n  x: {type: float, low: -3.0, high: 3.0}\n  y: {type: float, low: -3.0, high: 3.0}\ndefault: {x: 0.0, y: 0.0}\n",
    "svm",
)


def score(config: dict[str, float]) -> float:
    return math.exp(-((config["x"] - 1.0) ** 2) - (config["y"] + 0.5) ** 2)


def drive(searcher: Searcher, trials: int, lengths_seed: int, concurrency: int = 2) -> tuple[list[dict[str, float]], int]:
    """Configurations in proposal order, and the most trials that ran at once."""
    lengths = np.random.default_rng(lengths_seed).uniform(1.0, 30.0, trials)
    now, running, proposed, most = 0.0, [], [], 0
    while len(proposed) < trials or running:
        while len(proposed) < trials and len(running) < concurrency:  # Tune's own limit
            config = searcher.suggest(f"t{len(proposed)}")
            if config is None:
                break
            heapq.heappush(running, (now + lengths[len(proposed)], f"t{len(proposed)}", config))
            proposed.append(config)
        most = max(most, len(running))
        now, trial_id, config = heapq.heappop(running)
        searcher.on_trial_result(trial_id, {"val_accuracy": score(config), "training_iteration": 1, "progress": 1.0})
        searcher.on_trial_complete(trial_id, {"val_accuracy": score(config), "training_iteration": 1, "progress": 1.0})
    return proposed, most


def tpe() -> Searcher:
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=3)  # learns from the fourth proposal on
    return TruthfulOptunaSearch(space=SPACE, metric="val_accuracy", mode="max", sampler=sampler)


def test_the_same_seed_proposes_the_same_configurations_whatever_finishes_first() -> None:
    runs = [drive(OrderedSearcher(tpe(), max_concurrent=2), trials=14, lengths_seed=s) for s in (1, 2, 3)]
    assert runs[0][0] == runs[1][0] == runs[2][0]
    assert all(most == 2 for _, most in runs)  # still two at a time
    # without the ordering, what finished first changes what TPE proposes
    plain = [drive(tpe(), trials=14, lengths_seed=s)[0] for s in (1, 2, 3)]
    assert plain[0] != plain[1] or plain[1] != plain[2]


class Recording(Searcher):  # type: ignore[misc]
    """Records what the wrapped searcher is asked and told."""

    def __init__(self) -> None:
        super().__init__(metric="val_accuracy", mode="max")
        self.calls: list[tuple[str, str]] = []

    def suggest(self, trial_id: str) -> dict[str, float]:
        self.calls.append(("ask", trial_id))
        return {"x": float(len(self.calls)), "y": 0.0}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.calls.append(("tell", trial_id))


@pytest.mark.parametrize("concurrency", [1, 2, 3])
def test_each_proposal_learns_from_exactly_the_trials_a_lag_back(concurrency: int) -> None:
    lag = proposal_lag(concurrency)
    histories = []
    for lengths_seed in (4, 5):
        inner = Recording()
        searcher = OrderedSearcher(inner, max_concurrent=concurrency)
        drive(searcher, trials=12, lengths_seed=lengths_seed, concurrency=concurrency + 1)  # the wrapper limits
        told_before_finish = [t for kind, t in inner.calls if kind == "tell"]
        searcher.finish()
        histories.append(inner.calls)
        for n in range(12):
            told = [t for kind, t in inner.calls[: inner.calls.index(("ask", f"t{n}"))] if kind == "tell"]
            assert told == [f"t{i}" for i in range(n - lag + 1)]
        assert len(told_before_finish) < 12  # the last lag trials wait for finish()
        assert [t for kind, t in inner.calls if kind == "tell"] == [f"t{i}" for i in range(12)]
    assert histories[0] == histories[1]


def test_a_free_slot_waits_only_for_the_trial_a_lag_back() -> None:
    searcher = OrderedSearcher(Recording(), max_concurrent=2, lag=2)
    assert searcher.suggest("t0") and searcher.suggest("t1")
    assert searcher.suggest("t2") is None  # two running
    searcher.on_trial_complete("t1", {"val_accuracy": 0.5})
    assert searcher.suggest("t2") is None  # t0, two back, still runs
    searcher.on_trial_complete("t0", {"val_accuracy": 0.5})
    assert searcher.suggest("t2") and searcher.suggest("t3")  # t1 ended too: no wait for t3


def test_the_samplers_random_start_goes_out_without_waiting() -> None:
    inner = Recording()
    searcher = OrderedSearcher(inner, max_concurrent=2, lag=2, learns_after=2)
    assert searcher.suggest("t0") and searcher.suggest("t1")
    searcher.on_trial_complete("t1", {"val_accuracy": 0.5})
    assert searcher.suggest("t2")  # t0, two back, still runs, but told one result the sampler learns nothing
    searcher.on_trial_complete("t2", {"val_accuracy": 0.5})
    assert searcher.suggest("t3") is None  # told t0 and t1, it learns
    searcher.on_trial_complete("t0", {"val_accuracy": 0.5})
    assert searcher.suggest("t3")
    assert inner.calls == [("ask", "t0"), ("ask", "t1"), ("ask", "t2"), ("tell", "t0"), ("tell", "t1"), ("ask", "t3")]


@pytest.mark.parametrize("name", ["tpe", "gp", "random"])
def test_the_first_proposals_said_to_ignore_results_do(name: str) -> None:
    """What the searcher above relies on: told or not, the sampler's first proposals are the same."""
    from bench.samplers import RANDOM_START, create_sampler, results_before_learning

    def proposals(tell_each: bool) -> list[float]:
        study = optuna.create_study(sampler=create_sampler(name, 0, SPACE), direction="maximize")
        asked = []
        for _ in range(RANDOM_START):
            trial = study.ask()
            asked.append(trial)
            trial.suggest_float("x", -3.0, 3.0)
            if tell_each:
                study.tell(trial, trial.params["x"])
        return [t.params["x"] for t in asked]

    assert results_before_learning(name) >= RANDOM_START
    assert proposals(tell_each=True) == proposals(tell_each=False)


def test_tune_readies_the_next_trials_as_for_a_concurrency_limiter() -> None:
    """Tune keeps as many trials pending as a ConcurrencyLimiter allows, else one: the second
    trial would start only once the first had (seconds later, on a fresh worker)."""
    from ray.tune.execution.tune_controller import _get_max_pending_trials
    from ray.tune.search import SearchGenerator

    assert _get_max_pending_trials(SearchGenerator(OrderedSearcher(Recording(), max_concurrent=3))) == 3
