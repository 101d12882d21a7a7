"""One search: a Ray Tune experiment driven by Optuna for one family and seed.

The library-default configuration is the first trial (then the space's start configurations,
cheapest first), so every search has the reference point a tuned result must beat. Rows go to
the run's journal as trials end (see :mod:`bench.recorder`).
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from bench import interrupt
from bench.compat import TruthfulOptunaSearch
from bench.families import create_family
from bench.journal import Journal, optuna_backend
from bench.recorder import TrialRecorder
from bench.samplers import SearcherClock, create_sampler
from bench.scheduling import ConfigMatcher, StopOnInterrupt, make_scheduler
from bench.space import SearchSpace
from bench.trial import DataHandle, trial_entry

DEFAULT_TRIALS = 20


def with_constants(space: SearchSpace, values: dict[str, Any]) -> dict[str, Any]:
    """A configuration as a trial receives it: ``values`` plus the fixed parameters active under them."""
    config = dict(values)
    for param in space.params:
        if param.type == "fixed" and param.active(config):
            config[param.name] = param.value
    return config


def default_config(space: SearchSpace) -> dict[str, Any]:
    """The library default as a trial's configuration."""
    return with_constants(space, space.default)


def trial_dirname(trial: Any) -> str:
    """Short trial folder names (Tune's default spells out every parameter)."""
    return f"trial_{trial.trial_id}"


@dataclass
class SearchSettings:
    """What every search of a run shares (from ``RunOptions`` and the run folder)."""

    run_id: str
    dataset: str
    sampler: str
    scheduler: str
    trials: int | None
    time_budget_s: float | None
    cpus_per_trial: int
    max_concurrent: int | None
    max_failures: int
    storage_path: str
    optuna_journal: Path
    journal: Journal
    checkpoint_every: float | None
    #: Identical trials at any concurrency: each proposal and each pruning decision learns from
    #: the trials a fixed lag back, in trial order (see :mod:`bench.reproducible`).
    reproducible: bool = False
    #: Trials that can run at once (the reproducible mode's lag is twice this).
    concurrency: int = 1
    #: The method in the study's name, in a run comparing several ("tpe-asha"); "" otherwise.
    study_tag: str = ""
    #: Whether the study starts from the library default and the space's start configurations
    #: (a comparison of methods leaves them out: random search must be random).
    with_start: bool = True


def fail_running_trials(storage: Any, study_name: str) -> None:
    """Mark a study's RUNNING trials FAILED (Optuna's public storage API only)."""
    study_id = storage.get_study_id_from_name(study_name)
    running = (optuna.trial.TrialState.RUNNING,)
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=running):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)


