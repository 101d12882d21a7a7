"""An append-only JSON-lines log of a run's rows: cheap on the hot path, safe on a crash.

Every finished trial, intermediate report and final result is appended as one line the moment
it happens; the Parquet tables are materialised from the journal at the end of each family, on
Ctrl-C, and by ``--resume`` after a killed driver.

A run folder may come from someone else, so the journal is handled as untrusted:

- it is opened without following symbolic links (``O_NOFOLLOW``) and must be a regular file
  with one link: a ``journal.jsonl`` planted as a link to a shell rc file is refused, never
  appended to;
- a torn last line (a write cut by SIGKILL, a full disk, a power loss) is cut away, with a
  warning, before the next line is appended, so the next record is never glued onto it;
- a line that is not a journal record anywhere before the last one is refused with its line
  number rather than skipped: the journal is what ``--resume`` rebuilds the tables from;
- finished rows (``trial``, ``final``) are ``fsync``-ed before :meth:`Journal.append` returns;
  ``history`` rows (one per intermediate report, many per trial) are left to the kernel for
  speed: a power loss can drop the last intermediate reports, never a finished trial.

The same rules apply to Optuna's journal file (:func:`optuna_backend`). A resume also refuses
configurations past their family's ceilings in either journal (:func:`check_model_size`): the
best trial recorded is refit, and a trial queued in Optuna's study runs with the values it holds.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import BenchInputError
from bench.safe_io import GiB, one_line, read_open_file

KINDS = ("trial", "history", "final")
#: Rows fsync-ed as they are appended; history rows are not (see the module docstring).
DURABLE_KINDS = ("trial", "final")
#: The largest journal bench reads back.
MAX_JOURNAL_BYTES = 2 * GiB

log = logging.getLogger(__name__)

_APPEND = os.O_RDWR | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_READ = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _refusal(path: Path, exc: OSError) -> BenchInputError:
    if exc.errno == errno.ELOOP:
        return BenchInputError(
            f"{path} is a symbolic link; bench never writes or reads a run's journal through one "
            f"(remove the link; a run folder's journal is a plain file)"
        )
    if exc.errno == errno.ENXIO:
        return BenchInputError(f"{path} is a FIFO or socket, not a journal file")
    return BenchInputError(f"{path}: cannot open the journal ({exc.strerror or exc})")


def _check_fd(path: Path, fd: int) -> os.stat_result:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise BenchInputError(f"{path} is not a regular file; refusing to use it as a journal")
    if info.st_nlink > 1:
        raise BenchInputError(
            f"{path} has {info.st_nlink} hard links; appending would change the other names too (copy it to a file of its own)"
        )
    return info


def open_for_append(path: Path) -> int:
    """A descriptor for appending to ``path``, created if missing; never through a link."""
    path = Path(path)
    try:
        try:
            fd = os.open(path, _APPEND | os.O_CREAT | os.O_EXCL, 0o666)  # O_EXCL: a dangling link is not followed
            created = True
        except FileExistsError:
            fd = os.open(path, _APPEND)
            created = False
    except OSError as exc:
        raise _refusal(path, exc) from None
    try:
        _check_fd(path, fd)
        if created:
            _fsync_dir(path.parent)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fsync_dir(folder: Path) -> None:
    """Make a new file's name durable too (its folder's entry), where the OS allows it."""
    try:
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def repair_tail(path: Path, fd: int) -> int:
    """Cut a torn last line (no newline at the end) off the file open at ``fd``.

    Returns the number of bytes cut. The file must be open for writing."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end = size
    while end > 0:  # find the last newline, reading backwards in blocks
        start = max(0, end - 65536)
        block = os.pread(fd, end - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            keep = start + cut + 1
            break
        end = start
    else:
        keep = 0
    os.ftruncate(fd, keep)
    os.fsync(fd)
    log.warning(
        "%s: cut a torn last line (%d bytes, a write interrupted by a crash or a full disk); the records before it are kept",
        path,
        size - keep,
    )
    return size - keep


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_lines(path: Path, limit: int = MAX_JOURNAL_BYTES) -> tuple[list[bytes], bytes]:
    """The complete lines of a journal file and its torn tail (``b""`` when none).

    A missing file reads as no lines; a link, a non-regular file or an oversized one is refused."""
    path = Path(path)
    try:
        fd = os.open(path, _READ)
    except FileNotFoundError:
        return [], b""
    except OSError as exc:
        raise _refusal(path, exc) from None
    data = read_open_file(fd, limit, str(path), "a journal")
    lines = data.split(b"\n")
    return lines[:-1], lines[-1]


def _record(path: Path, number: int, line: bytes) -> tuple[str, dict[str, Any]] | None:
    """One journal line as (kind, row); None for a blank line; refused when it is not a record."""
    if not line.strip():
        return None
    where = f"{path} line {number}"
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        raise BenchInputError(
            f"{where} is not a journal record (not JSON: {one_line(line[:60].decode('utf-8', 'replace'))!r}); "
            f"the journal is corrupt there: repair or remove that line to go on"
        ) from None
    if not isinstance(entry, dict) or entry.get("kind") not in KINDS or not isinstance(entry.get("row"), dict):
        raise BenchInputError(f'{where} is not a journal record (expected {{"kind": {"|".join(KINDS)}, "row": {{...}}}})')
    kind, row = entry["kind"], entry["row"]
    if kind == "trial" and not isinstance(row.get("trial_id"), str):
        raise BenchInputError(f"{where}: a trial record without a trial_id")
    return kind, row


class Journal:
    """Rows by kind, appended to ``path``. Holds only the path, so it pickles with Tune's state."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, kind: str, row: dict[str, Any]) -> None:
        line = (json.dumps({"kind": kind, "row": row}, default=_plain) + "\n").encode()
        fd = open_for_append(self.path)
        try:
            repair_tail(self.path, fd)  # a byte read per append: never glue a record onto a torn one
            _write_all(fd, line)
            if kind in DURABLE_KINDS:
                os.fsync(fd)
        finally:
            os.close(fd)

    def check(self) -> int:
        """Read the whole journal strictly (as :meth:`entries`); returns the torn tail's size in
        bytes (0 when the last line is whole), which the next append cuts away."""
        lines, tail = read_lines(self.path)
        for number, line in enumerate(lines, start=1):
            _record(self.path, number, line)
        return len(tail)

    def entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, row) of every complete line; a garbage line is refused with its number, a torn
        last line is left out (a crash cut it; the next append removes it)."""
        lines, _ = read_lines(self.path)
        for number, line in enumerate(lines, start=1):
            record = _record(self.path, number, line)
            if record is not None:
                yield record

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """All rows by kind; a trial recorded twice (re-run after a crash) keeps its last row."""
        out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        trials: dict[str, dict[str, Any]] = {}
        for kind, row in self.entries():
            if kind == "trial":
                trials[row["trial_id"]] = row
            elif kind in out:
                out[kind].append(row)
        out["trial"] = list(trials.values())
        return out


def _plain(value: Any) -> Any:
    """numpy scalars and other stragglers as JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# ------------------------------------------------------------------------- Optuna's journal file
def check_optuna_journal(path: Path) -> None:
    """Make ``path`` safe to hand to Optuna's file backend: created if missing (never through a
    link), refused when a link, not a regular file, hard-linked, or garbled before its last
    line (with the line number); a torn last line is cut away with a warning."""
    path = Path(path)
    fd = open_for_append(path)
    try:
        repair_tail(path, fd)
    finally:
        os.close(fd)
    _check_optuna_lines(path)


def _check_optuna_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete line of Optuna's journal file is one of its records (read-only); returns them."""
    lines, _ = read_lines(path)
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            entry = None
        if not isinstance(entry, dict) or "op_code" not in entry:
            raise BenchInputError(
                f"{path} line {number} is not an Optuna journal record; the study file is corrupt "
                f"there: repair or remove that line to go on"
            )
        records.append(entry)
    return records


