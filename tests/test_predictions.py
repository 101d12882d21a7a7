"""Test predictions are written per family and seed (issue 18, item 7): a finished family's
table is written without reading or rewriting any other's, and read back like every table of
an untrusted folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bench
from bench.errors import BenchInputError
from bench.results import PREDICTIONS_DIR, prediction_part, read_predictions


@pytest.fixture
def run(tmp_path: Path):
    from bench.runner import Run, RunOptions

    run = Run(RunOptions(families=["svm", "knn"], results_dir=tmp_path))
    run.write()
    return run


def _predict(run, family: str, seed: int, shift: int = 0, method: tuple[str, str] = ("tpe", "none")) -> np.ndarray:
    from bench.runner import Method

    y = np.asarray(run.final_data.y_test)
    predicted = (y + shift) % 10
    run._write_predictions(family, seed, Method(*method), predicted, y)
    return predicted


def test_a_comparison_keeps_each_method_s_predictions(tmp_path: Path) -> None:
    from bench.runner import Run, RunOptions

    run = Run(RunOptions(families=["svm"], sampler="tpe,random", results_dir=tmp_path))
    run.write()
    _predict(run, "svm", 0, method=("tpe", "asha"))
    _predict(run, "svm", 0, shift=1, method=("random", "asha"))
    names = sorted(p.name for p in (run.run_dir / PREDICTIONS_DIR).iterdir())
    assert names == ["svm-random-asha-seed0.parquet", "svm-tpe-asha-seed0.parquet"]
    loaded = bench.load(run.run_dir).predictions
    random = loaded[loaded["sampler"] == "random"].sort_values("test_index")
    assert len(loaded) == 2 * len(random) and (random["y_pred"].to_numpy() == (random["y_true"].to_numpy() + 1) % 10).all()


def test_a_family_s_predictions_leave_every_other_table_untouched(run) -> None:
    _predict(run, "svm", 0)
    first = prediction_part(run.run_dir, "svm", 0)
    before = first.stat()
    _predict(run, "knn", 0, shift=1)
    _predict(run, "svm", 1, shift=2)
    after = first.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not read back and rewritten
    assert sorted(p.name for p in (run.run_dir / PREDICTIONS_DIR).iterdir()) == [
        "knn-seed0.parquet",
        "svm-seed0.parquet",
        "svm-seed1.parquet",
    ]
    loaded = bench.load(run.run_dir).predictions
    n = len(run.final_data.y_test)
    assert len(loaded) == 3 * n
    knn = loaded[(loaded["family"] == "knn") & (loaded["seed"] == 0)].sort_values("test_index")
    assert (knn["y_pred"].to_numpy() == (knn["y_true"].to_numpy() + 1) % 10).all()


def test_writing_a_family_and_seed_again_replaces_its_rows(run) -> None:
    _predict(run, "svm", 0)
    again = _predict(run, "svm", 0, shift=3)  # a resumed run refits it
    loaded = read_predictions(run.run_dir)
    assert loaded is not None and len(loaded) == len(again)
    assert (loaded.sort_values("test_index")["y_pred"].to_numpy() == again).all()


def test_a_run_without_predictions_has_none(run) -> None:
    assert read_predictions(run.run_dir) is None
    assert bench.load(run.run_dir).predictions.empty


def _rows(family: str, seed: int, y_pred: int) -> pd.DataFrame:
    return pd.DataFrame({"run_id": "r", "dataset": "digits", "family": family, "seed": seed, "test_index": range(4),
                         "y_true": [1, 2, 3, 4], "y_pred": y_pred, "y_pred_default": 1})


def test_an_older_run_s_single_table_is_read_and_a_newer_part_wins(tmp_path: Path) -> None:
    pd.concat([_rows("svm", 0, 7), _rows("knn", 0, 8)]).to_parquet(tmp_path / "predictions.parquet", index=False)
    assert len(read_predictions(tmp_path)) == 8  # a run written before the parts
    part = prediction_part(tmp_path, "svm", 0)
    part.parent.mkdir()
    _rows("svm", 0, 9).to_parquet(part, index=False)  # resumed by this version: its svm refit again
    loaded = read_predictions(tmp_path)
    assert len(loaded) == 8
    assert set(loaded.loc[loaded["family"] == "svm", "y_pred"]) == {9}
    assert set(loaded.loc[loaded["family"] == "knn", "y_pred"]) == {8}


def test_a_linked_predictions_folder_or_part_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _rows("svm", 0, 1).to_parquet(outside / "svm-seed0.parquet", index=False)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / PREDICTIONS_DIR).symlink_to(outside)
    with pytest.raises(BenchInputError, match="symbolic link or not a folder"):
        read_predictions(run_dir)
    (run_dir / PREDICTIONS_DIR).unlink()
    (run_dir / PREDICTIONS_DIR).mkdir()
    os.symlink(outside / "svm-seed0.parquet", run_dir / PREDICTIONS_DIR / "svm-seed0.parquet")
    with pytest.raises(BenchInputError, match="svm-seed0.parquet is a symbolic link"):
        read_predictions(run_dir)


def test_a_part_is_checked_like_any_table(tmp_path: Path) -> None:
    part = prediction_part(tmp_path, "svm", 0)
    part.parent.mkdir()
    _rows("svm", 0, 1).drop(columns="y_pred").to_parquet(part, index=False)
    with pytest.raises(BenchInputError, match="y_pred"):
        read_predictions(tmp_path)
    part.write_bytes(b"PAR1 truncated")
    with pytest.raises(BenchInputError, match="not a readable Parquet table"):
        read_predictions(tmp_path)


def test_too_many_parts_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import results

    monkeypatch.setattr(results, "MAX_PREDICTION_PARTS", 2)
    for seed in range(3):
        part = prediction_part(tmp_path, "svm", seed)
        part.parent.mkdir(exist_ok=True)
        _rows("svm", seed, 1).to_parquet(part, index=False)
    with pytest.raises(BenchInputError, match="holds 3 tables, more than the 2"):
        read_predictions(tmp_path)


def test_a_resume_refuses_a_broken_part(tmp_path: Path) -> None:
    from test_hardening import make_run

    from bench.journal import check_resumable

    folder = make_run(tmp_path)
    check_resumable(folder)
    part = prediction_part(folder, "svm", 0)
    part.parent.mkdir()
    part.write_bytes(b"not parquet")
    with pytest.raises(BenchInputError, match="--resume .*svm-seed0.parquet is not a readable Parquet table"):
        check_resumable(folder)