class FamilySearch:
    """The search of one (family, seed), resumable from the journal rows it already has."""

    def __init__(
        self, settings: SearchSettings, space: SearchSpace, family: str, seed: int, gpus: float, previous: list[dict[str, Any]]
    ) -> None:
        self.settings = settings
        self.space = space
        self.family = family
        self.seed = seed
        self.gpus = gpus
        self.previous = previous
        self.model_family = create_family(family)
        self.default = default_config(space)
        #: Seconds the searcher (the sampler, mostly) spends proposing and learning: a method's own cost.
        self.clock = SearcherClock()

    @property
    def planned_trials(self) -> int:
        """Trials in all (-1: as many as the time budget allows)."""
        s = self.settings
        return s.trials if s.trials is not None else (-1 if s.time_budget_s else DEFAULT_TRIALS)

    def first_points(self) -> list[dict[str, Any]] | None:
        """Configurations tried before the sampler's own: the default, then the starts (none in a
        comparison without them). A resumed search re-enqueues only a default that never finished."""
        if not self.settings.with_start:
            return None
        if not self.previous:
            return [dict(self.space.default), *(dict(c) for c in self.space.start)]
        if not any(r.get("is_default") for r in self.previous):
            return [dict(self.space.default)]
        return None

    @property
    def lag(self) -> int | None:
        """The reproducible mode's lag between a result and the first proposal that learns from it."""
        from bench.reproducible import proposal_lag

        return proposal_lag(self.settings.concurrency) if self.settings.reproducible else None

    @property
    def decision_lag(self) -> int | None:
        """The reproducible mode's lag between a trial and the first whose pruning it informs."""
        from bench.reproducible import decision_lag

        return decision_lag(self.settings.concurrency) if self.settings.reproducible else None

    def search_algorithm(self) -> Any:
        """The searcher Tune drives: Optuna, told results in trial order in the reproducible mode."""
        from bench.reproducible import OrderedSearcher
        from bench.samplers import results_before_learning

        searcher = self.searcher()
        if self.lag is not None:
            # a resumed study's earlier trials count towards the sampler's random start
            learns_after = max(0, results_before_learning(self.settings.sampler) - len(self.previous))
            return OrderedSearcher(searcher, max_concurrent=self.settings.concurrency, lag=self.lag, learns_after=learns_after)
        return searcher

    def searcher(self) -> TruthfulOptunaSearch:
        """Optuna behind Ray Tune, its study kept in a file so a resume continues it."""
        s = self.settings
        study_name = "/".join([s.run_id, self.family, *([s.study_tag] if s.study_tag else []), f"seed{self.seed}"])
        storage = optuna.storages.JournalStorage(optuna_backend(s.optuna_journal))  # no symlinks, torn tails repaired
        for summary in optuna.get_all_study_summaries(storage):
            if summary.study_name == study_name:  # trials in flight when the driver died
                fail_running_trials(storage, study_name)
        restarted = len(self.previous)
        # a resumed search draws fresh randomness rather than replaying the first proposals
        # each method of a comparison draws its own stream (TPE's first proposals are random
        # search's: with one seed, both would propose the same start)
        entropy = [self.seed, *([zlib.crc32(s.study_tag.encode())] if s.study_tag else []), *([restarted] if restarted else [])]
        sampler_seed = self.seed if len(entropy) == 1 else int(np.random.SeedSequence(entropy).generate_state(1)[0])
        return TruthfulOptunaSearch(
            clock=self.clock,
            space=self.space,
            metric="val_accuracy",
            mode="max",
            study_name=study_name,
            storage=storage,
            sampler=create_sampler(s.sampler, sampler_seed, self.space),
            points_to_evaluate=self.first_points(),
        )

    def run(self, data: DataHandle, on_change: Callable[[int, float], None] | None = None) -> float:
        """Run the trials still to run; returns the seconds this call spent searching."""
        from ray import tune

        s = self.settings
        remaining = self.planned_trials - len(self.previous) if self.planned_trials > 0 else -1
        if remaining == 0:
            return 0.0
        budget = max(s.time_budget_s - span_seconds(self.previous), 1.0) if s.time_budget_s else None
        scored = [r["val_accuracy"] for r in self.previous if r.get("val_accuracy") is not None]
        scheduler = make_scheduler(
            s.scheduler, self.model_family, protected=ConfigMatcher(self.default), decision_lag=self.decision_lag
        )
        recorder = TrialRecorder(
            base={
                "run_id": s.run_id,
                "dataset": s.dataset,
                "family": self.family,
                "seed": self.seed,
                "sampler": s.sampler,
                "scheduler": s.scheduler,
                "cpus": s.cpus_per_trial,
                "gpus": self.gpus,
            },
            max_fidelity=self.model_family.max_fidelity,
            journal=s.journal,
            first_number=len(self.previous),
            best=max(scored) if scored else math.nan,
            on_change=on_change,
            is_default=ConfigMatcher(self.default),
            scheduler=scheduler,
            clock=self.clock,
        )
        trainable = tune.with_resources(
            tune.with_parameters(
                trial_entry,
                data=data,
                family=self.family,
                seed=self.seed,
                cpus=s.cpus_per_trial,
                gpus=self.gpus,
                checkpoint_every=s.checkpoint_every,
            ),
            {"cpu": s.cpus_per_trial, "gpu": self.gpus},
        )
        name = "-".join([self.family, *([s.study_tag] if s.study_tag else []), f"seed{self.seed}"])
        name += f"-resumed{len(self.previous)}" if self.previous else ""
        search_alg = self.search_algorithm()
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=search_alg,
                scheduler=scheduler,
                num_samples=remaining,
                time_budget_s=budget,
                reuse_actors=True,
                max_concurrent_trials=None if s.reproducible else s.max_concurrent,  # the limiter holds it
                trial_name_creator=trial_dirname,
                trial_dirname_creator=trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=name,
                stop=StopOnInterrupt(),
                storage_path=s.storage_path,
                verbose=0,
                callbacks=[recorder],
                failure_config=tune.FailureConfig(max_failures=s.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),  # 1 would force a Tune snapshot per checkpoint
            ),
        )
        started = time.monotonic()
        with interrupt.deferred():  # the stopper ends the search on Ctrl-C
            tuner.fit()
        if self.lag is not None:
            search_alg.finish()  # the ordered searcher's last results reach the Optuna study
        interrupt.check()
        return time.monotonic() - started


def span_seconds(rows: list[dict[str, Any]]) -> float:
    """Wall time a search already spent, from its finished trials' timestamps."""
    from datetime import datetime

    stamps = [(r["started_at"], r["finished_at"]) for r in rows if r.get("started_at") and r.get("finished_at")]
    if not stamps:
        return 0.0
    first = min(datetime.fromisoformat(a) for a, _ in stamps)
    last = max(datetime.fromisoformat(b) for _, b in stamps)
    return (last - first).total_seconds()
