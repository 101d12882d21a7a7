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


def test_trials_stopped_by_an_interrupt_leave_no_rows(tmp_path) -> None:
    """Trials Tune stops after Ctrl-C are in flight, not finished: a resume must run them again."""
    from types import SimpleNamespace

    from bench import interrupt
    from bench.recorder import TrialRecorder

    journal = Journal(tmp_path / "journal.jsonl")
    recorder = TrialRecorder(base={}, max_fidelity=lambda params: 1, journal=journal)
    trial = SimpleNamespace(trial_id="t1", config={"C": 1.0}, num_failures=0)
    recorder.on_trial_start(0, [], trial)
    recorder.on_trial_result(0, [], trial, {"val_accuracy": 0.9, "fidelity": 1, "training_iteration": 1})
    interrupt.requested.set()
    try:
        recorder.on_trial_complete(0, [], trial)
        recorder.on_experiment_end([trial])
    finally:
        interrupt.requested.clear()
    assert journal.rows()["trial"] == []
    recorder.on_trial_complete(0, [], trial)
    assert [r["status"] for r in journal.rows()["trial"]] == ["completed"]
