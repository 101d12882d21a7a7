"""MNIST and Fashion-MNIST from their original IDX files.

Lookup order (first folder holding all four files wins): ``--data-dir``, ``$BENCH_DATA_DIR``,
the user cache, system locations (Debian's ``/usr/share/datasets/<name>``); then a download
from the canonical mirrors into the cache. Each folder may hold the files directly or in a
``<name>/`` subfolder, gzip-compressed or not.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.datasets.base import Dataset, LoadedDataset, downloads_refused, register_dataset
from bench.datasets.idx import MAX_IDX_FILE_BYTES, decompress, load_verified, sha256
from bench.errors import BenchInputError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DOWNLOAD_TIMEOUT_S = 15


def cache_root() -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/bench`` or ``~/.cache/bench``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bench"


def _find_file(folder: Path, stem: str, gz_only: bool = False) -> Path | None:
    for candidate in (folder / f"{stem}.gz",) if gz_only else (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


class IdxDataset(Dataset):
    """A dataset of four IDX files with known SHA-256 checksums of their decompressed bytes."""

    sha256: ClassVar[dict[str, str]]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    #: The four files: training images, training labels, test images, test labels.
    files: ClassVar[tuple[str, ...]] = FILES
    #: Only the published .gz files are read (their checksums are of the .gz, not its content).
    gz_only: ClassVar[bool] = False

    def candidate_dirs(self, data_dir: Path | None) -> list[Path]:
        roots: list[Path] = []
        if data_dir is not None:
            roots.append(Path(data_dir))
        if os.environ.get("BENCH_DATA_DIR"):
            roots.append(Path(os.environ["BENCH_DATA_DIR"]))
        roots.append(cache_root())
        roots.extend(Path(d) for d in self.system_dirs)
        dirs: list[Path] = []
        for root in roots:
            dirs.extend([root, root / self.name])
        return dirs

    def locate(self, data_dir: Path | None) -> dict[str, Path] | None:
        for folder in self.candidate_dirs(data_dir):
            found = {stem: _find_file(folder, stem, self.gz_only) for stem in self.files}
            if all(found.values()):
                return found  # type: ignore[return-value]
        return None

    def download(self) -> dict[str, Path]:
        """Fetch the four files into the cache; verify before keeping them."""
        refused = downloads_refused()
        if refused:
            raise BenchInputError(self.missing_message(refused))
        target = cache_root() / self.name
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BenchInputError(f"cannot create the dataset cache {target}: {exc}") from None
        paths: dict[str, Path] = {}
        for stem in self.files:
            last_error = "no mirror tried"
            for mirror in self.mirrors:
                url = f"{mirror}{stem}.gz"
                try:
                    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                        payload = response.read(MAX_IDX_FILE_BYTES + 1)
                    if len(payload) > MAX_IDX_FILE_BYTES:
                        last_error = f"{url}: larger than {MAX_IDX_FILE_BYTES} bytes"
                        continue
                    if not self.payload_matches(stem, payload, url):
                        last_error = f"{url}: checksum mismatch"
                        continue
                except (urllib.error.URLError, OSError, TimeoutError, BenchInputError) as exc:
                    last_error = f"{url}: {exc}"
                    continue
                dest = target / f"{stem}.gz"
                fd, tmp = tempfile.mkstemp(dir=target, suffix=".part")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(payload)
                os.replace(tmp, dest)
                paths[stem] = dest
                break
            else:
                raise BenchInputError(self.missing_message(last_error))
        return paths

    def missing_message(self, reason: str) -> str:
        return (
            f"dataset {self.name!r} not found and could not be downloaded ({reason}); "
            f"put {', '.join(f + '.gz' for f in self.files)} in a folder and pass --data-dir FOLDER "
            f"or set BENCH_DATA_DIR, or place them in {cache_root() / self.name}"
        )

    def load(self, data_dir: Path | None = None) -> LoadedDataset:
        if data_dir is not None and not Path(data_dir).is_dir():
            raise BenchInputError(f"--data-dir {data_dir} is not a folder")
        paths = self.locate(data_dir) or self.download()
        arrays: dict[str, np.ndarray] = {}
        checksums: dict[str, str] = {}
        for stem, path in paths.items():
            arrays[stem], checksums[stem] = self.verified(path, stem)
        X_train, y_train, X_test, y_test = (arrays[stem] for stem in self.files)
        X_train, X_test = self.upright(X_train), self.upright(X_test)
        if len(X_train) != len(y_train) or len(X_test) != len(y_test):
            raise BenchInputError(f"{self.name}: images and labels differ in count in {paths}")
        return LoadedDataset(
            name=self.name,
            X_train=_flatten(X_train),
            y_train=y_train.astype(np.int64),
            X_test=_flatten(X_test),
            y_test=y_test.astype(np.int64),
            image_shape=self.image_shape,
            class_names=self.class_names,
            checksums=checksums,
            source=str(Path(paths[self.files[0]]).parent),
        )

    def payload_matches(self, stem: str, payload: bytes, url: str) -> bool:
        """Whether a downloaded file is the published one (here: its decompressed SHA-256)."""
        return sha256(decompress(payload, url)) == self.sha256[stem]

    def verified(self, path: Path, stem: str) -> tuple[np.ndarray, str]:
        """The array in ``path`` and the checksum recorded for it, once checked."""
        return load_verified(path, self.sha256[stem])

    def upright(self, images: np.ndarray) -> np.ndarray:
        """Images as people read them (EMNIST stores its own transposed)."""
        return images


def _flatten(images: np.ndarray) -> np.ndarray:
    """uint8 images (n, h, w) -> float32 rows (n, h*w) in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


@register_dataset
class Mnist(IdxDataset):
    name = "mnist"
    description = "MNIST handwritten digits (LeCun, Cortes, Burges), official 60k/10k split"
    image_shape = (28, 28)
    class_names = tuple(str(i) for i in range(10))
    sha256: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }
    mirrors = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    system_dirs = ("/usr/share/datasets/mnist",)


@register_dataset
class FashionMnist(IdxDataset):
    name = "fashion-mnist"
    description = "Zalando's Fashion-MNIST (Xiao, Rasul, Vollgraf 2017), official 60k/10k split"
    image_shape = (28, 28)
    class_names = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    sha256: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
