"""The leaderboard, computed once from the ``final`` table for the terminal and the HTML report.

Both sinks format the same frame with :func:`formatted`, so the numbers printed at the end of
``bench run`` and the numbers in ``report.html`` cannot drift apart.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.table import Table
from rich.text import Text

#: Columns shown in both the terminal and the HTML, with their headers.
COLUMNS = {
    "family": "family",
    "test_accuracy": "test acc",
    "test_accuracy_std": "± std",
    "test_accuracy_ci95": "95% CI ±",
    "val_accuracy": "val acc",
    "test_f1_macro": "test F1",
    "refit_seconds": "refit s",
    "search_seconds": "search s",
    "trials_completed": "completed",
    "trials_pruned": "pruned",
    "trials_failed": "failed",
    "n": "n",
    "published_accuracy": "published",
    "published_difference": "Δ pub.",
}
#: Extra text columns the HTML shows beside the numbers.
BASELINE_TEXT = ("published_source", "published_classifier", "published_citation")

_ACCURACY = {"test_accuracy", "val_accuracy", "test_f1_macro", "test_accuracy_std", "published_accuracy"}
_SIGNED = {"published_difference"}
_CONFIDENCE = 0.95


def ci_halfwidth(std: float, n: int, confidence: float = _CONFIDENCE) -> float:
    """Half-width of the Student-t confidence interval of a mean of ``n`` values (NaN below 2)."""
    from scipy import stats

    if n < 2 or pd.isna(std):
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))


def published_baseline(dataset: str, family: str) -> dict[str, Any] | None:
    """The best published result for a family and dataset, or None where none is known.

    ``bench.baselines`` is optional at import time: without it the leaderboard simply has no
    baseline values.
    """
    try:
        from bench.baselines import best_published
    except ImportError:
        return None
    try:
        return best_published(dataset, family)
    except (KeyError, ValueError, LookupError):
        return None


def search_finals(final: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``final`` that are searched-and-refit families (not reproduction rows)."""
    if final.empty or "test_accuracy" not in final or "family" not in final:
        return final.iloc[0:0]
    rows = final
    if "verdict" in rows:
        rows = rows[rows["verdict"].isna()]
    if "status" in rows:
        rows = rows[rows["status"] == "completed"]
    return rows


def leaderboard(final: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, family): means over seeds and runs, std and a 95% t interval."""
    done = search_finals(final)
    if done.empty:
        return pd.DataFrame(columns=["dataset", *COLUMNS, *BASELINE_TEXT])
    done = done.assign(seed=done["seed"] if "seed" in done else 0)
    for column in ("test_f1_macro", "refit_seconds", "search_seconds", "trials_completed", "trials_pruned", "trials_failed"):
        if column not in done:
            done = done.assign(**{column: math.nan})
    board = done.groupby(["dataset", "family"], sort=False).agg(
        test_accuracy=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        val_accuracy=("val_accuracy", "mean"),
        test_f1_macro=("test_f1_macro", "mean"),
        refit_seconds=("refit_seconds", "mean"),
        search_seconds=("search_seconds", "sum"),
        trials_completed=("trials_completed", "sum"),
        trials_pruned=("trials_pruned", "sum"),
        trials_failed=("trials_failed", "sum"),
        n=("test_accuracy", "size"),
        seeds=("seed", "nunique"),
    ).reset_index()
    board["test_accuracy_ci95"] = [ci_halfwidth(s, n) for s, n in zip(board["test_accuracy_std"], board["n"])]
    baselines = [published_baseline(d, f) or {} for d, f in zip(board["dataset"], board["family"])]
    board["published_accuracy"] = pd.to_numeric(pd.Series([b.get("accuracy") for b in baselines], dtype=object), errors="coerce")
    board["published_difference"] = board["test_accuracy"] - board["published_accuracy"]
    for column in BASELINE_TEXT:
        key = column.removeprefix("published_")
        board[column] = [None if b.get(key) is None else str(b.get(key)) for b in baselines]
    return board.sort_values(["dataset", "test_accuracy"], ascending=[True, False], ignore_index=True)


def fmt(column: str, value: object) -> str:
    """One cell as text; the terminal and the HTML both use this."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if column in _ACCURACY or column == "test_accuracy_ci95":
        return f"{value:.4f}"
    if column in _SIGNED:
        return f"{value:+.4f}"
    if column.endswith("seconds"):
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_fmt = fmt  # the name the first report used


def formatted(board: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The board as display strings (unescaped): the single source of both renderings."""
    columns = columns or ["dataset", *COLUMNS]
    return pd.DataFrame({c: [fmt(c, v) for v in board[c]] for c in columns}, index=board.index)


def rich_table(board: pd.DataFrame, title: str) -> Table:
    """The leaderboard for the terminal."""
    table = Table(title=title)
    for column, header in COLUMNS.items():
        table.add_column(header, justify="left" if column == "family" else "right")
    for _, row in formatted(board, list(COLUMNS)).iterrows():
        table.add_row(*(Text(cell) for cell in row))  # Text: no rich markup from run data
    return table
