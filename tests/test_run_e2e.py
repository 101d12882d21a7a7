"""Real Ray Tune + Optuna runs through the CLI, read back with ``bench.load``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench
from conftest import run_cli

pytestmark = pytest.mark.slow

TRIAL_COLUMNS = {
    "run_id", "dataset", "family", "trial_id", "status", "val_accuracy", "val_f1_macro", "fit_seconds",
    "val_predict_seconds", "fidelity", "seed", "node_id", "node_ip", "cpus", "gpus", "started_at", "finished_at", "error",
}


def _single_run(root: Path) -> Path:
    runs = [p for p in root.iterdir() if (p / "manifest.json").is_file()]
    assert len(runs) == 1, runs
    return runs[0]


def test_svm_on_digits_end_to_end(tmp_path: Path) -> None:
    # no early stopping here: every trial's validation score is then on the same rows
    result = run_cli("run", "--family", "svm", "--trials", "12", "--scheduler", "none", "--results-dir", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    run_dir = _single_run(tmp_path)
    results = bench.load(run_dir)
    trials = results.trials
    assert len(trials) == 12 and TRIAL_COLUMNS <= set(trials.columns)
    assert (trials["status"] == "completed").all()
    assert trials["trial_id"].is_unique
    assert {"params_kernel", "params_C"} <= set(trials.columns)
    # conditional space: gamma only where the kernel uses it
    assert trials.loc[trials["params_kernel"] == "linear", "params_gamma"].isna().all()
    final = results.final.iloc[0]
    assert final["status"] == "completed" and final["test_accuracy"] >= 0.97
    assert final["val_accuracy"] == trials["val_accuracy"].max()
    matrix = json.loads(final["confusion_matrix"])
    assert sum(map(sum, matrix)) == final["test_size"] == 360
    assert len(results.history) >= 12
    # the terminal leaderboard prints the table's number, and the report exists and escapes
    assert f"{final['test_accuracy']:.4f}" in result.stdout
    assert (run_dir / "report.html").read_text().count("<script") >= 2


def test_logreg_on_mnist_records_checksums(tmp_path: Path, mnist_dir: Path) -> None:
    result = run_cli("run", "--family", "logreg", "--dataset", "mnist", "--trials", "2", "--train-size", "6000",
                     "--data-dir", str(mnist_dir), "--results-dir", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    run_dir = _single_run(tmp_path)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["dataset"]["checksums_sha256"]["t10k-labels-idx1-ubyte"].startswith("ff7bcfd4")
    assert manifest["dataset"]["sizes"] == {"fit": 5000, "validation": 1000, "train": 6000, "test": 10000}
    assert manifest["status"] == "finished" and manifest["versions"]["ray"]
    final = bench.load(run_dir).final.iloc[0]
    assert final["test_accuracy"] > 0.85  # 6,000 training images; the full set reaches 0.92


def test_a_failing_trial_is_a_row_and_the_run_goes_on(tmp_path: Path) -> None:
    spaces = tmp_path / "spaces"
    spaces.mkdir()
    # more neighbours than training rows: every k-NN trial raises at prediction time
    (spaces / "knn.yaml").write_text("params:\n  n_neighbors: {type: int, low: 5000, high: 6000}\n  weights: {type: fixed, value: uniform}\n")
    result = run_cli("run", "--family", "knn", "--family", "logreg", "--trials", "2", "--train-size", "300",
                     "--space-dir", str(spaces), "--results-dir", str(tmp_path / "r"), "--no-progress")
    # logreg has no file in the custom folder: a clear input error before any work
    assert result.returncode == 2 and "logreg" in result.stderr
    (spaces / "logreg.yaml").write_text("params:\n  C: {type: float, low: 0.1, high: 1.0, log: true}\n")
    result = run_cli("run", "--family", "knn", "--family", "logreg", "--trials", "2", "--train-size", "300",
                     "--space-dir", str(spaces), "--results-dir", str(tmp_path / "r"), "--no-progress")
    assert result.returncode == 0, result.stderr
    results = bench.load(tmp_path / "r")
    knn = results.trials[results.trials["family"] == "knn"]
    assert len(knn) == 2 and (knn["status"] == "failed").all()
    assert knn["error"].str.contains("n_neighbors|n_samples", regex=True).all()
    final = results.final.set_index("family")
    assert final.loc["knn", "status"] == "failed"
    assert final.loc["logreg", "status"] == "completed" and final.loc["logreg", "test_accuracy"] > 0.8
