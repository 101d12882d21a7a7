"""The published protocols' data: raw integer pixels once, then each row's split and scaling.

Published baselines differ in what they feed a classifier (raw 0-255 pixels, X/255 as float32,
StandardScaler output, digits' 0-16 values), so the driver ships the raw integer pixels into
the object store once and every task derives its own arrays from them, deterministically
from the protocol and the repeat's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle

from bench.errors import BenchInputError


@dataclass(frozen=True)
class RawData:
    """Integer pixel values as the dataset stores them, official split kept apart when it exists."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    max_value: int
    image_shape: tuple[int, int]
    class_names: tuple[str, ...]
    checksums: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def has_official_split(self) -> bool:
        return len(self.y_test) > 0

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """Train then test, as fetch_openml("mnist_784") orders the 70,000 digits."""
        return np.concatenate([self.X_train, self.X_test]), np.concatenate([self.y_train, self.y_test])


@dataclass(frozen=True)
class Split:
    """The arrays one repeat fits and scores; ``train_index`` points into the pooled rows."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray
    raw_train: np.ndarray


def to_raw_pixels(X: np.ndarray, max_value: int = 255) -> np.ndarray:
    """Undo the loader's ``uint8 / 255`` scaling exactly; refuse data that was not scaled so."""
    raw = np.rint(X.astype(np.float64) * max_value)
    if raw.min() < 0 or raw.max() > max_value:
        raise BenchInputError(f"pixels outside [0, 1] after loading; cannot recover 0-{max_value} values")
    pixels = raw.astype(np.uint8)
    if not np.array_equal((pixels.astype(np.float32) / np.float32(max_value)).astype(X.dtype), X):
        raise BenchInputError(f"loaded pixels are not exact multiples of 1/{max_value}; cannot recover raw values")
    return pixels


def load_raw(dataset: str, data_dir: Path | None = None) -> RawData:
    """Raw integer pixels of ``dataset``: digits from scikit-learn, MNIST-like sets from IDX files."""
    if dataset == "digits":
        import hashlib

        from sklearn.datasets import load_digits

        raw = load_digits()
        X = raw.data.astype(np.uint8)
        if not np.array_equal(X, raw.data):
            raise BenchInputError("load_digits() returned non-integer values")
        digest = hashlib.sha256(X.tobytes() + raw.target.astype(np.uint8).tobytes()).hexdigest()
        empty = np.empty((0, X.shape[1]), dtype=np.uint8)
        return RawData(
            name="digits",
            X_train=X,
            y_train=raw.target.astype(np.int64),
            X_test=empty,
            y_test=np.empty(0, dtype=np.int64),
            max_value=16,
            image_shape=(8, 8),
            class_names=tuple(str(i) for i in range(10)),
            checksums={"load_digits(data+target)": digest},
            source="sklearn.datasets.load_digits",
        )
    from bench.datasets import get_dataset

    loaded = get_dataset(dataset).load(data_dir)
    return RawData(
        name=loaded.name,
        X_train=to_raw_pixels(loaded.X_train),
        y_train=loaded.y_train,
        X_test=to_raw_pixels(loaded.X_test),
        y_test=loaded.y_test,
        max_value=255,
        image_shape=loaded.image_shape,
        class_names=loaded.class_names,
        checksums=loaded.checksums,
        source=loaded.source,
    )


def check_protocol(protocol: dict[str, Any], dataset: str, has_official_split: bool) -> None:
    """Fail before any compute when a protocol cannot apply to ``dataset``."""
    if protocol.get("split") == "official" and not has_official_split:
        raise BenchInputError(f"dataset {dataset!r} has no official split; a protocol for it needs split 'head' or 'pooled'")
    if protocol.get("split") == "pooled" and "test_size" not in protocol:
        raise BenchInputError("protocol split 'pooled' needs test_size")
    if protocol.get("split") == "head" and "train_fraction" not in protocol:
        raise BenchInputError("protocol split 'head' needs train_fraction")


def split(data: RawData, protocol: dict[str, Any], seed: int) -> Split:
    """Split, shuffle and scale ``data`` as ``protocol`` says, with ``seed`` for the random parts."""
    kind = protocol.get("split", "official")
    if kind == "official":
        X_tr, y_tr, X_te, y_te = data.X_train, data.y_train, data.X_test, data.y_test
        idx_tr = np.arange(len(y_tr))
    else:
        X, y = data.pooled()
        index = np.arange(len(y))
        if kind == "pooled":
            X_tr, X_te, y_tr, y_te, idx_tr, _ = train_test_split(
                X, y, index, test_size=protocol["test_size"], random_state=seed, shuffle=True
            )
        elif kind == "head":
            n_train = int(protocol["train_fraction"] * len(y))
            X_tr, X_te, y_tr, y_te, idx_tr = X[:n_train], X[n_train:], y[:n_train], y[n_train:], index[:n_train]
        else:
            raise BenchInputError(f"unknown protocol split {kind!r}; valid splits: official, pooled, head")
    if protocol.get("shuffle_train", False):
        X_tr, y_tr, idx_tr = shuffle(X_tr, y_tr, idx_tr, random_state=seed)
    raw_train = X_tr
    X_tr, X_te = scale(X_tr, X_te, protocol.get("scaling", "raw"), protocol.get("dtype", "float64"), data.max_value)
    return Split(X_train=X_tr, y_train=y_tr, X_test=X_te, y_test=y_te, train_index=idx_tr, raw_train=raw_train)


def scale(X_train: np.ndarray, X_test: np.ndarray, scaling: str, dtype: str, max_value: int) -> tuple[np.ndarray, np.ndarray]:
    """raw: stored values; unit: divided by their maximum (X/255, X/16); standard: StandardScaler fit on train."""
    X_train, X_test = X_train.astype(dtype), X_test.astype(dtype)
    if scaling == "raw":
        return X_train, X_test
    if scaling == "unit":
        return X_train / X_train.dtype.type(max_value), X_test / X_test.dtype.type(max_value)
    if scaling == "standard":
        scaler = StandardScaler().fit(X_train)
        return scaler.transform(X_train), scaler.transform(X_test)
    raise BenchInputError(f"unknown protocol scaling {scaling!r}; valid: raw, unit, standard")
