"""Multinomial logistic regression: the linear baseline every comparison starts from."""

from __future__ import annotations

from typing import Any, ClassVar

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from bench.families.base import Family, Hyperparameter, register_family
from bench.families.preprocess import PREPROCESSING, preprocessing_steps


@register_family
class LogReg(Family):
    name = "logreg"
    description = "L2-regularised multinomial logistic regression (lbfgs)"
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = (
        *PREPROCESSING,
        Hyperparameter("C", float, 1.0, "LogisticRegression(C=1.0)"),
        Hyperparameter("max_iter", int, 100, "LogisticRegression(max_iter=100)"),
        Hyperparameter("tol", float, 1e-4, "LogisticRegression(tol=1e-4)"),
    )

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Pipeline:
        model = LogisticRegression(
            C=params.get("C", 1.0),
            max_iter=int(params.get("max_iter", 100)),  # absent: LogisticRegression()'s own
            tol=params.get("tol", 1e-4),
            solver="lbfgs",
            random_state=seed,
        )
        return Pipeline([*preprocessing_steps(params, seed), ("model", model)])
