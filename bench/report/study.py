"""An Optuna study rebuilt from the trials table, so Optuna's importance evaluators can run.

Distributions come from the family's search-space YAML (the file the run's manifest names, else
the shipped one); a parameter whose recorded values fall outside it is inferred from the values.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from bench.errors import BenchInputError
from bench.report.data import param_columns
from bench.space import Param, SearchSpace, load_space, parse_space

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a rebuilt study is not news


def space_for(family: str, manifests: list[dict[str, Any]]) -> SearchSpace | None:
    """The search space a run used for ``family`` (its manifest's file), else the shipped one."""
    paths = [(m.get("search_spaces") or {}).get(family) for m in manifests]
    for path in [p for p in paths if p]:
        try:
            return parse_space(Path(path).read_text(), family, str(path))
        except (OSError, BenchInputError):
            continue
    try:
        return load_space(family)
    except BenchInputError:
        return None


def _from_param(param: Param) -> BaseDistribution | None:
    if param.type == "float":
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if param.type == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log, step=int(param.step or 1))
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
        return int(round(float(value)))
    if isinstance(distribution, FloatDistribution):
        return float(value)
    for choice in distribution.choices:
        if choice == value or str(choice) == str(value):
            return choice
    raise ValueError(value)


def _covers(distribution: BaseDistribution, values: pd.Series) -> bool:
    try:
        return all(distribution._contains(distribution.to_internal_repr(_native(distribution, v))) for v in values.dropna())
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


def importances(study: optuna.Study, seed: int = 0) -> pd.Series:
    """fANOVA importances (normalised, Optuna's default evaluator) of the parameters every trial has.

    Raises ValueError with the reason when the study is too small to say anything.
    """
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(completed) < 2:
        raise ValueError(f"{len(completed)} completed trial(s); importances need at least 2")
    try:
        scores = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    if not scores:
        raise ValueError("no parameter was searched in every trial")
    return pd.Series(scores, name="importance").sort_values()
