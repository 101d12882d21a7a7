"""A user's own dataset at a path given to ``--dataset``: an IDX folder, an image folder or an .npz.

Its identity in tables and reports is a display name, the folder's or file's name plus the first
eight hex digits of one SHA-256 over its content (``my_digits-1a2b3c4d``): two folders of the
same name but other content never pool. The manifest keeps the path and the whole checksum.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.datasets.arrays import assemble, check_images, check_labels
from bench.datasets.base import PATH_FORMS, Dataset, LoadedDataset
from bench.datasets.idx_folder import is_idx_folder, read_idx_folder
from bench.datasets.image_folder import is_image_folder, read_image_folder
from bench.datasets.npz import read_npz
from bench.errors import BenchInputError


def display_name(path: Path, content_sha256: str) -> str:
    """``<name>-<8 hex digits>``, in the letters a run folder's name may hold."""
    stem = path.stem if path.suffix == ".npz" else path.name
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")[:40] or "data"
    return f"{stem}-{content_sha256[:8]}"


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    height, width = text.split("x")
    return int(height), int(width)


class CustomDataset(Dataset):
    """The dataset at ``path``; what it holds decides how it is read (see the module)."""

    description = f"a dataset at a path: {PATH_FORMS}"
    image_shape: tuple[int, int] = (0, 0)
    class_names: tuple[str, ...] = ()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = str(path)
        #: "HxW" an image folder's images are resized to (``--image-size``); None: the most common size.
        self.image_size: str | None = None

    def load(self, data_dir: Path | None = None) -> LoadedDataset:
        path = self.path.resolve()
        if not path.exists():
            raise BenchInputError(f"--dataset {self.path}: no such file or folder; give {PATH_FORMS}, or a registered name")
        if path.is_file() and path.suffix.lower() == ".npz":
            train, test, content, details = read_npz(path)
        elif path.is_dir() and is_image_folder(path):
            train, test, content, details = read_image_folder(path, _size(self.image_size))
        elif path.is_dir() and is_idx_folder(path):
            train, test, content, details = read_idx_folder(path)
        else:
            raise BenchInputError(f"--dataset {self.path} is not {PATH_FORMS}")
        where = str(path)
        if self.image_size is not None and f"{train[0].shape[1]}x{train[0].shape[2]}" != self.image_size:
            raise BenchInputError(
                f"--image-size {self.image_size}: only an image folder's images are resized; {self.path} holds "
                f"{train[0].shape[1]}x{train[0].shape[2]} images (leave --image-size out)"
            )
        name = display_name(path, content) + (f"-{self.image_size}" if self.image_size else "")  # resized: other data
        loaded = assemble(
            name=name,
            source=where,
            train=(
                check_images(train[0], f"{where}: training images"),
                check_labels(train[1], len(train[0]), f"{where}: training labels"),
            ),
            test=(check_images(test[0], f"{where}: test images"), check_labels(test[1], len(test[0]), f"{where}: test labels")),
            content_sha256=content,
            where=where,
            details=details,
        )
        self.image_shape, self.class_names = loaded.image_shape, loaded.class_names
        return loaded
