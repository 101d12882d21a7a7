"""PyTorch trials checkpoint into the run's storage; a trial whose worker dies goes on from it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bench
from conftest import REPO, one_layer_mlp_space

pytestmark = pytest.mark.slow
EPOCHS = 12


def _history(results: Path) -> list[dict]:
    rows = []
    for journal in results.glob("*/journal.jsonl"):
        for line in journal.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            if entry["kind"] == "history":
                rows.append(entry["row"])
    return rows


def test_trial_whose_worker_dies_goes_on_from_its_checkpoint(tmp_path: Path, mnist_dir: Path) -> None:
    """On a holdout (10,000 MNIST images: a smaller set is cross-validated, and a CV trial starts over)."""
    pytest.importorskip("torch")
    spaces = one_layer_mlp_space(tmp_path / "spaces", hidden_units=32, epochs=EPOCHS, batch_size=64,
                                 adamw_lr={"type": "float", "low": 1.0e-3, "high": 3.0e-3, "log": True})
    results, storage = tmp_path / "results", tmp_path / "storage"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--family", "mlp", "--trials", "2", "--max-concurrent", "1",
         "--dataset", "mnist", "--data-dir", str(mnist_dir), "--train-size", "10000",
         "--scheduler", "none", "--checkpoint-interval", "0", "--storage", str(storage), "--space-dir", str(spaces),
         "--results-dir", str(results), "--no-progress"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        reports = [r for r in _history(results) if r["fidelity"] >= 5 and float(r["fidelity"]).is_integer()]
        if reports:
            killed = reports[0]
            os.kill(int(killed["pid"]), signal.SIGKILL)  # the worker dies mid-trial, the driver lives
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=300)
    assert killed is not None, "no trial reached epoch 5 in time"
    assert proc.returncode == 0, stderr

    run = bench.load(results)
    trials = run.trials.set_index("trial_id")
    assert len(trials) == 2 and (trials["status"] == "completed").all() and (trials["fidelity"] == EPOCHS).all()
    assert trials.loc[killed["trial_id"], "retries"] == 1
    steps = run.history[run.history["trial_id"] == killed["trial_id"]].sort_values("timestamp")
    after = steps[steps["pid"] != killed["pid"]]
    # the retry started from the last checkpoint (an epoch end), not from epoch 1, and finished the plan
    assert after["fidelity"].min() > killed["fidelity"] - 1 >= 4, steps[["fidelity", "pid"]]
    epochs = sorted({int(f) for f in steps["fidelity"] if float(f).is_integer()})
    assert epochs == list(range(1, EPOCHS + 1))
    # checkpoints went to --storage while the trials ran, and were dropped when they finished
    assert list(storage.rglob("trial.json")) == []
    assert any(storage.rglob("trial_*"))
