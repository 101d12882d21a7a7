"""Interrupted runs keep what finished and ``--resume`` completes them without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, run_cli

pytestmark = pytest.mark.slow
TRIALS = 10


def _start(results: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--family", "logreg", "--trials", str(TRIALS), "--max-concurrent", "1",
         "--results-dir", str(results), "--no-progress"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )


def _wait_for_trials(results: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        journals = list(results.glob("*/journal.jsonl"))
        if journals:
            lines = [json.loads(line) for line in journals[0].read_text().splitlines() if line.strip()]
            if sum(entry["kind"] == "trial" for entry in lines) >= n:
                return journals[0].parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the run produced no trials in time")


def _resume_and_check(run_dir: Path) -> pd.DataFrame:
    result = run_cli("run", "--resume", str(run_dir), "--no-progress")
    assert result.returncode == 0, result.stderr
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert len(trials) == TRIALS, trials[["trial_id", "trial_number", "status"]]
    assert trials["trial_id"].is_unique and sorted(trials["trial_number"]) == list(range(TRIALS))
    final = pd.read_parquet(run_dir / "final.parquet")
    assert len(final) == 1 and final.loc[0, "status"] == "completed" and final.loc[0, "trials"] == TRIALS
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    return trials


def test_ctrl_c_saves_and_resume_finishes(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    run_dir = _wait_for_trials(tmp_path, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "resume with: python -m bench run --resume" in stderr
    saved = pd.read_parquet(run_dir / "trials.parquet")
    assert 2 <= len(saved) < TRIALS
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    assert (run_dir / "report.html").is_file()
    trials = _resume_and_check(run_dir)
    # what finished before Ctrl-C is kept as it was, not re-run
    kept = trials.set_index("trial_id").loc[saved["trial_id"]]
    assert (kept["finished_at"].values == saved["finished_at"].values).all()


def test_killed_driver_loses_only_trials_in_flight(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    run_dir = _wait_for_trials(tmp_path, 3, proc)
    proc.kill()
    proc.communicate(timeout=60)
    journal_rows = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    before = {e["row"]["trial_id"] for e in journal_rows if e["kind"] == "trial"}
    trials = _resume_and_check(run_dir)
    assert before <= set(trials["trial_id"])

