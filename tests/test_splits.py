"""The search never sees a test row: its folds are cut from the training data only."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import fields

import numpy as np

from bench.datasets import get_dataset
from bench.searchdata import Fold, SearchData, prepare_data


def _row_hashes(X: np.ndarray) -> Counter:
    return Counter(hashlib.sha1(row.tobytes()).hexdigest() for row in X)


def test_search_data_is_exactly_the_training_data() -> None:
    loaded = get_dataset("digits").load()
    search, final = prepare_data(loaded, None, 0.2)
    assert search.validation == "5-fold CV"  # 1,437 images: cross-validated
    for fold in search.folds:
        assert _row_hashes(fold.X_fit) + _row_hashes(fold.X_val) == _row_hashes(loaded.X_train)
    validated = sum((_row_hashes(fold.X_val) for fold in search.folds), Counter())
    assert validated == _row_hashes(loaded.X_train)  # each training row validated exactly once
    # The test set is handed over only to the refit, unchanged.
    assert final.X_test is loaded.X_test


def test_search_data_carries_no_test_field() -> None:
    assert {f.name for f in fields(SearchData)} == {"folds", "validation"}
    assert {f.name for f in fields(Fold)} == {"X_fit", "y_fit", "X_val", "y_val"}


def test_split_is_fixed_and_stratified() -> None:
    loaded = get_dataset("digits").load()
    a, _ = prepare_data(loaded, None, 0.2)
    b, _ = prepare_data(loaded, None, 0.2)
    for fa, fb in zip(a.folds, b.folds):
        assert np.array_equal(fa.y_val, fb.y_val) and np.array_equal(fa.X_fit, fb.X_fit)
        val_share = np.bincount(fa.y_val) / len(fa.y_val)
        assert np.abs(val_share - np.bincount(loaded.y_train) / len(loaded.y_train)).max() < 0.01


def test_train_size_subsamples_training_only() -> None:
    loaded = get_dataset("digits").load()
    search, final = prepare_data(loaded, 500, 0.2)
    assert all(len(f.y_fit) + len(f.y_val) == 500 for f in search.folds) and len(final.y_train) == 500
    assert len(final.y_test) == len(loaded.y_test)
