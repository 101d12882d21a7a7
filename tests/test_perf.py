"""``bench perf`` runs and writes its JSON (figures are for the closing note, never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow


def test_perf_quick_writes_every_measure(tmp_path: Path) -> None:
    output = tmp_path / "perf.json"
    result = run_cli("perf", "--quick", "--output", str(output), timeout=1200)
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert set(report["targets"]) == {"overhead_per_trial_seconds", "ratio_1s_trials", "parallel_speedup",
                                      "memory_ratio", "asha_epoch_share", "asha_accuracy_gap_points"}
    parallel = report["results"]["parallel"]
    assert parallel["peak_pss_bytes_1"] > 50e6 and parallel["peak_pss_bytes_2"] > 50e6  # Ray processes were measured
    assert len(parallel["plain_loop_seconds_2_side_by_side"]) == 2 and parallel["speedup_ceiling"] > 0
    assert "_run" not in report["results"]["overhead_1s"]
    assert report["results"]["overhead_fast"]["trials"] == 4
    assert report["results"]["early_stopping"]["none"]["epochs"] > 0
