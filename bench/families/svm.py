"""Support vector machines with linear, RBF and polynomial kernels (one conditional space).

Fidelity is the training-set size (see :mod:`bench.families.subsets`): libsvm scales badly with rows.
"""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from bench.families.base import register_family
from bench.families.preprocess import preprocessing_steps
from bench.families.subsets import RowFidelity


@register_family
class Svm(RowFidelity):
    name = "svm"
    description = "SVC with linear, RBF or polynomial kernel (libsvm, one-vs-one)"

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Pipeline:
        kernel = params["kernel"]
        model = SVC(
            C=params["C"],
            kernel=kernel,
            gamma=params.get("gamma", "scale"),
            degree=int(params.get("degree", 3)),
            coef0=params.get("coef0", 0.0),
            cache_size=params.get("cache_size", 500),
            random_state=seed,
        )
        return Pipeline([*preprocessing_steps(params, seed), ("model", model)])
