"""Searches on a user's own data through ``python -m bench run --dataset PATH`` (Ray: slow).

Small synthetic sets in two formats: a 32x32 colour image folder (svm, whose space loses deskewing,
and cnn, which takes the images' shape; report included) and a KMNIST-layout IDX
folder of another size and class count (logreg, cnn). ``--family all`` on such a folder is left to a run
by hand: the other families read the same arrays through the same paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from test_custom_datasets import random_images, write_idx_folder, write_image_folder


def _run_folder(results: Path) -> Path:
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


@pytest.mark.slow
def test_a_colour_image_folder_runs_to_the_report(tmp_path: Path) -> None:
    X, y = random_images(90, (32, 32, 3), 3)
    X[60:63] = X[:3]  # three test images copied from training (labels agree: 60 % 3 == 0)
    write_image_folder(tmp_path / "colour", "train", X[:60], y[:60])
    write_image_folder(tmp_path / "colour", "test", X[60:], y[60:], start=60)
    results = tmp_path / "results"
    result = run_cli(
        "run",
        "--family",
        "svm,cnn",
        "--dataset",
        str(tmp_path / "colour"),
        "--trials",
        "2",
        "--results-dir",
        str(results),
        "--no-progress",
        "--drop-test-duplicates",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    folder = _run_folder(results)
    manifest = json.loads((folder / "manifest.json").read_text())
    dataset = manifest["dataset"]
    assert dataset["name"].startswith("colour-") and dataset["channels"] == 3 and dataset["image_shape"] == [32, 32]
    assert dataset["duplicates"] == {"test_images_in_train": 3, "dropped_from_test": 3}
    assert dataset["sizes"]["test"] == 27
    notes = " ".join(dataset["search_space_notes"])
    assert "svm: deskew left out" in notes and "cnn: image_shape fixed to 3x32x32" in notes
    final = pd.read_parquet(folder / "final.parquet")
    assert set(final["family"]) == {"svm", "cnn"}
    assert (final["status"] == "completed").all(), final[["family", "status", "error"]]
    assert set(final["dataset"]) == {dataset["name"]}
    trials = pd.read_parquet(folder / "trials.parquet")
    assert "params_deskew" not in trials or trials["params_deskew"].isna().all()
    assert (folder / "report.html").stat().st_size > 0


@pytest.mark.slow
def test_a_kmnist_layout_folder_of_another_size_runs_logreg_and_cnn(tmp_path: Path) -> None:
    X, y = random_images(240, (20, 20), 12)
    write_idx_folder(tmp_path / "kmnist-like", (X[:180], y[:180]), (X[180:], y[180:]))
    results = tmp_path / "results"
    result = run_cli(
        "run",
        "--family",
        "logreg,cnn",
        "--dataset",
        str(tmp_path / "kmnist-like"),
        "--trials",
        "2",
        "--results-dir",
        str(results),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    folder = _run_folder(results)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["dataset"]["class_names"] == [str(i) for i in range(12)]
    assert manifest["dataset"]["search_space_notes"] == []  # square grey: nothing to leave out
    final = pd.read_parquet(folder / "final.parquet")
    assert (final["status"] == "completed").all(), final[["family", "status", "error"]]
    assert np.isfinite(final["test_accuracy"]).all() and (final["test_accuracy"] > 1 / 12).all()
