"""Default against tuned: per family, the library default's test accuracy above the selected one's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from bench.report.figures.common import esc, family_labels, styled

#: The default sits this far above its family's row and the selected configuration as far below,
#: so their intervals do not draw over each other.
OFFSET = 0.18


def _wilson_bars(rows: pd.DataFrame, value: str, low: str, high: str) -> dict | None:
    """Asymmetric error bars from a Wilson interval, or none where a test size is missing
    (Plotly would draw a missing value as a zero-width bar)."""
    if rows[[low, high]].isna().any().any():
        return None
    return {
        "type": "data",
        "symmetric": False,
        "array": rows[high] - rows[value],
        "arrayminus": rows[value] - rows[low],
        "visible": True,
        "thickness": 1.5,
        "width": 4,
    }


def default_vs_tuned_figure(rows: pd.DataFrame, colors: dict[str, str], title: str) -> go.Figure:
    """``rows`` from :func:`bench.report.tuning.default_vs_tuned`: per leaderboard row an open circle for
    the default and a filled one for the selected configuration, each with its Wilson 95% interval
    from the test predictions, and the gain with its McNemar p written beside the selected one."""
    labels = family_labels(rows)
    position = np.arange(len(rows))[::-1].astype(float)  # the first row on top
    info = rows[["tuning_gain", "n", "test_total"]].assign(p=rows["p_text"].map(esc), selected=rows["selected"].map(esc))
    hover = (
        "%{customdata[5]}<br>{side}: %{x:.4f}<br>gain %{customdata[0]:+.4f} (n=%{customdata[1]}, %{customdata[2]:.0f} test predictions)"
        "<br>McNemar p %{customdata[3]}<br>selected: %{customdata[4]}<extra></extra>"
    )
    fig = go.Figure()
    for side, value, low, high, shift, marker in (
        (
            "library default",
            "default_test_accuracy",
            "default_low",
            "default_high",
            OFFSET,
            {"symbol": "circle-open", "size": 12, "color": "#52606d", "line": {"width": 2}},
        ),
        (
            "selected configuration",
            "test_accuracy",
            "tuned_low",
            "tuned_high",
            -OFFSET,
            {"symbol": "circle", "size": 12, "color": [colors.get(esc(f), "#636efa") for f in rows["family"]]},
        ),
    ):
        selected = side.startswith("selected")
        fig.add_trace(
            go.Scatter(
                x=rows[value],
                y=position + shift,
                name=side,
                marker=marker,
                error_x=_wilson_bars(rows, value, low, high),
                mode="markers+text" if selected else "markers",
                textposition="top right",
                text=[
                    f"gain {g:+.4f}, p {p} ({s})"
                    for g, p, s in zip(rows["tuning_gain"], info["p"], info["selected"], strict=True)
                ]
                if selected
                else None,
                customdata=info.assign(label=labels),
                hovertemplate=hover.replace("{side}", side),
            )
        )
    fig.update_yaxes(tickvals=position, ticktext=list(labels), range=[-0.6, len(rows) - 0.4], showgrid=False, zeroline=False)
    fig.update_xaxes(title_text="test accuracy (95% Wilson interval: test-set noise); gain and McNemar p beside the selected")
    fig.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.3})
    return styled(fig, title, height=max(260, 150 + 70 * len(rows)))
