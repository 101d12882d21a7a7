"""Build a row's published estimator from its data-file spec: scikit-learn classes only.

A spec is ``{"estimator": "sklearn.svm.SVC", "params": {...}}`` with optional ``steps``
(transformers before it, as ``make_pipeline``) and ``wrap`` (a meta-estimator around it, e.g.
``OneVsRestClassifier`` for the one-vs-rest logistic regression of older releases). Only
classes under ``sklearn.`` that are estimators can be named, so a data file cannot run code.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.pipeline import make_pipeline

from bench.errors import BenchInputError

#: The data files spell parameters as scikit-learn 1.8 does: l1_ratio for the logistic
#: penalty, SGDClassifier(learning_rate="pa1") for the deprecated PassiveAggressiveClassifier.
MIN_SKLEARN = (1, 8)


def check_sklearn(version: str | None = None) -> None:
    """Refuse to reproduce on a scikit-learn too old for the data files' spellings."""
    import sklearn

    version = version or sklearn.__version__
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if found < MIN_SKLEARN:
        needed = ".".join(map(str, MIN_SKLEARN))
        raise BenchInputError(
            f"bench reproduce needs scikit-learn >= {needed} (found {version}); upgrade with pip install -U scikit-learn"
        )


def resolve(path: str) -> type[BaseEstimator]:
    """The scikit-learn estimator class at dotted ``path``."""
    module_name, _, class_name = path.rpartition(".")
    if not module_name.startswith("sklearn.") and module_name != "sklearn":
        raise BenchInputError(f"estimator {path!r} is not a scikit-learn class")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise BenchInputError(f"estimator {path!r} does not exist in this scikit-learn") from None
    if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
        raise BenchInputError(f"{path!r} is not a scikit-learn estimator class")
    return cls


def class_name(path: str) -> str:
    return path.rpartition(".")[2]


def _accepts(path: str, name: str) -> bool:
    return name in inspect.signature(resolve(path).__init__).parameters


def seeded(spec: dict[str, Any], seed: int) -> dict[str, Any]:
    """``spec`` with every unset ``random_state`` set to ``seed``, recorded with the trial.

    Parameters a row spells out (Perceptron's ``random_state=0`` of scikit-learn 0.19) win.
    ``n_jobs`` stays unset (one worker); the task's threadpool limit keeps BLAS to one core.
    """

    def fill(path: str, params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        if "random_state" not in out and _accepts(path, "random_state"):
            out["random_state"] = seed
        return out

    result = {**spec, "params": fill(spec["estimator"], spec.get("params", {}))}
    if spec.get("steps"):
        result["steps"] = [{**s, "params": fill(s["estimator"], s.get("params", {}))} for s in spec["steps"]]
    return result


def _make(path: str, params: dict[str, Any]) -> BaseEstimator:
    cls = resolve(path)
    try:
        return cls(**params)
    except TypeError as exc:
        raise BenchInputError(f"{class_name(path)} does not take these parameters ({exc})") from None


def build(spec: dict[str, Any]) -> BaseEstimator:
    """A fresh, unfitted estimator for ``spec``."""
    model = _make(spec["estimator"], spec.get("params", {}))
    if spec.get("wrap"):
        model = resolve(spec["wrap"])(model)
    if spec.get("steps"):
        model = make_pipeline(*(_make(s["estimator"], s.get("params", {})) for s in spec["steps"]), model)
    return model


def describe(spec: dict[str, Any]) -> str:
    """A readable constructor call for ``spec``, every spelled-out parameter shown."""

    def call(path: str, params: dict[str, Any]) -> str:
        return f"{class_name(path)}({', '.join(f'{k}={v!r}' for k, v in params.items())})"

    text = call(spec["estimator"], spec.get("params", {}))
    if spec.get("wrap"):
        text = f"{class_name(spec['wrap'])}({text})"
    if spec.get("steps"):
        text = f"make_pipeline({', '.join(call(s['estimator'], s.get('params', {})) for s in spec['steps'])}, {text})"
    return text
