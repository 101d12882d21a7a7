"""Reading files that may come from someone else's run folder: bounded, regular files only.

A run folder is data, and data can be handed over (a colleague's results, a download, a
crafted archive). Everything bench reads from one goes through here:

- only regular files are opened (a FIFO would hang the reader, ``/dev/zero`` never ends), and
  they are opened non-blocking so that even a file swapped for a FIFO cannot stall the open;
- every read has a size limit, and what is decompressed has one too (Parquet: the sizes its
  metadata declares are checked before reading, and what is actually materialised is counted
  as it is read, so a lying footer does not help); each limit is named in its message;
- every format error becomes one :class:`~bench.errors.BenchInputError` line (exit status 2);
- paths a manifest names are used only when they stay inside the run folder (:func:`inside`).

Limits are module constants so a deployment (or a test) can change them in one place.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from bench.errors import BenchInputError

MiB = 2**20
GiB = 2**30
#: manifest.json and other JSON documents of a run folder.
MAX_JSON_BYTES = 16 * MiB
#: A Parquet file on disk.
MAX_PARQUET_FILE_BYTES = 512 * MiB
#: What one Parquet table may decompress to (declared by its metadata and counted while reading)...
MAX_PARQUET_DECOMPRESSED_BYTES = 2 * GiB
#: ...and, for small files, at most this multiple of the file's size plus PARQUET_SLACK_BYTES:
#: bench's own tables compress by far less (their strings are dictionary-encoded before
#: compression, and the declared sizes are taken after that encoding).
MAX_PARQUET_RATIO = 256
PARQUET_SLACK_BYTES = 64 * MiB
#: Rows read per batch while counting what a Parquet file materialises.
PARQUET_BATCH_ROWS = 65_536


def human(size: float) -> str:
    """Bytes as text: 512 B, 91 KiB, 160.0 MiB, 2.0 GiB."""
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}" if unit != "KiB" else f"{size / scale:.0f} {unit}"
    return f"{int(size)} B"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: object) -> str:
    """``text`` as one printable line: line breaks and tabs become spaces, other control
    characters (ANSI escapes, terminal hyperlinks) their ``\\xNN`` codes, so run data printed
    to a terminal cannot move the cursor, recolour, or plant a link."""
    flat = re.sub(r"[\r\n\t\v\f]+", " ", str(text))
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", flat).strip()


def inside(path: Path | str, folder: Path | str) -> bool:
    """Whether ``path``, with every symbolic link resolved, lies in ``folder`` (resolved too).

    A relative ``path`` is taken relative to ``folder``: a manifest written elsewhere cannot
    point anywhere by being relative."""
    base = Path(os.path.realpath(folder))
    target = Path(path)
    target = Path(os.path.realpath(target if target.is_absolute() else base / target))
    return target == base or base in target.parents


def check_regular(path: Path, what: str | None = None) -> os.stat_result:
    """``os.stat`` of ``path`` if it is a regular file (symbolic links followed), else one line."""
    label = what or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise BenchInputError(f"{label}: no such file") from None
    except OSError as exc:
        raise BenchInputError(f"{label}: cannot read it ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise BenchInputError(f"{label} is not a regular file ({_kind(info.st_mode)}); bench reads only regular files")
    return info


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def read_bytes(path: Path | str, limit: int, what: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, refused when larger than ``limit``."""
    path = Path(path)
    label = what or str(path)
    check_regular(path, label)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BenchInputError(f"{label}: cannot read it ({exc.strerror or exc})") from None
    return read_open_file(fd, limit, label, "such a file")


