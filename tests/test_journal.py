"""The run journal: what a killed driver leaves behind must read back cleanly, and a journal
planted in someone's run folder can neither redirect nor garble what bench writes."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench import journal as journal_module
from bench.errors import BenchInputError
from bench.journal import Journal, check_optuna_journal, optuna_backend


def _trial(tid: str, **more) -> dict:
    return {"trial_id": tid, "family": "svm", "seed": 0, "status": "completed", **more}


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


def test_a_torn_last_line_is_cut_before_the_next_append(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The driver killed mid-append (the file truncated mid-line), then the run goes on: every
    finished row is kept and the next record is not glued onto the torn one."""
    journal = Journal(tmp_path / "journal.jsonl")
    for tid in "abc":
        journal.append("trial", _trial(tid))
    whole = journal.path.stat().st_size
    journal.append("trial", _trial("d"))
    os.truncate(journal.path, whole + 17)  # "d" was being written when the driver died
    assert journal.check() == 17
    with caplog.at_level(logging.WARNING, logger="bench.journal"):
        journal.append("trial", _trial("e"))
    assert "torn last line (17 bytes" in caplog.text
    assert [r["trial_id"] for r in journal.rows()["trial"]] == ["a", "b", "c", "e"]
    assert journal.path.read_bytes().count(b"\n") == 4 and journal.check() == 0


def test_a_garbage_line_in_the_middle_is_refused_with_its_number(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("trial", _trial("a"))
    with open(journal.path, "ab") as fh:
        fh.write(b"\x00\x01 not json\n")
    journal.append("trial", _trial("b"))
    with pytest.raises(BenchInputError, match=r"journal.jsonl line 2 is not a journal record"):
        journal.rows()
    with pytest.raises(BenchInputError, match="line 2"):
        journal.check()


@pytest.mark.parametrize("line", ['["kind", "trial"]', '{"kind": "bogus", "row": {}}', '{"kind": "trial", "row": {"trial_id": 7}}'])
def test_a_line_that_is_json_but_not_a_record_is_refused(tmp_path: Path, line: str) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"kind": "trial", "row": _trial("a")}) + "\n" + line + "\n")
    with pytest.raises(BenchInputError, match="line 2"):
        Journal(path).rows()


def test_a_symlinked_journal_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "bashrc"
    target.write_text("# a user's shell rc\n")
    link = tmp_path / "run" / "journal.jsonl"
    link.parent.mkdir()
    link.symlink_to(target)
    journal = Journal(link)
    with pytest.raises(BenchInputError, match="symbolic link"):
        journal.append("trial", _trial("a", error="$(touch /tmp/owned)"))
    with pytest.raises(BenchInputError, match="symbolic link"):
        journal.rows()
    assert target.read_text() == "# a user's shell rc\n"


def test_a_dangling_symlink_is_not_followed_to_create_its_target(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "profile"
    target.parent.mkdir()
    link = tmp_path / "journal.jsonl"
    link.symlink_to(target)
    with pytest.raises(BenchInputError, match="symbolic link"):
        Journal(link).append("trial", _trial("a"))
    assert not target.exists()


def test_a_fifo_journal_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "journal.jsonl"
    os.mkfifo(fifo)
    journal = Journal(fifo)
    with pytest.raises(BenchInputError):
        journal.append("trial", _trial("a"))
    with pytest.raises(BenchInputError, match="not a regular file"):
        journal.rows()


def test_a_hard_linked_journal_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("keep\n")
    os.link(other, tmp_path / "journal.jsonl")
    with pytest.raises(BenchInputError, match="hard links"):
        Journal(tmp_path / "journal.jsonl").append("trial", _trial("a"))
    assert other.read_text() == "keep\n"


def test_finished_rows_are_fsynced_and_history_rows_are_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(journal_module.os, "fsync", lambda fd: synced.append(fd))
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("history", {"trial_id": "a", "step": 1})  # creates the file: its folder is synced once
    created = len(synced)
    journal.append("history", {"trial_id": "a", "step": 2})
    assert len(synced) == created
    journal.append("trial", _trial("a"))
    journal.append("final", {"family": "svm", "seed": 0})
    assert len(synced) == created + 2


def test_a_process_killed_while_appending_loses_no_finished_row(tmp_path: Path) -> None:
    """A writer SIGKILLed while it appends: every row it finished reads back; the next append
    (the resumed driver) repairs whatever it left."""
    path = tmp_path / "journal.jsonl"
    code = ("import sys; from bench.journal import Journal; j = Journal(sys.argv[1]); i = 0\n"
            "while True:\n    j.append('history', {'trial_id': str(i), 'step': i, 'pad': 'x' * 4000}); i += 1\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=Path(__file__).resolve().parent.parent)
    try:
        deadline = 200
        while (not path.exists() or path.stat().st_size < 400_000) and deadline:
            subprocess.run(["sleep", "0.05"])
            deadline -= 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    journal = Journal(path)
    before = journal.rows()["history"]
    assert before and [r["step"] for r in before] == list(range(len(before)))
    journal.append("trial", _trial("after"))
    rows = journal.rows()
    assert rows["history"] == before and [r["trial_id"] for r in rows["trial"]] == ["after"]


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


# ------------------------------------------------------------------------------ Optuna's journal
def _study(path: Path):
    import optuna

    return optuna.create_study(study_name="s", storage=optuna.storages.JournalStorage(optuna_backend(path)), load_if_exists=True)


def test_optuna_journal_appends_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "optuna-journal.log"
    study = _study(path)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    assert len(_study(path).trials) == 3


def test_optuna_journal_through_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "profile"
    target.write_text("keep\n")
    (tmp_path / "optuna-journal.log").symlink_to(target)
    with pytest.raises(BenchInputError, match="symbolic link"):
        optuna_backend(tmp_path / "optuna-journal.log")
    (tmp_path / "dangling.log").symlink_to(tmp_path / "nowhere")
    with pytest.raises(BenchInputError, match="symbolic link"):
        optuna_backend(tmp_path / "dangling.log")
    assert target.read_text() == "keep\n" and not (tmp_path / "nowhere").exists()


def test_optuna_journal_torn_tail_is_cut_and_garbage_refused(tmp_path: Path) -> None:
    path = tmp_path / "optuna-journal.log"
    _study(path).optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines) + lines[-1][:10])  # a crash mid-append
    study = _study(path)  # repaired: Optuna would otherwise glue the next record onto it
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    assert len(_study(path).trials) == 3
    path.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[1:]))
    with pytest.raises(BenchInputError, match="line 2 is not an Optuna journal record"):
        check_optuna_journal(path)


def test_the_safe_backend_pickles(tmp_path: Path) -> None:
    import pickle

    backend = optuna_backend(tmp_path / "optuna-journal.log")
    assert type(pickle.loads(pickle.dumps(backend))) is type(backend)
