"""An image folder, ``train/<class>/*`` and ``test/<class>/*``, read with Pillow.

Files are read once: their bytes are hashed (the folder's content checksum is one SHA-256 over
every file's path and digest, in the rows' order) and decoded from the same buffer. Images are grey
unless one has colour; images of other sizes than the most common one are resized to it (the
manifest says how many). A folder without ``test/`` gets a fixed stratified split, as digits.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from bench.errors import BenchInputError
from bench.safe_io import MiB, human

SPLITS = ("train", "test")
#: The largest image file read, and the most pixels an image may declare (Pillow's bomb check is
#: a warning below twice its own limit).
MAX_IMAGE_FILE_BYTES = 64 * MiB
MAX_IMAGE_PIXELS = 4096 * 4096
#: Pillow modes read as grey; anything else is read as RGB (alpha dropped).
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")
#: A folder without test/: this fraction of each class is the test set, split with this seed.
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass
class Split:
    """One split's decoded images, (h, w) or (h, w, 3), and their class names."""

    images: list[np.ndarray] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def is_image_folder(path: Path) -> bool:
    return (path / "train").is_dir()


def _visible(folder: Path) -> list[os.DirEntry[str]]:
    """Entries of ``folder`` by name, hidden ones (``.DS_Store``) left out."""
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _read(entry: os.DirEntry[str]) -> bytes:
    if not entry.is_file():
        kind = "a folder" if entry.is_dir() else "not a regular file"
        raise BenchInputError(f"{entry.path} is {kind}; a class folder holds image files only")
    try:
        with open(entry.path, "rb") as fh:
            data = fh.read(MAX_IMAGE_FILE_BYTES + 1)
    except OSError as exc:
        raise BenchInputError(f"{entry.path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise BenchInputError(f"{entry.path} is larger than {human(MAX_IMAGE_FILE_BYTES)}, the most bench reads from an image")
    return data


def decode(data: bytes, path: str) -> np.ndarray:
    """Pixels of one image file as uint8 (h, w) for grey or (h, w, 3) for colour."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise BenchInputError(
                    f"{path} is {image.width}x{image.height} pixels; bench reads images of at most {MAX_IMAGE_PIXELS} pixels"
                )
            mode = "L" if image.mode in GREY_MODES else "RGB"
            pixels = np.asarray(image if image.mode == mode else image.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        if isinstance(exc, UnidentifiedImageError):
            detail = "not a format Pillow knows"
        else:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BenchInputError(f"{path} is not an image Pillow can read ({detail})") from None
    if pixels.ndim == 3 and (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 0] == pixels[..., 2]).all():
        return pixels[..., 0]  # grey stored as RGB
    return pixels


def natural_key(name: str) -> list[int | str]:
    """Sort key reading the numbers in a name as numbers: ``2.png`` before ``10.png``."""
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def read_split(root: Path, split: str, digest: hashlib._Hash) -> Split:
    """Every image of ``root/split``, in file-name order (numbers as numbers, then class), so a
    folder exported with running numbers keeps its rows' order (and so the search's folds)."""
    out = Split()
    folder = root / split
    listed: list[tuple[list[int | str], str, os.DirEntry[str]]] = []
    for class_entry in _visible(folder):
        if not class_entry.is_dir():
            raise BenchInputError(f"{class_entry.path} is a file; {folder} holds one folder per class")
        files = _visible(Path(class_entry.path))
        if not files:
            raise BenchInputError(f"class folder {class_entry.path} is empty; each class needs images")
        listed.extend((natural_key(entry.name), class_entry.name, entry) for entry in files)
    for _, label, entry in sorted(listed, key=lambda item: (item[0], item[1])):
        data = _read(entry)
        digest.update(f"{split}/{label}/{entry.name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
        out.images.append(decode(data, entry.path))
        out.labels.append(label)
    if not out.images:
        raise BenchInputError(f"{folder} holds no class folders; put images in {folder}/<class>/")
    return out


def stack(images: list[np.ndarray], size: tuple[int, int], channels: int) -> tuple[np.ndarray, int]:
    """(n, h, w, channels) uint8, images of another size resized to ``size`` (h, w); and how many were."""
    from PIL import Image

    out = np.empty((len(images), size[0], size[1], channels), dtype=np.uint8)
    resized = 0
    for i, pixels in enumerate(images):
        if pixels.shape[:2] != size:
            pixels = np.asarray(Image.fromarray(pixels).resize((size[1], size[0]), Image.Resampling.BILINEAR))
            resized += 1
        out[i] = pixels[..., None] if pixels.ndim == 2 else pixels
    return out, resized


def read_image_folder(
    root: Path, size: tuple[int, int] | None = None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str, dict[str, object]]:
    """((X_train, y_train), (X_test, y_test), content SHA-256, manifest details) of an image folder,
    every image resized to ``size`` (height, width; default: the most common size)."""
    digest = hashlib.sha256()
    splits = {split: read_split(root, split, digest) for split in SPLITS if split == "train" or (root / split).is_dir()}
    everything = [image for split in splits.values() for image in split.images]
    channels = 3 if any(image.ndim == 3 for image in everything) else 1
    sizes = Counter(image.shape[:2] for image in everything)
    chosen = "--image-size" if size is not None else "the most common size"
    size = size or sizes.most_common(1)[0][0]
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    resized = 0
    for name, split in splits.items():
        pixels, count = stack(split.images, size, channels)
        arrays[name] = (pixels, np.array(split.labels))
        resized += count
    details: dict[str, object] = {
        "format": "image folder",
        "image_sizes_found": len(sizes),
        "image_size": f"{size[0]}x{size[1]} ({chosen})",
        "resized_images": resized,
    }
    if "test" not in arrays:
        arrays["train"], arrays["test"] = _split(*arrays["train"], root)
        details["test_split"] = f"no test/ folder: stratified {TEST_FRACTION:.0%} of train/, seed {SPLIT_SEED}"
    return arrays["train"], arrays["test"], digest.hexdigest(), details


def _split(X: np.ndarray, y: np.ndarray, root: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) > 1 and counts.min() < 2:
        raise BenchInputError(
            f"{root}/train/{classes[counts.argmin()]} has one image; without a test/ folder each class "
            f"needs at least two (one for training, one for test)"
        )
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=TEST_FRACTION, stratify=y if len(classes) > 1 else None, random_state=SPLIT_SEED
        )
    except ValueError as exc:
        raise BenchInputError(f"{root}: cannot split train/ into train and test ({exc})") from None
    return (X_train, y_train), (X_test, y_test)
