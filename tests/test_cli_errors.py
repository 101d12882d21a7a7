"""Bad input: one line naming the bad value and what is valid, exit status 2, no traceback."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from conftest import run_cli


def _assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_unknown_family(tmp_path: Path) -> None:
    _assert_one_line_error(run_cli("run", "--family", "xgboost", "--results-dir", str(tmp_path)), "'xgboost'", "svm", "knn")


def test_unknown_dataset(tmp_path: Path) -> None:
    _assert_one_line_error(run_cli("run", "--family", "svm", "--dataset", "emnist", "--results-dir", str(tmp_path)), "'emnist'", "digits", "mnist")


@pytest.mark.parametrize(("flag", "value"), [("--trials", "0"), ("--trials", "many"), ("--time-budget", "0m"), ("--time-budget", "soon"), ("--cpus-per-trial", "0")])
def test_nonsense_numbers(flag: str, value: str) -> None:
    _assert_one_line_error(run_cli("run", "--family", "svm", flag, value), flag, repr(value))


def test_unknown_sampler() -> None:
    _assert_one_line_error(run_cli("run", "--family", "svm", "--sampler", "annealing"), "'annealing'", "tpe")


def test_malformed_search_space(tmp_path: Path) -> None:
    (tmp_path / "svm.yaml").write_text("params:\n  C: {type: float, low: 1, high: [\n")
    _assert_one_line_error(run_cli("run", "--family", "svm", "--space-dir", str(tmp_path)), "svm.yaml", "malformed YAML")


def test_invalid_search_space(tmp_path: Path) -> None:
    (tmp_path / "svm.yaml").write_text("params:\n  C: {type: float, low: 10, high: 1}\n")
    _assert_one_line_error(run_cli("run", "--family", "svm", "--space-dir", str(tmp_path)), "'C'", "below high")


def test_tampered_idx_file(mnist_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    shutil.copytree(mnist_dir, folder)
    target = folder / "train-labels-idx1-ubyte.gz"
    target.chmod(0o644)
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[-1] ^= 1
    target.write_bytes(gzip.compress(bytes(raw)))
    result = run_cli("run", "--family", "logreg", "--dataset", "mnist", "--data-dir", str(folder), "--results-dir", str(tmp_path / "r"))
    _assert_one_line_error(result, "checksum mismatch", "train-labels-idx1-ubyte")


def test_missing_data_offline(tmp_path: Path) -> None:
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("fashion-mnist is installed on this machine (apt-get install dataset-fashion-mnist)")
    empty = tmp_path / "empty"
    empty.mkdir()
    # fashion-mnist's mirror is unreachable here and in CI; the error says where files go.
    result = run_cli("run", "--family", "knn", "--dataset", "fashion-mnist", "--data-dir", str(empty), "--trials", "1",
                     "--train-size", "100", "--results-dir", str(tmp_path / "r"), env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    if result.returncode == 0:
        pytest.skip("fashion-mnist is reachable from this machine")
    _assert_one_line_error(result, "fashion-mnist", "--data-dir", "BENCH_DATA_DIR")


def test_unwritable_results_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _assert_one_line_error(run_cli("run", "--family", "svm", "--results-dir", str(blocker / "results")), "results folder", str(blocker))


def test_unreachable_address_fails_fast(tmp_path: Path) -> None:
    result = run_cli("run", "--family", "svm", "--trials", "1", "--address", "127.0.0.1:9", "--results-dir", str(tmp_path), timeout=60)
    _assert_one_line_error(result, "127.0.0.1:9", "ray start")


def test_report_on_missing_results(tmp_path: Path) -> None:
    _assert_one_line_error(run_cli("report", str(tmp_path / "nope")), "nope")
