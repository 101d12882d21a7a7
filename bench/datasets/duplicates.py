"""Leakage control: test images that are exact copies of training images.

They are counted from the per-image SHA-256 digests a user's dataset loader computed while
reading (a registered dataset's are computed here, once per run), recorded in the manifest, and
optionally dropped from the test set (``--drop-test-duplicates``): a test image seen in training
measures memory, not generalisation.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.datasets.arrays import class_counts, image_digests
from bench.datasets.base import LoadedDataset
from bench.errors import BenchInputError


def copies_in_train(loaded: LoadedDataset) -> np.ndarray:
    """A mask over the test images: True where the same pixels occur in training."""
    train = loaded.train_digests if loaded.train_digests is not None else image_digests(loaded.X_train)
    test = loaded.test_digests if loaded.test_digests is not None else image_digests(loaded.X_test)
    return np.isin(test, train)


def with_duplicates(loaded: LoadedDataset, drop: bool = False) -> LoadedDataset:
    """``loaded`` with its duplicate count in ``details["duplicates"]``; with ``drop``, the test
    images that are copies of training images left out of the test set."""
    mask = copies_in_train(loaded)
    count = int(mask.sum())
    if count and drop and count == len(mask):
        raise BenchInputError(
            f"every one of the {count} test images of {loaded.name} is also in its training set; "
            f"--drop-test-duplicates would leave no test set"
        )
    info = {"test_images_in_train": count, "dropped_from_test": count if drop else 0}
    details = {**loaded.details, "duplicates": info}
    if not (drop and count):
        return dataclasses.replace(loaded, details=details)
    keep = ~mask
    if "class_counts" in details:
        details["class_counts"] = {**details["class_counts"], "test": class_counts(loaded.y_test[keep], loaded.class_names)}
    return dataclasses.replace(
        loaded,
        X_test=np.ascontiguousarray(loaded.X_test[keep]),
        y_test=loaded.y_test[keep],
        test_digests=None if loaded.test_digests is None else loaded.test_digests[keep],
        details=details,
    )
