"""Safe with anyone's run folder (issue 17), the cases tests/test_hardening.py leaves out: a
hostile address through the command line, oversized and non-regular journals, corrupt data
inside a folder, configurations past a family's ceilings in either journal, rows of another
run, and what reaches the terminal. Each crafted folder ends with exit status 2 and one line,
touches nothing outside the folder, empties no table, and is bounded in time (the ``bounded``
fixture of tests/test_hardening.py). One test, marked slow, starts Ray.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import signal
import socket
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import bench
from bench import cli
from bench.errors import BenchInputError
from bench.journal import Journal, optuna_backend
from conftest import REPO
from test_hardening import (  # the crafted folders and checks of the first suite, and its time bound
    MARKUP,
    RUN_ID,
    Untouched,
    _idx_folder,
    _manifest,
    _tables,
    bounded,  # noqa: F401 - autouse: every case here is bounded in time and starts no Ray
    make_run,
    resume_refused,
    snapshot,
)

EVIL_LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # a terminal link closed by ST, not BEL


def _rewrite_journal(folder: Path, change) -> None:
    """Apply ``change(entry)`` to every record of the folder's journal (entries it returns None for are dropped)."""
    journal = folder / "journal.jsonl"
    entries = [change(json.loads(line)) for line in journal.read_text().splitlines()]
    journal.write_text("".join(json.dumps(e) + "\n" for e in entries if e is not None))


