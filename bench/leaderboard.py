"""The leaderboard table, computed once from a run's tables for the terminal and the HTML."""

from __future__ import annotations

import pandas as pd
from rich.table import Table

COLUMNS = {
    "family": "family",
    "test_accuracy": "test acc",
    "test_accuracy_std": "± std",
    "val_accuracy": "val acc",
    "test_f1_macro": "test F1",
    "refit_seconds": "refit s",
    "search_seconds": "search s",
    "trials_completed": "completed",
    "trials_pruned": "pruned",
    "trials_failed": "failed",
    "seeds": "seeds",
}


def leaderboard(final: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, family): means over seeds and runs, spread as a standard deviation."""
    if final.empty or "test_accuracy" not in final:
        return pd.DataFrame(columns=["dataset", *COLUMNS])
    done = final[final["status"] == "completed"]
    grouped = done.groupby(["dataset", "family"], sort=False)
    board = grouped.agg(
        test_accuracy=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        val_accuracy=("val_accuracy", "mean"),
        test_f1_macro=("test_f1_macro", "mean"),
        refit_seconds=("refit_seconds", "mean"),
        search_seconds=("search_seconds", "sum"),
        trials_completed=("trials_completed", "sum"),
        trials_pruned=("trials_pruned", "sum"),
        trials_failed=("trials_failed", "sum"),
        seeds=("seed", "nunique"),
    ).reset_index()
    return board.sort_values(["dataset", "test_accuracy"], ascending=[True, False], ignore_index=True)


def _fmt(column: str, value: object) -> str:
    if pd.isna(value):
        return "-"
    if column in ("test_accuracy", "val_accuracy", "test_f1_macro", "test_accuracy_std"):
        return f"{value:.4f}"
    if column.endswith("seconds"):
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    return str(value)


def rich_table(board: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column, header in COLUMNS.items():
        table.add_column(header, justify="left" if column == "family" else "right")
    for _, row in board.iterrows():
        table.add_row(*(_fmt(c, row[c]) for c in COLUMNS))
    return table
