"""Best-so-far validation accuracy of each search, against trial number or wall time."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from bench.report.figures.common import escape_frame, styled


def best_so_far_figure(curves: pd.DataFrame, x: str, x_title: str, colors: dict[str, str], title: str) -> go.Figure:
    """``curves`` from :func:`bench.report.data.best_so_far`, already in the order it walked
    (trial number, or finish time); one step line per search (run, seed), coloured by family,
    dashed by sampler when they differ. Steps are drawn horizontal-then-vertical, so a better
    score appears at the ``x`` where it became known, never before."""
    frame = escape_frame(curves)
    dash = "sampler" if "sampler" in frame and frame["sampler"].nunique() > 1 else None
    fig = px.line(
        frame,
        x=x,
        y="best_val_accuracy",
        color="family",
        line_group="search",
        line_dash=dash,
        color_discrete_map=colors,
        markers=True,
        line_shape="hv",
        hover_data=[c for c in ("run_id", "seed", "sampler", "trial_number", "status", "val_accuracy") if c in frame],
        labels={x: x_title, "best_val_accuracy": "best validation accuracy so far", "val_accuracy": "this trial"},
    )
    return styled(fig, title)
