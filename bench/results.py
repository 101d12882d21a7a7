"""Run tables on disk: atomic Parquet/JSON writes and :func:`load` for one run or many.

Layout of ``<results>/<run-id>/``: ``trials.parquet``, ``history.parquet``, ``final.parquet``,
``predictions/<family>-seed<seed>.parquet`` (one per study: family and seed, and method in a run
comparing several, ``<family>-<sampler>-<scheduler>-seed<seed>.parquet``; runs written before kept
them all in ``predictions.parquet``), ``methods.parquet`` (a comparison's per-method table),
``manifest.json``, ``report.html``. Never pickles.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchInputError

#: The columns naming one study: a search of one family and seed by one method, in one run.
STUDY_KEYS = ("run_id", "dataset", "family", "seed", "sampler", "scheduler")

TABLES = ("trials", "history", "final", "predictions", "samples")
#: The folder of a run's test predictions: one table per family and seed, so a finished
#: family's are written without reading and rewriting every earlier one's.
PREDICTIONS_DIR = "predictions"
#: More parts than any run writes (families x seeds x samplers): a crafted folder is refused.
MAX_PREDICTION_PARTS = 10_000
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, frame.to_parquet(index=False))


def write_json(data: Any, path: Path) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, sort_keys=True, default=str).encode())


def write_text(text: str, path: Path) -> None:
    atomic_write_bytes(path, text.encode())


def prediction_part(run_dir: Path, family: str, seed: int, method: str | None = None) -> Path:
    """Where one study's test predictions go in ``run_dir``: per family and seed, and per method
    ("tpe/asha") in a run that compares several."""
    tag = f"-{method.replace('/', '-')}" if method else ""
    return run_dir / PREDICTIONS_DIR / f"{family}{tag}-seed{seed}.parquet"


def read_predictions(run_dir: Path) -> pd.DataFrame | None:
    """Every prediction table of a run folder (its parts, and the single file of older runs), or
    None when it has none. The parts are read like any table from an untrusted folder: regular
    files inside the folder only, each bounded, their number and their sum bounded too."""
    from bench.safe_io import MAX_PARQUET_DECOMPRESSED_BYTES, check_table, human, read_parquet

    frames = []
    legacy = run_dir / "predictions.parquet"
    if os.path.lexists(legacy):
        frames.append(read_parquet(legacy))
        check_table(frames[-1], str(legacy), "predictions")
    folder = run_dir / PREDICTIONS_DIR
    if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
        raise BenchInputError(
            f"{folder} is a symbolic link or not a folder; bench reads predictions only from a folder of the run"
        )
    parts = (
        sorted(p for p in folder.iterdir() if p.suffix == ".parquet" and not p.name.startswith(".")) if folder.is_dir() else []
    )
    if len(parts) > MAX_PREDICTION_PARTS:
        raise BenchInputError(f"{folder} holds {len(parts)} tables, more than the {MAX_PREDICTION_PARTS} a run writes")
    total = 0
    for part in parts:
        if os.path.islink(part):
            raise BenchInputError(f"{part} is a symbolic link; bench reads predictions only from files of the run")
        frames.append(read_parquet(part))
        check_table(frames[-1], str(part), "predictions")
        total += int(frames[-1].memory_usage(deep=True).sum())
        if total > MAX_PARQUET_DECOMPRESSED_BYTES:
            raise BenchInputError(f"the tables in {folder} hold more than {human(MAX_PARQUET_DECOMPRESSED_BYTES)} in all")
    if not frames:
        return None
    if os.path.lexists(legacy) and len(frames) > 1 and not frames[0].empty:  # a run resumed across versions
        written = pd.concat(frames[1:])[["family", "seed"]].drop_duplicates()
        keys = pd.MultiIndex.from_frame(frames[0][["family", "seed"]])
        frames[0] = frames[0][~keys.isin(pd.MultiIndex.from_frame(written))]
    filled = [f for f in frames if not f.empty]
    return pd.concat(filled, ignore_index=True) if filled else frames[0]


def _check_run_id(table: pd.DataFrame, run_id: str, where: Path) -> None:
    """A run folder's tables hold that run's rows only: rows naming another run would merge
    with it wherever both are loaded, and count twice."""
    from bench.safe_io import one_line

    if "run_id" not in table or table.empty:
        return
    others = set(table["run_id"].dropna().astype(str)) - {run_id}
    if others:
        raise BenchInputError(
            f"{where} holds rows of run {one_line(sorted(others)[0])[:60]!r}, but its manifest names run {run_id!r}; "
            f"a report would merge them with that run: not a folder bench wrote"
        )


def _with_method(table: pd.DataFrame, final: pd.DataFrame | None) -> pd.DataFrame:
    """A table whose rows all name their study's sampler and scheduler: runs written before a
    run could compare methods left the scheduler out of some tables. Each row's study is the one
    final row with its family, seed and (where the table names it) sampler (grouping by a missing
    value would drop those rows)."""
    if table.empty or final is None or final.empty or not {"family", "seed"} <= set(table) & set(final):
        return table
    named = "sampler" in table and table["sampler"].notna().all()
    keys = ["family", "seed", *(["sampler"] if named else [])]
    method = [c for c in ("sampler", "scheduler") if c not in keys]
    if all(c in table and table[c].notna().all() for c in method) or not set(method) <= set(final):
        return table
    studies = final[[*keys, *method]].dropna().drop_duplicates(keys, keep=False)  # keys of a single study only
    filled = table.drop(columns=[c for c in method if c in table]).merge(studies, on=keys, how="left")
    for column in method:
        if column in table:
            filled[column] = table[column].reset_index(drop=True).fillna(filled[column])
    return filled[[*table.columns, *(c for c in method if c not in table)]]


def check_writable(folder: Path) -> Path:
    """Create ``folder`` and prove it is writable before any compute is spent."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BenchInputError(f"results folder {folder} is not writable ({exc.strerror}); pass --results-dir FOLDER") from None
    return folder


