"""HTML tables of the report: leaderboard, published vs reproduced, and each run's manifest.

Every cell is escaped here, once, at the point where text becomes HTML.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

from bench.leaderboard import COLUMNS, HTML_COLUMNS, HTML_EXTRA, fmt, formatted, notes


def html_table(frame: pd.DataFrame, headers: dict[str, str], css: str = "grid", titles: pd.DataFrame | None = None) -> str:
    """A plain table of text cells; ``titles`` (same shape) become hover tooltips."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers.values())
    rows = []
    for index, row in frame.iterrows():
        cells = []
        for column in headers:
            tip = titles.at[index, column] if titles is not None and column in titles else None
            attr = f' title="{html.escape(str(tip))}"' if tip else ""
            cells.append(f"<td{attr}>{html.escape(str(row[column]))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def leaderboard_table(board: pd.DataFrame) -> str:
    """The terminal's strings (:data:`COLUMNS` first), then the HTML-only columns, the published
    number's source (citation on hover) and protocol, and what the columns mean."""
    cells = formatted(board, ["dataset", "protocol", *HTML_COLUMNS])
    cells["published_source"] = [fmt("published_source", s) for s in board["published_source"]]
    cells["published_protocol"] = [
        "-" if pd.isna(accuracy) else ("same protocol" if comparable else fmt("published_note", note))
        for accuracy, comparable, note in zip(
            board["published_accuracy"], board["published_comparable"], board["published_note"], strict=True
        )
    ]
    headers = {
        "dataset": "dataset",
        **COLUMNS,
        "protocol": "protocol",
        **HTML_EXTRA,
        "published_source": "baseline source",
        "published_protocol": "published protocol",
    }
    if board["dataset"].nunique() <= 1:
        headers.pop("dataset")
    if board["protocol"].nunique() <= 1:
        headers.pop("protocol")
    tips = pd.DataFrame(
        {
            "published_source": board["published_citation"],
            "published_protocol": board["published_protocol"],
            "protocol": board["protocol"],
        },
        index=board.index,
    )
    table = html_table(cells, headers, css="grid board", titles=tips)
    explained = "".join(f"<li>{html.escape(n)}</li>" for n in notes(board))
    return table + (f"<ul class='notes'>{explained}</ul>" if explained else "")


REPRODUCTION_HEADERS = {
    "dataset": "dataset",
    "classifier": "classifier",
    "published_accuracy": "published",
    "test_accuracy": "reproduced",
    "test_accuracy_std": "± std",
    "difference": "difference",
    "verdict": "verdict",
    "source": "source",
    "baseline_id": "baseline",
}


def reproduction_table(rows: pd.DataFrame) -> str:
    """Published vs reproduced accuracy, row by row, as ``bench reproduce`` wrote them."""
    headers = {c: h for c, h in REPRODUCTION_HEADERS.items() if c in rows}
    cells = pd.DataFrame(
        {c: [fmt("published_difference" if c == "difference" else c, v) for v in rows[c]] for c in headers}, index=rows.index
    )
    return html_table(cells, headers, css="grid board")


MANIFEST_FIELDS = (
    "run_id",
    "name",
    "kind",
    "status",
    "command",
    "git_revision",
    "started_at",
    "finished_at",
    "seeds",
    "families",
)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _value(value: Any) -> str:
    """Scalars and flat lists inline, flat mappings as ``key: value`` lines, anything deeper as JSON."""
    if isinstance(value, list) and all(map(_scalar, value)):
        return f"<code>{html.escape(', '.join(map(str, value)))}</code>"
    if isinstance(value, dict) and all(map(_scalar, value.values())):
        return "<br>".join(f"<code>{html.escape(str(k))}: {html.escape(str(v))}</code>" for k, v in value.items())
    if isinstance(value, (dict, list)):
        return f"<pre>{html.escape(json.dumps(value, indent=1, sort_keys=True, default=str))}</pre>"
    return f"<code>{html.escape(str(value))}</code>"


def _duplicates(recorded: Any) -> str | None:
    """The manifest's duplicate count as a sentence: how many, and whether they were dropped."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("test_images_in_train"), int):
        return None
    count, dropped = recorded["test_images_in_train"], recorded.get("dropped_from_test")
    return f"{count}" + (", dropped from the test set (--drop-test-duplicates)" if dropped else ", kept in the test set")


def manifest_html(manifest: dict[str, Any]) -> str:
    """One run's manifest: command, versions, hardware, seeds, dataset and its checksums."""
    recorded = manifest.get("dataset")
    dataset = recorded if isinstance(recorded, dict) else {"name": recorded}
    options = manifest.get("options") or {}
    fields: list[tuple[str, Any]] = [(k, manifest[k]) for k in MANIFEST_FIELDS if manifest.get(k) not in (None, "", [])]
    fields += [
        (f"option {k}", options[k])
        for k in ("sampler", "trials", "time_budget_s", "scheduler", "train_size")
        if options.get(k) is not None
    ]
    fields += [
        ("dataset", dataset.get("name")),
        ("dataset source", dataset.get("source")),
        ("split sizes", dataset.get("sizes")),
        ("dataset checksums (SHA-256)", dataset.get("checksums_sha256")),
        ("dataset path", dataset.get("path")),
        ("content SHA-256", dataset.get("content_sha256")),
        ("class counts", dataset.get("class_counts")),
        ("test images also in training (exact copies)", _duplicates(dataset.get("duplicates"))),
        ("search-space changes for this data", dataset.get("search_space_notes")),
        ("versions", manifest.get("versions")),
        ("hardware", manifest.get("hardware")),
        ("cluster", manifest.get("cluster")),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_value(v)}</td></tr>" for k, v in fields if v not in (None, "", {}, []))
    label = " · ".join(str(manifest[k]) for k in ("run_id", "name", "kind") if manifest.get(k))
    summary = html.escape(label or "run")
    return f"<details open><summary>{summary}</summary><table class='manifest'>{rows}</table></details>"
