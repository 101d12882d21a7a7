"""Run tables on disk: atomic Parquet/JSON writes and :func:`load` for one run or many.

Layout of ``<results>/<run-id>/``: ``trials.parquet``, ``history.parquet``, ``final.parquet``,
``predictions.parquet``, ``manifest.json``, ``report.html``. Never pickles.
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

TABLES = ("trials", "history", "final", "predictions", "samples")
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


def load(*paths: Path | str) -> Results:
    """Load the tables of one run folder, several, or every run under a results root.

    >>> results = load("results")            # doctest: +SKIP
    >>> results.final[["family", "test_accuracy"]]  # doctest: +SKIP
    """
    runs = find_runs(list(paths) or ["results"])
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    manifests: dict[str, dict[str, Any]] = {}
    run_paths: dict[str, Path] = {}
    for run in runs:
        manifest = json.loads((run / "manifest.json").read_text())
        manifests[manifest["run_id"]] = manifest
        run_paths[manifest["run_id"]] = run
        for name in TABLES:
            file = run / f"{name}.parquet"
            if file.is_file():
                frames[name].append(pd.read_parquet(file))
    tables = {
        name: pd.concat([f for f in parts if not f.empty], ignore_index=True) if any(not f.empty for f in parts) else pd.DataFrame()
        for name, parts in frames.items()
    }
    return Results(**tables, manifests=manifests, paths=run_paths)
