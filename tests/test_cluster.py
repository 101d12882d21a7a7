"""A real two-node Ray cluster on loopback: trials spread over nodes and survive a lost node.

Trials must outlast the start of a worker process on the second node (a few seconds here),
or Ray Tune rightly keeps reusing the warm worker on the first: hence MNIST-sized trials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.cluster import single_machine_mode
from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture
def two_nodes():
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # both nodes on loopback, as bench keeps its own local instance: nothing faces the network
    with single_machine_mode():
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        try:
            yield cluster, worker
        finally:
            cluster.shutdown()


def _bench(address: str, results: Path, mnist_dir: Path, trials: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--family", "logreg", "--trials", str(trials), "--address", address,
         "--dataset", "mnist", "--data-dir", str(mnist_dir), "--train-size", "15000",
         "--max-concurrent", "2", "--results-dir", str(results), "--no-progress"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RAY_ADDRESS": ""},
    )


def _run_dir(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if (p / "manifest.json").is_file()]
    return run_dir


def test_trials_run_on_both_nodes(two_nodes, tmp_path: Path, mnist_dir: Path) -> None:
    cluster, _ = two_nodes
    proc = _bench(cluster.address, tmp_path, mnist_dir, trials=6)
    _, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    trials = pd.read_parquet(_run_dir(tmp_path) / "trials.parquet")
    assert len(trials) == 6 and (trials["status"] == "completed").all()
    assert trials["node_id"].nunique() == 2, trials["node_id"].value_counts()
    assert set(trials["node_ip"]) == {"127.0.0.1"}  # two nodes, both on loopback
    assert json.loads((_run_dir(tmp_path) / "manifest.json").read_text())["cluster"]["nodes"] == 2
    assert "without --storage" in stderr  # the multi-node note


def test_a_lost_worker_node_is_retried(two_nodes, tmp_path: Path, mnist_dir: Path) -> None:
    cluster, worker = two_nodes
    proc = _bench(cluster.address, tmp_path, mnist_dir, trials=6)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        journals = list(tmp_path.glob("*/journal.jsonl"))
        rows = [json.loads(line)["row"] for line in journals[0].read_text().splitlines()] if journals else []
        if any(r.get("node_id") == worker.node_id for r in rows):
            break  # the worker node runs trials; its warm worker has taken the next one
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(1.0)
    cluster.remove_node(worker)
    _, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    trials = pd.read_parquet(_run_dir(tmp_path) / "trials.parquet")
    assert len(trials) == 6 and trials["trial_id"].is_unique
    assert (trials["status"] == "completed").all(), trials[["status", "error"]]
    assert trials["retries"].sum() >= 1, trials[["trial_id", "node_id", "retries"]]
    after = trials[trials["retries"] > 0]
    assert (after["node_id"] != worker.node_id).all()  # the retry ran on the surviving node
