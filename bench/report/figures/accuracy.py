"""Test accuracy per family with its 95% interval, and the published baseline beside it."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bench.report.figures.common import esc, family_labels, styled


def has_spread(board: pd.DataFrame) -> pd.Series:
    """Rows whose across-seed interval exists: two or more results and a finite half-width."""
    return (pd.to_numeric(board["n"], errors="coerce") >= 2) & board["test_accuracy_ci95"].notna()


def accuracy_figure(board: pd.DataFrame, colors: dict[str, str], title: str) -> go.Figure:
    """``board`` from :func:`bench.leaderboard.leaderboard`.

    Rows with a spread get error bars; single results are a separate trace without any, since
    Plotly draws a missing error value as a zero-width bar that reads as "no uncertainty".
    """
    labels = family_labels(board)
    spread = has_spread(board)
    fig = go.Figure()
    traces = (
        (
            spread,
            "test accuracy (mean, 95% CI across seeds)",
            {"type": "data", "array": board.loc[spread, "test_accuracy_ci95"], "visible": True},
            "%{x}: %{y:.4f}<br>n=%{customdata[0]}, std %{customdata[1]:.4f}, 95% CI ±%{customdata[2]:.4f}<extra></extra>",
        ),
        (~spread, "test accuracy (one result)", None, "%{x}: %{y:.4f}<br>n=%{customdata[0]}: no spread to show<extra></extra>"),
    )
    for rows, name, error, hover in traces:
        part = board[rows]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(  # points, not bars: the axis does not start at zero
                x=labels[rows],
                y=part["test_accuracy"],
                name=name,
                mode="markers",
                error_y=error,
                marker={"size": 14, "color": [colors.get(esc(f), "#636efa") for f in part["family"]]},
                customdata=part[["n", "test_accuracy_std", "test_accuracy_ci95"]],
                hovertemplate=hover,
            )
        )
    published = board["published_accuracy"]
    if published.notna().any():
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=published,
                mode="markers",
                name="published baseline",
                marker={"symbol": "line-ew-open", "size": 36, "line": {"width": 3, "color": "crimson"}},
                customdata=board[["published_source"]].fillna("").map(esc),
                hovertemplate="published %{y:.4f}<br>%{customdata[0]}<extra></extra>",
            )
        )
    fig.update_xaxes(categoryorder="array", categoryarray=list(labels))  # board order, whichever trace has the row
    low = float(pd.concat([board["test_accuracy"] - board["test_accuracy_ci95"].where(spread, 0), published]).min())
    fig.update_yaxes(title_text="test accuracy", range=[max(0.0, low - 0.02), 1.0])
    return styled(fig, title, height=380)
