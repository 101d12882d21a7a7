"""kmnist and emnist-digits, read from files synthesised in their published formats (the network
does not reach their hosts here): lookup, checksums, EMNIST's transposed images turned upright."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_custom_datasets import idx_bytes, random_images, write_idx_folder

from bench.datasets import emnist, get_dataset, kmnist, list_datasets
from bench.errors import BenchInputError

EMNIST_STEMS = emnist.EmnistDigits.files


def _kmnist_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, np.ndarray]:
    """KMNIST's four .gz files (28x28, 10 classes), their MD5s made the published ones."""
    X, y = random_images(60, (28, 28), 10)
    write_idx_folder(folder, (X[:50], y[:50]), (X[50:], y[50:]))
    sums = {stem: hashlib.md5((folder / f"{stem}.gz").read_bytes()).hexdigest() for stem in kmnist.Kmnist.gz_md5}
    monkeypatch.setattr(kmnist.Kmnist, "gz_md5", sums)
    return X, y


def test_both_are_registered() -> None:
    assert {"kmnist", "emnist-digits"} <= set(list_datasets())


def test_kmnist_reads_its_gz_files_checked_by_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _kmnist_folder(tmp_path / "data" / "kmnist", monkeypatch)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))  # found in the <name>/ subfolder
    loaded = get_dataset("kmnist").load()
    assert loaded.X_train.shape == (50, 784) and loaded.class_names[:3] == ("o", "ki", "su")
    np.testing.assert_array_equal(loaded.y_test, y[50:])
    np.testing.assert_allclose(loaded.X_train[7].reshape(28, 28), X[7] / 255.0, atol=1e-7)
    raw = gzip.decompress((tmp_path / "data" / "kmnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert loaded.checksums["t10k-images-idx3-ubyte"] == hashlib.sha256(raw).hexdigest()


def test_kmnist_refuses_a_file_that_is_not_the_published_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _kmnist_folder(tmp_path, monkeypatch)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(raw), mtime=0))
    with pytest.raises(BenchInputError, match=r"checksum mismatch for .*t10k-labels.*MD5"):
        get_dataset("kmnist").load(tmp_path)


def test_kmnist_offline_without_files_says_where_to_put_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kmnist.Kmnist, "mirrors", ("http://127.0.0.1:9/",))
    monkeypatch.setattr(kmnist.Kmnist, "system_dirs", ())
    X, y = random_images(20, (28, 28), 10)
    for stem, array in zip(kmnist.Kmnist.gz_md5, (X[:10], y[:10], X[10:], y[10:]), strict=True):
        (tmp_path / stem).write_bytes(idx_bytes(array.astype(np.uint8)))  # decompressed: not what was published
    with pytest.raises(BenchInputError) as info:
        get_dataset("kmnist").load(tmp_path)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value) and "--data-dir" in str(info.value)


def _emnist_files(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """EMNIST Digits' four files as NIST writes them: each image stored transposed."""
    X, y = random_images(40, (28, 28), 10)
    stored = X.transpose(0, 2, 1)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in zip(EMNIST_STEMS, (stored[:30], y[:30], stored[30:], y[30:]), strict=True):
        (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(np.ascontiguousarray(array).astype(np.uint8)), mtime=0))
    return X, y


def test_emnist_images_are_turned_upright(tmp_path: Path) -> None:
    X, y = _emnist_files(tmp_path / "gzip")  # as NIST's archive unpacks
    loaded = get_dataset("emnist-digits").load(tmp_path)
    np.testing.assert_allclose(loaded.X_train.reshape(-1, 28, 28), X[:30] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(loaded.y_test, y[30:])
    assert "not checked" in loaded.details["checksum_note"]


def _archive(folder: Path) -> Path:
    source = folder / "src"
    _emnist_files(source)
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(folder / "gzip.zip", "w") as zf:
        for stem in EMNIST_STEMS:
            zf.write(source / f"{stem}.gz", f"gzip/{stem}.gz")
        zf.writestr("gzip/emnist-letters-mapping.txt", "not read")
    return folder / "gzip.zip"


def test_emnist_takes_its_files_out_of_a_checked_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _archive(tmp_path / "data")
    monkeypatch.setattr(emnist, "ARCHIVE_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    loaded = get_dataset("emnist-digits").load(tmp_path / "data")
    assert loaded.X_train.shape == (30, 784)
    assert (emnist.cache_root() / "emnist-digits" / f"{EMNIST_STEMS[0]}.gz").is_file()


def test_emnist_refuses_an_archive_that_is_not_nists(tmp_path: Path) -> None:
    _archive(tmp_path / "data")
    with pytest.raises(BenchInputError, match=r"checksum mismatch.*gzip\.zip"):
        get_dataset("emnist-digits").load(tmp_path / "data")


def test_emnist_offline_without_files_says_where_to_put_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emnist, "ARCHIVE_URL", "http://127.0.0.1:9/gzip.zip")
    monkeypatch.setattr(emnist.EmnistDigits, "system_dirs", ())
    with pytest.raises(BenchInputError) as info:
        get_dataset("emnist-digits").load(tmp_path)
    assert "emnist-digits-test-labels-idx1-ubyte.gz" in str(info.value) and "127.0.0.1:9" in str(info.value)
