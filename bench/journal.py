"""An append-only JSON-lines log of a run's rows: cheap on the hot path, safe on a crash.

Every finished trial, intermediate report and final result is appended as one line the moment
it happens; the Parquet tables are materialised from the journal at the end of each family, on
Ctrl-C, and by ``--resume`` after a killed driver. A torn last line (a write cut by SIGKILL) is
ignored when reading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

KINDS = ("trial", "history", "final")


class Journal:
    """Rows by kind, appended to ``path``. Holds only the path, so it pickles with Tune's state."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, kind: str, row: dict[str, Any]) -> None:
        line = json.dumps({"kind": kind, "row": row}, default=_plain) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)  # in the kernel once written: a killed driver loses nothing

    def entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a killed process
                yield entry["kind"], entry["row"]

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
