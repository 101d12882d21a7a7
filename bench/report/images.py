"""The dataset's images for the report, loaded by the name a run's manifest records.

Images are not stored in the run folder, so the report loads the dataset again (digits is
embedded; MNIST-like sets come from the run's ``--data-dir`` or the usual lookup). When that
fails the report says why instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchInputError
from bench.report.data import dataset_name


@dataclass(frozen=True)
class Images:
    """Train and test images shaped (n, height, width), labels, and class names."""

    train: np.ndarray
    train_labels: np.ndarray
    test: np.ndarray
    class_names: tuple[str, ...]


@lru_cache(maxsize=4)
def _load(name: str, data_dir: str | None) -> Images:
    from bench.datasets import get_dataset

    loaded = get_dataset(name).load(Path(data_dir) if data_dir else None)
    shape = tuple(loaded.image_shape)
    return Images(
        train=np.asarray(loaded.X_train).reshape(-1, *shape),
        train_labels=np.asarray(loaded.y_train),
        test=np.asarray(loaded.X_test).reshape(-1, *shape),
        class_names=tuple(str(c) for c in loaded.class_names),
    )


def load_images(manifests: list[dict[str, Any]], dataset: str) -> Images | str:
    """The images of ``dataset``, or the reason they could not be loaded (shown on the page)."""
    data_dirs = [(m.get("options") or {}).get("data_dir") for m in manifests if dataset_name(m) == dataset]
    reason = f"dataset {dataset!r} could not be loaded"
    for data_dir in dict.fromkeys([*data_dirs, None]):
        try:
            return _load(dataset, data_dir)
        except (BenchInputError, OSError, ValueError) as exc:
            reason = f"images of {dataset!r} unavailable: {exc}"
    return reason


def sample_per_class(images: Images, per_class: int = 3) -> tuple[np.ndarray, list[int]]:
    """The first ``per_class`` training images of every class, ordered by class."""
    picks = [i for label in np.unique(images.train_labels) for i in np.flatnonzero(images.train_labels == label)[:per_class]]
    return images.train[picks], [int(images.train_labels[i]) for i in picks]
