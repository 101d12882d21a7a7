"""Whole runs of the new families through Ray Tune: early stopping and per-trial thread limits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import bench
from conftest import one_layer_mlp_space, run_cli

pytestmark = pytest.mark.slow


def test_asha_prunes_mlp_trials_at_lower_epochs(tmp_path: Path, mnist_dir: Path) -> None:
    pytest.importorskip("torch")
    # every trial asks for 9 epochs; only the learning rate varies, over a range wide enough
    # that some trials are clearly behind at the rungs (1/27, 1/9 and 1/3 of the plan: a third of an
    # epoch, where no trial is stopped yet, then epochs 1 and 3). On MNIST with a 256-unit layer a
    # full fit takes seconds, so ASHA's rule that spares trials projected under one second does not
    # apply (on digits every such trial is spared, and nothing is pruned).
    spaces = one_layer_mlp_space(tmp_path / "spaces", hidden_units=256, epochs=9, batch_size=32,
                                 schedule={"type": "fixed", "value": "constant"},
                                 adamw_lr={"type": "float", "low": 1.0e-5, "high": 3.0e-2, "log": True})
    result = run_cli("run", "--family", "mlp", "--trials", "12", "--sampler", "random", "--scheduler", "asha",
                     "--dataset", "mnist", "--data-dir", str(mnist_dir), "--train-size", "10000",
                     "--max-concurrent", "2", "--space-dir", str(spaces), "--results-dir", str(tmp_path / "r"),
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    results = bench.load(tmp_path / "r")
    trials, history = results.trials, results.history
    assert set(trials["status"]) == {"completed", "pruned"}, trials[["status", "fidelity", "error"]]
    completed = trials[trials["status"] == "completed"]
    pruned = trials[trials["status"] == "pruned"]
    assert (completed["fidelity"] == 9).all()
    assert pruned["fidelity"].max() < completed["fidelity"].min()
    assert pruned["fidelity"].min() >= 1  # nothing is stopped before its first epoch
    # history holds every report of every trial: each epoch, and the rung fractions inside one
    for _, trial in trials.iterrows():
        reports = history[history["trial_id"] == trial["trial_id"]].sort_values("step")
        assert reports["step"].tolist() == list(range(1, trial["steps"] + 1))
        fidelity = reports["fidelity"].tolist()
        assert fidelity == sorted(fidelity) and fidelity[-1] == trial["fidelity"]
        assert [f for f in fidelity if float(f).is_integer()] == list(range(1, int(trial["fidelity"]) + 1))
    assert results.final.iloc[0]["fidelity"] == 9


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to give a trial two threads")
def test_trials_keep_to_their_cpus(tmp_path: Path) -> None:
    families = ["lightgbm", "knn"] + (["mlp"] if _has_torch() else [])
    args = ["--trials", "3", "--train-size", "400", "--sampler", "random", "--no-progress"]
    one = run_cli("run", *sum((["--family", f] for f in families), []), *args, "--max-concurrent", "2",
                  "--cpus-per-trial", "1", "--results-dir", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    results = bench.load(tmp_path / "one")
    assert set(results.trials["family"]) == set(families)
    assert (results.trials["max_threads"] == 1).all(), results.trials[["family", "max_threads"]]
    assert (results.history["max_threads"] == 1).all()
    from bench.cluster import local_cpus

    assert (results.final["refit_threads"] == local_cpus()).all()  # the refit runs alone, with every core
    # the refits came back from Ray workers as saved models (text, skops, safetensors) that give
    # exactly the labels of the predictions table (every family, in process: test_saved_models)
    from bench.datasets import get_dataset

    X_test = get_dataset("digits").load().X_test
    for family in families:
        rows = results.predictions[results.predictions["family"] == family].sort_values("test_index")
        predicted = bench.load_model(next((tmp_path / "one").iterdir()), family).predict(X_test[rows["test_index"].to_numpy()])
        assert np.array_equal(predicted, rows["y_pred"].to_numpy()), family
    # the figure is the limit the trial got, not a constant: two cores give two threads
    two = run_cli("run", "--family", "lightgbm", *args, "--cpus-per-trial", "2", "--results-dir", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr
    assert (bench.load(tmp_path / "two").trials["max_threads"] == 2).all()


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
