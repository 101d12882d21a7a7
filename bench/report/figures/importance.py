"""Hyperparameter importances of one family (Optuna's fANOVA), one bar colour per branch."""

from __future__ import annotations

from collections.abc import Hashable

import plotly.express as px
import plotly.graph_objects as go

from bench.report.figures.common import esc, styled
from bench.report.study import Branch


def importance_figure(found: list[Branch], title: str) -> go.Figure:
    """Grouped horizontal bars: each branch's importances (normalised within the branch), its
    legend entry naming the trials it covers; parameters ordered by their largest importance."""
    largest: dict[Hashable, float] = {}
    for branch in found:
        for name, value in branch.scores.items():
            largest[name] = max(largest.get(name, 0.0), float(value))
    order = sorted(largest, key=lambda name: largest[name])  # ascending: the largest is drawn on top
    palette = px.colors.qualitative.Safe
    fig = go.Figure()
    for index, branch in enumerate(reversed(found)):  # horizontal bars stack bottom-up: the first branch on top
        scores = branch.scores.reindex([n for n in order if n in branch.scores.index])
        label = esc(f"{branch.label} ({branch.trials} trials)")
        fig.add_trace(
            go.Bar(
                x=scores.values,
                y=[esc(n) for n in scores.index],
                orientation="h",
                name=label,
                marker_color=palette[(len(found) - 1 - index) % len(palette)],
                text=[f"{v:.2f}" for v in scores.values],
                textposition="auto",
                hovertemplate="%{y}: %{x:.3f}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=[esc(n) for n in order])
    fig.update_xaxes(title_text="importance (fANOVA, normalised within each set of trials)", range=[0, 1.0])
    fig.update_layout(barmode="group", legend={"orientation": "h", "yanchor": "top", "y": -0.2, "traceorder": "reversed"})
    return styled(fig, title, height=max(280, 160 + len(order) * (12 + 16 * len(found))))
