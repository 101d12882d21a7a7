"""Validation accuracy against training cost for every trial, the Pareto front drawn through."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from bench.report.figures.common import escape_frame, styled


def cost_figure(scored: pd.DataFrame, colors: dict[str, str], title: str) -> go.Figure:
    """``scored`` from :func:`bench.report.data.scored_trials` (``pareto`` marks the front)."""
    frame = escape_frame(scored)
    hover = [c for c in ("run_id", "seed", "trial_id", "trial_number", "sampler") if c in frame]
    fig = px.scatter(
        frame, x="fit_seconds", y="val_accuracy", color="family", symbol="status", log_x=True,
        color_discrete_map=colors, hover_data=hover,
        labels={"fit_seconds": "fit seconds (log scale)", "val_accuracy": "validation accuracy"},
    )
    for dataset, front in frame[frame["pareto"]].groupby("dataset", sort=False):
        front = front.sort_values("fit_seconds")
        fig.add_trace(go.Scatter(
            x=front["fit_seconds"], y=front["val_accuracy"], mode="lines+markers",
            name=f"Pareto front ({dataset})" if frame["dataset"].nunique() > 1 else "Pareto front",
            line={"color": "black", "dash": "dot", "shape": "hv"},
            marker={"symbol": "circle-open", "size": 13, "color": "black"},
            customdata=front[["family"]], hovertemplate="Pareto: %{customdata[0]}<br>%{x:.3g} s, %{y:.4f}<extra></extra>",
        ))
    return styled(fig, title, height=460)