def read_open_file(fd: int, limit: int, label: str, kind: str) -> bytes:
    """The bytes of an opened regular file, at most ``limit`` of them (checked before and while
    reading, since a file can grow); closes ``fd``. Every refusal is one line naming ``label``."""
    try:
        info = os.fstat(fd)  # what was opened, not what the name pointed to a moment ago
        if not stat.S_ISREG(info.st_mode):
            raise BenchInputError(f"{label} is not a regular file ({_kind(info.st_mode)}); bench reads only regular files")
        if info.st_size > limit:
            raise BenchInputError(f"{label} is {human(info.st_size)}, more than the {human(limit)} bench reads from {kind}")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(MiB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while being read
                raise BenchInputError(f"{label} is more than the {human(limit)} bench reads from {kind}")
        return b"".join(chunks)
    except OSError as exc:
        raise BenchInputError(f"{label}: cannot read it ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_text(path: Path | str, limit: int = MAX_JSON_BYTES, what: str | None = None) -> str:
    """UTF-8 text of a regular file, size-limited; bad encoding is one line."""
    label = what or str(path)
    try:
        return read_bytes(path, limit, label).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BenchInputError(f"{label} is not UTF-8 text (byte {exc.start})") from None


def parse_json(text: str | bytes, what: str) -> Any:
    """JSON, with every way it can be malformed (syntax, nesting bombs) as one line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchInputError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise BenchInputError(f"{what} is not UTF-8 JSON (byte {exc.start})") from None
    except RecursionError:
        raise BenchInputError(f"{what} nests too deeply to be read") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise BenchInputError(f"{what} is not valid JSON ({one_line(exc)[:120]})") from None


def read_json(path: Path | str, limit: int = MAX_JSON_BYTES, what: str | None = None) -> Any:
    """A JSON document from a regular file of at most ``limit`` bytes."""
    label = what or str(path)
    return parse_json(read_bytes(path, limit, label), label)


def parquet_limit(file_size: int) -> int:
    """How much a Parquet file of ``file_size`` bytes may decompress to."""
    return min(MAX_PARQUET_DECOMPRESSED_BYTES, PARQUET_SLACK_BYTES + MAX_PARQUET_RATIO * file_size)


def _limit_text(file_size: int) -> str:
    return (
        f"the {human(parquet_limit(file_size))} allowed for a {human(file_size)} file "
        f"({human(PARQUET_SLACK_BYTES)} + {MAX_PARQUET_RATIO}x its size, at most {human(MAX_PARQUET_DECOMPRESSED_BYTES)})"
    )


def read_parquet(path: Path | str, what: str | None = None) -> Any:
    """A Parquet file as a pandas DataFrame, bounded in what it reads and decompresses.

    The footer's declared sizes are checked before any data page is read; the batches are
    then counted as they are materialised, so a footer that understates them is caught too.
    A truncated or otherwise broken file is one line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    label = what or str(path)
    raw = read_bytes(path, MAX_PARQUET_FILE_BYTES, label)
    limit = parquet_limit(len(raw))
    try:
        parquet = pq.ParquetFile(pa.BufferReader(raw))
        meta = parquet.metadata
        declared = 0
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            declared += max(
                int(group.total_byte_size), sum(int(group.column(c).total_uncompressed_size) for c in range(group.num_columns))
            )
        if declared > limit:
            raise BenchInputError(f"{label} would decompress to {human(declared)}, more than {_limit_text(len(raw))}")
        batches, total = [], 0
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_pandas_metadata=True):
            total += batch.nbytes
            if total > limit:
                raise BenchInputError(f"{label} decompresses to more than {_limit_text(len(raw))}")
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=parquet.schema_arrow)
        return table.to_pandas()
    except BenchInputError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise BenchInputError(f"{label} is not a readable Parquet table ({one_line(exc)[:300]})") from None


