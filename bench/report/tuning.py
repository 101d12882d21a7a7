"""What tuning bought: per leaderboard row, the library default's test accuracy beside the selected one's.

Read from the leaderboard frame (:func:`bench.leaderboard.leaderboard`), so the figure pools runs
exactly as the table does (per dataset, protocol and family) and shows the same numbers: the
selected model's Wilson interval is the board's; the default's is computed the same way from its
accuracy over the same test predictions. Both cover test-set sampling noise only.
"""

from __future__ import annotations

import math

import pandas as pd

from bench.leaderboard import fmt
from bench.stats import wilson_interval

COLUMNS = [
    "dataset",
    "family",
    "protocol",
    "n",
    "default_test_accuracy",
    "test_accuracy",
    "tuning_gain",
    "p_text",
    "selected",
    "test_total",
    "default_low",
    "default_high",
    "tuned_low",
    "tuned_high",
]

#: Board columns read here.
_BOARD = [
    "protocol",
    "n",
    "tuning_gain",
    "tuning_p_value",
    "tuning_p_seed",
    "selected",
    "test_total",
    "test_wilson_low",
    "test_wilson_high",
]


def _default_interval(accuracy: float, total: float) -> tuple[float, float]:
    if pd.isna(accuracy) or pd.isna(total) or total <= 0:
        return math.nan, math.nan
    return wilson_interval(round(accuracy * total), int(total))


def _p_text(row: pd.Series) -> str:
    """The board's McNemar p, naming its seed when several seeds were pooled (their p's are not combined)."""
    text = fmt("tuning_p_value", row.get("tuning_p_value"))
    seed = row.get("tuning_p_seed")
    return f"{text} (seed {seed})" if row.get("n", 1) > 1 and seed is not None and not pd.isna(seed) else text


def default_vs_tuned(board: pd.DataFrame) -> pd.DataFrame:
    """The board's rows that have a default refit, with both sides' accuracies and Wilson intervals."""
    if board.empty or "default_test_accuracy" not in board:
        return pd.DataFrame(columns=COLUMNS)
    rows = board[pd.to_numeric(board["default_test_accuracy"], errors="coerce").notna()]
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = rows.reindex(columns=list(dict.fromkeys([*rows.columns, *_BOARD])))  # a board from older tables lacks some
    total = pd.to_numeric(rows["test_total"], errors="coerce")
    default = [_default_interval(a, t) for a, t in zip(rows["default_test_accuracy"].astype(float), total, strict=True)]
    return pd.DataFrame(
        {
            "dataset": rows["dataset"],
            "family": rows["family"],
            "protocol": rows["protocol"],
            "n": rows["n"],
            "default_test_accuracy": rows["default_test_accuracy"].astype(float),
            "test_accuracy": rows["test_accuracy"].astype(float),
            "tuning_gain": pd.to_numeric(rows["tuning_gain"], errors="coerce"),
            "p_text": [_p_text(r) for _, r in rows.iterrows()],
            "selected": rows["selected"].fillna("-").astype(str),
            "test_total": total,
            "default_low": [d[0] for d in default],
            "default_high": [d[1] for d in default],
            "tuned_low": pd.to_numeric(rows["test_wilson_low"], errors="coerce"),
            "tuned_high": pd.to_numeric(rows["test_wilson_high"], errors="coerce"),
        },
        columns=COLUMNS,
    ).reset_index(drop=True)
