"""Safe with anyone's run folder (issue 17): crafted folders handed to ``--resume``, ``bench
report`` and ``bench.load`` end in exit status 2 and one line, touch nothing outside the folder,
empty no table, and never hang. None of these tests starts Ray (one marked slow does, once).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import bench
from bench import cli
from bench.errors import BenchInputError
from bench.journal import Journal

RUN_ID = "20260101-000000-digits-knn-beef"
SECONDS = 90  # no case may take longer (a FIFO or a bomb would hang or swell without the checks)
MARKUP = "[link=https://evil.example/]click[/link]\x1b]8;;https://evil.example/\x07here\x1b]8;;\x07"


# ------------------------------------------------------------------------------ crafted folders
def _tables(run_id: str = RUN_ID, trials: int = 4) -> dict[str, pd.DataFrame]:
    """Small tables in the shape ``bench run`` writes them: knn on digits, one seed."""
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({
        "run_id": run_id, "dataset": "digits", "family": "knn", "seed": 0, "sampler": "tpe", "cpus": 1, "gpus": 0.0,
        "trial_id": [f"t{i}" for i in range(trials)], "trial_number": range(trials), "status": "completed",
        "is_default": [i == 0 for i in range(trials)], "params_n_neighbors": [5, 3, 7, 9][:trials],
        "params_weights": ["uniform", "distance", "uniform", "distance"][:trials],
        "val_accuracy": 0.95 + rng.uniform(0, 0.03, trials), "val_accuracy_se": 0.005, "fit_seconds": rng.uniform(0.1, 1, trials),
        "fidelity": 1, "progress": 1.0, "started_at": [f"2026-01-01T00:00:0{i}+00:00" for i in range(trials)],
        "finished_at": [f"2026-01-01T00:00:0{i + 1}+00:00" for i in range(trials)], "wall_seconds": 1.0, "retries": 0,
        "error": None,
    })
    history = rows[["run_id", "dataset", "family", "seed", "trial_id", "trial_number", "val_accuracy"]].assign(step=1)
    y_true = np.arange(360) % 10
    y_pred = y_true.copy()
    y_pred[:9] = (y_pred[:9] + 1) % 10
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    final = pd.DataFrame([{
        "run_id": run_id, "dataset": "digits", "family": "knn", "seed": 0, "sampler": "tpe", "scheduler": "none",
        "trials_requested": trials, "time_budget_s": None, "mode": "default", "validation": "5-fold CV",
        "train_size": 1437, "test_size": 360, "trials": trials, "trials_completed": trials, "trials_pruned": 0,
        "trials_cut": 0, "trials_failed": 0, "search_seconds": 5.0, "status": "completed", "selected": "default",
        "refit_note": None, "params": json.dumps({"n_neighbors": 5}), "val_accuracy": 0.97, "val_accuracy_se": 0.005,
        "test_accuracy": 1 - 9 / 360, "default_test_accuracy": 1 - 9 / 360, "default_val_accuracy": 0.97,
        "tuning_gain": 0.0, "tuning_p_value": 1.0, "refit_seconds": 0.5, "fit_seconds": 0.5,
        "confusion_matrix": json.dumps(matrix.tolist()), "default_params": json.dumps({}),
    }])
    predictions = pd.DataFrame({"run_id": run_id, "dataset": "digits", "family": "knn", "seed": 0, "test_index": range(360),
                                "y_true": y_true, "y_pred": y_pred, "y_pred_default": y_pred})
    return {"trials": rows, "history": history, "final": final, "predictions": predictions}


def _manifest(run_id: str = RUN_ID, status: str = "interrupted", **options: Any) -> dict[str, Any]:
    saved = {"families": ["knn"], "dataset": "digits", "trials": 6, "time_budget_s": None, "seeds": [0], "sampler": "tpe",
             "cpus_per_trial": 1, "gpus_per_trial": 0.0, "scheduler": "none", "max_concurrent": 1, "max_failures": 2,
             "address": None, "storage": None, "checkpoint_interval_s": 30.0, "data_dir": None, "train_size": None,
             "results_dir": "results", "name": None, "space_dir": None, "progress": False, "command": "", "reproducible": False}
    saved.update(options)
    return {"run_id": run_id, "kind": "search", "status": status, "started_at": "2026-01-01T00:00:00+00:00",
            "options": saved, "families": ["knn"], "seeds": [0], "dataset": {"name": "digits", "sizes": {"train": 1437, "test": 360}},
            "search_spaces": {}}


def make_run(root: Path, name: str = RUN_ID, *, finished: bool = False, manifest: dict | None = None, **options: Any) -> Path:
    """A run folder as an interrupted ``bench run`` leaves it: tables, manifest and the journal
    they were rebuilt from (its trials, and the final row when ``finished``)."""
    folder = root / name
    folder.mkdir(parents=True)
    tables = _tables()
    if not finished:
        tables["final"] = tables["final"].iloc[0:0]
    for table, frame in tables.items():
        frame.to_parquet(folder / f"{table}.parquet", index=False)
    journal = Journal(folder / "journal.jsonl")
    for row in tables["trials"].to_dict("records"):
        journal.append("trial", row)
    for row in tables["final"].to_dict("records"):
        journal.append("final", row)
    (folder / "manifest.json").write_text(json.dumps(manifest or _manifest(status="finished" if finished else "interrupted", **options)))
    return folder


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes | str]]:
    """Every entry under ``root``: kind, size, and the bytes of regular files (links by target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", 0, os.readlink(path))
        elif path.is_fifo():
            out[rel] = ("fifo", 0, b"")
        elif path.is_file():
            out[rel] = ("file", path.stat().st_size, path.read_bytes() if path.stat().st_size < 2**24 else b"big")
        elif path.is_dir():
            out[rel] = ("dir", 0, b"")
    return out


@pytest.fixture(autouse=True)
def bounded(monkeypatch: pytest.MonkeyPatch):
    """Each case ends within SECONDS; no case starts Ray or installs signal handlers."""
    def too_long(signum, frame):
        raise TimeoutError(f"a crafted-folder case ran past {SECONDS}s (something hung or swelled)")

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for a folder that should have been refused")

    monkeypatch.setattr("bench.runner.ray_session", no_ray)
    monkeypatch.setattr("bench.interrupt.install", lambda: None)
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def refused(capsys: pytest.CaptureFixture, args: list[str], *needles: str) -> str:
    """Run ``python -m bench ARGS`` in this process: exit status 2 and one line on stderr."""
    status = cli.main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, (status, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("bench: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


class Untouched:
    """The whole tree under ``root`` (the run folder and everything around it), before and after."""

    def __init__(self, root: Path) -> None:
        self.root, self.before = root, snapshot(root)

    def check(self) -> None:
        after = snapshot(self.root)
        assert after == self.before, sorted(set(after.items()) ^ set(self.before.items()))[:5]


def resume_refused(tmp_path: Path, capsys, folder: Path, *needles: str, extra: list[str] | None = None) -> str:
    tree = Untouched(tmp_path)
    line = refused(capsys, ["run", "--resume", str(folder), "--no-progress", *(extra or [])], *needles)
    tree.check()  # nothing written: no table emptied, no file outside the folder touched
    return line


# ------------------------------------------------------------------- --resume: saved options
@pytest.mark.parametrize(("option", "value", "needle"), [
    ("trials", -5, "trials=-5"),
    ("trials", 0, "trials=0"),
    ("trials", "20", "options.trials is str"),
    ("seeds", ["0"], "seeds="),
    ("seeds", [1.5], "seeds="),
    ("seeds", [0, 0], "seeds="),
    ("seeds", [], "seeds="),
    ("cpus_per_trial", 0, "cpus_per_trial=0"),
    ("cpus_per_trial", True, "cpus_per_trial=true"),
    ("gpus_per_trial", -1, "gpus_per_trial=-1"),
    ("max_failures", -1, "max_failures=-1"),
    ("max_concurrent", 0, "max_concurrent=0"),
    ("checkpoint_interval_s", -1, "checkpoint_interval_s=-1"),
    ("time_budget_s", float("inf"), "options.time_budget_s is inf, not a finite number"),
    ("checkpoint_interval_s", float("nan"), "checkpoint_interval_s=NaN"),
    ("train_size", 0, "train_size=0"),
    ("families", [], "families=[]"),
    ("families", "knn", "families=\"knn\""),
    ("reproducible", "yes", "options.reproducible is str"),
])
def test_saved_options_are_checked_like_the_command_line(tmp_path: Path, capsys, option: str, value: Any, needle: str) -> None:
    folder = make_run(tmp_path, **{option: value})
    resume_refused(tmp_path, capsys, folder, "manifest", needle)


def test_saved_address_storage_and_paths_are_not_taken_from_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile ray:// address (Ray Client unpickles what its server sends), a storage URI and
    a results folder elsewhere: none is used, nothing connects, nothing is created there."""
    from bench.runner import Run

    elsewhere = tmp_path / "elsewhere"
    folder = make_run(tmp_path / "results", address="ray://attacker.example:10001", storage="s3://attacker/bucket",
                      results_dir=str(elsewhere / "results"), data_dir=str(elsewhere / "data"))

    def no_connection(*args, **kwargs):
        raise AssertionError(f"connected to {args[0]!r}")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    tree = Untouched(tmp_path)
    run = Run.resume(folder, progress=False)
    tree.check()
    assert run.options.address is None and run.options.storage is None
    assert run.options.results_dir == folder.resolve().parent and run.options.data_dir is None
    assert not elsewhere.exists()
    assert run.run_dir == folder.resolve() and run.run_id == RUN_ID


def test_paths_given_again_or_inside_the_folder_are_used(tmp_path: Path) -> None:
    from bench.runner import Run

    folder = make_run(tmp_path, data_dir="data", space_dir="spaces")
    (folder / "spaces").mkdir()
    (folder / "spaces" / "knn.yaml").write_text((Path(bench.__file__).parent.parent / "search_spaces" / "knn.yaml").read_text())
    run = Run.resume(folder, progress=False)
    assert run.options.space_dir == (folder / "spaces").resolve() and run.options.data_dir == (folder / "data").resolve()
    run = Run.resume(folder, progress=False, address="auto", storage="/shared/nfs", space_dir=folder / "spaces")
    assert run.options.address == "auto" and run.options.storage == "/shared/nfs"


def test_a_space_dir_outside_the_folder_must_be_passed_again(tmp_path: Path, capsys) -> None:
    spaces = tmp_path / "attacker-spaces"
    spaces.mkdir()
    folder = make_run(tmp_path / "results", space_dir=str(spaces))
    resume_refused(tmp_path, capsys, folder, "outside the run folder", "--space-dir again")


def test_a_relative_path_escaping_the_folder_is_outside(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path / "results", space_dir="../../")
    resume_refused(tmp_path, capsys, folder, "--space-dir again")


def test_a_space_file_inside_the_folder_that_is_a_fifo_is_refused(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, space_dir="spaces")
    (folder / "spaces").mkdir()
    os.mkfifo(folder / "spaces" / "knn.yaml")
    resume_refused(tmp_path, capsys, folder, "knn.yaml is not a regular file (a FIFO)")


def test_a_run_id_that_is_not_a_name_is_refused(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, manifest=_manifest(run_id="../../.bashrc"))
    resume_refused(tmp_path, capsys, folder, "run_id", "not a run id")


# ------------------------------------------------------------------------ --resume: the journal
def test_a_symlinked_journal_is_refused(tmp_path: Path, capsys) -> None:
    rc = tmp_path / "home" / ".bashrc"
    rc.parent.mkdir()
    rc.write_text("# rc\n")
    folder = make_run(tmp_path / "results")
    (folder / "journal.jsonl").unlink()
    (folder / "journal.jsonl").symlink_to(rc)
    resume_refused(tmp_path, capsys, folder, "symbolic link")
    assert rc.read_text() == "# rc\n"


def test_a_symlinked_optuna_journal_is_refused(tmp_path: Path, capsys) -> None:
    rc = tmp_path / "home" / ".profile"
    rc.parent.mkdir()
    rc.write_text("# profile\n")
    folder = make_run(tmp_path / "results")
    (folder / "optuna-journal.log").symlink_to(rc)
    resume_refused(tmp_path, capsys, folder, "symbolic link")


def test_a_symlinked_tune_folder_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "home").mkdir()
    folder = make_run(tmp_path / "results")
    (folder / "tune").symlink_to(tmp_path / "home")
    resume_refused(tmp_path, capsys, folder, "tune is a symbolic link")


def test_a_fifo_journal_is_refused_without_hanging(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    (folder / "journal.jsonl").unlink()
    os.mkfifo(folder / "journal.jsonl")
    resume_refused(tmp_path, capsys, folder, "journal.jsonl")


def test_a_missing_journal_is_refused_and_the_tables_kept(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    (folder / "journal.jsonl").unlink()
    resume_refused(tmp_path, capsys, folder, "no journal.jsonl")
    assert len(pd.read_parquet(folder / "trials.parquet")) == 4


def test_a_journal_short_of_the_tables_is_refused(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    lines = (folder / "journal.jsonl").read_text().splitlines(keepends=True)
    (folder / "journal.jsonl").write_text("".join(lines[:2]))  # two of the four finished trials
    resume_refused(tmp_path, capsys, folder, "trials.parquet holds 2 row(s) the journal lacks")


def test_a_garbage_line_in_the_journal_is_refused_with_its_number(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    lines = (folder / "journal.jsonl").read_text().splitlines(keepends=True)
    (folder / "journal.jsonl").write_text(lines[0] + "garbage\n" + "".join(lines[1:]))
    resume_refused(tmp_path, capsys, folder, "journal.jsonl line 2 is not a journal record")


def test_a_torn_last_line_is_accepted_and_no_finished_trial_lost(tmp_path: Path, capsys) -> None:
    """The driver killed while it appended (the journal ends mid-line): resume goes on, says so,
    and the next append cuts only the torn bytes."""
    from bench.runner import Run

    folder = make_run(tmp_path)
    journal = folder / "journal.jsonl"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"kind": "trial", "row": {"trial_id": "t4", "fam')
    run = Run.resume(folder, progress=False)
    assert "torn line" in capsys.readouterr().err
    assert [r["trial_id"] for r in run.journal.rows()["trial"]] == ["t0", "t1", "t2", "t3"]
    run.journal.append("trial", {"trial_id": "t4", "family": "knn", "seed": 0, "status": "completed"})
    assert journal.read_bytes().startswith(whole) and len(run.journal.rows()["trial"]) == 5


def test_a_finished_run_is_refused(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, finished=True)
    resume_refused(tmp_path, capsys, folder, "already finished")


# ----------------------------------------------------------------- --resume: the manifest itself
@pytest.mark.parametrize(("text", "needle"), [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "not a run manifest"),
    ('{"run_id": 7}', "names no run"),
    (json.dumps({**_manifest(), "options": [1]}), "options is list"),
    (json.dumps({**_manifest(), "dataset": {"name": ["digits"]}}), "dataset.name is list"),
    ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
])
def test_a_malformed_manifest_is_one_line(tmp_path: Path, capsys, text: str, needle: str) -> None:
    folder = make_run(tmp_path)
    (folder / "manifest.json").write_text(text)
    resume_refused(tmp_path, capsys, folder, needle)
    refused(capsys, ["report", str(folder), "-o", str(tmp_path / "r.html")], needle)


def test_a_truncated_table_is_refused_on_resume(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    data = (folder / "trials.parquet").read_bytes()
    (folder / "trials.parquet").write_bytes(data[: len(data) // 2])
    resume_refused(tmp_path, capsys, folder, "trials.parquet is not a readable Parquet table", "move it away")


# ------------------------------------------------------------------------------- bench report
def report_refused(tmp_path: Path, capsys, paths: list[Path], *needles: str) -> str:
    tree = Untouched(tmp_path)
    line = refused(capsys, ["report", *map(str, paths), "-o", str(tmp_path / "out" / "r.html")], *needles)
    tree.check()
    return line


def test_a_truncated_parquet_file_is_one_line(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, finished=True)
    data = (folder / "final.parquet").read_bytes()
    (folder / "final.parquet").write_bytes(data[:100])
    report_refused(tmp_path, capsys, [folder], "final.parquet is not a readable Parquet table")
    with pytest.raises(BenchInputError):
        bench.load(folder)


def test_a_parquet_bomb_is_refused_with_the_limit(tmp_path: Path, capsys) -> None:
    """A file of a few KiB that decompresses to 96 MiB: refused at bench's default limit."""
    folder = make_run(tmp_path, finished=True)
    pd.DataFrame({"run_id": RUN_ID, "test_index": np.zeros(12 * 2**20, dtype=np.int64)}).to_parquet(
        folder / "predictions.parquet", index=False, compression="zstd")
    assert (folder / "predictions.parquet").stat().st_size < 2**20
    report_refused(tmp_path, capsys, [folder], "predictions.parquet", "decompress", "allowed for a", "at most 2.0 GiB")


def test_the_parquet_limit_counts_what_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import safe_io

    path = tmp_path / "t.parquet"
    pd.DataFrame({"x": np.arange(400_000)}).to_parquet(path, index=False)
    monkeypatch.setattr(safe_io, "PARQUET_SLACK_BYTES", 1024)
    monkeypatch.setattr(safe_io, "MAX_PARQUET_RATIO", 1)
    with pytest.raises(BenchInputError, match=r"t.parquet .*decompress"):
        safe_io.read_parquet(path)


def test_an_oversized_manifest_is_refused_with_the_limit(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, finished=True)
    with open(folder / "manifest.json", "r+b") as fh:
        fh.truncate(17 * 2**20)  # sparse: no disk used
    report_refused(tmp_path, capsys, [folder], "manifest.json is 17.0 MiB", "16.0 MiB")


def test_an_oversized_table_is_refused_with_the_limit(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.safe_io.MAX_PARQUET_FILE_BYTES", 2**20)
    folder = make_run(tmp_path, finished=True)
    with open(folder / "history.parquet", "r+b") as fh:
        fh.truncate(2 * 2**20)
    report_refused(tmp_path, capsys, [folder], "history.parquet is 2.0 MiB", "1.0 MiB")


def test_a_fifo_table_is_refused_without_hanging(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, finished=True)
    (folder / "final.parquet").unlink()
    os.mkfifo(folder / "final.parquet")
    report_refused(tmp_path, capsys, [folder], "final.parquet is not a regular file (a FIFO)")


def test_a_device_as_table_is_refused(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, finished=True)
    (folder / "final.parquet").unlink()
    (folder / "final.parquet").symlink_to("/dev/zero")
    report_refused(tmp_path, capsys, [folder], "final.parquet is not a regular file (a character device)")


def test_a_fifo_manifest_is_no_run(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, finished=True)
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    report_refused(tmp_path, capsys, [folder], "no runs found under")


@pytest.mark.parametrize(("matrix", "needle"), [
    ("[[1, 2], [3]]", "not a square matrix"),
    ("not json", "not valid JSON"),
    ("[[1, -2], [3, 4]]", "not a count"),
    ('[["a", 1], [1, 1]]', "not a count"),
    ("7", "not a square matrix"),
])
def test_a_bad_confusion_matrix_is_one_line(tmp_path: Path, capsys, matrix: str, needle: str) -> None:
    folder = make_run(tmp_path, finished=True)
    _tables()["final"].assign(confusion_matrix=matrix).to_parquet(folder / "final.parquet", index=False)
    report_refused(tmp_path, capsys, [folder], "confusion_matrix", needle)


@pytest.mark.parametrize(("table", "column", "value", "needle"), [
    ("final", "test_accuracy", "0.99", "'test_accuracy' holds str values, not numbers"),
    ("trials", "val_accuracy", "high", "'val_accuracy' holds str values"),
    ("trials", "family", 3, "'family' holds int values, not text"),
    ("predictions", "y_pred", "x", "'y_pred' holds str values"),
])
def test_wrong_types_in_a_table_are_one_line(tmp_path: Path, capsys, table: str, column: str, value: Any, needle: str) -> None:
    folder = make_run(tmp_path, finished=True)
    _tables()[table].assign(**{column: value}).to_parquet(folder / f"{table}.parquet", index=False)
    report_refused(tmp_path, capsys, [folder], f"{table}.parquet", needle)


def test_list_cells_only_where_bench_writes_lists(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, finished=True)
    trials = _tables()["trials"]
    trials["val_fold_accuracies"] = [[0.9, 0.95, 0.97]] * len(trials)  # per-fold scores: a list column
    trials.to_parquet(folder / "trials.parquet", index=False)
    assert len(bench.load(folder).trials) == 4
    trials["refit_note"] = [["a", "b"]] * len(trials)  # read as one text by the leaderboard
    trials.to_parquet(folder / "trials.parquet", index=False)
    report_refused(tmp_path, capsys, [folder], "'refit_note' holds ndarray values, not text or numbers")


def test_two_folders_with_one_run_id_and_different_contents_are_refused(tmp_path: Path, capsys) -> None:
    make_run(tmp_path / "a", finished=True)
    other = make_run(tmp_path / "b", finished=True)
    _tables()["final"].assign(test_accuracy=1.0).to_parquet(other / "final.parquet", index=False)
    report_refused(tmp_path, capsys, [tmp_path / "a", tmp_path / "b"], "two run folders claim run", "different contents")


def test_a_copied_run_folder_is_read_once(tmp_path: Path) -> None:
    make_run(tmp_path / "a", finished=True)
    make_run(tmp_path / "b", finished=True)
    results = bench.load(tmp_path / "a", tmp_path / "b")
    assert len(results.final) == 1 and list(results.duplicates) == [RUN_ID]


def test_a_search_space_fifo_inside_the_folder_is_refused(tmp_path: Path, capsys) -> None:
    manifest = _manifest(status="finished")
    manifest["search_spaces"] = {"knn": "knn.yaml"}
    folder = make_run(tmp_path, finished=True, manifest=manifest)
    os.mkfifo(folder / "knn.yaml")
    report_refused(tmp_path, capsys, [folder], "search space 'knn'", "a FIFO")


def test_paths_a_manifest_names_outside_its_folder_are_not_read(tmp_path: Path, capsys) -> None:
    """The issue's hangs: a search-space path set to a FIFO, a data_dir of endless or huge files.
    Outside the run folder they are never opened: the report completes (and does not download)."""
    (tmp_path / "trap").mkdir()
    os.mkfifo(tmp_path / "trap" / "knn.yaml")
    manifest = _manifest(status="finished", data_dir=str(tmp_path / "trap"))
    manifest["search_spaces"] = {"knn": str(tmp_path / "trap" / "knn.yaml")}
    manifest["dataset"] = {"name": "mnist"}
    folder = make_run(tmp_path / "results", finished=True, manifest=manifest)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / "trap" / stem).symlink_to("/dev/zero")

    def no_download(*args, **kwargs):
        raise AssertionError("the report tried to download a dataset")

    import urllib.request

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(urllib.request, "urlopen", no_download)
        patch.setattr("bench.datasets.mnist_like.Mnist.system_dirs", ())  # no MNIST of this machine's either
        status = cli.main(["report", str(folder), "-o", str(tmp_path / "r.html")])
    assert status == 0, capsys.readouterr().err
    page = (tmp_path / "r.html").read_text()
    assert "never downloads" in page  # the images section says why there are none


def test_confined_keeps_only_paths_inside_or_given(tmp_path: Path) -> None:
    from bench.report.cli import confined

    folder = make_run(tmp_path / "results", finished=True, data_dir="/somewhere/else")
    results = bench.load(folder)
    assert confined(results).manifests[RUN_ID]["options"]["data_dir"] is None
    given = confined(results, data_dir=tmp_path / "mine").manifests[RUN_ID]["options"]["data_dir"]
    assert given == str(tmp_path / "mine")
    assert results.manifests[RUN_ID]["options"]["data_dir"] == "/somewhere/else"  # bench.load keeps the record


def test_no_downloads_inside_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    from bench.datasets import get_dataset, no_downloads

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(AssertionError("download")))
    with no_downloads("bench report never downloads"), pytest.raises(BenchInputError, match="never downloads"):
        get_dataset("mnist").load(None)


# -------------------------------------------------------------------------- IDX and gzip files
def _idx_folder(tmp_path: Path, first: bytes) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(first)
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / f"{stem}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 1) + b"\x00"))
    return folder


def _run_mnist(tmp_path: Path, capsys, folder: Path, *needles: str) -> str:
    tree = Untouched(tmp_path)
    line = refused(capsys, ["run", "--family", "logreg", "--dataset", "mnist", "--data-dir", str(folder),
                            "--results-dir", str(tmp_path / "results"), "--no-progress"], *needles)
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("results")} == {k: v for k, v in tree.before.items()}
    return line


def test_corrupt_deflate_data_is_one_line(tmp_path: Path, capsys) -> None:
    good = gzip.compress(b"\x00" * 100_000)
    corrupt = good[:20] + bytes(b ^ 0x5A for b in good[20:60]) + good[60:]
    _run_mnist(tmp_path, capsys, _idx_folder(tmp_path, corrupt), "corrupt gzip file", "train-images-idx3-ubyte.gz")


def test_a_truncated_gzip_is_one_line(tmp_path: Path, capsys) -> None:
    _run_mnist(tmp_path, capsys, _idx_folder(tmp_path, gzip.compress(b"\x01" * 10_000)[:30]), "corrupt gzip file")


def test_a_gzip_bomb_stops_at_the_limit(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.datasets.idx.MAX_IDX_BYTES", 2**20)
    bomb = gzip.compress(b"\x00" * (4 * 2**20), compresslevel=9)
    _run_mnist(tmp_path, capsys, _idx_folder(tmp_path, bomb), "decompresses to more than 1.0 MiB")


def test_an_oversized_idx_file_is_refused(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.datasets.idx.MAX_IDX_FILE_BYTES", 2**20)
    folder = _idx_folder(tmp_path, b"")
    with open(folder / "train-images-idx3-ubyte.gz", "r+b") as fh:
        fh.truncate(3 * 2**20)
    _run_mnist(tmp_path, capsys, folder, "is 3.0 MiB, more than the 1.0 MiB")


@pytest.mark.parametrize("header", [
    b"\x00\x00\x08\xff",  # 255 dimensions
    b"\x00\x00\x08\x03" + struct.pack(">III", 2**32 - 1, 2**32 - 1, 2**32 - 1),  # overflows int64
    b"\x00\x00\x08\x04\x00\x00",  # the header ends early
])
def test_a_crafted_idx_header_is_one_line(header: bytes) -> None:
    from bench.datasets.idx import parse_idx

    with pytest.raises(BenchInputError):
        parse_idx(header + b"\x00" * 16, "crafted")


# ---------------------------------------------------------------------------- what is printed
def test_markup_and_control_characters_in_an_error_stay_text(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path / "results", space_dir="/x/" + MARKUP)
    line = resume_refused(tmp_path, capsys, folder, "[link=https://evil.example/]click[/link]")
    assert "\x1b" not in line and "\x07" not in line and "\\x1b]8;;" in line


def test_failed_rows_print_their_error_as_text(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """The end-of-run summary prints a failed family's error text as text, not rich markup."""
    folder = make_run(tmp_path, finished=True)
    _tables()["final"].assign(status="failed", error=f"boom {MARKUP}").to_parquet(folder / "final.parquet", index=False)
    run = SimpleNamespace(
        run_id=RUN_ID, families=["knn"], run_dir=folder, execute=lambda: folder, resume_command=lambda: "",
        options=SimpleNamespace(dataset="digits", comparison=False), loaded=SimpleNamespace(name="digits"), final_data=SimpleNamespace(y_train=[0] * 3, y_test=[0] * 2),
        search_data=SimpleNamespace(validation="5-fold CV"),
    )
    from rich.console import Console

    assert cli._execute(run, Console(stderr=True)) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "knn: no result (boom [link=https://evil.example/]click[/link]" in out
    assert "\x1b]8" not in out


def test_cpus_per_trial_larger_than_the_machine_is_refused_at_once(tmp_path: Path, capsys) -> None:
    from bench.cluster import local_cpus

    refused(capsys, ["run", "--family", "knn", "--cpus-per-trial", str(local_cpus() + 1), "--results-dir", str(tmp_path)],
            "--cpus-per-trial", f"{local_cpus()} CPUs of this machine")
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------- one real resume
@pytest.mark.slow
def test_resume_after_a_kill_mid_append_loses_no_finished_trial(tmp_path: Path) -> None:
    """A real run, its driver 'killed' while appending trial 3 (the journal cut mid-line, the
    final row not yet written), then ``--resume``: the finished trials are kept as they were and
    the run ends with exactly the requested number."""
    from conftest import run_cli

    signal.alarm(0)  # this case starts Ray twice; its own subprocess timeouts bound it
    done = run_cli("run", "--family", "knn", "--trials", "3", "--max-concurrent", "1", "--scheduler", "none",
                   "--results-dir", str(tmp_path), "--no-progress", timeout=300)
    assert done.returncode == 0, done.stderr
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    journal = folder / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    trial_lines = [line for line in lines if json.loads(line)["kind"] == "trial"]
    kept = [line for line in lines if json.loads(line)["kind"] == "history" or line in trial_lines[:2]]
    journal.write_bytes(b"".join(kept) + trial_lines[2][: len(trial_lines[2]) // 2])  # killed mid-append
    before = {json.loads(line)["row"]["trial_id"]: json.loads(line)["row"] for line in trial_lines[:2]}
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    pd.read_parquet(folder / "trials.parquet").iloc[:2].to_parquet(folder / "trials.parquet", index=False)
    pd.read_parquet(folder / "final.parquet").iloc[0:0].to_parquet(folder / "final.parquet", index=False)

    resumed = run_cli("run", "--resume", str(folder), "--no-progress", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "torn line" in resumed.stderr
    trials = pd.read_parquet(folder / "trials.parquet")
    assert len(trials) == 3 and trials["trial_id"].is_unique
    for trial_id, row in before.items():
        assert trials.set_index("trial_id").loc[trial_id, "finished_at"] == row["finished_at"]
    assert Journal(journal).check() == 0
