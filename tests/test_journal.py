"""The run journal: what a killed driver leaves behind must read back cleanly."""

from __future__ import annotations

from pathlib import Path

from bench.journal import Journal


def test_rows_survive_a_torn_last_line_and_repeats_keep_the_last(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("trial", {"trial_id": "a", "status": "failed", "val_accuracy": float("nan")})
    journal.append("history", {"trial_id": "b", "step": 1})
    journal.append("trial", {"trial_id": "a", "status": "completed", "val_accuracy": 0.9})
    with open(journal.path, "a") as fh:
        fh.write('{"kind": "trial", "row": {"trial_id": "c"')  # cut by SIGKILL mid-write
    rows = journal.rows()
    assert [r["trial_id"] for r in rows["trial"]] == ["a"]
    assert rows["trial"][0]["status"] == "completed"
    assert rows["history"] == [{"trial_id": "b", "step": 1}]


def test_missing_journal_reads_empty(tmp_path: Path) -> None:
    assert Journal(tmp_path / "none.jsonl").rows() == {"trial": [], "history": [], "final": []}
