"""Parallel coordinates of one family's hyperparameters, each line a trial coloured by score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from bench.report.figures.common import esc, param_label, styled


def _dimension(values: pd.Series, label: str) -> dict:
    """A numeric axis (log10 where the values span decades) or a categorical one with ticks."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().sum() == values.notna().sum() and numeric.notna().any():
        positive = numeric.dropna()
        if (positive > 0).all() and positive.max() / positive.min() >= 100:
            return {"label": f"log10 {label}", "values": np.log10(numeric)}
        return {"label": label, "values": numeric}
    text = values.astype("string").fillna("(absent)")
    categories = sorted(text.unique())
    codes = text.map({c: i for i, c in enumerate(categories)})
    # Parcoords draws tick text as plain text (d3 ``.text``), unlike titles and labels, which go
    # through Plotly's pseudo-HTML: escaping it would show the entities. Plain text is safe as is.
    return {"label": label, "values": codes, "tickvals": list(range(len(categories))), "ticktext": categories}


def parcoords_figure(trials: pd.DataFrame, params: list[str], score: str, title: str) -> go.Figure:
    """``trials`` of one family with a score; ``params`` are its ``params_*`` columns."""
    frame = trials.dropna(subset=[score])
    dimensions = [_dimension(frame[p], param_label(p)) for p in params if frame[p].notna().any()]
    dimensions.append({"label": esc(score.replace("_", " ")), "values": frame[score]})
    fig = go.Figure(
        go.Parcoords(
            line={"color": frame[score], "colorscale": "Viridis", "showscale": True, "colorbar": {"title": {"text": "val acc"}}},
            dimensions=dimensions,
        )
    )
    fig = styled(fig, title, height=440)
    return fig.update_layout(margin={"l": 70, "r": 40, "t": 90, "b": 40})