def check_model_size(family: str, params: dict[str, Any], where: str) -> None:
    """Refuse a recorded configuration of ``family`` past the family's ceilings (model size and
    fidelity), as a search space past them is refused: a resumed run refits the journal's best
    trial and Optuna runs its study's queued trials with the values they hold, whatever the
    search space says. A family bench does not know is left alone (no run of it is made)."""
    from bench.families import create_family, list_families

    if family not in list_families():
        return
    model_family = create_family(family)
    for name, ceiling in model_family.ceilings.items():
        value = params.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > ceiling:
            shown = f"{value:g}" if value < 1e300 else "more than 1e300"  # :g of a longer int overflows
            raise BenchInputError(f"{where}: {family} {name}={shown} is above its ceiling; valid: at most {ceiling}")
    try:
        model_family.max_fidelity(params)
    except BenchInputError as exc:
        raise BenchInputError(f"{where}: {exc}") from None
    except (TypeError, ValueError, OverflowError):
        pass  # not a number: building the model fails on it, a failed row


def _check_optuna_trials(path: Path, records: list[dict[str, Any]]) -> None:
    """The configurations Optuna's journal holds for bench's studies (``RUN/FAMILY/seedN``), read
    back by Optuna's own replay (in memory), within their family's ceilings: the values a trial
    was given and those a queued trial will be given (``fixed_params``)."""
    try:
        storage = _replayed(path, records)
        for study in storage.get_all_studies():
            parts = study.study_name.split("/")
            if len(parts) != 3:
                continue  # not a study bench opens
            study_id = storage.get_study_id_from_name(study.study_name)
            for trial in storage.get_all_trials(study_id, deepcopy=False):
                fixed = trial.system_attrs.get("fixed_params")
                for params in (trial.params, fixed if isinstance(fixed, dict) else {}):
                    check_model_size(parts[1], params, f"{path}: trial {trial.number} of study {study.study_name!r}")
    except BenchInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a crafted record makes Optuna's replay raise
        raise BenchInputError(f"{path} is not a study journal Optuna can read ({type(exc).__name__})") from None


