"""The fixed splits of a run: subsample, then carve validation out of the training data.

The test set never enters these functions: it is scored once per family, after the search.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

#: Validation and subsampling use this seed whatever the run's ``--seed``, so every run and
#: every family of a dataset is searched against the same validation rows.
SPLIT_SEED = 0


def subsample(X: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A stratified subset of ``n`` rows (all rows when ``n`` is None or not smaller)."""
    if n is None or n >= len(y):
        return X, y
    X_sub, _, y_sub, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=SPLIT_SEED)
    return X_sub, y_sub


def validation_split(X: np.ndarray, y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (X_fit, X_val, y_fit, y_val) from the training data only."""
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=fraction, stratify=y, random_state=SPLIT_SEED)
    return np.ascontiguousarray(X_fit), np.ascontiguousarray(X_val), y_fit, y_val
