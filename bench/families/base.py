"""The family contract and its registry.

A family builds a scikit-learn-style estimator from a parameter dict and a seed (constructor
stores, ``fit`` returns self, ``predict``/``predict_proba``), and says how it is fitted in
stages so iterative families can report intermediate scores to an early-stopping scheduler.
Families are classes, never lambdas, so Ray can ship them by name to any worker.

Each family declares the parameters it reads (:class:`Hyperparameter`: name, type, and the value
that stands for the library's default); a search space may name no others. A family whose
trials checkpoint also has the optional hooks of :class:`Checkpointable`.
"""

from __future__ import annotations

import fnmatch
import inspect
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from bench.errors import BenchInputError

if TYPE_CHECKING:
    from bench.space import SearchSpace


@dataclass(frozen=True)
class Hyperparameter:
    """One parameter a family reads from a configuration.

    ``default`` is the value that stands for the library's own default (``stands_for`` says
    which, in the library's terms): the value the search space's ``default:`` point gives it
    where the space names it. A default of None means "unset" (no depth limit, no absolute gamma).
    For the scikit-learn and LightGBM families, ``build`` gives a parameter a configuration leaves
    out this value or one meaning the same; the PyTorch families, with no library default to
    stand for, declare their plain net's values and keep ``build``'s older fallbacks.
    """

    name: str
    #: The Python type of its values, or a tuple of them; an int is admitted where float is, a
    #: bool never as a number.
    value_type: type | tuple[type, ...]
    default: Any
    stands_for: str

    @property
    def value_types(self) -> tuple[type, ...]:
        return self.value_type if isinstance(self.value_type, tuple) else (self.value_type,)

    def admits(self, value: Any) -> bool:
        """Whether ``value`` has this parameter's type (None only where the default is None)."""
        if value is None:
            return self.default is None
        if isinstance(value, bool):
            return bool in self.value_types
        if isinstance(value, int) and float in self.value_types:
            return True
        return isinstance(value, self.value_types)


@runtime_checkable
class Checkpointable(Protocol):
    """The optional hooks of a family with ``checkpointable = True``: a trial saves its training
    state at the end of a stage, and a retried trial resumes the fit from it."""

    def fit_stages(self, model: Any, X: np.ndarray, y: np.ndarray, resume: dict[str, Any] | None = None) -> Iterator[float]:
        """:meth:`Family.fit_stages`, going on from ``resume`` (a state :meth:`load_state` read)."""
        ...

    def save_state(self, model: Any, path: Path) -> None:
        """Write ``model``'s training state at the stage ``fit_stages`` last yielded."""
        ...

    def load_state(self, path: Path) -> dict[str, Any]:
        """Read a state :meth:`save_state` wrote, for ``fit_stages(..., resume=...)``."""
        ...


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
    #: Whether the family has the hooks of :class:`Checkpointable` (``fit_stages`` takes
    #: ``resume=``, ``save_state``/``load_state``), so a trial can checkpoint and a retried one go
    #: on from where it was (:func:`register_family` checks that they are there).
    checkpointable: ClassVar[bool] = False
    #: Modules a model of this family imports when built, beyond scikit-learn (torch,
    #: LightGBM): a local run's workers import them before the first trial (bench.warm).
    libraries: ClassVar[tuple[str, ...]] = ()
    #: Whether a fit uses more than one core (threads, BLAS, OpenMP). A single-core family's two
    #: refits (kept configuration and default) run side by side rather than one after the other.
    parallel_fit: ClassVar[bool] = True
    #: Whether each stage refits from scratch on more rows (so a configuration costs its last
    #: stage) rather than extending one model (so it costs every stage so far).
    stages_refit: ClassVar[bool] = False
    #: Largest value a search-space file may give each model-size parameter (units, layers,
    #: widths, batch size, leaves, bins, cache): a space someone hands you cannot ask for a model
    #: that exhausts the machine. Fidelity parameters have theirs in ``max_fidelity``.
    ceilings: ClassVar[dict[str, int]] = {}
    #: Every parameter ``build`` (and the fidelity methods) read from a configuration: the only
    #: names a search space for the family may use (:func:`bench.space.load_space` refuses others).
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = ()

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

    def planned_steps(self, params: dict[str, Any]) -> int:
        """Most reports a full fit with ``params`` makes: a trial planned short of a rung never
        enters it (fewer on small data, where the smallest training-set fractions are left out)."""
        return self.max_steps()

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

    def fit_stages(self, model: Any, X: np.ndarray, y: np.ndarray) -> Iterator[float]:
        """Fit ``model``, yielding the fidelity reached after each stage (one stage by default).

        A fidelity is whole (rounds, trees, epochs, percent) except a schedule-bound family's
        reports part-way through an epoch (:data:`PROGRESS_RUNGS`)."""
        model.fit(X, y)
        yield 1

    def fit(self, model: Any, X: np.ndarray, y: np.ndarray) -> int:
        """Fit ``model`` fully, as the refit does, and return the fidelity reached.

        Runs every stage by default; families whose stages are partial refits (training-set
        size) override it so the refit pays for one fit only.
        """
        last = deque(self.fit_stages(model, X, y), maxlen=1)  # every stage; the last one's fidelity
        return int(last[0]) if last else 0

    @classmethod
    def declared(cls) -> dict[str, Hyperparameter]:
        """The family's :attr:`hyperparameters` by name, in declaration order."""
        return {h.name: h for h in cls.hyperparameters}


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


