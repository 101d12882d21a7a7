"""scikit-learn's 8x8 digits: shipped inside scikit-learn, so it needs no network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from bench.datasets.base import Dataset, LoadedDataset, register_dataset

#: digits has no official split; this one is fixed and documented: stratified 80/20, seed 0.
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@register_dataset
class Digits(Dataset):
    name = "digits"
    description = "scikit-learn's 8x8 digits (1,797 images, values 0-16), stratified 80/20 split"
    image_shape = (8, 8)
    class_names = tuple(str(i) for i in range(10))
    val_fraction = 0.2

    def load(self, data_dir: Path | None = None) -> LoadedDataset:
        raw = load_digits()
        X = (raw.data / 16.0).astype(np.float32)
        y = raw.target.astype(np.int64)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
        digest = hashlib.sha256(raw.data.astype(np.uint8).tobytes() + raw.target.astype(np.uint8).tobytes())
        return LoadedDataset(
            name=self.name,
            X_train=X_train,
            y_train=y_train,
            X_test=X_test,
            y_test=y_test,
            image_shape=self.image_shape,
            class_names=self.class_names,
            checksums={"load_digits(data+target)": digest.hexdigest()},
            source="sklearn.datasets.load_digits",
        )
