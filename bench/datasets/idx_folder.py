"""A folder of IDX files named like MNIST's, of any image size and class count (KMNIST ships so).

``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte``, each optionally ``.gz`` (``test-`` may stand for ``t10k-``). The
content checksum is one SHA-256 over the four decompressed files' names and digests.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bench.datasets.idx import parse_idx, read_bytes, sha256
from bench.errors import BenchInputError

#: Role -> the file names that fill it, first found wins.
ROLES = {
    "train-images": ("train-images-idx3-ubyte",),
    "train-labels": ("train-labels-idx1-ubyte",),
    "test-images": ("t10k-images-idx3-ubyte", "test-images-idx3-ubyte"),
    "test-labels": ("t10k-labels-idx1-ubyte", "test-labels-idx1-ubyte"),
}


def find(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def is_idx_folder(folder: Path) -> bool:
    return any(find(folder, stems) for stems in ROLES.values())


def read_idx_folder(folder: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str, dict[str, object]]:
    """((X_train, y_train), (X_test, y_test), content SHA-256, manifest details) of an IDX folder."""
    paths = {role: find(folder, stems) for role, stems in ROLES.items()}
    missing = [ROLES[role][0] for role, path in paths.items() if path is None]
    if missing:
        raise BenchInputError(f"IDX folder {folder} lacks {', '.join(missing)} (each may be .gz)")
    found = {role: path for role, path in paths.items() if path is not None}
    digest = hashlib.sha256()
    arrays: dict[str, np.ndarray] = {}
    for role, path in found.items():
        data = read_bytes(path)
        digest.update(f"{role}\0{sha256(data)}\n".encode())
        arrays[role] = parse_idx(data, path)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}-images"], arrays[f"{split}-labels"]
        if labels.ndim != 1 or len(labels) != len(images):
            raise BenchInputError(
                f"{found[f'{split}-labels']} holds {labels.shape} labels for {len(images)} images in {found[f'{split}-images']}"
            )
    details: dict[str, object] = {"format": "IDX folder", "files": {role: str(path) for role, path in found.items()}}
    return (
        (arrays["train-images"], arrays["train-labels"]),
        (arrays["test-images"], arrays["test-labels"]),
        digest.hexdigest(),
        details,
    )
