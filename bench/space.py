"""Search spaces: YAML files turned into an Optuna define-by-run function.

A file lists parameters in order; a parameter with ``when`` exists only if an earlier
parameter took one of the named values (kernel degree only for polynomial SVMs)::

    params:
      kernel: {type: categorical, choices: [linear, rbf, poly]}
      C:      {type: float, low: 1.0e-3, high: 1.0e+3, log: true}
      degree: {type: int, low: 2, high: 5, when: {kernel: poly}}

Types: ``float`` and ``int`` (``low``, ``high``, optional ``log`` or ``step``),
``categorical`` (``choices``), ``fixed`` (``value``: not searched, passed as is).

A required ``default`` mapping is the library's own default configuration as a point of the
space: every searched parameter active under it has a value in its domain. The search tries it
first, so a tuned result always has the untuned one to beat::

    default: {kernel: rbf, C: 1.0}

An optional ``start`` list names configurations tried next (Optuna's ``enqueue_trial``), e.g. a
setting known from the literature, cheapest first; parameters a start leaves out are sampled::

    start:
      - {kernel: rbf, C: 10.0}

A family's file may name only the parameters the family declares (``Family.hyperparameters``):
:func:`load_space` refuses any other name, with the valid ones, so a misspelt parameter is an
error rather than a setting the model silently ignores.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.errors import BenchInputError
from bench.safe_io import read_text

TYPES = ("float", "int", "categorical", "fixed")
_KEYS = {
    "float": {"type", "low", "high", "log", "step", "when"},
    "int": {"type", "low", "high", "log", "step", "when"},
    "categorical": {"type", "choices", "when"},
    "fixed": {"type", "value", "when"},
}


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its distribution and the condition under which it exists."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    value: Any = None
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def active(self, chosen: dict[str, Any]) -> bool:
        return all(name in chosen and chosen[name] in values for name, values in self.when.items())

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a float or int parameter (the parser sets both for those types)."""
        if self.low is None or self.high is None:
            raise ValueError(f"parameter {self.name!r} is {self.type}, not a range")
        return self.low, self.high

    def admits(self, value: Any) -> bool:
        """Whether ``value`` lies in this parameter's domain."""
        if self.type == "categorical":
            return any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in self.choices)
        if self.type == "fixed":
            return value == self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.type == "int" and value != int(value):
            return False
        low, high = self.bounds
        return low <= value <= high

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter from an ``optuna.trial.Trial`` (or Ray's wrapper of one)."""
        if self.type == "float":
            low, high = self.bounds
            return trial.suggest_float(self.name, low, high, log=self.log, step=self.step)
        if self.type == "int":
            low, high = self.bounds
            step = int(self.step) if self.step else 1
            return trial.suggest_int(self.name, int(low), int(high), log=self.log, step=step)
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        return self.value


@dataclass(frozen=True)
class SearchSpace:
    """An ordered, conditional space. Calling it on an Optuna trial samples one configuration.

    It is a plain class rather than a closure so Ray can pickle it with the searcher's state.
    """

    family: str
    params: tuple[Param, ...]
    source: str = ""
    #: Configurations to try after the default (searched parameters only; the rest are sampled).
    start: tuple[dict[str, Any], ...] = ()
    #: The library's default configuration: a value for every searched parameter active under it.
    default: dict[str, Any] = field(default_factory=dict)

    def __call__(self, trial: Any) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        constants: dict[str, Any] = {}
        for param in self.params:
            if not param.active(chosen):
                continue
            value = param.suggest(trial)
            chosen[param.name] = value
            if param.type == "fixed":
                constants[param.name] = value
        return constants

    def sample(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """``n`` random configurations, as a search would see them (for tests and dry runs)."""
        import optuna

        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        configs = []
        for _ in range(n):
            trial = study.ask()
            constants = self(trial)
            configs.append({**trial.params, **constants})
            study.tell(trial, 0.0)
        return configs

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def is_conditional(self) -> bool:
        return any(p.when for p in self.params)

    @property
    def has_categorical(self) -> bool:
        return any(p.type == "categorical" for p in self.params)


def _number(raw: Any, where: str, key: str) -> float:
    if isinstance(raw, bool):
        raise BenchInputError(f"{where}: {key} must be a number, got {raw!r}")
    try:
        value = float(raw)  # YAML 1.1 reads 1e-3 (no dot) as a string; accept it.
    except (TypeError, ValueError):
        raise BenchInputError(f"{where}: {key} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise BenchInputError(f"{where}: {key} must be finite, got {raw!r}")
    return value


def _parse_param(name: str, spec: Any, earlier: dict[str, Param], source: str) -> Param:
    where = f"{source}: parameter {name!r}"
    if not isinstance(spec, dict):
        raise BenchInputError(f"{where} must be a mapping with a 'type', got {spec!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise BenchInputError(f"{where}: unknown type {kind!r}; valid types: {', '.join(TYPES)}")
    unknown = set(spec) - _KEYS[kind]
    if unknown:
        raise BenchInputError(f"{where}: unknown keys {sorted(unknown)} for type {kind}; valid: {sorted(_KEYS[kind])}")
    when: dict[str, tuple[Any, ...]] = {}
    for parent, values in (spec.get("when") or {}).items():
        if parent not in earlier:
            raise BenchInputError(f"{where}: 'when' names {parent!r}, which is not defined above it")
        values = tuple(values) if isinstance(values, list) else (values,)
        parent_param = earlier[parent]
        possible = parent_param.choices if parent_param.type == "categorical" else (parent_param.value,)
        if parent_param.type in ("categorical", "fixed"):
            bad = [v for v in values if v not in possible]
            if bad:
                raise BenchInputError(f"{where}: 'when' value {bad[0]!r} is not one of {parent}'s {list(possible)}")
        when[parent] = values
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise BenchInputError(f"{where}: choices must be a non-empty list, got {choices!r}")
        for choice in choices:
            if not (choice is None or isinstance(choice, (bool, int, float, str))):
                raise BenchInputError(f"{where}: choice {choice!r} must be a number, string, bool or null")
        return Param(name, kind, choices=tuple(choices), when=when)
    if kind == "fixed":
        if "value" not in spec:
            raise BenchInputError(f"{where}: a fixed parameter needs a 'value'")
        return Param(name, kind, value=spec["value"], when=when)
    for key in ("low", "high"):
        if key not in spec:
            raise BenchInputError(f"{where}: missing {key!r}")
    low, high = _number(spec["low"], where, "low"), _number(spec["high"], where, "high")
    log = bool(spec.get("log", False))
    step = _number(spec["step"], where, "step") if spec.get("step") is not None else None
    if low >= high:
        raise BenchInputError(f"{where}: low ({low:g}) must be below high ({high:g})")
    if log and low <= 0:
        raise BenchInputError(f"{where}: a log scale needs low > 0, got {low:g}")
    if log and step is not None:
        raise BenchInputError(f"{where}: 'log' and 'step' cannot be combined")
    if step is not None and step <= 0:
        raise BenchInputError(f"{where}: step must be positive, got {step:g}")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise BenchInputError(f"{where}: int bounds must be whole numbers, got {low:g}..{high:g}")
    return Param(name, kind, low=low, high=high, log=log, step=step, when=when)


def parse_space(
    text: str, family: str, source: str = "<string>", *, require_default: bool = True, declared: Collection[str] | None = None
) -> SearchSpace:
    """Parse YAML text (safe loader) into a validated :class:`SearchSpace`.

    ``require_default=False`` reads spaces written before ``default`` existed (an old run's
    file, for its report); every search needs one, so that is the only use. ``declared`` (see
    :func:`declared_parameters`) is every name the family reads: a parameter outside it is refused.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise BenchInputError(f"{source}: malformed YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("params"), dict) or not doc["params"]:
        raise BenchInputError(f"{source}: expected a mapping with a non-empty 'params' mapping")
    unknown = set(doc) - {"params", "default", "start"}
    if unknown:
        raise BenchInputError(f"{source}: unknown top-level keys {sorted(unknown)}; valid: params, default, start")
    if declared is not None:
        undeclared = [str(name) for name in doc["params"] if str(name) not in declared]
        if undeclared:
            raise BenchInputError(
                f"{source}: unknown parameter{'s' if len(undeclared) > 1 else ''} "
                f"{', '.join(map(repr, undeclared))} for family {family}; valid: {', '.join(declared)}"
            )
    params: dict[str, Param] = {}
    for name, spec in doc["params"].items():
        params[str(name)] = _parse_param(str(name), spec, params, source)
    default = _parse_default(doc.get("default"), params, source) if "default" in doc or require_default else {}
    start = _parse_start(doc.get("start"), params, source)
    for index, config in enumerate(start):
        if default and config == default:
            raise BenchInputError(f"{source}: start[{index}] repeats the default, which is tried first anyway")
    return SearchSpace(family=family, params=tuple(params.values()), source=source, start=start, default=default)


def _parse_default(raw: Any, params: dict[str, Param], source: str) -> dict[str, Any]:
    """The default point: a valid configuration (as a start is) that also leaves nothing to sample."""
    searched = [p.name for p in params.values() if p.type != "fixed"]
    if raw is None:
        raise BenchInputError(
            f"{source}: missing 'default': add the library's default configuration as a point of the space, "
            f"a mapping with a value for each searched parameter it uses ({', '.join(searched)})"
        )
    if not isinstance(raw, dict):
        raise BenchInputError(f"{source}: 'default' must be a mapping of parameter values, got {raw!r}")
    config = _check_config(raw, params, f"{source}: default")
    chosen: dict[str, Any] = {}
    missing = []
    for param in params.values():  # in order, as the space resolves its conditions
        if not param.active(chosen):
            continue
        if param.type == "fixed":
            chosen[param.name] = param.value
        elif param.name in config:
            chosen[param.name] = config[param.name]
        else:
            missing.append(param.name)
    if missing:
        raise BenchInputError(f"{source}: default leaves {', '.join(missing)} unset; give each a value in its domain")
    return config


def _parse_start(raw: Any, params: dict[str, Param], source: str) -> tuple[dict[str, Any], ...]:
    """Check each start configuration against the space: known, searched, active, in range."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise BenchInputError(f"{source}: 'start' must be a list of mappings of parameter values")
    return tuple(_check_config(config, params, f"{source}: start[{index}]") for index, config in enumerate(raw))


def _check_config(config: dict[Any, Any], params: dict[str, Param], where: str) -> dict[str, Any]:
    """``config`` if every value names a searched parameter, lies in its domain and exists under
    the values chosen before it (conditions resolved in the space's order)."""
    chosen: dict[str, Any] = {}
    for name, value in config.items():
        param = params.get(str(name))
        if param is None or param.type == "fixed":
            searched = [p.name for p in params.values() if p.type != "fixed"]
            raise BenchInputError(f"{where}: {name!r} is not a searched parameter; valid: {', '.join(searched)}")
        if not param.admits(value):
            domain = list(param.choices) if param.type == "categorical" else f"{param.low:g} to {param.high:g}"
            raise BenchInputError(f"{where}: {name}={value!r} is outside its domain; valid: {domain}")
    for param in params.values():  # conditions, in the order the space resolves them
        if param.name in config:
            if not param.active(chosen):
                raise BenchInputError(f"{where}: {param.name!r} only exists when {param.when}")
            chosen[param.name] = config[param.name]
        elif param.type == "fixed" and param.active(chosen):
            chosen[param.name] = param.value
    return {str(k): v for k, v in config.items()}


def default_space_dir() -> Path:
    """The shipped spaces: ``bench/search_spaces`` in an installed wheel (pyproject maps the
    top-level folder there), the repository's ``search_spaces/`` when run from a checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "search_spaces"
    return installed if installed.is_dir() else package.parent / "search_spaces"


def space_path(family: str, space_dir: Path | None = None) -> Path:
    """Where a family's YAML lives: ``space_dir`` if given, else the files shipped with bench."""
    return Path(space_dir or default_space_dir()) / f"{family}.yaml"


def declared_parameters(family: str) -> tuple[str, ...]:
    """The parameter names the registered ``family`` declares (its ``hyperparameters``), in order."""
    from bench.families import create_family  # here: the families import scikit-learn

    return tuple(create_family(family).declared())


def load_space(family: str, space_dir: Path | None = None) -> SearchSpace:
    """Read and validate ``search_spaces/<family>.yaml``: a registered family's space, naming
    only the parameters it declares."""
    path = space_path(family, space_dir)
    try:
        text = read_text(path)  # a regular file of bounded size: a FIFO would hang a plain read
    except OSError as exc:
        raise BenchInputError(f"cannot read the search space for {family!r} at {path}: {exc.strerror}") from None
    return parse_space(text, family, str(path), declared=declared_parameters(family))
