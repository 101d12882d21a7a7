"""The IDX loader against the facts published with MNIST, and the dataset registry."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.datasets import get_dataset, list_datasets
from bench.datasets import mnist_like
from bench.datasets.idx import parse_idx
from bench.errors import BenchInputError

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_matches_published_facts(mnist_dir: Path) -> None:
    data = get_dataset("mnist").load(mnist_dir)
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert np.bincount(data.y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(data.y_test).tolist() == TEST_COUNTS
    assert data.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert data.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert data.X_train.mean() == pytest.approx(0.1307, abs=1e-4)
    assert data.X_train.std() == pytest.approx(0.3081, abs=1e-4)
    assert data.checksums["train-images-idx3-ubyte"].startswith("ba891046")


def test_lookup_uses_bench_data_dir(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_DATA_DIR", str(mnist_dir))
    assert get_dataset("mnist").locate(None) is not None


def _copy(mnist_dir: Path, target: Path) -> Path:
    target.mkdir()
    for f in mnist_dir.glob("*.gz"):
        shutil.copy(f, target / f.name)
    return target


def test_tampered_file_is_rejected_by_checksum(mnist_dir: Path, tmp_path: Path) -> None:
    folder = _copy(mnist_dir, tmp_path / "mnist")
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed: same size, valid IDX, wrong data
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(BenchInputError, match="checksum mismatch.*t10k-labels"):
        get_dataset("mnist").load(folder)


def test_truncated_gzip_is_rejected(mnist_dir: Path, tmp_path: Path) -> None:
    folder = _copy(mnist_dir, tmp_path / "mnist")
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(BenchInputError, match="t10k-images"):
        get_dataset("mnist").load(folder)


def test_parse_idx_checks_header_against_payload() -> None:
    header = bytes([0, 0, 0x08, 1]) + (10).to_bytes(4, "big")
    assert parse_idx(header + bytes(range(10))).tolist() == list(range(10))
    with pytest.raises(BenchInputError, match="truncated"):
        parse_idx(header + bytes(9))
    with pytest.raises(BenchInputError, match="magic"):
        parse_idx(b"\x1f\x8b\x08\x00")


def test_missing_data_offline_says_where_to_put_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist_like.Mnist, "mirrors", ("http://127.0.0.1:9/",))
    monkeypatch.setattr(mnist_like.Mnist, "system_dirs", ())
    with pytest.raises(BenchInputError) as info:
        get_dataset("mnist").load(tmp_path)
    message = str(info.value)
    assert "--data-dir" in message and "train-images-idx3-ubyte.gz" in message and "BENCH_DATA_DIR" in message


def test_unknown_dataset_lists_valid_ones() -> None:
    with pytest.raises(BenchInputError, match="unknown dataset 'emnist'.*digits.*fashion-mnist.*mnist"):
        get_dataset("emnist")


@pytest.mark.parametrize("name", list_datasets())
def test_every_dataset_declares_its_shape(name: str) -> None:
    dataset = get_dataset(name)
    assert len(dataset.class_names) == 10
    assert 0 < dataset.val_fraction < 0.5
    assert len(dataset.image_shape) == 2


def test_digits_is_embedded_and_scaled() -> None:
    data = get_dataset("digits").load()
    assert len(data.y_train) + len(data.y_test) == 1797
    assert data.X_train.dtype == np.float32 and 0.0 <= data.X_train.min() and data.X_train.max() <= 1.0
    assert data.X_train.shape[1] == 64
