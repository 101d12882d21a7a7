"""A confusion matrix as an annotated heatmap: true class down, predicted class across."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from bench.report.figures.common import esc, styled


def confusion_figure(matrix: np.ndarray, class_names: list[str], title: str) -> go.Figure:
    """Counts as given; the colour uses the row share so small classes read as well as big ones."""
    names = [esc(c) for c in class_names]
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig = px.imshow(
        share,
        x=names,
        y=names,
        color_continuous_scale="Blues",
        zmin=0,
        zmax=1,
        aspect="equal",
        labels={"x": "predicted", "y": "true", "color": "row share"},
    )
    fig.update_traces(
        text=matrix,
        texttemplate="%{text}",
        customdata=matrix,
        hovertemplate="true %{y}, predicted %{x}: %{customdata}<extra></extra>",
    )
    fig.update_xaxes(side="bottom", type="category").update_yaxes(type="category")
    return styled(fig, title, height=440)
