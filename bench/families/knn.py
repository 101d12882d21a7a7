"""k-nearest neighbours: no training, all the cost is at prediction time.

Fidelity is the training-set size (see :mod:`bench.families.subsets`): prediction cost grows with it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from bench.families.base import Hyperparameter, register_family
from bench.families.preprocess import PREPROCESSING, preprocessing_steps
from bench.families.subsets import RowFidelity


@register_family
class Knn(RowFidelity):
    name = "knn"
    ceilings: ClassVar[dict[str, int]] = {"n_neighbors": 10_000}
    description = "k-nearest neighbours (Minkowski p=1 or p=2, uniform or distance weights)"
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = (
        *PREPROCESSING,
        Hyperparameter("n_neighbors", int, 5, "KNeighborsClassifier(n_neighbors=5)"),
        Hyperparameter("weights", str, "uniform", "KNeighborsClassifier(weights='uniform')"),
        Hyperparameter("p", int, 2, "KNeighborsClassifier(p=2), the Euclidean distance"),
    )

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Pipeline:
        model = KNeighborsClassifier(
            n_neighbors=int(params.get("n_neighbors", 5)),
            weights=params.get("weights", "uniform"),
            p=int(params.get("p", 2)),
            n_jobs=n_jobs,
        )
        return Pipeline([*preprocessing_steps(params, seed), ("model", model)])
