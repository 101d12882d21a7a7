"""Test accuracy per family with its 95% interval, and the published baseline beside it."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bench.report.figures.common import esc, styled


def accuracy_figure(board: pd.DataFrame, colors: dict[str, str], title: str) -> go.Figure:
    """``board`` from :func:`bench.leaderboard.leaderboard`; error bars where n >= 2."""
    labels = [esc(f) if board["dataset"].nunique() == 1 else f"{esc(f)} ({esc(d)})" for f, d in zip(board["family"], board["dataset"])]
    fig = go.Figure(go.Scatter(  # points, not bars: the axis does not start at zero
        x=labels, y=board["test_accuracy"], name="test accuracy (mean, 95% CI)", mode="markers",
        marker={"size": 14, "color": [colors.get(esc(f), "#636efa") for f in board["family"]]},
        error_y={"type": "data", "array": board["test_accuracy_ci95"].fillna(0), "visible": True},
        customdata=board[["n", "test_accuracy_std", "test_accuracy_ci95"]].fillna(0),
        hovertemplate="%{x}: %{y:.4f}<br>n=%{customdata[0]}, std %{customdata[1]:.4f}, 95% CI ±%{customdata[2]:.4f}<extra></extra>",
    ))
    published = board["published_accuracy"]
    if published.notna().any():
        fig.add_trace(go.Scatter(
            x=labels, y=published, mode="markers", name="published baseline",
            marker={"symbol": "line-ew-open", "size": 36, "line": {"width": 3, "color": "crimson"}},
            customdata=board[["published_source"]].fillna("").map(esc),
            hovertemplate="published %{y:.4f}<br>%{customdata[0]}<extra></extra>",
        ))
    low = float(pd.concat([board["test_accuracy"] - board["test_accuracy_ci95"].fillna(0), published]).min())
    fig.update_yaxes(title_text="test accuracy", range=[max(0.0, low - 0.02), 1.0])
    return styled(fig, title, height=380)
