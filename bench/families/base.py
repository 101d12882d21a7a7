"""The family contract and its registry.

A family builds a scikit-learn-style estimator from a parameter dict and a seed (constructor
stores, ``fit`` returns self, ``predict``/``predict_proba``), and says how it is fitted in
stages so iterative families can report intermediate scores to an early-stopping scheduler.
Families are classes, never lambdas, so Ray can ship them by name to any worker.
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from bench.errors import BenchInputError


class Family(ABC):
    """One model family: a search space file plus the estimator it parameterises."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Unit of the fidelity reported after each stage ("fit" for single-shot families).
    fidelity_unit: ClassVar[str] = "fit"
    #: Whether the family can use a GPU (the PyTorch families); others never ask for one.
    uses_gpu: ClassVar[bool] = False
    #: Whether a partial fit is *not* a prefix of a longer one: a learning-rate schedule stretched
    #: over the planned epochs makes epoch 3 of a 30-epoch plan (still warming up) incomparable
    #: with epoch 3 of a 5-epoch plan (annealed). Early stopping then compares trials at equal
    #: fractions of their own plans (``progress``) instead of at equal fidelity.
    schedule_bound: ClassVar[bool] = False
    #: Whether ``fit_stages`` takes ``resume=`` and the family has ``save_state``/``load_state``,
    #: so a trial can checkpoint and a retried one go on from where it was.
    checkpointable: ClassVar[bool] = False
    #: Modules a model of this family imports when built, beyond scikit-learn (torch,
    #: LightGBM): a local run's workers import them before the first trial (bench.warm).
    libraries: ClassVar[tuple[str, ...]] = ()
    #: Whether each stage refits from scratch on more rows (so a configuration costs its last
    #: stage) rather than extending one model (so it costs every stage so far).
    stages_refit: ClassVar[bool] = False
    #: Largest value a search-space file may give each model-size parameter (units, layers,
    #: widths, batch size, leaves, bins, cache): a space someone hands you cannot ask for a model
    #: that exhausts the machine. Fidelity parameters have theirs in ``max_fidelity``.
    ceilings: ClassVar[dict[str, int]] = {}

    @abstractmethod
    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Any:
        """A fresh, unfitted estimator configured by ``params``, using at most ``n_jobs`` cores
        and, for families that use one, the torch ``device`` ("cpu", "cuda")."""

    @property
    def has_fidelity(self) -> bool:
        """Whether the family reports more than once, so early stopping can act on it."""
        return self.fidelity_unit != "fit"

    def max_steps(self) -> int:
        """Most reports any configuration makes: the early-stopping scheduler's horizon."""
        return 1

    def max_fidelity(self, params: dict[str, Any]) -> int:
        """The fidelity a full fit with ``params`` reaches; a trial stopped below it was pruned."""
        return 1

    def at_fidelity(self, params: dict[str, Any], fidelity: float) -> dict[str, Any]:
        """``params`` changed to plan exactly ``fidelity`` (rounds, trees, epochs): how a trial that
        was scored only part-way is refit with the fidelity it was scored at. Families whose
        fidelity is the training-set size refit on all rows, so their params stay."""
        name = FIDELITY_PARAMS.get(self.fidelity_unit)
        if name is None:
            return dict(params)
        return {**params, name: max(1, int(fidelity))}

    def fit_stages(self, model: Any, X: np.ndarray, y: np.ndarray) -> Iterator[int]:
        """Fit ``model``, yielding the fidelity reached after each stage (one stage by default)."""
        model.fit(X, y)
        yield 1

    def fit(self, model: Any, X: np.ndarray, y: np.ndarray) -> int:
        """Fit ``model`` fully, as the refit does, and return the fidelity reached.

        Runs every stage by default; families whose stages are partial refits (training-set
        size) override it so the refit pays for one fit only.
        """
        fidelity = 0
        for fidelity in self.fit_stages(model, X, y):
            pass
        return fidelity


#: The parameter that plans a family's fidelity, by fidelity unit.
FIDELITY_PARAMS = {"rounds": "n_rounds", "trees": "n_estimators", "epochs": "epochs"}
#: Fractions of each plan at which early stopping compares schedule-bound trials; those
#: families report at these fractions (mid-epoch if need be) so every rung compares like with like.
PROGRESS_RUNGS = (1 / 27, 1 / 9, 1 / 3)


def chunk_ends(total: int, chunk: int) -> list[int]:
    """Where staged fitting reports: every ``chunk`` units, and at ``total``.

    >>> chunk_ends(120, 50)
    [50, 100, 120]
    """
    return [*range(chunk, total, chunk), total]


def check_ceiling(family: str, param: str, value: int, ceiling: int) -> int:
    """Refuse a fidelity above the family's ceiling: the early-stopping horizon
    (``max_steps``) is derived from it, and a longer trial would be cut there."""
    if not 1 <= value <= ceiling:
        raise BenchInputError(f"{family}: {param}={value} is out of range; valid: 1 to {ceiling}")
    return value


def check_ceilings(family: Family, space: Any) -> None:
    """Refuse a search space whose model-size parameters can exceed the family's ceilings."""
    for param in space.params:
        ceiling = family.ceilings.get(param.name)
        if ceiling is None:
            continue
        values = [param.high] if param.type in ("int", "float") else list(param.choices or [param.value])
        values += [c.get(param.name) for c in (getattr(space, "default", {}), *space.start) if c.get(param.name) is not None]
        too_big = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v > ceiling]
        if too_big:
            raise BenchInputError(f"{space.source}: {family.name} {param.name} up to {max(too_big):g} is above its ceiling; "
                                  f"valid: at most {ceiling}")


_FAMILIES: dict[str, type[Family]] = {}


def register_family(cls: type[Family]) -> type[Family]:
    """Class decorator: make a family available by its ``name``."""
    if cls.name in _FAMILIES:
        raise ValueError(f"family {cls.name!r} registered twice")
    _FAMILIES[cls.name] = cls
    return cls


def list_families(pattern: str = "*") -> list[str]:
    """Registered family names matching a shell-style wildcard, in registration order."""
    return [n for n in _FAMILIES if fnmatch.fnmatch(n, pattern)]


def create_family(name: str) -> Family:
    """Instantiate a registered family, or fail with the list of valid names."""
    try:
        return _FAMILIES[name]()
    except KeyError:
        raise BenchInputError(
            f"unknown family {name!r}; valid families: {', '.join(list_families())}, all"
        ) from None
