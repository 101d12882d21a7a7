"""Support vector machines with linear, RBF and polynomial kernels (one conditional space).

Fidelity is the training-set size (see :mod:`bench.families.subsets`): libsvm scales badly with rows.

The space searches gamma relative to scikit-learn's ``gamma='scale'`` (``gamma_factor``): the
scale value, 1 / (n_features * X.var()), follows the data (64 or 784 pixels, PCA or not), so a
factor range transfers across datasets where an absolute gamma range does not, and factor 1 is
exactly ``SVC()``'s default.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from bench.families.base import Hyperparameter, register_family
from bench.families.preprocess import PREPROCESSING, preprocessing_steps
from bench.families.subsets import RowFidelity


def scale_gamma(X: Any) -> float:
    """scikit-learn's ``gamma='scale'`` for dense ``X``, computed as ``SVC.fit`` does (on float64)."""
    X = np.asarray(X, dtype=np.float64)
    variance = X.var()
    return 1.0 / (X.shape[1] * variance) if variance != 0 else 1.0


class ScaledGammaSVC(SVC):
    """``SVC`` whose kernel coefficient is ``gamma_factor`` times the ``'scale'`` value of the data
    it is fitted on (after the pipeline's preprocessing); ``gamma_factor=1`` is ``SVC()`` exactly.

    Only ``fit`` differs: it sets ``gamma`` (here a fitted value, not a parameter) before libsvm
    runs, so prediction, ``n_support_`` and every other attribute are SVC's own.

    >>> ScaledGammaSVC(gamma_factor=2.0).fit(X, y).gamma == 2.0 * scale_gamma(X)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        gamma_factor: float = 1.0,
        C: float = 1.0,
        kernel: str = "rbf",
        degree: int = 3,
        coef0: float = 0.0,
        cache_size: float = 200,
        random_state: int | None = None,
    ) -> None:
        super().__init__(C=C, kernel=kernel, degree=degree, coef0=coef0, cache_size=cache_size, random_state=random_state)
        self.gamma_factor = gamma_factor

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ScaledGammaSVC:
        if not float(self.gamma_factor) > 0:
            raise ValueError(f"gamma_factor must be positive, got {self.gamma_factor!r}")
        self.gamma = float(self.gamma_factor) * scale_gamma(X)
        return super().fit(X, y, sample_weight)


@register_family
class Svm(RowFidelity):
    name = "svm"
    parallel_fit = False  # libsvm's solver runs on one core
    ceilings: ClassVar[dict[str, int]] = {"cache_size": 8192, "degree": 10}  # libsvm cache in MB
    description = "SVC with linear, RBF or polynomial kernel (libsvm, one-vs-one)"
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = (
        *PREPROCESSING,
        Hyperparameter("kernel", str, "rbf", "SVC(kernel='rbf')"),
        Hyperparameter("C", float, 1.0, "SVC(C=1.0)"),
        Hyperparameter("gamma_factor", float, 1.0, "SVC(gamma='scale'), 1 / (n_features * X.var()) of the data the SVM sees"),
        Hyperparameter(
            "gamma", (float, str), None, "unset: gamma_factor sets gamma; an absolute gamma (older spaces) replaces it"
        ),
        Hyperparameter("degree", int, 3, "SVC(degree=3)"),
        Hyperparameter("coef0", float, 0.0, "SVC(coef0=0.0)"),
        Hyperparameter(
            "cache_size", float, 500, "SVC()'s model: libsvm's kernel cache in MB changes speed only (SVC's own is 200)"
        ),
    )

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Pipeline:
        """An absolute ``gamma`` (older spaces, hand-made configurations) is passed as is;
        otherwise ``gamma_factor`` (1 when absent, as for the linear kernel) scales 'scale'."""
        shared = {
            "C": params["C"],
            "kernel": params["kernel"],
            "degree": int(params.get("degree", 3)),
            "coef0": params.get("coef0", 0.0),
            "cache_size": params.get("cache_size", 500),  # speed only: libsvm's kernel cache in MB
            "random_state": seed,
        }
        if "gamma" in params:
            model: SVC = SVC(gamma=params["gamma"], **shared)
        else:
            model = ScaledGammaSVC(gamma_factor=float(params.get("gamma_factor", 1.0)), **shared)
        return Pipeline([*preprocessing_steps(params, seed), ("model", model)])