# ------------------------------------------------------------------------------- table shapes
#: Columns every reader does arithmetic on: numbers (or booleans), or empty.
NUMERIC_COLUMNS = frozenset(
    {
        "seed",
        "cpus",
        "gpus",
        "trial_number",
        "fidelity",
        "progress",
        "max_threads",
        "refit_threads",
        "steps",
        "retries",
        "step",
        "pid",
        "train_size",
        "test_size",
        "test_index",
        "trials",
        "trials_requested",
        "trials_completed",
        "trials_pruned",
        "trials_cut",
        "trials_failed",
        "model_bytes",
        "y_true",
        "y_pred",
        "y_pred_default",
        "time_budget_s",
        "time_total_s",
        "tuning_gain",
        "tuning_p_value",
        "published_accuracy",
        "difference",
        "label",
        "index",
        "height",
        "width",
        "position",
    }
)
NUMERIC_PREFIXES = ("val_", "test_", "default_val_", "default_test_")
NUMERIC_SUFFIXES = ("_seconds", "_accuracy")
#: Columns of counts and positions: whole numbers from 0 (indices into arrays, sizes, seeds).
COUNT_COLUMNS = frozenset(
    {
        "seed",
        "trial_number",
        "step",
        "train_size",
        "test_size",
        "test_index",
        "y_true",
        "y_pred",
        "y_pred_default",
        "trials",
        "trials_requested",
        "trials_completed",
        "trials_pruned",
        "trials_cut",
        "trials_failed",
        "test_correct",
        "test_total",
        "label",
        "index",
        "height",
        "width",
        "position",
        "retries",
    }
)
#: The largest count accepted (floats hold whole numbers exactly up to here).
MAX_COUNT = 2**53
#: Columns every report computes intervals from: fractions between 0 and 1.
FRACTION_PREFIXES = (
    "val_accuracy",
    "test_accuracy",
    "default_val_accuracy",
    "default_test_accuracy",
    "published_accuracy",
    "tuning_p_value",
)
#: Columns that name things: text (or empty).
TEXT_COLUMNS = frozenset(
    {"run_id", "dataset", "family", "status", "trial_id", "sampler", "scheduler", "started_at", "finished_at", "timestamp"}
)
#: Columns every reader of a non-empty table relies on.
REQUIRED_COLUMNS = {
    "trials": ("run_id", "dataset", "family", "status"),
    "final": ("run_id", "dataset"),  # a reproduction's rows name a published row, not always a family
    "predictions": ("run_id", "dataset", "family", "test_index", "y_true", "y_pred"),
}
#: Columns whose cells are lists of numbers (a reproduction's sample images, per-fold scores).
LIST_COLUMNS = frozenset({"pixels"})
LIST_SUFFIXES = ("_accuracies",)
#: Text columns the leaderboard and the report compare and group by: one value per cell.
SCALAR_COLUMNS = frozenset(
    {
        "refit_note",
        "selected",
        "error",
        "params",
        "default_params",
        "validation",
        "mode",
        "preprocessing",
        "per_class",
        "protocol",
        "verdict",
        "source",
        "baseline_id",
        "classifier",
        "confusion_matrix",
        "node_ip",
        "node_id",
        "device",
    }
)
#: The most classes a confusion matrix may have.
MAX_CLASSES = 1000


def _numeric_name(column: str) -> bool:
    return column in NUMERIC_COLUMNS or column.startswith(NUMERIC_PREFIXES) or column.endswith(NUMERIC_SUFFIXES)


