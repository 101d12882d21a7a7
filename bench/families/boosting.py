"""LightGBM gradient-boosted trees, fitted round by round so early stopping can act on them.

The estimator builds LightGBM's ``Dataset`` (the feature binning) once and calls
``Booster.update`` for each boosting round, reporting every ``CHUNK`` rounds: continuing the
scikit-learn wrapper with ``init_model`` would re-bin the data at every report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from bench.families.base import Family, Hyperparameter, check_ceiling, chunk_ends, register_family
from bench.families.preprocess import DESKEW, deskew_images

#: Boosting rounds between two reports.
CHUNK = 50
#: Most rounds a configuration may ask for; with ``CHUNK`` it sets the scheduler's horizon.
MAX_ROUNDS = 1500


class StagedLGBMClassifier(ClassifierMixin, BaseEstimator):
    """Multiclass LightGBM with a scikit-learn face; ``fit_rounds`` yields as it boosts.

    >>> model = StagedLGBMClassifier(n_rounds=100, chunk=50)
    >>> # list(model.fit_rounds(X, y)) == [50, 100]; model.predict_proba(X) then works
    """

    def __init__(
        self,
        *,
        n_rounds: int = 100,
        chunk: int = CHUNK,
        learning_rate: float = 0.1,
        num_leaves: int = 31,
        max_depth: int = -1,
        min_child_samples: int = 20,
        colsample: float = 1.0,
        subsample: float = 1.0,
        reg_lambda: float = 0.0,
        max_bin: int = 255,
        deskew: bool = False,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_rounds = n_rounds
        self.chunk = chunk
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.colsample = colsample
        self.subsample = subsample
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.deskew = deskew
        self.seed = seed
        self.n_jobs = n_jobs

    def _params(self, n_classes: int) -> dict[str, Any]:
        return {
            "objective": "multiclass",
            "num_class": n_classes,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.colsample,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1.0 else 0,
            "lambda_l2": self.reg_lambda,
            "max_bin": self.max_bin,
            "num_threads": self.n_jobs,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
        }

    def _features(self, X: np.ndarray) -> np.ndarray:
        return deskew_images(X) if self.deskew else np.asarray(X)

    def fit_rounds(self, X: np.ndarray, y: np.ndarray) -> Iterator[int]:
        """Boost ``n_rounds`` rounds, yielding the rounds done after every ``chunk``."""
        import lightgbm as lgb

        self.classes_, codes = np.unique(y, return_inverse=True)
        params = self._params(len(self.classes_))
        train = lgb.Dataset(self._features(X), label=codes, params=params, free_raw_data=True)
        self.booster_ = lgb.Booster(params=params, train_set=train)
        done = 0
        for end in chunk_ends(self.n_rounds, self.chunk):
            for _ in range(end - done):
                self.booster_.update()
            done = end
            yield done

    def fit(self, X: np.ndarray, y: np.ndarray) -> StagedLGBMClassifier:
        for _ in self.fit_rounds(X, y):
            pass
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "booster_")
        proba = self.booster_.predict(self._features(X), num_threads=self.n_jobs)
        return np.asarray(proba, dtype=np.float64).reshape(len(X), len(self.classes_))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


@register_family
class LightGBM(Family):
    name = "lightgbm"
    description = "LightGBM gradient-boosted trees (leaf-wise), reported every 50 boosting rounds"
    fidelity_unit = "rounds"
    ceilings: ClassVar[dict[str, int]] = {"num_leaves": 4096, "max_bin": 4095, "max_depth": 64}
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = (
        DESKEW,
        Hyperparameter("n_rounds", int, 100, "LGBMClassifier(n_estimators=100)"),
        Hyperparameter("learning_rate", float, 0.1, "LGBMClassifier(learning_rate=0.1)"),
        Hyperparameter("num_leaves", int, 31, "LGBMClassifier(num_leaves=31)"),
        Hyperparameter("max_depth", int, -1, "LGBMClassifier(max_depth=-1): no depth limit"),
        Hyperparameter("min_child_samples", int, 20, "LGBMClassifier(min_child_samples=20)"),
        Hyperparameter("colsample", float, 1.0, "LGBMClassifier(colsample_bytree=1.0): every column"),
        Hyperparameter("subsample", float, 1.0, "LGBMClassifier(subsample=1.0): every row, no bagging"),
        Hyperparameter("regularize", bool, False, "LGBMClassifier(reg_lambda=0.0): no L2 penalty"),
        Hyperparameter("reg_lambda", float, 0.0, "LGBMClassifier(reg_lambda=0.0) (read only when regularize is true)"),
        Hyperparameter("max_bin", int, 255, "LightGBM's max_bin=255"),
    )
    libraries = ("lightgbm",)

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> StagedLGBMClassifier:
        """LightGBM's default has no L2 penalty; the space's ``regularize`` switch (then
        ``reg_lambda`` on a log scale) makes that 0 a point of it."""
        import lightgbm  # noqa: F401  (load its OpenMP runtime now, so the trial's thread limits reach it)

        return StagedLGBMClassifier(
            n_rounds=self.max_fidelity(params),
            learning_rate=float(params.get("learning_rate", 0.1)),
            num_leaves=int(params.get("num_leaves", 31)),
            max_depth=int(params.get("max_depth", -1)),
            min_child_samples=int(params.get("min_child_samples", 20)),
            colsample=float(params.get("colsample", 1.0)),
            subsample=float(params.get("subsample", 1.0)),
            reg_lambda=float(params.get("reg_lambda", 0.0)) if params.get("regularize", True) else 0.0,
            max_bin=int(params.get("max_bin", 255)),
            deskew=bool(params.get("deskew", False)),
            seed=seed,
            n_jobs=n_jobs,
        )

    def max_steps(self) -> int:
        return len(chunk_ends(MAX_ROUNDS, CHUNK))

    def planned_steps(self, params: dict[str, Any]) -> int:
        return len(chunk_ends(self.max_fidelity(params), CHUNK))

    def max_fidelity(self, params: dict[str, Any]) -> int:
        return check_ceiling(self.name, "n_rounds", int(params.get("n_rounds", 100)), MAX_ROUNDS)

    def fit_stages(self, model: StagedLGBMClassifier, X: np.ndarray, y: np.ndarray) -> Iterator[int]:
        yield from model.fit_rounds(X, y)
