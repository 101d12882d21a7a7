"""Terminal tables: published against reproduced per row, the reference rows, and ``--list``."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.table import Table

from bench.reproduce.plan import Plan, ReferenceRow

_STYLE = {"reproduced": "green", "not reproduced": "bold red", "failed": "bold red"}


def _decimals(published: float) -> int:
    """As many decimals as the published number carries, at least four."""
    text = f"{published:.10f}".rstrip("0")
    return max(4, len(text.split(".")[1]) if "." in text else 0)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def reproduced_text(row: pd.Series) -> str:
    """Mean, spread over repeats (sample standard deviation) and count, or the error."""
    if row["status"] != "completed":
        return "-"
    digits = _decimals(row["published_accuracy"])
    text = f"{row['test_accuracy']:.{digits}f}"
    if not _missing(row.get("test_accuracy_std")):
        text += f" ± {row['test_accuracy_std']:.{digits}f}"
    if row["repeats_completed"] > 1:
        text += f" (n={row['repeats_completed']})"
    elif not _missing(row.get("test_correct")):
        text += f" ({int(row['test_correct'])}/{int(row['test_size'])})"
    return text


def results_table(final: pd.DataFrame, title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for header, justify in [
        ("source", "left"),
        ("dataset", "left"),
        ("row", "left"),
        ("classifier", "left"),
        ("published", "right"),
        ("reproduced", "right"),
        ("difference", "right"),
        ("tolerance", "right"),
        ("verdict", "left"),
    ]:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for _, row in final.iterrows():
        digits = _decimals(row["published_accuracy"])
        difference = "-" if _missing(row["difference"]) else f"{row['difference']:+.{digits}f}"
        style = _STYLE.get(row["verdict"], "")
        table.add_row(
            row["source"],
            row["dataset"],
            row["baseline_id"],
            row["classifier"],
            f"{row['published_accuracy']:.{digits}f}",
            reproduced_text(row),
            difference,
            f"±{row['tolerance']:g}",
            f"[{style}]{row['verdict']}[/]",
        )
    return table


def references_table(rows: list[ReferenceRow], title: str) -> Table:
    table = Table(title=title)
    for header in ("source", "dataset", "row", "classifier", "family", "preprocessing", "published", "as published"):
        table.add_column(header, justify="right" if header == "published" else "left")
    for r in rows:
        table.add_row(
            r.source,
            r.dataset,
            r.baseline_id,
            r.classifier,
            r.family or "-",
            r.preprocessing or "-",
            f"{r.published:.4f}",
            r.published_as,
        )
    return table


def sources_table(sources: list[dict[str, Any]]) -> Table:
    table = Table(title="Published baselines (python -m bench reproduce --source NAME)")
    for header in ("source", "title", "datasets", "rows", "repeats", "tolerance", "re-run"):
        table.add_column(header)
    for s in sources:
        datasets = sorted({d for row in s["rows"] for d in row["published"]})
        table.add_row(
            s["name"],
            s["title"],
            ", ".join(datasets),
            str(len(s["rows"])),
            str(s["protocol"].get("repeats", "-")),
            f"±{s['tolerance']:g}",
            "yes" if s["rerun"] else "no (reference)",
        )
    return table


def plan_table(plan: Plan) -> Table:
    table = Table(title=f"{len(plan.rows)} row(s) to re-run, {len(plan.references)} reference row(s)")
    for header in ("source", "dataset", "row", "classifier", "parameters", "family", "published", "repeats"):
        table.add_column(header, justify="right" if header in ("published", "repeats") else "left")
    for r in plan.rows:
        table.add_row(
            r.source,
            r.dataset,
            r.baseline_id,
            r.classifier,
            r.published_params,
            (r.family or "-") + (" (stand-in)" if r.stand_in else ""),
            f"{r.published:g}",
            str(r.repeats),
        )
    for ref in plan.references:
        table.add_row(
            ref.source,
            ref.dataset,
            ref.baseline_id,
            ref.classifier,
            ref.preprocessing or "",
            ref.family or "-",
            f"{ref.published:g}",
            "reference",
        )
    return table
