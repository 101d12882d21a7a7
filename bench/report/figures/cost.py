"""Validation accuracy against what each configuration costs to run, the Pareto front drawn through."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from bench.report.figures.common import escape_frame, styled

#: The cost axis, as :func:`bench.report.data.cost_seconds` defines it.
COST_TITLE = "seconds: fit of the last stage + validation predict (log scale)"


def cost_figure(scored: pd.DataFrame, colors: dict[str, str], title: str) -> go.Figure:
    """``scored`` from :func:`bench.report.data.scored_trials` (``cost_seconds``; ``pareto`` marks the front)."""
    frame = escape_frame(scored)
    hover = [
        c
        for c in (
            "run_id",
            "seed",
            "trial_id",
            "trial_number",
            "sampler",
            "fit_seconds",
            "stage_fit_seconds",
            "val_predict_seconds",
        )
        if c in frame
    ]
    fig = px.scatter(
        frame,
        x="cost_seconds",
        y="val_accuracy",
        color="family",
        symbol="status",
        log_x=True,
        color_discrete_map=colors,
        hover_data=hover,
        labels={
            "cost_seconds": COST_TITLE,
            "val_accuracy": "validation accuracy",
            "fit_seconds": "fit s (all stages)",
            "stage_fit_seconds": "fit s (last stage)",
            "val_predict_seconds": "validation predict s",
        },
    )
    for dataset, front in frame[frame["pareto"]].groupby("dataset", sort=False):
        front = front.sort_values("cost_seconds")
        fig.add_trace(
            go.Scatter(
                x=front["cost_seconds"],
                y=front["val_accuracy"],
                mode="lines+markers",
                name=f"Pareto front ({dataset})" if frame["dataset"].nunique() > 1 else "Pareto front",
                line={"color": "black", "dash": "dot", "shape": "hv"},
                marker={"symbol": "circle-open", "size": 13, "color": "black"},
                customdata=front[["family"]],
                hovertemplate="Pareto: %{customdata[0]}<br>%{x:.3g} s, %{y:.4f}<extra></extra>",
            )
        )
    return styled(fig, title, height=460)
