"""``bench perf`` runs and writes its JSON (figures are for the closing note, never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.mark.slow
def test_perf_quick_writes_every_measure(tmp_path: Path) -> None:
    output = tmp_path / "perf.json"
    result = run_cli("perf", "--quick", "--repeats", "1", "--output", str(output), timeout=1200)
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert set(report["targets"]) == {"overhead_per_trial_seconds", "ratio_1s_trials", "parallel_speedup",
                                      "memory_ratio", "asha_epoch_share", "asha_accuracy_gap_points",
                                      "reproducible_cost", "first_command_ratio"}
    assert report["bench_runs"] == 6  # --quick: measures asking for the same command share its run
    memory = report["results"]["memory"]
    assert memory["peak_pss_bytes_1"] > 50e6 and memory["peak_pss_bytes_2"] > 50e6  # Ray processes were measured
    parallel = report["results"]["parallel"]
    assert len(parallel["plain_loop_seconds_2_side_by_side"]) == 2 and parallel["speedup_ceiling"] > 0
    assert 1 <= parallel["speedup_bound_of_trial_lengths"] <= 2
    assert len(parallel["speedup_each"]) == 1 and parallel["speedup_each"][0] > 0  # paired with its 1-at-a-time run
    assert not any(key.startswith("_") for section in report["results"].values() for key in section)
    assert report["results"]["overhead_fast"]["trials"] == 4
    assert "kernel: {type: fixed, value: rbf}" in report["results"]["overhead_1s"]["workload"]["space"]  # recorded with it
    assert report["results"]["early_stopping"]["none"]["epochs"] > 0
    reproducible = report["results"]["reproducible"]
    assert len(reproducible["search_seconds_default_each"]) == len(reproducible["search_seconds_reproducible_each"]) == 1
    assert reproducible["reproducible_cost"] > 0 and reproducible["identical_trials"] is None  # one repeat compares nothing
    first = report["results"]["first_command"]
    assert first["workload"]["as_typed"] and first["trials"] == 4 and first["repeats"] == 1
    assert first["bench_wall_seconds"] > first["bench_search_seconds"] > 0 and first["plain_wall_seconds"] > first["plain_loop_seconds"] > 0
    assert first["ratio"] == first["bench_wall_seconds"] / first["plain_wall_seconds"]
    assert "first command, start to exit" in result.stdout
    served = report["results"]["serving"]["families"]  # --quick serves the first command's saved svm
    assert list(served) == ["svm"] and served["svm"]["served"]["requests"] == 40 and served["svm"]["served"]["failures"] == 0


def test_perf_rejects_zero_repeats(tmp_path: Path) -> None:
    result = run_cli("perf", "--quick", "--repeats", "0", "--output", str(tmp_path / "perf.json"))
    assert result.returncode == 2
    assert "--repeats" in result.stderr and "0" in result.stderr and "at least 1" in result.stderr


def test_list_schedule_bound() -> None:
    """Equal trials let two slots halve the time; one long trial caps the speedup."""
    from bench.perf import list_schedule_bound

    assert list_schedule_bound([1.0] * 4) == 2.0
    assert list_schedule_bound([1.0, 1.0, 4.0, 1.0]) == 7.0 / 5.0
    assert list_schedule_bound([3.0]) == 1.0