def _sparse(path: Path, size: int) -> None:
    """A file of ``size`` bytes that uses no disk."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)


# --------------------------------------------------------------- a hostile address, end to end
def test_a_hostile_address_is_not_used_by_the_command_line(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --resume`` of a folder that saved ``ray://attacker``: Ray is asked for a local
    instance (address None), nothing connects anywhere, nothing outside the folder is touched."""
    folder = make_run(tmp_path / "results", address="ray://attacker.example:10001", storage="s3://attacker/bucket")
    asked: list[Any] = []

    def session(address, *args, **kwargs):
        asked.append(address)
        raise BenchInputError("the test stops here, where Ray would start")

    def no_connection(*args, **kwargs):
        raise AssertionError(f"connected to {args[0]!r}")

    monkeypatch.setattr("bench.runner.ray_session", session)
    monkeypatch.setattr(socket, "create_connection", no_connection)
    outside = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith(f"results/{RUN_ID}")}
    status = cli.main(["run", "--resume", str(folder), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.strip().splitlines()[-1].startswith("bench: error: the test stops here"), err
    assert asked == [None]
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith(f"results/{RUN_ID}")} == outside
    assert len(pd.read_parquet(folder / "trials.parquet")) == 4  # rebuilt from the journal, nothing dropped


# ------------------------------------------------------------ resources: refused at once
def test_a_saved_cpus_per_trial_beyond_this_machine_is_refused_before_the_data_loads(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.cluster import local_cpus

    def no_data(*args, **kwargs):
        raise AssertionError("the dataset was looked up for a run that cannot start")

    monkeypatch.setattr("bench.runner.get_dataset", no_data)
    folder = make_run(tmp_path, cpus_per_trial=local_cpus() + 1)
    resume_refused(tmp_path, capsys, folder, f"manifest option cpus_per_trial {local_cpus() + 1}", "CPUs of this machine")


# -------------------------------------------------------------- journals: size and file kind
def test_an_oversized_journal_is_refused_with_the_limit(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    _sparse(folder / "journal.jsonl", 2 * 2**30 + 1)
    resume_refused(tmp_path, capsys, folder, "journal.jsonl is 2.0 GiB", "more than the 2.0 GiB")


def test_an_oversized_optuna_journal_is_refused_with_the_limit(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    _sparse(folder / "optuna-journal.log", 2 * 2**30 + 1)
    resume_refused(tmp_path, capsys, folder, "optuna-journal.log is 2.0 GiB", "more than the 2.0 GiB")


def test_a_fifo_optuna_journal_is_refused_without_hanging(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    os.mkfifo(folder / "optuna-journal.log")
    resume_refused(tmp_path, capsys, folder, "optuna-journal.log is not a regular file (a FIFO)")


def test_a_journal_that_is_a_folder_is_refused(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    (folder / "journal.jsonl").unlink()
    (folder / "journal.jsonl").mkdir()
    resume_refused(tmp_path, capsys, folder, "journal.jsonl is not a regular file (a folder)")


def test_an_oversized_space_file_inside_the_folder_is_refused(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path, space_dir="spaces")
    (folder / "spaces").mkdir()
    _sparse(folder / "spaces" / "knn.yaml", 17 * 2**20)
    resume_refused(tmp_path, capsys, folder, "knn.yaml is larger than the 16.0 MiB")


def test_an_optuna_journal_garbled_in_the_middle_is_refused_on_resume(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    path = folder / "optuna-journal.log"
    _queued(path, {"n_neighbors": 5}, {"n_neighbors": 7})
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b'{"op_code": \n' + b"".join(lines[1:]))
    resume_refused(tmp_path, capsys, folder, "optuna-journal.log line 2 is not an Optuna journal record")


def test_an_optuna_journal_with_a_torn_tail_resumes_and_is_repaired(tmp_path: Path) -> None:
    from bench.runner import Run

    folder = make_run(tmp_path)
    path = folder / "optuna-journal.log"
    _queued(path, {"n_neighbors": 5})
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"op_code": 4, "worker_id": "w", "stu')  # the driver died mid-append
    Run.resume(folder, progress=False)
    assert path.read_bytes().endswith(b'"stu')  # the check before anything runs reads, never writes
    optuna_backend(path)  # what the search opens: the torn bytes are cut away, the records kept
    assert path.read_bytes() == whole


# --------------------------------------------------------------------- corrupt data inside
def test_corrupt_gzip_in_the_folders_own_data_is_one_line_on_resume(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("bench.datasets.mnist_like.Mnist.system_dirs", ())
    folder = make_run(tmp_path, dataset="mnist", data_dir="data")
    good = gzip.compress(b"\x00" * 100_000)
    _idx_folder(folder, good[:20] + bytes(b ^ 0x5A for b in good[20:60]) + good[60:])
    resume_refused(tmp_path, capsys, folder, "corrupt gzip file", "train-images-idx3-ubyte.gz")


def test_corrupt_gzip_in_the_folders_own_data_does_not_break_a_report(tmp_path: Path, capsys, monkeypatch) -> None:
    """The report's images come from the run's data when it lies inside the folder: a corrupt
    file there is either one line and exit 2, or a page that says why it has no images."""
    monkeypatch.setattr("bench.datasets.mnist_like.Mnist.system_dirs", ())
    manifest = _manifest(status="finished", data_dir="data", dataset="mnist")
    manifest["dataset"] = {"name": "mnist"}
    folder = make_run(tmp_path / "results", finished=True, manifest=manifest)
    _idx_folder(folder, gzip.compress(b"\x01" * 10_000)[:30])
    tree = Untouched(tmp_path / "results")
    status = cli.main(["report", str(folder), "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    tree.check()
    if status == 2:
        assert len(err.strip().splitlines()) == 1 and "corrupt gzip" in err, err
    else:
        assert status == 0 and "Traceback" not in err, err
        assert "images of &#x27;mnist&#x27; unavailable" in (tmp_path / "r.html").read_text().replace("&#39;", "&#x27;")


# ------------------------------------------------- configurations past a family's ceilings
@pytest.mark.parametrize(("change", "needle"), [
    ({"params_n_neighbors": 10**6}, "knn n_neighbors=1e+06 is above its ceiling; valid: at most 10000"),
    ({"family": "forest", "params_n_estimators": 10**9}, "forest: n_estimators=1000000000 is out of range"),
    ({"family": "mlp", "params_hidden_units": 10**9, "params_layers": 2}, "mlp hidden_units=1e+09 is above its ceiling"),
])
def test_a_journal_trial_past_a_ceiling_is_refused(tmp_path: Path, capsys, change: dict, needle: str) -> None:
    """The best trial of a resumed run is refit with the parameters its journal row holds: a
    crafted row must not build a model no search space may ask for."""
    folder = make_run(tmp_path)
    _rewrite_journal(folder, lambda e: {**e, "row": {**e["row"], **change}} if e["row"].get("trial_id") == "t1" else e)
    line = resume_refused(tmp_path, capsys, folder, "journal.jsonl trial 't1'", needle)
    assert "--resume" in line


def _queued(path: Path, *configs: dict[str, Any], study: str = f"{RUN_ID}/knn/seed0") -> None:
    """An Optuna study as bench names it, with ``configs`` queued (Optuna's enqueue_trial)."""
    import optuna

    storage = optuna.storages.JournalStorage(optuna_backend(path))
    created = optuna.create_study(study_name=study, storage=storage, direction="maximize", load_if_exists=True)
    for config in configs:
        created.enqueue_trial(config)


def test_a_queued_optuna_trial_past_a_ceiling_is_refused(tmp_path: Path, capsys) -> None:
    """Optuna hands a queued trial's values to the search as they are, in range or not (it only
    warns): a study file of 10**6 neighbours would run such a trial."""
    folder = make_run(tmp_path)
    _queued(folder / "optuna-journal.log", {"n_neighbors": 5}, {"n_neighbors": 10**6})
    resume_refused(tmp_path, capsys, folder, "optuna-journal.log: trial 1 of study", "n_neighbors=1e+06 is above its ceiling")


def test_a_trial_past_a_ceiling_in_an_optuna_journal_is_refused(tmp_path: Path, capsys) -> None:
    import optuna

    folder = make_run(tmp_path)
    storage = optuna.storages.JournalStorage(optuna_backend(folder / "optuna-journal.log"))
    study = optuna.create_study(study_name=f"{RUN_ID}/mlp/seed0", storage=storage, direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"hidden_units": 100_000}, distributions={"hidden_units": optuna.distributions.IntDistribution(1, 100_000)},
        state=optuna.trial.TrialState.WAITING,
    ))
    resume_refused(tmp_path, capsys, folder, "trial 0 of study", "mlp hidden_units=100000 is above its ceiling")


def test_queued_trials_within_the_ceilings_resume(tmp_path: Path) -> None:
    from bench.runner import Run

    folder = make_run(tmp_path)
    _queued(folder / "optuna-journal.log", {"n_neighbors": 5}, {"n_neighbors": 9_999})
    _queued(folder / "optuna-journal.log", {"n_neighbors": 10**6}, study="another-tool/knn")  # not a study bench opens
    assert Run.resume(folder, progress=False).run_id == RUN_ID


def test_an_optuna_record_optuna_cannot_replay_is_one_line(tmp_path: Path, capsys) -> None:
    folder = make_run(tmp_path)
    (folder / "optuna-journal.log").write_text(
        json.dumps({"op_code": 0, "worker_id": "w", "study_name": f"{RUN_ID}/knn/seed0", "directions": [2]}) + "\n"
        + json.dumps({"op_code": 4, "worker_id": "w", "study_id": 0, "datetime_start": None, "params": {"n_neighbors": 5}}) + "\n"
    )
    resume_refused(tmp_path, capsys, folder, "optuna-journal.log is not a study journal Optuna can read")


# ------------------------------------------------------------- rows of another run, or none
@pytest.mark.parametrize(("kind", "change", "needle"), [
    ("trial", {"run_id": "20250101-000000-digits-knn-0000"}, "a trial row of run '20250101-000000-digits-knn-0000'"),
    ("history", {"run_id": "other"}, "a history row of run 'other'"),
    ("trial", {"family": "[bold]knn" + EVIL_LINK}, "a trial row without a family bench has"),
    ("trial", {"family": ["knn"]}, "a trial row without a family bench has"),
])
def test_journal_rows_of_another_run_or_no_family_are_refused(tmp_path: Path, capsys, kind: str, change: dict, needle: str) -> None:
    """Rows claiming another run would merge with it in every report; a family bench does not
    have is no row it wrote (and its name would reach the terminal's leaderboard)."""
    folder = make_run(tmp_path)
    journal = Journal(folder / "journal.jsonl")
    journal.append(kind, {**_tables()[{"trial": "trials", "history": "history"}[kind]].iloc[0].to_dict(), "trial_id": "t9", **change})
    line = resume_refused(tmp_path, capsys, folder, needle)
    assert "\x1b" not in line


def test_tables_whose_rows_claim_another_run_are_not_merged(tmp_path: Path) -> None:
    """Two folders with one run_id in their rows (the second's manifest names another run) are
    refused: their rows would merge under one run and the trials count twice."""
    make_run(tmp_path / "a", finished=True)
    other = make_run(tmp_path / "b", finished=True, manifest=_manifest(run_id="20260101-000000-digits-knn-f00d", status="finished"))
    tables = _tables()
    tables["trials"].assign(val_accuracy=0.5).to_parquet(other / "trials.parquet", index=False)
    with pytest.raises(BenchInputError, match=f"holds rows of run '{RUN_ID}', but its manifest names run '20260101"):
        bench.load(tmp_path / "a", tmp_path / "b")


# ----------------------------------------------------------------------- what is printed
def test_a_note_quoting_a_saved_path_prints_markup_as_text(tmp_path: Path, capsys) -> None:
    from rich.console import Console

    from bench.runner import Run

    Run.resume(make_run(tmp_path / "results", data_dir="/elsewhere/" + MARKUP), Console(stderr=True, width=500), progress=False)
    err = capsys.readouterr().err
    assert "[link=https://evil.example/]click[/link]" in " ".join(err.split())
    assert "\x1b" not in err and "\x07" not in err


def test_the_terminal_leaderboard_prints_markup_as_text() -> None:
    from rich.console import Console

    from bench.leaderboard import leaderboard, rich_table

    tables = _tables()
    family = "[bold]knn[/bold]"
    board = leaderboard(tables["final"].assign(family=family), tables["predictions"].assign(family=family))
    out = io.StringIO()
    Console(file=out, width=250, force_terminal=True).print(rich_table(board, "Leaderboard"))
    assert "[bold]knn[/bold]" in out.getvalue()


# ------------------------------------------------------------------------ the network promise
def test_the_minimum_ray_is_one_where_token_authentication_is_the_default() -> None:
    from bench import compat

    (ray,) = re.findall(r'^\s*"(ray\[[^"]*)",', (REPO / "pyproject.toml").read_text(), re.M)  # the dependency line
    low = re.search(r">=\s*([0-9.]+)", ray)
    assert low and compat._release(low.group(1)) >= compat._release("2.59"), ray
    assert compat._release(compat.TESTED["ray"][0]) >= compat._release("2.59")


@pytest.mark.slow
def test_no_socket_of_a_local_instance_is_bound_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket of the driver and the Ray processes it started, listening (TCP) or bound
    (UDP), is on loopback, while a task runs; and bench's own check passes."""
    import psutil

    from bench.cluster import AUTH_MODE_VAR, check_local_instance, ray_session

    signal.alarm(0)  # Ray's start on a loaded machine may take longer than a crafted-folder case
    monkeypatch.setenv(AUTH_MODE_VAR, "disabled")
    loopback = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
    with ray_session(None, num_cpus=1):
        import ray

        @ray.remote
        def pids() -> int:
            return os.getpid()

        worker = ray.get(pids.remote())
        check_local_instance()
        processes = [psutil.Process(), *psutil.Process().children(recursive=True)]
        assert worker in {p.pid for p in processes}
        bound = []
        for proc in processes:
            try:
                bound += [(proc.name(), c.laddr.ip, c.type) for c in proc.net_connections(kind="inet")
                          if c.laddr and (c.status == psutil.CONN_LISTEN or c.type == socket.SOCK_DGRAM)]
            except psutil.Error:
                continue
    assert bound and all(ip in loopback for _, ip, _ in bound), [b for b in bound if b[1] not in loopback]


def test_bench_reproduce_prints_run_data_as_text() -> None:
    """An error text or a file name with brackets once crashed its summary (rich's MarkupError)
    or planted a terminal link."""
    from rich.console import Console

    from bench.reproduce.cli import text

    console = Console(record=True, width=300)
    console.print(f"[red]knn row-3: {text('closing tag [/tmp] and [link=https://evil.example/]click[/link]' + chr(27))}[/]")
    out = console.export_text()
    assert "closing tag [/tmp] and [link=https://evil.example/]click[/link]" in out and "\x1b" not in out