def checkpoint_hooks(family: Family) -> Checkpointable | None:
    """``family`` as its checkpoint hooks when it is ``checkpointable``, else None."""
    return family if family.checkpointable and isinstance(family, Checkpointable) else None


def check_ceiling(family: str, param: str, value: int, ceiling: int) -> int:
    """Refuse a fidelity above the family's ceiling: the early-stopping horizon
    (``max_steps``) is derived from it, and a longer trial would be cut there."""
    if not 1 <= value <= ceiling:
        raise BenchInputError(f"{family}: {param}={value} is out of range; valid: 1 to {ceiling}")
    return value


def check_ceilings(family: Family, space: SearchSpace) -> None:
    """Refuse a search space whose model-size parameters can exceed the family's ceilings."""
    for param in space.params:
        ceiling = family.ceilings.get(param.name)
        if ceiling is None:
            continue
        values = [param.high] if param.type in ("int", "float") else list(param.choices or [param.value])
        values += [c.get(param.name) for c in (getattr(space, "default", {}), *space.start) if c.get(param.name) is not None]
        too_big = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v > ceiling]
        if too_big:
            raise BenchInputError(
                f"{space.source}: {family.name} {param.name} up to {max(too_big):g} is above its ceiling; "
                f"valid: at most {ceiling}"
            )


_FAMILIES: dict[str, type[Family]] = {}


def register_family(cls: type[Family]) -> type[Family]:
    """Class decorator: make a family available by its ``name``, once its declarations hold
    together (parameters declared once each, with defaults of their types; ceilings and the
    fidelity parameter among them; the checkpoint hooks there if it says it checkpoints)."""
    if cls.name in _FAMILIES:
        raise ValueError(f"family {cls.name!r} registered twice")
    check_declarations(cls)
    _FAMILIES[cls.name] = cls
    return cls


def check_declarations(cls: type[Family]) -> None:
    """Raise TypeError where ``cls`` breaks the contract its class attributes declare."""
    names = [h.name for h in cls.hyperparameters]
    if not names:
        raise TypeError(f"family {cls.name!r} declares no hyperparameters")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise TypeError(f"family {cls.name!r} declares {', '.join(repeated)} more than once")
    for h in cls.hyperparameters:
        if not h.admits(h.default):
            raise TypeError(f"family {cls.name!r}: {h.name}'s default {h.default!r} is not of its type {h.value_type}")
    fidelity = FIDELITY_PARAMS.get(cls.fidelity_unit)
    undeclared = sorted(set(cls.ceilings) - set(names)) + ([fidelity] if fidelity and fidelity not in names else [])
    if undeclared:
        raise TypeError(f"family {cls.name!r} bounds undeclared parameters: {', '.join(undeclared)}")
    if cls.checkpointable and not (issubclass(cls, Checkpointable) and "resume" in inspect.signature(cls.fit_stages).parameters):
        raise TypeError(f"family {cls.name!r} is checkpointable but lacks the hooks of Checkpointable")


def list_families(pattern: str = "*") -> list[str]:
    """Registered family names matching a shell-style wildcard, in registration order."""
    return [n for n in _FAMILIES if fnmatch.fnmatch(n, pattern)]


def create_family(name: str) -> Family:
    """Instantiate a registered family, or fail with the list of valid names."""
    try:
        return _FAMILIES[name]()
    except KeyError:
        raise BenchInputError(f"unknown family {name!r}; valid families: {', '.join(list_families())}, all") from None