@dataclass
class Results:
    """The tables of one or many runs, concatenated, each row tagged with its ``run_id``."""

    trials: pd.DataFrame
    history: pd.DataFrame
    final: pd.DataFrame
    predictions: pd.DataFrame
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    #: Folders left out because an earlier folder holds the same run (a copy): run id -> paths.
    duplicates: dict[str, list[Path]] = field(default_factory=dict)


def is_run_dir(path: Path) -> bool:
    return (path / "manifest.json").is_file()


def find_runs(paths: list[Path | str]) -> list[Path]:
    """Run folders among ``paths``: each is a run folder or a root holding run folders."""
    runs: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if is_run_dir(path):
            runs.append(path)
        elif path.is_dir():
            runs.extend(sorted(p for p in path.iterdir() if is_run_dir(p)))
        else:
            raise BenchInputError(f"no results at {path}: expected a run folder or a results root")
    if not runs:
        raise BenchInputError(f"no runs found under {', '.join(map(str, paths))} (a run folder holds manifest.json)")
    return runs


def run_protocol_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a search run's manifest says about its protocol, as ``final.parquet`` columns.

    Runs written before ``final.parquet`` carried these columns are pooled by them too.
    """
    options = manifest.get("options") or {}
    recorded = manifest.get("dataset")
    dataset = recorded if isinstance(recorded, dict) else {}
    sizes = dataset.get("sizes") or {}
    validation = dataset.get("validation")
    if validation is None and dataset.get("validation_fraction"):
        validation = f"holdout {round(100 * float(dataset['validation_fraction']))}%"
    reproducible = options.get("reproducible")
    return {
        "train_size": sizes.get("train"),
        "test_size": sizes.get("test"),
        "trials_requested": options.get("trials"),
        "time_budget_s": options.get("time_budget_s"),
        "sampler": options.get("sampler"),
        "scheduler": options.get("scheduler"),
        "mode": None if reproducible is None else ("reproducible" if reproducible else "default"),
        "validation": validation,
    }


def _with_protocol(final: pd.DataFrame, manifest: dict[str, Any]) -> pd.DataFrame:
    """``final`` of one search run with protocol columns it lacks filled from its manifest."""
    if final.empty or str(manifest.get("kind") or "search") != "search":
        return final
    missing = {
        k: v for k, v in run_protocol_fields(manifest).items() if v is not None and (k not in final or final[k].isna().all())
    }
    return final.assign(**missing) if missing else final


def load(*paths: Path | str) -> Results:
    """Load the tables of one run folder, several, or every run under a results root.

    A folder whose manifest names a run already loaded is left out and listed in
    ``Results.duplicates`` when it is a copy (the same manifest and tables): its rows would
    otherwise count twice. Two folders that claim one run id with different contents are
    refused: neither can be told to be the run, and merging them would mix two runs.

    Run folders may come from anyone, so every file is read through :mod:`bench.safe_io`:
    regular files only, bounded in size and in what they decompress to, and every format error
    (JSON, Parquet, wrong column types) is one :class:`BenchInputError` line. Nothing outside
    the run folders is read.

    >>> results = load("results")            # doctest: +SKIP
    >>> results.final[["family", "test_accuracy"]]  # doctest: +SKIP
    """
    from bench.manifest import read_manifest
    from bench.safe_io import check_table, read_parquet

    runs = find_runs(list(paths) or ["results"])
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    manifests: dict[str, dict[str, Any]] = {}
    run_paths: dict[str, Path] = {}
    run_tables: dict[str, dict[str, pd.DataFrame]] = {}
    duplicates: dict[str, list[Path]] = {}
    for run in runs:
        manifest = read_manifest(run, strict_run_id=False)
        run_id = manifest["run_id"]
        tables: dict[str, pd.DataFrame] = {}
        for name in TABLES:
            file = run / f"{name}.parquet"
            if name == "predictions":
                if (predictions := read_predictions(run)) is not None:
                    tables[name] = predictions
            elif os.path.lexists(file):
                tables[name] = read_parquet(file)
                check_table(tables[name], str(file), name)
            if name in tables:
                _check_run_id(tables[name], run_id, run / f"{name}.parquet")
        if run_id in manifests:
            first = run_paths[run_id]
            if (
                manifest != manifests[run_id]
                or tables.keys() != run_tables[run_id].keys()
                or not all(tables[name].equals(run_tables[run_id][name]) for name in tables)
            ):
                raise BenchInputError(
                    f"two run folders claim run {run_id!r} with different contents: {first} and {run}; "
                    f"a report would mix them: leave one out of the folders given"
                )
            duplicates.setdefault(run_id, []).append(run)
            continue
        manifests[run_id] = manifest
        run_paths[run_id] = run
        run_tables[run_id] = tables
        for name, table in tables.items():
            frames[name].append(_with_protocol(table, manifest) if name == "final" else _with_method(table, tables.get("final")))
    tables = {
        name: pd.concat([f for f in parts if not f.empty], ignore_index=True)
        if any(not f.empty for f in parts)
        else pd.DataFrame()
        for name, parts in frames.items()
    }
    return Results(**tables, manifests=manifests, paths=run_paths, duplicates=duplicates)