def _replayed(path: Path, records: list[dict[str, Any]]) -> Any:
    """An Optuna ``JournalStorage`` replaying ``records``, in memory and read-only."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import BaseJournalBackend

    class Records(BaseJournalBackend):
        def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
            return records[log_number_from:]

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            raise BenchInputError(f"{path}: read only while it is checked")

    return JournalStorage(Records())


def optuna_backend(path: Path) -> Any:
    """Optuna's ``JournalFileBackend`` for ``path``, checked by :func:`check_optuna_journal`, that
    appends without following links and re-checks the tail before each append."""
    check_optuna_journal(path)
    return _backend_class()(str(path))


@functools.cache
def _backend_class() -> type:
    from optuna.storages.journal import JournalFileBackend

    class SafeJournalFileBackend(JournalFileBackend):
        """Optuna's file backend, appending through :func:`open_for_append`."""

        def __init__(self, file_path: str, *args: Any, **kwargs: Any) -> None:
            self.bench_path = Path(file_path)
            super().__init__(file_path, *args, **kwargs)

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            from bench.compat import journal_file_lock

            if (locked := journal_file_lock(self)) is None:  # a later Optuna: its own append, after the same checks
                os.close(open_for_append(self.bench_path))
                return super().append_logs(logs)
            path = self.bench_path
            payload = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
            with locked:
                fd = open_for_append(path)
                try:
                    repair_tail(path, fd)
                    _write_all(fd, payload)
                    os.fsync(fd)
                finally:
                    os.close(fd)

    SafeJournalFileBackend.__module__ = __name__
    SafeJournalFileBackend.__qualname__ = SafeJournalFileBackend.__name__ = "SafeJournalFileBackend"
    return SafeJournalFileBackend


def __getattr__(name: str) -> Any:  # so pickle finds the class; Optuna is imported only when needed
    if name == "SafeJournalFileBackend":
        return _backend_class()
    raise AttributeError(name)


