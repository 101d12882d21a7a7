"""EMNIST Digits (Cohen et al. 2017, NIST): 280,000 handwritten digits in MNIST's IDX format.

The files, ``emnist-digits-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz]``, are looked up as
MNIST's are (also in a ``gzip/`` subfolder, as NIST's archive unpacks); failing that, NIST's
archive ``gzip.zip`` found in one of those folders or downloaded is checked and the four files
are taken out of it into the cache. EMNIST stores each image transposed; bench turns it upright.

Checksums: NIST lists none. The archive's MD5 is the one torchvision records (pytorch/vision,
``torchvision/datasets/mnist.py``, class ``EMNIST``); single files carry no published checksum,
so their SHA-256s are recorded in the manifest with a note that says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.datasets.base import LoadedDataset, downloads_refused, register_dataset
from bench.datasets.idx import MAX_IDX_FILE_BYTES, parse_idx, read_bytes, sha256
from bench.datasets.mnist_like import DOWNLOAD_TIMEOUT_S, IdxDataset, cache_root
from bench.errors import BenchInputError
from bench.safe_io import GiB, human

ARCHIVE = "gzip.zip"
ARCHIVE_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
#: MD5 of NIST's gzip.zip (source: the module docstring).
ARCHIVE_MD5 = "58c8d27c78d21e728a6bc7b3cc06412e"
MAX_ARCHIVE_BYTES = 1 * GiB
UNCHECKED = "NIST lists no checksums of single EMNIST files: these SHA-256s were recorded, not checked"


@register_dataset
class EmnistDigits(IdxDataset):
    name = "emnist-digits"
    description = "EMNIST Digits (Cohen et al. 2017): NIST SD19 digits, official 240k/40k split"
    image_shape = (28, 28)
    class_names = tuple(str(i) for i in range(10))
    files: ClassVar[tuple[str, ...]] = tuple(
        f"emnist-digits-{part}"
        for part in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "test-images-idx3-ubyte", "test-labels-idx1-ubyte")
    )
    sha256: ClassVar[dict[str, str]] = {}
    mirrors = ()
    system_dirs = ("/usr/share/datasets/emnist",)

    def candidate_dirs(self, data_dir: Path | None) -> list[Path]:
        dirs = super().candidate_dirs(data_dir)
        return [*dirs, *(d / "gzip" for d in dirs)]

    def locate(self, data_dir: Path | None) -> dict[str, Path] | None:
        found = super().locate(data_dir)
        if found:
            return found
        for folder in self.candidate_dirs(data_dir):
            if (folder / ARCHIVE).is_file():
                check_archive(folder / ARCHIVE)
                return extract(folder / ARCHIVE, self.files, cache_root() / self.name)
        return None

    def download(self) -> dict[str, Path]:
        """Fetch NIST's archive (about 560 MB) into the cache, check it, take the four files out."""
        refused = downloads_refused()
        if refused:
            raise BenchInputError(self.missing_message(refused))
        target = cache_root() / self.name
        try:
            target.mkdir(parents=True, exist_ok=True)
            archive = fetch(ARCHIVE_URL, target)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise BenchInputError(self.missing_message(f"{ARCHIVE_URL}: {exc}")) from None
        try:
            check_archive(archive)
            return extract(archive, self.files, target)
        finally:
            archive.unlink(missing_ok=True)

    def verified(self, path: Path, stem: str) -> tuple[np.ndarray, str]:
        data = read_bytes(path)
        return parse_idx(data, path), sha256(data)

    def upright(self, images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(images.transpose(0, 2, 1))

    def load(self, data_dir: Path | None = None) -> LoadedDataset:
        loaded = super().load(data_dir)
        return dataclasses.replace(loaded, details={**loaded.details, "checksum_note": UNCHECKED})


def fetch(url: str, folder: Path) -> Path:
    """Stream ``url`` into a file in ``folder``, at most :data:`MAX_ARCHIVE_BYTES`."""
    fd, name = tempfile.mkstemp(dir=folder, suffix=".zip.part")
    size = 0
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        while chunk := response.read(1 << 20):
            size += len(chunk)
            if size > MAX_ARCHIVE_BYTES:
                Path(name).unlink(missing_ok=True)
                raise BenchInputError(f"{url} is larger than {human(MAX_ARCHIVE_BYTES)}; not NIST's EMNIST archive")
            out.write(chunk)
    return Path(name)


def check_archive(path: Path) -> None:
    """Refuse an archive whose MD5 is not the published one (read in chunks, bounded)."""
    if path.stat().st_size > MAX_ARCHIVE_BYTES:
        raise BenchInputError(f"{path} is larger than {human(MAX_ARCHIVE_BYTES)}; not NIST's EMNIST archive")
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != ARCHIVE_MD5:
        raise BenchInputError(
            f"checksum mismatch for {path}: MD5 {digest.hexdigest()}, expected {ARCHIVE_MD5} (NIST's EMNIST gzip.zip)"
        )


def extract(archive: Path, stems: tuple[str, ...], target: Path) -> dict[str, Path]:
    """Copy ``gzip/<stem>.gz`` of each stem out of ``archive`` into ``target``, each bounded."""
    target.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            for stem in stems:
                member = f"gzip/{stem}.gz"
                if member not in zf.namelist():
                    raise BenchInputError(f"{archive} holds no {member}; not NIST's EMNIST gzip.zip")
                with zf.open(member) as fh:
                    data = fh.read(MAX_IDX_FILE_BYTES + 1)
                if len(data) > MAX_IDX_FILE_BYTES:
                    raise BenchInputError(f"{archive}: {member} is larger than {human(MAX_IDX_FILE_BYTES)}")
                fd, name = tempfile.mkstemp(dir=target, suffix=".part")
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                paths[stem] = target / f"{stem}.gz"
                os.replace(name, paths[stem])
    except (zipfile.BadZipFile, OSError) as exc:
        raise BenchInputError(f"{archive} is not a readable zip archive ({exc})") from None
    return paths
