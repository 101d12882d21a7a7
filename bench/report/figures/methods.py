"""Search methods side by side: best-so-far curves with bands, and a critical-difference diagram."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb

from bench.report.figures.common import esc, styled

#: What the bands are, for every curve figure's axis title.
BAND = "mean over seeds; band: 95% Student-t interval of the mean over seeds (none with one seed)"


def method_colors(methods: Iterable[str]) -> dict[str, str]:
    """One colour per (escaped) method label, the same in every figure of a report."""
    palette = px.colors.qualitative.D3
    return {esc(m): palette[i % len(palette)] for i, m in enumerate(dict.fromkeys(methods))}


def _translucent(color: str, alpha: float = 0.18) -> str:
    red, green, blue = hex_to_rgb(color) if color.startswith("#") else (99, 110, 250)
    return f"rgba({red},{green},{blue},{alpha})"


def curves_figure(curves: pd.DataFrame, x: str, x_title: str, colors: dict[str, str], title: str) -> go.Figure:
    """``curves`` from :func:`bench.methods.best_so_far_curves` for one problem: per method a
    step line of the mean best so far over seeds and, with two seeds or more, its band (drawn
    as the area between an upper and a lower edge, drawn within [0, 1]). ``title`` must already be escaped."""
    fig = go.Figure()
    for method, rows in curves.groupby("method", sort=False):
        name = esc(method)
        color = colors.get(name, "#636efa")
        rows = rows.sort_values(x)
        if rows["best_low"].notna().any():
            for edge, fill in (("best_high", None), ("best_low", "tonexty")):
                fig.add_trace(
                    go.Scatter(
                        x=rows[x],
                        y=rows[edge].clip(0.0, 1.0),  # an accuracy's range: two seeds' t-interval runs far past it
                        mode="lines",
                        name=f"{name} 95% band",
                        legendgroup=name,
                        showlegend=False,
                        hoverinfo="skip",
                        line={"width": 0, "shape": "hv", "color": color},
                        fill=fill,
                        fillcolor=_translucent(color) if fill else None,
                    )
                )
        fig.add_trace(
            go.Scatter(
                x=rows[x],
                y=rows["best_mean"],
                mode="lines+markers" if len(rows) <= 60 else "lines",
                name=name,
                legendgroup=name,
                line={"shape": "hv", "color": color, "width": 2},
                marker={"size": 5},
                customdata=rows[["seeds", "best_low", "best_high"]],
                hovertemplate=(
                    f"{name}<br>{esc(x)} %{{x:.4g}}<br>mean best %{{y:.4f}}<br>band %{{customdata[1]:.4f}}–%{{customdata[2]:.4f}}"
                    "<br>%{customdata[0]} seed(s)<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text=esc(x_title))
    fig.update_yaxes(title_text="best validation accuracy so far")
    styled(fig, title, height=460)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0.0}, margin={"t": 80, "b": 110})
    return fig


#: Vertical layout of the critical-difference diagram (data units).
_TICK, _BAR, _STEP, _GROUP = 0.12, 0.55, 0.45, 0.22


def cd_figure(ranks: dict[str, float], cd: float, groups: list[list[str]], title: str) -> go.Figure:
    """Demsar's critical-difference diagram in Plotly: an average-rank axis (1 = best, on the
    left), each method marked on it and labelled to the side through an elbow line, a bar the
    length of the critical difference ``cd`` above, and a thick line under the axis joining each
    group of methods (``groups``, :func:`bench.methods.cd_groups`) whose ranks differ by less
    than ``cd``. ``title`` must already be escaped."""
    ordered = sorted(ranks.items(), key=lambda kv: kv[1])
    k = len(ordered)
    low, high = 1.0, max(float(k), 1.0 + cd)
    left, right = low - 0.5, high + 0.5
    fig = go.Figure()
    # the axis and its ticks
    fig.add_trace(
        go.Scatter(
            x=[low, high], y=[0, 0], mode="lines", line={"color": "#1f2933", "width": 1.5}, hoverinfo="skip", showlegend=False
        )
    )
    ticks = [i / 2 for i in range(2, int(2 * high) + 1)]
    fig.add_trace(
        go.Scatter(
            x=[v for t in ticks for v in (t, t, None)],
            y=[v for t in ticks for v in (0, _TICK if t.is_integer() else _TICK / 2, None)],
            mode="lines",
            line={"color": "#1f2933", "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[t for t in ticks if t.is_integer()],
            y=[_TICK] * len([t for t in ticks if t.is_integer()]),
            mode="text",
            text=[str(int(t)) for t in ticks if t.is_integer()],
            textposition="top center",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    # the critical difference
    fig.add_trace(
        go.Scatter(
            x=[low, low + cd, None, low, low, None, low + cd, low + cd],
            y=[_BAR, _BAR, None, _BAR - 0.06, _BAR + 0.06, None, _BAR - 0.06, _BAR + 0.06],
            mode="lines",
            name=f"critical difference (Nemenyi) = {cd:.3f}",
            line={"color": "#c0392b", "width": 3},
            hovertemplate=f"CD = {cd:.3f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[low + cd / 2],
            y=[_BAR + 0.04],
            mode="text",
            text=[f"CD = {cd:.3f}"],
            textposition="top center",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    # groups not significantly different: thick lines just under the axis
    for i, group in enumerate(groups):
        y = -_GROUP * (i + 1)
        fig.add_trace(
            go.Scatter(
                x=[ranks[group[0]] - 0.03, ranks[group[-1]] + 0.03],
                y=[y, y],
                mode="lines",
                name="not significantly different",
                legendgroup="groups",
                showlegend=i == 0,
                line={"color": "#1f2933", "width": 6},
                hovertemplate=esc(", ".join(group)) + "<extra>not significantly different</extra>",
            )
        )
    # each method: a mark on the axis, an elbow down and out to its label
    top = -_GROUP * (len(groups) + 1)
    half = math.ceil(k / 2)
    for i, (method, rank) in enumerate(ordered):
        on_left = i < half
        level = top - _STEP * (i if on_left else k - 1 - i)
        edge = left if on_left else right
        name = esc(method)
        fig.add_trace(
            go.Scatter(
                x=[rank, rank, edge],
                y=[0, level, level],
                mode="lines+markers+text",
                name=name,
                showlegend=False,
                line={"color": "#52606d", "width": 1},
                marker={"size": [11, 0, 0], "color": "#1f77b4"},
                text=["", "", f"{name} ({rank:.2f})"],
                textposition="top right" if on_left else "top left",  # on its shelf, clear of the elbows
                hovertemplate=f"{name}: average rank {rank:.3f}<extra></extra>",
            )
        )
    bottom = top - _STEP * max(half, 1)
    fig.update_xaxes(range=[left - 0.05, right + 0.05], visible=False)
    fig.update_yaxes(range=[bottom - 0.1, _BAR + 0.35], visible=False)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.02, "x": 0.0}, plot_bgcolor="white")
    return styled(fig, title, height=int(230 + 34 * (k + len(groups))))
