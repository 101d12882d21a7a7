"""An Optuna study rebuilt from the trials table, so Optuna's importance evaluators can run.

Distributions come from the family's search-space YAML (the file the run's manifest names, else
the shipped one); a parameter whose recorded values fall outside it is inferred from the values.

Optuna's evaluators only weigh parameters every trial has, which would drop each conditional
parameter (an SVM's ``gamma``, a network's ``adamw_lr``) and hand its weight to the others, so
:func:`branch_importances` also evaluates each branch of the space's ``when`` conditions alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from bench.errors import BenchInputError
from bench.report.data import param_columns
from bench.safe_io import read_text
from bench.space import Param, SearchSpace, load_space, parse_space

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a rebuilt study is not news


def space_for(family: str, manifests: list[dict[str, Any]]) -> SearchSpace | None:
    """The search space a run used for ``family`` (its manifest's file), else the shipped one."""
    paths = [(m.get("search_spaces") or {}).get(family) for m in manifests]
    for path in [p for p in paths if p]:
        try:
            return parse_space(read_text(Path(path)), family, str(path), require_default=False)  # an older run's file
        except (OSError, BenchInputError):
            continue
    try:
        return load_space(family)
    except BenchInputError:
        return None


def _from_param(param: Param) -> BaseDistribution | None:
    if param.type == "float":
        low, high = param.bounds
        return FloatDistribution(low, high, log=param.log, step=param.step)
    if param.type == "int":
        low, high = param.bounds
        return IntDistribution(int(low), int(high), log=param.log, step=int(param.step or 1))
    if param.type == "categorical":
        return CategoricalDistribution(list(param.choices))
    return None  # fixed: not searched


def _inferred(values: pd.Series) -> BaseDistribution | None:
    values = values.dropna()
    if values.nunique() < 2:
        return None
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        low, high = float(values.min()), float(values.max())
        log = low > 0 and high / low >= 100
        if (values == values.round()).all():
            return IntDistribution(int(low), int(high), log=log)
        return FloatDistribution(low, high, log=log)
    return CategoricalDistribution(sorted(values.astype(str).unique().tolist()))


def _native(distribution: BaseDistribution, value: Any) -> Any:
    """A table value (numbers come back as floats, categories may come back as text) for Optuna."""
    if isinstance(distribution, IntDistribution):
        return round(float(value))
    if isinstance(distribution, FloatDistribution):
        return float(value)
    if isinstance(distribution, CategoricalDistribution):
        for choice in distribution.choices:
            if choice == value or str(choice) == str(value):
                return choice
    raise ValueError(value)


def _covers(distribution: BaseDistribution, values: pd.Series) -> bool:
    try:
        from bench.compat import distribution_contains

        return all(distribution_contains(distribution, _native(distribution, v)) for v in values.dropna())
    except (ValueError, TypeError):
        return False


def distributions(trials: pd.DataFrame, space: SearchSpace | None) -> dict[str, BaseDistribution]:
    """One Optuna distribution per searched parameter of ``trials`` (fixed ones left out)."""
    declared = {p.name: p for p in space.params} if space else {}
    out: dict[str, BaseDistribution] = {}
    for column in param_columns(trials):
        name = column.removeprefix("params_")
        param = declared.get(name)
        if param is not None and param.type == "fixed":
            continue
        distribution = _from_param(param) if param is not None else None
        if distribution is None or not _covers(distribution, trials[column]):
            distribution = _inferred(trials[column])
        if distribution is not None:
            out[name] = distribution
    return out


def rebuild_study(trials: pd.DataFrame, space: SearchSpace | None) -> optuna.Study:
    """A maximising in-memory study holding every completed trial of one family."""
    dists = distributions(trials, space)
    study = optuna.create_study(direction="maximize")
    completed = trials[(trials["status"] == "completed") & trials["val_accuracy"].notna()]
    for _, row in completed.iterrows():
        params, used = {}, {}
        for name, distribution in dists.items():
            value = row.get(f"params_{name}")
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            params[name] = _native(distribution, value)
            used[name] = distribution
        study.add_trial(optuna.trial.create_trial(params=params, distributions=used, value=float(row["val_accuracy"])))
    return study


def importances(study: optuna.Study, seed: int = 0, params: list[str] | None = None) -> pd.Series:
    """Seeded fANOVA importances (normalised) of ``params``, by default those every trial has.

    Raises ValueError with the reason when the study is too small to say anything.
    """
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(completed) < 2:
        raise ValueError(f"{len(completed)} completed trial(s); importances need at least 2")
    try:
        scores = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed), params=params)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    if not scores:
        raise ValueError("no parameter was searched in every trial")
    return pd.Series(scores, name="importance").sort_values()


