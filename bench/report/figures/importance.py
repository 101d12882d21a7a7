"""Hyperparameter importances of one family (from Optuna's evaluators), as horizontal bars."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bench.report.figures.common import esc, styled


def importance_figure(scores: pd.Series, title: str, color: str) -> go.Figure:
    """``scores``: importance per parameter name, ascending (largest drawn on top)."""
    labels = [esc(name) for name in scores.index]
    fig = go.Figure(go.Bar(
        x=scores.values, y=labels, orientation="h", marker_color=color,
        text=[f"{v:.2f}" for v in scores.values], textposition="auto",
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    ))
    fig.update_xaxes(title_text="importance (fANOVA, normalised)", range=[0, max(1.0, float(scores.max()))])
    return styled(fig, title, height=max(240, 120 + 36 * len(scores)))
