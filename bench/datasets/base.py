"""The dataset contract: a registry entry that loads official train/test arrays."""

from __future__ import annotations

import contextvars
import fnmatch
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchInputError


@dataclass(frozen=True)
class LoadedDataset:
    """Official train/test arrays, pixels scaled to [0, 1] as float32, labels as int64.

    A row holds one image, channel-first (``channels`` x height x width) when it has colour.
    ``details`` are the manifest's extra dataset fields (a user's dataset: path, content checksum,
    class counts, duplicates); ``train_digests``/``test_digests`` are the per-image SHA-256 digests
    a loader computed while reading (None: computed when needed, see ``duplicates``).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int]
    class_names: tuple[str, ...]
    checksums: dict[str, str] = field(default_factory=dict)
    source: str = ""
    channels: int = 1
    details: dict[str, Any] = field(default_factory=dict)
    train_digests: np.ndarray | None = field(default=None, repr=False)
    test_digests: np.ndarray | None = field(default=None, repr=False)


class Dataset(ABC):
    """A named dataset. Subclasses set the class attributes and implement :meth:`load`."""

    name: str
    description: str
    image_shape: tuple[int, int]
    class_names: tuple[str, ...]
    #: Fraction of the (possibly subsampled) training data held out for validation.
    val_fraction: float = 1 / 6

    @abstractmethod
    def load(self, data_dir: Path | None = None) -> LoadedDataset:
        """Return the official split; ``data_dir`` is the user's ``--data-dir``, if any."""


_DATASETS: dict[str, type[Dataset]] = {}


def register_dataset(cls: type[Dataset]) -> type[Dataset]:
    """Class decorator: make a dataset available by its ``name``."""
    if cls.name in _DATASETS:
        raise ValueError(f"dataset {cls.name!r} registered twice")
    _DATASETS[cls.name] = cls
    return cls


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching a shell-style wildcard, sorted."""
    return sorted(n for n in _DATASETS if fnmatch.fnmatch(n, pattern))


#: What ``--dataset`` takes besides a registered name.
PATH_FORMS = "a folder of IDX files, an image folder (train/<class>/*, test/<class>/*) or an .npz file"


def is_path(name: str) -> bool:
    """Whether ``--dataset name`` means a path: a registered name never does; a name with a
    path separator, or one that exists on disk, does."""
    if name in _DATASETS:
        return False
    return "/" in name or (os.sep in name) or os.path.exists(name)


def get_dataset(name: str) -> Dataset:
    """Instantiate a registered dataset, or a user's dataset at a path (see :data:`PATH_FORMS`),
    or fail with the list of valid names."""
    if isinstance(name, str) and is_path(name):
        from bench.datasets.custom import CustomDataset

        return CustomDataset(Path(name))
    try:
        return _DATASETS[name]()
    except (KeyError, TypeError):  # TypeError: a name that is not text (from a crafted manifest)
        raise BenchInputError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(list_datasets())}, or a path to {PATH_FORMS}"
        ) from None


#: Why downloads are off in this context (None: they are allowed).
_NO_DOWNLOADS: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_no_downloads", default=None)


@contextmanager
def no_downloads(reason: str) -> Iterator[None]:
    """Within the block, a dataset that is not on disk is an error (naming ``reason``), never a
    download: ``bench report`` reads what is here and fetches nothing."""
    token = _NO_DOWNLOADS.set(reason)
    try:
        yield
    finally:
        _NO_DOWNLOADS.reset(token)


def downloads_refused() -> str | None:
    """The reason downloads are off here, or None when a dataset may be downloaded."""
    return _NO_DOWNLOADS.get()