def check_table(frame: Any, what: str, table: str | None = None) -> None:
    """Refuse a table whose columns have the wrong types for what reads them, in one line:
    ``table``'s required columns present (when it has rows), every cell a scalar (text, number,
    true/false), numeric columns numbers (counts whole, accuracies within [0, 1]), naming
    columns text, a confusion matrix a square JSON matrix of counts."""
    import numpy as np
    import pandas as pd

    if not isinstance(frame.columns, pd.Index) or not all(isinstance(c, str) for c in frame.columns):
        raise BenchInputError(f"{what}: column names must be text")
    if frame.columns.has_duplicates:
        raise BenchInputError(f"{what}: duplicate column names")
    missing = [c for c in REQUIRED_COLUMNS.get(table or "", ()) if c not in frame.columns]
    if missing and not frame.empty:
        raise BenchInputError(f"{what}: no column {', '.join(map(repr, missing))}; not a table bench writes")
    scalar = (str, int, float, bool, np.number, np.bool_)
    for column in frame.columns:
        values = frame[column]
        present = values.dropna()
        if present.empty:
            continue
        if column in LIST_COLUMNS or column.endswith(LIST_SUFFIXES):
            for cell in present:
                _check_number_list(cell, column, what)
            continue
        if values.dtype == object:
            must_be_scalar = _numeric_name(column) or column in TEXT_COLUMNS or column in SCALAR_COLUMNS
            for cell in present:
                if isinstance(cell, scalar):
                    continue
                if (
                    must_be_scalar
                    or not isinstance(cell, (list, tuple, np.ndarray))
                    or any(not isinstance(v, scalar) for v in cell)
                ):
                    raise BenchInputError(f"{what}: column {column!r} holds {type(cell).__name__} values, not text or numbers")
        if _numeric_name(column) and column not in TEXT_COLUMNS:
            numeric_dtype = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
            if not numeric_dtype and not all(isinstance(v, (int, float, bool, np.number, np.bool_)) for v in present):
                raise BenchInputError(f"{what}: column {column!r} holds {type(_first_odd(present)).__name__} values, not numbers")
            _check_range(column, present, what)
        elif column in TEXT_COLUMNS and not all(isinstance(v, str) for v in present):
            raise BenchInputError(f"{what}: column {column!r} holds {type(_first_odd(present, str)).__name__} values, not text")
    if "confusion_matrix" in frame.columns:
        for number, text in frame["confusion_matrix"].dropna().items():
            _check_matrix(text, f"{what}: confusion_matrix of row {number}")


def _check_number_list(cell: Any, column: str, what: str) -> None:
    import numpy as np

    try:
        values = np.asarray(cell, dtype=float)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1 or isinstance(cell, (str, bytes)):
        raise BenchInputError(f"{what}: column {column!r} holds {type(cell).__name__} values, not lists of numbers")


def _check_range(column: str, present: Any, what: str) -> None:
    """Counts are whole numbers in [0, 2**53]; accuracies and p-values lie in [0, 1]."""
    import numpy as np

    fraction = column.startswith(FRACTION_PREFIXES) and not column.endswith(("_std", "_se", "_seconds"))
    if column not in COUNT_COLUMNS and not fraction:
        return
    try:
        values = np.asarray(present, dtype=float)
    except (TypeError, ValueError):
        raise BenchInputError(f"{what}: column {column!r} holds values that are not numbers") from None
    if column in COUNT_COLUMNS:
        if any(isinstance(v, (bool, np.bool_)) for v in present):
            raise BenchInputError(f"{what}: column {column!r} holds true/false values, not whole numbers")
        bad = ~(np.isfinite(values) & (values >= 0) & (values <= MAX_COUNT) & (values == np.round(values)))
        if bad.any():
            raise BenchInputError(f"{what}: column {column!r} holds {values[bad][0]!r}, not a whole number from 0 to 2**53")
    else:
        bad = ~((values >= 0) & (values <= 1))
        if bad.any():
            raise BenchInputError(f"{what}: column {column!r} holds {values[bad][0]!r}, not a fraction from 0 to 1")


def _first_odd(values: Any, kind: type | None = None) -> Any:
    for value in values:
        if kind is not None and not isinstance(value, kind):
            return value
        if kind is None and not isinstance(value, (int, float, bool)):
            return value
    return values.iloc[0]


def _check_matrix(text: Any, what: str) -> None:
    if not isinstance(text, str) or len(text) > MAX_JSON_BYTES:
        raise BenchInputError(f"{what} is not a JSON text")
    matrix = parse_json(text, what)
    size = len(matrix) if isinstance(matrix, list) else 0
    if not 0 < size <= MAX_CLASSES or not all(isinstance(row, list) and len(row) == size for row in matrix):
        raise BenchInputError(f"{what} is not a square matrix of at most {MAX_CLASSES} classes")
    if not all(_int_count(v) for row in matrix for v in row):
        raise BenchInputError(f"{what} holds a value that is not a count (a whole number of at least 0)")


def _int_count(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and float(value).is_integer()
