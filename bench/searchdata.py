"""What a search and a refit see: folds cut from the training data only, and the test set apart.

Below :data:`CV_BELOW` training images one holdout split says little (on digits' 288 validation
images one image is 0.35 points), so the search scores each configuration by stratified k-fold
cross-validation; above it a fixed stratified holdout keeps trials affordable. Either way the
test set never enters :class:`SearchData`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bench.datasets.splits import SPLIT_SEED, subsample, validation_split
from bench.errors import BenchInputError

if TYPE_CHECKING:
    from bench.datasets import LoadedDataset

#: Training sets smaller than this are scored by k-fold cross-validation.
CV_BELOW = 10_000
#: Folds of that cross-validation.
CV_FOLDS = 5


@dataclass(frozen=True)
class Fold:
    """One fitting part and the validation part scored against it."""

    X_fit: np.ndarray
    y_fit: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


@dataclass(frozen=True)
class SearchData:
    """What a trial may see: folds of the training data. No test."""

    folds: tuple[Fold, ...]
    #: How the search scores: "5-fold CV" or "holdout 20%".
    validation: str

    @property
    def n_train(self) -> int:
        """Training rows the folds are cut from."""
        return len(self.folds[0].y_fit) + len(self.folds[0].y_val)


@dataclass(frozen=True)
class FinalData:
    """The whole (possibly subsampled) training set and the test set, for the refit only."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]


def cv_folds(X: np.ndarray, y: np.ndarray, k: int = CV_FOLDS) -> tuple[Fold, ...]:
    """Stratified k folds with the fixed split seed: every run and family sees the same folds."""
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=SPLIT_SEED)
    return tuple(
        Fold(np.ascontiguousarray(X[fit]), y[fit], np.ascontiguousarray(X[val]), y[val]) for fit, val in splitter.split(X, y)
    )


def prepare_data(loaded: LoadedDataset, train_size: int | None, val_fraction: float) -> tuple[SearchData, FinalData]:
    """Subsample the training data, then cut the search's folds from it; the test set stays apart."""
    if train_size is not None and train_size < 20:
        raise BenchInputError(f"--train-size {train_size} is too small; use at least 20")
    X_train, y_train = subsample(loaded.X_train, loaded.y_train, train_size)
    smallest_class = int(np.unique(np.asarray(y_train), return_counts=True)[1].min()) if len(y_train) else 0
    if len(y_train) < CV_BELOW and smallest_class >= CV_FOLDS:
        search = SearchData(cv_folds(X_train, y_train), f"{CV_FOLDS}-fold CV")
    else:
        X_fit, X_val, y_fit, y_val = validation_split(X_train, y_train, val_fraction)
        search = SearchData((Fold(X_fit, y_fit, X_val, y_val),), f"holdout {round(100 * val_fraction)}%")
    final = FinalData(
        X_train=X_train, y_train=y_train, X_test=loaded.X_test, y_test=loaded.y_test, class_names=loaded.class_names
    )
    return search, final


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` images."""
    if n <= 0 or not math.isfinite(accuracy):
        return math.nan
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / n)
