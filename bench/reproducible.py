"""The reproducible mode: the same seed and concurrency give the same trials, however long each took.

With several trials at a time, which one finishes first decides what the sampler knows when it
proposes the next, and what ASHA compares a trial with, so two runs of one seed drift apart.
Here trial ``n`` is proposed once the results of trials ``0 .. n - 2c`` (``c`` trials at a time),
and only those, have been told to the sampler in trial order; ASHA judges trial ``n`` at each
rung against trials ``0 .. n - c`` (:class:`bench.compat.OrderedDecisions`).

Waiting costs wall time, so the mode waits only where an answer depends on it:

- A sampler learns nothing until it has been told enough results (TPE and GP: ten; random and
  QMC search: never). The proposals that would be told fewer go out as soon as a slot is free,
  told nothing: with two at a time, TPE's first thirteen.
- Past it, a free slot waits only while a trial ``2c`` places back still runs. Simulated on trial
  lengths spread 30-fold, a lag of one concurrency costs 1.26x the default mode's wall time, two
  1.04x, three 1.005x. (Batches of the concurrency, told back when the whole batch ends, cost
  1.38x in ``bench perf``.)
- A trial waits at a rung only while a trial ``c`` or more places back still runs short of that
  rung and is planned to reach it. Judged against trials ``0 .. n - 1``, a fast trial started
  beside a slow one waited for it at every rung: ``bench perf``'s workload took 1.25x the default
  mode's wall time.
"""

from __future__ import annotations

import copy
from typing import Any

from ray.tune.search import ConcurrencyLimiter, Searcher

#: Trials between a result and the first proposal that learns from it, per concurrent slot.
LAG_PER_SLOT = 2


def proposal_lag(concurrency: int) -> int:
    """How many trials back the last result a proposal learns from lies."""
    return LAG_PER_SLOT * max(1, concurrency)


def decision_lag(concurrency: int) -> int:
    """How many trials back the last trial whose rung scores ASHA judges a trial against lies: the
    trials running beside it are left out, so a fast trial need not wait for a slow neighbour."""
    return max(1, concurrency)


class OrderedSearcher(ConcurrencyLimiter):
    """A searcher wrapper that holds ``max_concurrent`` trials at a time and tells results back in
    trial order, each just before the first proposal that may learn from it (Ray's public
    ``Searcher`` API only). It is a ``ConcurrencyLimiter`` so that Tune, as for one, readies the
    next trial while the running ones start, rather than one trial at a time."""

    def __init__(self, searcher: Searcher, max_concurrent: int, lag: int | None = None, learns_after: int = 0) -> None:
        super().__init__(searcher, max_concurrent=max(1, max_concurrent))
        self.lag = proposal_lag(self.max_concurrent) if lag is None else lag
        #: How many results the sampler must be told before its proposals depend on them.
        self.learns_after = learns_after
        #: Trial ids in the order they were proposed.
        self.order: list[str] = []
        self.running: set[str] = set()
        #: Ended trials whose results the searcher has not been told yet.
        self.untold: dict[str, tuple[dict[str, Any] | None, bool]] = {}
        #: Trials ``0 .. told - 1`` have been told.
        self.told = 0

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return bool(self.searcher.set_search_properties(metric, mode, config, **spec))

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_concurrent = max_concurrent
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if len(self.running) >= self.max_concurrent:
            return None
        n = len(self.order)  # proposal n learns from trials 0 .. n - lag, if the sampler learns by then
        if n - self.lag + 1 >= self.learns_after and not self.tell_through(n - self.lag):
            return None  # a trial this proposal must learn from is still running: Tune asks again
        suggestion = self.searcher.suggest(trial_id)
        if suggestion not in (None, Searcher.FINISHED):
            self.order.append(trial_id)
            self.running.add(trial_id)
        return suggestion

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id not in self.running:
            return
        self.running.discard(trial_id)
        self.untold[trial_id] = (result, error)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.searcher.on_trial_result(trial_id, result)

    def tell_through(self, last: int) -> bool:
        """Tell the searcher trials up to index ``last`` in order; False while one of them still runs."""
        while self.told <= last:
            trial_id = self.order[self.told]
            if trial_id not in self.untold:
                return False
            result, error = self.untold.pop(trial_id)
            self.searcher.on_trial_complete(trial_id, result=result, error=error)
            self.told += 1
        return True

    def finish(self) -> None:
        """Tell what ended after the last proposal (the study then holds every trial's state)."""
        self.tell_through(len(self.order) - 1)

    def get_state(self) -> dict[str, Any]:
        """What Tune snapshots with the experiment: the order and the untold results."""
        return copy.deepcopy({key: value for key, value in self.__dict__.items() if key != "searcher"})

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)
