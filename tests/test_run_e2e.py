"""Real Ray Tune + Optuna runs through the CLI, read back with ``bench.load``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import optuna

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
    assert trials.loc[trials["params_kernel"] == "linear", "params_gamma_factor"].isna().all()
    final = results.final.iloc[0]
    assert final["status"] == "completed" and final["test_accuracy"] >= 0.97
    # the library default ran first; the kept configuration is either it or a clearly better one
    first = trials.sort_values("trial_number").iloc[0]
    assert first["is_default"] and trials["is_default"].sum() == 1 and first["params_kernel"] == "rbf"
    kept = trials.set_index("trial_id").loc[final["best_trial_id"]]
    assert final["val_accuracy"] == kept["val_accuracy"] and final["selected"] in ("default", "tuned")
    if final["selected"] == "tuned":
        assert kept["val_accuracy"] - kept["val_accuracy_se"] > first["val_accuracy"]
    assert final["validation"] == "5-fold CV" and 0.9 < final["default_test_accuracy"] <= 1
    predictions = results.predictions
    assert final["default_test_accuracy"] == (predictions["y_pred_default"] == predictions["y_true"]).mean()
    assert final["tuning_gain"] == pytest.approx(final["test_accuracy"] - final["default_test_accuracy"])
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
    assert manifest["dataset"]["sizes"] == {"fit": 4800, "validation": 1200, "train": 6000, "test": 10000}
    assert manifest["dataset"]["validation"] == "5-fold CV"
    assert manifest["status"] == "finished" and manifest["versions"]["ray"]
    final = bench.load(run_dir).final.iloc[0]
    assert final["test_accuracy"] > 0.85  # 6,000 training images; the full set reaches 0.92


def test_a_failing_trial_is_a_row_and_the_run_goes_on(tmp_path: Path) -> None:
    spaces = tmp_path / "spaces"
    spaces.mkdir()
    # more neighbours than training rows: every k-NN trial raises at prediction time
    (spaces / "knn.yaml").write_text("params:\n  n_neighbors: {type: int, low: 5000, high: 6000}\n  weights: {type: fixed, value: uniform}\n"
                                     "default: {n_neighbors: 5000}\n")
    result = run_cli("run", "--family", "knn", "--family", "logreg", "--trials", "2", "--train-size", "300",
                     "--space-dir", str(spaces), "--results-dir", str(tmp_path / "r"), "--no-progress")
    # logreg has no file in the custom folder: a clear input error before any work
    assert result.returncode == 2 and "logreg" in result.stderr
    (spaces / "logreg.yaml").write_text("params:\n  C: {type: float, low: 0.1, high: 1.0, log: true}\ndefault: {C: 1.0}\n")
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


def test_the_reproducible_mode_gives_identical_trials_at_two_at_a_time(tmp_path: Path) -> None:
    """Two concurrent trials, ASHA on: the same seed gives the same proposals, prunings and scores."""
    spaces = tmp_path / "spaces"
    spaces.mkdir()
    (spaces / "lightgbm.yaml").write_text(
        "params:\n  n_rounds: {type: int, low: 100, high: 300, step: 50}\n"
        "  learning_rate: {type: float, low: 0.01, high: 0.3, log: true}\n"
        "  num_leaves: {type: int, low: 8, high: 31}\n  max_bin: {type: fixed, value: 63}\n"
        "default: {n_rounds: 100, learning_rate: 0.1, num_leaves: 31}\n")
    tables = []
    for name in ("a", "b"):
        result = run_cli("run", "--family", "lightgbm", "--trials", "8", "--max-concurrent", "2", "--reproducible",
                         "--scheduler", "asha", "--space-dir", str(spaces), "--results-dir", str(tmp_path / name),
                         "--no-progress")
        assert result.returncode == 0, result.stderr
        results = bench.load(tmp_path / name)
        assert results.final.iloc[0]["mode"] == "reproducible"
        columns = ["trial_number", "status", "fidelity", "val_accuracy", *sorted(c for c in results.trials if c.startswith("params_"))]
        tables.append(results.trials[columns].sort_values("trial_number", ignore_index=True))
        journal = next((tmp_path / name).glob("*/optuna-journal.log"))
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        (study,) = optuna.get_all_study_summaries(storage)
        states = {t.state.name for t in optuna.load_study(study_name=study.study_name, storage=storage).trials}
        assert states <= {"COMPLETE", "PRUNED"}, states  # the trials told last reached the study too
    assert len(tables[0]) == 8
    assert tables[0].equals(tables[1]), (tables[0], tables[1])
