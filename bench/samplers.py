"""Optuna samplers by name, seeded. Each is Optuna's own; bench only picks and checks."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import optuna

from bench.errors import BenchInputError
from bench.space import SearchSpace

SAMPLERS = ("tpe", "random", "cmaes", "qmc", "gp")
#: TPE's and GP's random start: their proposals until this many trials have finished are drawn at
#: random (Optuna's default, written out because the reproducible mode relies on it).
RANDOM_START = 10


def create_sampler(name: str, seed: int, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """A seeded sampler; refuses combinations the space cannot support."""
    if name not in SAMPLERS:
        raise BenchInputError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
    if name == "tpe":
        # multivariate + group model the joint, conditional structure (kernel -> gamma, degree)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=RANDOM_START)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name in ("cmaes", "qmc") and space.is_conditional:
        conditional = [p.name for p in space.params if p.when]
        raise BenchInputError(
            f"--sampler {name} cannot search the conditional parameters of {space.family!r} "
            f"({', '.join(conditional)}); use tpe, random or gp"
        )
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    try:
        import torch  # noqa: F401  (GPSampler's dependency)
    except ImportError:
        raise BenchInputError("--sampler gp needs PyTorch: pip install torch") from None
    # warn_independent_sampling: said once, by sampler_notes
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=RANDOM_START, warn_independent_sampling=False)


def results_before_learning(name: str) -> int:
    """How many finished trials a sampler must be told before its proposals depend on them: the
    reproducible mode sends out the proposals before that without waiting for results (random and
    QMC search never learn; CMA-ES learns from its first trial on)."""
    if name in ("random", "qmc"):
        return sys.maxsize
    return RANDOM_START if name in ("tpe", "gp") else 0


def sampler_notes(name: str, space: SearchSpace) -> list[str]:
    """What a sampler cannot do with a space, said once per run (Optuna warns on every trial)."""
    conditional = [p.name for p in space.params if p.when and p.type != "fixed"]
    if name == "gp" and conditional:
        return [
            f"gp on {space.family}: {', '.join(conditional)} apply only under some choices, which Optuna's "
            f"GPSampler cannot model; it draws them at random"
        ]
    return []


class SearcherClock:
    """Seconds a study's searcher spent proposing configurations and learning from results (the
    sampler's own cost, which a comparison of methods counts). Each trial row takes what
    accumulated since the previous row, so a study's rows add up to its total, resumes included."""

    def __init__(self) -> None:
        self.pending = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.pending += time.perf_counter() - started

    def take(self) -> float:
        """The seconds since the last call."""
        seconds, self.pending = self.pending, 0.0
        return seconds