#: Fewer completed trials than this in a branch and its importances are not computed.
MIN_BRANCH_TRIALS = 5
INACTIVE = "(inactive)"
ALL = "all completed trials"


@dataclass(frozen=True)
class Branch:
    """Importances over one set of trials, and which trials those are."""

    label: str  # "all completed trials", "kernel = rbf", ...
    trials: int
    scores: pd.Series  # importance per parameter name, ascending


def condition_parents(space: SearchSpace | None) -> list[str]:
    """Parameters other parameters are conditioned on (``when``), in the space's order."""
    if space is None:
        return []
    named = {parent for p in space.params for parent in p.when}
    return [p.name for p in space.params if p.name in named]


def branches(completed: pd.DataFrame, space: SearchSpace | None) -> list[tuple[str, pd.DataFrame]]:
    """``completed`` split by the values of the condition parents (``kernel = rbf``); without a
    space, by which parameters a trial has. One branch only when nothing is conditional."""
    parents = [p for p in condition_parents(space) if f"params_{p}" in completed]
    if parents:
        chosen = completed[[f"params_{p}" for p in parents]]
        keys = chosen.astype(object).where(chosen.notna(), INACTIVE).astype(str)
        out = []
        for values, group in completed.groupby([keys[c] for c in keys.columns], sort=True):
            values = values if isinstance(values, tuple) else (values,)
            parts = [f"{p} = {v}" for p, v in zip(parents, values, strict=True) if v != INACTIVE]
            out.append((", ".join(parts) or "no condition met", group))
        return out
    sometimes = [c for c in param_columns(completed) if completed[c].isna().any()]
    if not sometimes:
        return [(ALL, completed)]
    present = completed[sometimes].notna()
    out = []
    for pattern, group in completed.groupby([present[c] for c in sometimes], sort=True):
        pattern = pattern if isinstance(pattern, tuple) else (pattern,)
        names = [c.removeprefix("params_") for c, has in zip(sometimes, pattern, strict=True) if has]
        missing = [c.removeprefix("params_") for c in sometimes]
        out.append((f"trials with {', '.join(names)}" if names else f"trials without {', '.join(missing)}", group))
    return out


def _varied(trials: pd.DataFrame, dists: dict[str, BaseDistribution]) -> list[str]:
    """Parameters every one of ``trials`` has, with more than one value among them."""
    return [n for n in dists if trials[f"params_{n}"].notna().all() and trials[f"params_{n}"].astype(str).nunique() > 1]


def _branch(label: str, trials: pd.DataFrame, space: SearchSpace | None, seed: int) -> Branch:
    params = _varied(trials, distributions(trials, space))
    if not params:
        raise ValueError("no parameter varies across these trials")
    return Branch(label, len(trials), importances(rebuild_study(trials, space), seed=seed, params=params))


def branch_importances(
    trials: pd.DataFrame, space: SearchSpace | None, seed: int = 0, min_trials: int = MIN_BRANCH_TRIALS
) -> tuple[list[Branch], list[str]]:
    """Importances over all completed trials (the parameters they share), then within each branch
    of the conditions (its conditional parameters included), and why any branch was left out.

    Raises ValueError when not even the first can be computed.
    """
    completed = trials[(trials["status"] == "completed") & trials["val_accuracy"].notna()]
    if len(completed) < min_trials:
        raise ValueError(f"{len(completed)} completed trial(s); importances need at least {min_trials}")
    found = [_branch(ALL, completed, space, seed)]
    skipped = []
    split = branches(completed, space)
    for label, group in split if len(split) > 1 else []:
        if len(group) < min_trials:
            skipped.append(f"{label}: {len(group)} completed trial(s), fewer than {min_trials}")
            continue
        try:
            found.append(_branch(label, group, space, seed))
        except ValueError as exc:
            skipped.append(f"{label}: {exc}")
    return found, skipped
