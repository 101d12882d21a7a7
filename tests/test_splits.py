"""The search never sees a test row: validation is carved out of the training data only."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import fields

import numpy as np

from bench.datasets import get_dataset
from bench.runner import prepare_data
from bench.trial import SearchData


def _row_hashes(X: np.ndarray) -> Counter:
    return Counter(hashlib.sha1(row.tobytes()).hexdigest() for row in X)


def test_search_data_is_exactly_the_training_data() -> None:
    loaded = get_dataset("digits").load()
    search, final = prepare_data(loaded, None, 0.2)
    seen = _row_hashes(search.X_fit) + _row_hashes(search.X_val)
    assert seen == _row_hashes(loaded.X_train)
    assert len(search.y_val) == __import__("math").ceil(0.2 * len(loaded.y_train))  # sklearn rounds up
    # The test set is handed over only to the refit, unchanged.
    assert final.X_test is loaded.X_test


def test_search_data_carries_no_test_field() -> None:
    assert {f.name for f in fields(SearchData)} == {"X_fit", "y_fit", "X_val", "y_val"}


def test_split_is_fixed_and_stratified() -> None:
    loaded = get_dataset("digits").load()
    a, _ = prepare_data(loaded, None, 0.2)
    b, _ = prepare_data(loaded, None, 0.2)
    assert np.array_equal(a.y_val, b.y_val) and np.array_equal(a.X_fit, b.X_fit)
    val_share = np.bincount(a.y_val) / len(a.y_val)
    assert np.abs(val_share - np.bincount(loaded.y_train) / len(loaded.y_train)).max() < 0.01


def test_train_size_subsamples_training_only() -> None:
    loaded = get_dataset("digits").load()
    search, final = prepare_data(loaded, 500, 0.2)
    assert len(search.y_fit) + len(search.y_val) == 500 == len(final.y_train)
    assert len(final.y_test) == len(loaded.y_test)
