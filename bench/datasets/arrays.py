"""A user's images and labels, checked and turned into a :class:`LoadedDataset`.

Every format a path may hold (IDX folder, image folder, ``.npz``) ends here, so the checks they
share live in one place: image shapes and value ranges, label types, at least two classes, no
test label unseen in training; and the per-image SHA-256 digests duplicates are counted from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.datasets.base import LoadedDataset
from bench.errors import BenchInputError
from bench.safe_io import MAX_CLASSES

#: Channels an image array may have last: grey, grey + alpha, colour, colour + alpha.
CHANNELS = (1, 2, 3, 4)


def _listed(values: Sequence[Any], most: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:most])
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")


def check_images(X: np.ndarray, what: str) -> np.ndarray:
    """``X`` as (n, channels, height, width): uint8 0-255 stays uint8, float 0-1 becomes float32;
    other integer types must hold 0-255. An alpha channel is dropped."""
    if X.dtype == object or X.dtype.kind not in "uif":
        raise BenchInputError(f"{what} holds {X.dtype} values; images must be uint8 0-255 or float 0-1")
    if X.ndim not in (3, 4) or (X.ndim == 4 and X.shape[3] not in CHANNELS):
        raise BenchInputError(
            f"{what} has shape {X.shape}; images must be (n, height, width) or (n, height, width, channels) "
            f"with {', '.join(map(str, CHANNELS))} channels"
        )
    if len(X) == 0 or min(X.shape[1:3]) == 0:
        raise BenchInputError(f"{what} holds no images (shape {X.shape})")
    X = X[..., None] if X.ndim == 3 else X
    X = X[..., :3] if X.shape[3] == 4 else X[..., :1] if X.shape[3] == 2 else X
    if X.dtype.kind == "f":
        if not np.isfinite(X).all() or X.min() < 0 or X.max() > 1:
            raise BenchInputError(f"{what} holds float values outside 0-1 (or NaN); float images must be scaled to 0-1")
        X = X.astype(np.float32, copy=False)
    elif X.dtype != np.uint8:
        if X.min() < 0 or X.max() > 255:
            raise BenchInputError(f"{what} holds {X.dtype} values outside 0-255; integer images must be 0-255")
        X = X.astype(np.uint8)
    return np.ascontiguousarray(X.transpose(0, 3, 1, 2))


def check_labels(y: np.ndarray, n: int, what: str) -> np.ndarray:
    """Labels as a 1-D array of integers or text, one per image."""
    if y.dtype.kind not in "iuUS":
        raise BenchInputError(f"{what} holds {y.dtype} labels; labels must be integers or fixed-width strings")
    if y.ndim != 1 or len(y) != n:
        raise BenchInputError(f"{what} has shape {y.shape}; it must hold one label per image ({n})")
    return np.char.decode(y, "utf-8", "replace") if y.dtype.kind == "S" else y


def encode_labels(y_train: np.ndarray, y_test: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(train codes, test codes, class names): classes are the training labels, sorted."""
    if (y_train.dtype.kind in "iu") != (y_test.dtype.kind in "iu"):
        raise BenchInputError(f"{where}: training labels are {y_train.dtype}, test labels {y_test.dtype}; use one kind")
    classes, counts = np.unique(y_train, return_counts=True)
    if len(classes) < 2:
        raise BenchInputError(f"{where}: a single class ({classes[0]!r}) in training; a classifier needs at least two")
    if len(classes) > MAX_CLASSES:
        raise BenchInputError(f"{where}: {len(classes)} classes; bench handles at most {MAX_CLASSES}")
    lonely = classes[counts < 2]
    if len(lonely):
        raise BenchInputError(
            f"{where}: class {_listed(lonely.tolist())} has a single training image; each class needs at least two"
        )
    unseen = np.setdiff1d(np.unique(y_test), classes)
    if len(unseen):
        raise BenchInputError(
            f"{where}: test labels unseen in training: {_listed(unseen.tolist())}; training has {_listed(classes.tolist(), 10)}"
        )
    names = tuple(str(c) for c in classes.tolist())
    return np.searchsorted(classes, y_train).astype(np.int64), np.searchsorted(classes, y_test).astype(np.int64), names


def image_digests(pixels: np.ndarray) -> np.ndarray:
    """The SHA-256 digest of each image's bytes, as an ``S32`` array (equal digests: equal images)."""
    rows = np.ascontiguousarray(pixels).reshape(len(pixels), -1)
    return np.array([hashlib.sha256(row.data).digest() for row in rows], dtype="S32")


def class_counts(codes: np.ndarray, names: tuple[str, ...]) -> dict[str, int]:
    counts = np.bincount(codes, minlength=len(names))
    return {name: int(count) for name, count in zip(names, counts, strict=True)}


def assemble(
    *,
    name: str,
    source: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    content_sha256: str,
    where: str,
    details: dict[str, Any] | None = None,
) -> LoadedDataset:
    """A :class:`LoadedDataset` from checked (n, c, h, w) pixels and labels, with the manifest's
    fields: path, content checksum, image shape, channels, class counts."""
    (X_train, y_train), (X_test, y_test) = train, test
    if X_train.shape[1:] != X_test.shape[1:]:
        raise BenchInputError(
            f"{where}: training images are {X_train.shape[1:]} (channels, height, width), test images "
            f"{X_test.shape[1:]}; both must have one size"
        )
    codes_train, codes_test, names = encode_labels(y_train, y_test, where)
    channels, height, width = (int(v) for v in X_train.shape[1:])
    scale = 255.0 if X_train.dtype == np.uint8 else 1.0
    return LoadedDataset(
        name=name,
        X_train=X_train.reshape(len(X_train), -1).astype(np.float32) / np.float32(scale),
        y_train=codes_train,
        X_test=X_test.reshape(len(X_test), -1).astype(np.float32) / np.float32(scale),
        y_test=codes_test,
        image_shape=(height, width),
        class_names=names,
        checksums={"content": content_sha256},
        source=source,
        channels=channels,
        details={
            "path": source,
            "content_sha256": content_sha256,
            "channels": channels,
            "class_counts": {"train": class_counts(codes_train, names), "test": class_counts(codes_test, names)},
            **(details or {}),
        },
        train_digests=image_digests(X_train),
        test_digests=image_digests(X_test),
    )