def check_resumable(run_dir: Path) -> int:
    """Refuse, before anything is written, a resume that would lose or invent rows.

    The tables are rebuilt from the journal when a run resumes, so the journal must exist, read
    back strictly (:meth:`Journal.check`) and hold every trial and final row the tables hold.
    Returns the size of a torn last line (cut away, with a warning, at the next append)."""
    from bench.results import read_predictions
    from bench.safe_io import read_parquet

    run_dir = Path(run_dir)
    journal = Journal(run_dir / "journal.jsonl")
    if not os.path.lexists(journal.path):
        raise BenchInputError(
            f"--resume {run_dir}: no journal.jsonl, the record of what the run finished; "
            f"resuming would rebuild its tables from nothing (start a new run instead)"
        )
    torn = journal.check()
    rows = journal.rows()
    _check_rows(run_dir, rows)
    study = run_dir / "optuna-journal.log"
    if os.path.lexists(study):  # refuses a link, a FIFO, a garbled line, a queued trial past a ceiling
        _check_optuna_trials(study, _check_optuna_lines(study))
    tune = run_dir / "tune"
    if os.path.islink(tune) or (os.path.lexists(tune) and not os.path.isdir(tune)):
        raise BenchInputError(
            f"--resume {run_dir}: tune is a symbolic link or not a folder; Ray Tune would write "
            f"through it (remove it: it holds only Tune's own state)"
        )
    try:
        read_predictions(run_dir)
    except BenchInputError as exc:
        raise BenchInputError(f"--resume {run_dir}: {exc}; move it away to go on") from None
    per_study = ("family", "seed", "sampler", "scheduler")  # one final row per study, methods included
    for table, key, journaled in (
        ("trials", ("trial_id",), {(r["trial_id"],) for r in rows["trial"]}),
        ("final", per_study, {tuple(r.get(k) for k in per_study) for r in rows["final"]}),
    ):
        path = run_dir / f"{table}.parquet"
        if not os.path.lexists(path):
            continue
        try:
            frame = read_parquet(path)
        except BenchInputError as exc:
            raise BenchInputError(f"--resume {run_dir}: {exc}; move it away to rebuild it from the journal") from None
        if frame.empty:
            continue
        if not set(key) <= set(frame.columns):
            raise BenchInputError(f"--resume {run_dir}: {path.name} lacks the column(s) {', '.join(key)}; not a bench table")
        held = {tuple(_py(v) for v in values) for values in frame[list(key)].itertuples(index=False, name=None)}
        missing = held - journaled
        if missing:
            raise BenchInputError(
                f"--resume {run_dir}: {path.name} holds {len(missing)} row(s) the journal lacks; resuming "
                f"would drop them (restore journal.jsonl, or move {path.name} away to accept the loss)"
            )
    return torn


def _check_rows(run_dir: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """What a resumed run reads from every finished row: the name of a family bench has (it is
    printed in the terminal's leaderboard), a whole-number seed, the run's own run_id (rows of
    another run would merge with it in every report); and a trial's configuration, which may be
    refit, within its family's ceilings."""
    from bench.families import list_families
    from bench.manifest import read_manifest

    families, run_id = set(list_families()), read_manifest(run_dir)["run_id"]
    for kind in KINDS:
        for row in rows[kind]:
            if kind in DURABLE_KINDS and (
                not isinstance(row.get("family"), str)
                or row["family"] not in families
                or not isinstance(row.get("seed"), int)
                or isinstance(row.get("seed"), bool)
            ):
                raise BenchInputError(
                    f"--resume {run_dir}: journal.jsonl holds a {kind} row without a family bench has and a "
                    f"whole-number seed; not a journal bench wrote"
                )
            if row.get("run_id", run_id) != run_id:
                raise BenchInputError(
                    f"--resume {run_dir}: journal.jsonl holds a {kind} row of run "
                    f"{one_line(row.get('run_id'))[:60]!r}, not of this run ({run_id}); not a journal bench wrote"
                )
    for row in rows["trial"]:
        params = {k.removeprefix("params_"): v for k, v in row.items() if k.startswith("params_")}
        check_model_size(row["family"], params, f"--resume {run_dir}: journal.jsonl trial {one_line(row['trial_id'])[:60]!r}")


def _py(value: Any) -> Any:
    """A table cell as the JSON value the journal holds (numpy ints as ints)."""
    return value.item() if hasattr(value, "item") else value
